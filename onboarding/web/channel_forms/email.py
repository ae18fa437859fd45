"""Registering to receive invoices by e-mail: the addresses, the subject rule and the attachment."""
from __future__ import annotations

from typing import Any, Mapping

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from gateway.channels.email import DEFAULT_ATTACH

from .base import ChannelForm, ChannelInput, ChannelPart, check_settings

# What an e-mail carries (gateway.channels.email.ATTACH).
ATTACH_LABELS = {
    "facturx": _l("Factur-X PDF (readable, with its XML inside)"),
    "facturx+ubl": _l("Factur-X PDF and a UBL XML file"),
    "ubl": _l("UBL XML file"),
    "cii": _l("CII XML file"),
}
SUBJECT_HINT = _l("your own rule, e.g. “Invoice {{ number }} from {{ seller }}”; the fields are: "
                  "number, seller, buyer, issue_date, due_date, amount, currency, title")


def read(inp: ChannelInput) -> ChannelPart:
    """Addresses (one or more), the subject rule and the attachment of the mails carrying its invoices;
    the preferred format is what is attached (Factur-X for both Factur-X choices)."""
    v = inp.values
    settings: dict[str, Any] = {}
    if not v["email_to"].strip():
        inp.errors["email_to"] = inp.errors.say("e_email_to")
    else:
        v["email_subject"] = " ".join(v["email_subject"].split())
        wanted: dict[str, Any] = {"to": v["email_to"], "attach": v["email_attach"] or DEFAULT_ATTACH,
                                  "lang": inp.language}
        if v["email_subject"]:
            wanted["subject"] = v["email_subject"]
        settings = check_settings(inp, "email", wanted, {"email.to": "email_to", "email.subject": "email_subject",
                                                         "email.attach": "email_attach"})
    attach = settings.get("email", {}).get("attach", DEFAULT_ATTACH)
    return ChannelPart(settings=settings, preferred_format="facturx" if attach.startswith("facturx") else attach)


def prefill(cp: Any) -> dict[str, str]:
    return {"email_to": cp.email or "", "email_subject": "", "email_attach": DEFAULT_ATTACH}


def context(session: Session, values: Mapping[str, str]) -> dict[str, Any]:
    return {"attachments": ATTACH_LABELS, "subject_hint": SUBJECT_HINT}


FORM = ChannelForm(read=read, template="onboarding/_channel_email.html",
                   fields=("email_to", "email_subject", "email_attach"), prefill=prefill, context=context)
