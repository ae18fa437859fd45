"""Registering to fetch invoices from our SFTP server: the partner's public key (its account is made
at enrolment) and the syntax its system reads."""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.orm import Session

from gateway.partners.ssh_keys import KeyRefused

from ..credentials import check_public_keys
from .base import DEFAULT_FORMAT, ChannelForm, ChannelInput, ChannelPart, choose_format, offered_formats


def read(inp: ChannelInput) -> ChannelPart:
    v = inp.values
    extra: dict[str, Any] = {}
    try:
        extra["sftp_keys"] = tuple(check_public_keys(v["sftp_key"], inp.errors.lang))
    except KeyRefused as exc:
        inp.errors["sftp_key"] = exc.worded(inp.errors.lang)       # the partner service's words
        if "PRIVATE KEY" in v["sftp_key"]:
            v["sftp_key"] = ""              # a private key is never shown back, nor kept
    return ChannelPart(preferred_format=choose_format(inp, "sftp_format"), extra=extra)


def prefill(cp: Any) -> dict[str, str]:
    return {"sftp_key": "", "sftp_format": DEFAULT_FORMAT}


def context(session: Session, values: Mapping[str, str]) -> dict[str, Any]:
    return {"formats": offered_formats()}


FORM = ChannelForm(read=read, template="onboarding/_channel_sftp.html", fields=("sftp_key", "sftp_format"),
                   prefill=prefill, context=context)
