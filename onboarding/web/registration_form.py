"""The self-service registration form: what it asks, prefilled from the counterparty, and its checks.

``check_registration(session, form, files, now=…)`` reads a submitted form and
returns ``Checked(values, errors, enrolment)``: ``values`` is what to show back
(input is never lost on an error), ``errors`` maps a field name to a message
for next to it, and ``enrolment`` (``onboarding.enrol.Enrolment``) is set only
when nothing is wrong. The checks are the gateway's own (SIRET/SIREN Luhn,
French VAT key, GLN check digit, e-mail shape; the chosen channel's part by its
registration handler, ``channel_forms``: AS2 URL and name, certificates, SSH
keys, the channel's own settings checks), so a typo is caught here rather than
making a partner nobody reaches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from gateway.model import identifiers
from gateway.db import Partner
from gateway.db.partners import normalise_identifier

from ..enrol import Enrolment, identifier_owner
from ..models import Counterparty
from . import sending_form
from .channel_forms import ChannelInput, Errors, forms
from .messages import DEFAULT as DEFAULT_LANGUAGE, say

# The fields every registration has; each channel's handler adds its own.
TEXT_FIELDS = ("name", "siret", "siren", "vat", "gln", "email", "contact_name", "contact_email", "contact_phone",
               "channel")
_VAT = re.compile(r"[A-Z]{2}[0-9A-Z]{2,13}")
_PHONE = re.compile(r"\+?[0-9 ().\-/]{6,25}")


@dataclass
class Checked:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    enrolment: Optional[Enrolment] = None


def prefill(cp: Counterparty) -> dict[str, str]:
    """What the form shows first: what we know of the counterparty, for it to confirm."""
    values = {"name": cp.name or "", "siret": cp.siret or "", "siren": cp.siren or "", "vat": cp.vat or "",
              "gln": cp.gln or "", "email": cp.email or "", "contact_name": cp.contact_name or "",
              "contact_email": cp.email or "", "contact_phone": "", "channel": ""}
    for form in forms().values():
        values.update(form.prefill(cp))
    values.update(sending_form.prefill())
    return values


def _compact(value: str) -> str:
    return "".join(value.split())


def _check_identifiers(v: dict[str, str], errors: dict[str, str], session: Session) -> list[tuple[str, str]]:
    """SIRET, SIREN, VAT and GLN as normalised (scheme, value) pairs; problems go to ``errors``."""
    out: list[tuple[str, str]] = []
    siret, siren = _compact(v["siret"]), _compact(v["siren"])
    vat = re.sub(r"[\s.\-]", "", v["vat"]).upper()
    gln = _compact(v["gln"])
    v.update(siret=siret, siren=siren, vat=vat, gln=gln)
    if siret:
        problem = identifiers.check_siret(siret)
        if problem:
            errors["siret"] = problem
        else:
            out.append((identifiers.SIRET, siret))
    if siren:
        problem = identifiers.check_siren(siren)
        if problem:
            errors["siren"] = problem
        elif siret and "siret" not in errors and siret[:9] != siren:
            errors["siren"] = _("SIREN %(siren)s is not the one in SIRET %(siret)s (its first nine digits, %(first)s)",
                                siren=siren, siret=siret, first=siret[:9])
        else:
            out.append((identifiers.SIREN, siren))
    elif siret and "siret" not in errors:
        out.append((identifiers.SIREN, siret[:9]))          # the SIRET's company: routing knows it by both
    if vat:
        if not _VAT.fullmatch(vat):
            errors["vat"] = _("a VAT number is the country code and 2 to 13 letters or digits "
                              "(e.g. FR40303265045), not %(value)s", value=repr(v["vat"]))
        elif vat.startswith("FR"):
            problem = identifiers.check_vat_fr(vat)
            known_siren = siren or siret[:9]
            if problem:
                errors["vat"] = problem
            elif known_siren and not vat.endswith(known_siren) and "siren" not in errors and "siret" not in errors:
                errors["vat"] = _("VAT number %(vat)s is not the one of SIREN %(siren)s (it ends with the SIREN)",
                                  vat=vat, siren=known_siren)
        if "vat" not in errors:
            try:
                scheme = identifiers.scheme_code("VAT", vat)
            except ValueError:
                scheme = "VAT"                               # routing looks VAT numbers up under this too
            out.append(normalise_identifier(scheme, vat))
    if gln:
        problem = identifiers.check_gln(gln)
        if problem:
            errors["gln"] = problem
        else:
            out.append((identifiers.GLN, gln))
    if not (siret or siren or vat or gln) and not any(k in errors for k in ("siret", "siren", "vat", "gln")):
        errors["siret"] = say(getattr(errors, "lang", DEFAULT_LANGUAGE), "e_identifier")
    # SIRET and GLN name one establishment: another partner holding one is this company registered
    # already. SIREN and VAT name the company, which other establishments share: left off, unless
    # nothing else is left to find it by.
    unique: list[tuple[str, str]] = []
    shared: list[tuple[str, str, Partner]] = []
    for scheme, value in dict.fromkeys(out):
        owner = identifier_owner(session, scheme, value)
        if owner is None:
            unique.append((scheme, value))
        elif scheme in (identifiers.SIRET, identifiers.GLN):
            errors.setdefault("siret" if scheme == identifiers.SIRET else "gln",
                              _("%(value)s already belongs to a partner of this gateway (%(owner)s): you are "
                                "registered already; contact us if this is a mistake", value=value, owner=owner.name))
        else:
            shared.append((scheme, value, owner))
    if shared and not unique and not errors:
        scheme, value, owner = shared[0]
        errors["siren" if scheme == identifiers.SIREN and siren else "vat" if vat else "siret"] = (
            _("%(value)s already belongs to a partner of this gateway (%(owner)s): give the SIRET or GLN of "
              "this establishment, or contact us if you are registered already", value=value, owner=owner.name))
    return unique


def _email(v: dict[str, str], errors: dict[str, str], name: str, what: str, *, required: bool = True) -> str:
    """``what``: the catalogue key of the "give …" message."""
    value = v[name].strip()
    v[name] = value
    if not value:
        if required:
            errors[name] = say(getattr(errors, "lang", DEFAULT_LANGUAGE), what)
        return ""
    problem = identifiers.check_email(value)
    if problem or len(value) > 320:
        errors[name] = say(getattr(errors, "lang", DEFAULT_LANGUAGE), "e_not_email", value=value)
    return value.lower() if value else ""


def check_registration(session: Session, form: Mapping[str, str], files: Mapping[str, Any], *,
                       now: datetime, language: str = "fr", page_language: Optional[str] = None,
                       asks_sending: bool = False) -> Checked:
    """The submitted form, checked; ``enrolment`` is set only when every field is right.
    ``language``: the counterparty's, for the mails that will carry its invoices;
    ``page_language``: the messages' (the page's; the counterparty's when not given);
    ``asks_sending``: a supplier campaign's form, which asks how it will send us its invoices
    (``sending_form``)."""
    errors = Errors(page_language or language)
    handlers = forms(errors.lang)
    fields = TEXT_FIELDS + tuple(f for handler in handlers.values() for f in handler.fields)
    v = {name: (form.get(name) or "")[:5000] for name in fields}
    v["name"] = " ".join(v["name"].split())
    if not v["name"]:
        errors["name"] = errors.say("e_name")
    elif len(v["name"]) > 200:
        errors["name"] = errors.say("e_name_long")
    idents = _check_identifiers(v, errors, session)
    company_email = _email(v, errors, "email", "e_company_email")
    if company_email and "email" not in errors and identifier_owner(session, "EM", company_email) is None:
        idents.append(("EM", company_email))            # documents may address it by e-mail (EAS EM)
    v["contact_name"] = " ".join(v["contact_name"].split())
    if not v["contact_name"]:
        errors["contact_name"] = errors.say("e_contact_name")
    elif len(v["contact_name"]) > 200:
        errors["contact_name"] = errors.say("e_contact_name_long")
    contact_email = _email(v, errors, "contact_email", "e_contact_email")
    phone = v["contact_phone"].strip()
    v["contact_phone"] = phone
    if phone and (not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < 6):
        errors["contact_phone"] = errors.say("e_phone", value=phone)

    channel = v["channel"]
    handler = handlers.get(channel)
    part = None
    if handler is None:
        errors["channel"] = errors.say("e_channel")
    else:
        part = handler.read(ChannelInput(session=session, form=form, files=files, values=v, errors=errors,
                                         now=now, language=language, identifiers=idents,
                                         contact_email=contact_email))
    sends: tuple[Optional[str], dict[str, str], tuple[str, ...]] = (None, {}, ())
    if asks_sending:
        sends = sending_form.read(form, v, errors, receiving=channel, receiving_as2_id=v.get("as2_id", ""))
    if form.get("terms") != "yes":
        errors["terms"] = errors.say("e_terms")
    if errors or part is None:
        return Checked(v, errors)
    enrolment = Enrolment(
        name=v["name"], identifiers=tuple(idents), company_email=company_email, contact_name=v["contact_name"],
        contact_email=contact_email, contact_phone=phone or None, channel=channel,
        preferred_format=part.preferred_format, channel_settings=part.settings, terms_accepted_at=now,
        sends_by=sends[0], sends_detail=sends[1], sends_ssh_keys=sends[2], **part.extra)
    return Checked(v, errors, enrolment)
