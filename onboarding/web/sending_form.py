"""A supplier's answer on the registration form: how it will send us its invoices.

Asked only by a supplier campaign (``Campaign.kind == "suppliers"``), beside how it receives.
``read`` checks the part of the submitted form and returns ``(sends_by, detail, ssh_keys)``,
problems under their form fields (in the page's language): the address it sends from, its
AS2 id, its SSH key (when it does not fetch from us over SFTP already), its certified platform
and its address there, its Peppol participant. ``onboarding.inbound`` sets the channel up at
enrolment.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from gateway.model import identifiers
from gateway.partners.ssh_keys import KeyRefused

from ..models import SENDING_CHANNELS
from .credentials import check_public_keys

FIELDS = ("sends_by", "sends_from", "sends_as2_id", "sends_ssh_key", "sends_platform", "sends_routing",
          "sends_participant")
_AS2_ID = r"[!-~]{1,128}"


def prefill() -> dict[str, str]:
    return {name: "" for name in FIELDS}


def read(form: Mapping[str, str], values: dict[str, str], errors: Any, *, receiving: str,
         receiving_as2_id: str = "") -> tuple[Optional[str], dict[str, str], tuple[str, ...]]:
    """``values`` get the normalised text back; ``errors`` (``channel_forms.Errors``) the problems."""
    import re
    for name in FIELDS:
        values[name] = " ".join((form.get(name) or "")[:5000].split()) if name != "sends_ssh_key" \
            else (form.get(name) or "")[:5000].strip()
    how = values["sends_by"]
    if how not in SENDING_CHANNELS:
        errors["sends_by"] = errors.say("e_sends_by")
        return None, {}, ()
    detail: dict[str, str] = {}
    keys: tuple[str, ...] = ()
    if how == "email":
        address = values["sends_from"].lower()
        if not address or identifiers.check_email(address) is not None:
            errors["sends_from"] = errors.say("e_sends_from")
        detail["address"] = address
    elif how == "as2":
        as2_id = values["sends_as2_id"] or (receiving_as2_id if receiving == "as2" else "")
        if not re.fullmatch(_AS2_ID, as2_id):
            errors["sends_as2_id"] = errors.say("e_sends_as2_id")
        detail["as2_id"] = as2_id
    elif how == "sftp" and receiving != "sftp":
        try:
            keys = tuple(check_public_keys(values["sends_ssh_key"], errors.lang))
        except KeyRefused as exc:
            errors["sends_ssh_key"] = exc.worded(errors.lang)
            if "PRIVATE KEY" in values["sends_ssh_key"]:
                values["sends_ssh_key"] = ""            # a private key is never shown back, nor kept
    elif how == "pa":
        if not values["sends_platform"] or len(values["sends_platform"]) > 200:
            errors["sends_platform"] = errors.say("e_sends_platform")
        detail["platform"] = values["sends_platform"][:200]
        routing = values["sends_routing"]
        if routing:
            problem = identifiers.check("0225", routing)
            if problem is not None:
                errors["sends_routing"] = str(problem)
            detail["routing"] = routing
    elif how == "peppol":
        try:
            scheme, value = identifiers.parse(values["sends_participant"])
            problem = identifiers.check(scheme, value)
        except ValueError as exc:
            problem, scheme, value = exc, "", ""
        if problem is not None or not scheme.isdigit():
            errors["sends_participant"] = errors.say("e_sends_participant")
        detail["participant"] = f"{scheme}:{value}" if scheme else values["sends_participant"]
    return how, detail, keys
