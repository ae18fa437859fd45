"""Registering to receive invoices over AS2: the partner's URL (public addresses only: a stranger
names where we will post), its AS2 id, its certificate (uploaded, or kept from an earlier
submission of the form) and the syntax its system reads."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import sqlalchemy as sa
from flask_babel import gettext as _
from cryptography import x509
from sqlalchemy.orm import Session

from gateway.db import AS2Identity, Partner
from gateway.partners.checks import as2_name, as2_url
from gateway.transports.safe_http import url_problem

from ..credentials import check_certificate
from .base import DEFAULT_FORMAT, ChannelForm, ChannelInput, ChannelPart, choose_format, offered_formats


class KeptFile:
    """A certificate carried over from an earlier submission of the form (a browser cannot fill a
    file input again, and input is never lost)."""

    def __init__(self, data: bytes, filename: str):
        self.data, self.filename = data, filename

    def read(self) -> bytes:
        return self.data


def upload(form: Mapping[str, str], files: Mapping[str, Any]) -> Optional[Any]:
    """The certificate file chosen now, else the one kept from an earlier submission, else None."""
    chosen = files.get("as2_certificate")
    if chosen is not None and getattr(chosen, "filename", ""):
        return chosen
    kept = form.get("as2_certificate_kept") or ""
    if kept.strip():
        return KeptFile(kept.encode("ascii", "replace"), "certificate.pem")
    return None


def read(inp: ChannelInput) -> ChannelPart:
    v, errors, session = inp.values, inp.errors, inp.session
    out: dict[str, Any] = {}
    try:
        out["as2_url"] = as2_url(v["as2_url"]) if v["as2_url"].strip() else None
        if out["as2_url"] is None:
            errors["as2_url"] = _("give the URL your AS2 server receives messages on (https://…)")
        elif (why := url_problem(out["as2_url"])) is not None:
            # A stranger names this address, and the gateway will post invoices to it.
            errors["as2_url"] = errors.say("e_as2_url_private", why=why)
    except ValueError as exc:
        errors["as2_url"] = str(exc)
    name = v["as2_id"].strip()
    v["as2_id"] = name
    if not name:
        errors["as2_id"] = _("give your AS2 id (the AS2-From of what you send)")
    else:
        try:
            out["as2_id"] = as2_name(name)
        except ValueError as exc:
            errors["as2_id"] = str(exc)
        else:
            if session.scalar(sa.select(AS2Identity.id).where(AS2Identity.as2_name == name)) is not None:
                errors["as2_id"] = _("AS2 id %(name)s is ours: give your own", name=repr(name))
            elif session.scalar(sa.select(Partner.id).where(Partner.as2_id == name)) is not None:
                errors["as2_id"] = _("AS2 id %(name)s is already used by another partner: choose another",
                                       name=repr(name))
    chosen = upload(inp.form, inp.files)
    v["as2_certificate_kept"] = ""
    data = chosen.read() if chosen is not None else b""
    try:
        out["certificate_pem"] = v["as2_certificate_kept"] = \
            check_certificate(data, getattr(chosen, "filename", "") or "", now=inp.now).pem
    except ValueError as exc:
        errors["as2_certificate"] = str(exc)
    return ChannelPart(preferred_format=choose_format(inp, "as2_format"), extra=out)


def kept_certificate(values: Mapping[str, str]) -> Optional[dict[str, str]]:
    """The certificate that passed its checks in an earlier submission of the form, carried over:
    its PEM, subject and expiry for the page."""
    pem = values.get("as2_certificate_kept") or ""
    if not pem:
        return None
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        return None
    return {"pem": pem, "subject": cert.subject.rfc4514_string(), "not_after": f"{cert.not_valid_after_utc:%Y-%m-%d}"}


def prefill(cp: Any) -> dict[str, str]:
    return {"as2_url": "", "as2_id": "", "as2_format": DEFAULT_FORMAT}


def context(session: Session, values: Mapping[str, str]) -> dict[str, Any]:
    return {"formats": offered_formats(), "kept": kept_certificate(values)}


FORM = ChannelForm(read=read, template="onboarding/_channel_as2.html", fields=("as2_url", "as2_id", "as2_format"),
                   prefill=prefill, context=context)
