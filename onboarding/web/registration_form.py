"""The self-service registration form: what it asks, prefilled from the counterparty, and its checks.

``check_registration(session, form, files, now=…)`` reads a submitted form and
returns ``Checked(values, errors, enrolment)``: ``values`` is what to show back
(input is never lost on an error), ``errors`` maps a field name to a message
for next to it, and ``enrolment`` (``onboarding.enrol.Enrolment``) is set only
when nothing is wrong. The checks are the gateway's own (SIRET/SIREN Luhn,
French VAT key, GLN check digit, e-mail shape, AS2 URL and name, certificates,
SSH keys), so a typo is caught here rather than making a partner nobody reaches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.orm import Session

from gateway.model import identifiers
from gateway.channels import ChannelSettingsError, validate_channel_settings
from gateway.channels.email import DEFAULT_ATTACH
from gateway.db import AS2Identity, Network, NetworkParticipant, Partner, User
from gateway.db.partners import normalise_identifier
from gateway.syntaxes import writable
from gateway.partners.checks import as2_name, as2_url
from gateway.transports.safe_http import url_problem

from ..enrol import RECEIVING_CHANNELS, Enrolment, identifier_owner
from ..models import Counterparty
from .credentials import check_certificate, check_public_keys
from .messages import DEFAULT as DEFAULT_LANGUAGE, say

CHANNEL_LABELS = {
    "email": "By e-mail",
    "portal": "On our web portal",
    "as2": "AS2 (your AS2 server)",
    "sftp": "SFTP (you fetch them from our server)",
    "network": "Through a network you already belong to",
}
# Structured syntaxes a partner's own system may read (AS2, SFTP).
FORMAT_LABELS = {
    "ubl": "UBL 2.1 (XML)",
    "cii": "UN/CEFACT CII (XML)",
    "facturx": "Factur-X (PDF with embedded CII XML)",
    "edifact-d96a": "EDIFACT INVOIC D96A",
    "edifact-d01b": "EDIFACT INVOIC D01B",
}
# What an e-mail carries (gateway.channels.email.ATTACH).
ATTACH_LABELS = {
    "facturx": "Factur-X PDF (readable, with its XML inside)",
    "facturx+ubl": "Factur-X PDF and a UBL XML file",
    "ubl": "UBL XML file",
    "cii": "CII XML file",
}
DEFAULT_FORMAT = "ubl"
SUBJECT_HINT = ("your own rule, e.g. “Invoice {{ number }} from {{ seller }}”; the fields are: "
                "number, seller, buyer, issue_date, due_date, amount, currency, title")
TEXT_FIELDS = ("name", "siret", "siren", "vat", "gln", "email", "contact_name", "contact_email", "contact_phone",
               "channel", "email_to", "email_subject", "email_attach", "as2_url", "as2_id", "as2_format",
               "sftp_key", "sftp_format", "network_id")
MIN_PORTAL_PASSWORD = 10
_VAT = re.compile(r"[A-Z]{2}[0-9A-Z]{2,13}")
_PHONE = re.compile(r"\+?[0-9 ().\-/]{6,25}")


class Errors(dict):
    """Field name → message, in the page's language (``say``)."""

    def __init__(self, lang: str = DEFAULT_LANGUAGE):
        super().__init__()
        self.lang = lang

    def say(self, key: str, **values: Any) -> str:
        return say(self.lang, key, **values)


@dataclass
class Checked:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    enrolment: Optional[Enrolment] = None


def prefill(cp: Counterparty) -> dict[str, str]:
    """What the form shows first: what we know of the counterparty, for it to confirm."""
    return {"name": cp.name or "", "siret": cp.siret or "", "siren": cp.siren or "", "vat": cp.vat or "",
            "gln": cp.gln or "", "email": cp.email or "", "contact_name": cp.contact_name or "",
            "contact_email": cp.email or "", "contact_phone": "", "channel": "", "email_to": cp.email or "",
            "email_subject": "", "email_attach": DEFAULT_ATTACH, "as2_url": "", "as2_id": "",
            "as2_format": DEFAULT_FORMAT, "sftp_key": "", "sftp_format": DEFAULT_FORMAT, "network_id": ""}


def networks(session: Session) -> list[Network]:
    """The interconnected networks one may choose to be reached through."""
    return list(session.scalars(sa.select(Network).where(Network.active.is_(True)).order_by(Network.name)))


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
            errors["siren"] = f"SIREN {siren} is not the one in SIRET {siret} (its first nine digits, {siret[:9]})"
        else:
            out.append((identifiers.SIREN, siren))
    elif siret and "siret" not in errors:
        out.append((identifiers.SIREN, siret[:9]))          # the SIRET's company: routing knows it by both
    if vat:
        if not _VAT.fullmatch(vat):
            errors["vat"] = (f"a VAT number is the country code and 2 to 13 letters or digits "
                             f"(e.g. FR40303265045), not {v['vat']!r}")
        elif vat.startswith("FR"):
            problem = identifiers.check_vat_fr(vat)
            known_siren = siren or siret[:9]
            if problem:
                errors["vat"] = problem
            elif known_siren and not vat.endswith(known_siren) and "siren" not in errors and "siret" not in errors:
                errors["vat"] = f"VAT number {vat} is not the one of SIREN {known_siren} (it ends with the SIREN)"
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
                              f"{value} already belongs to a partner of this gateway ({owner.name}): you are "
                              "registered already; contact us if this is a mistake")
        else:
            shared.append((scheme, value, owner))
    if shared and not unique and not errors:
        scheme, value, owner = shared[0]
        errors["siren" if scheme == identifiers.SIREN and siren else "vat" if vat else "siret"] = (
            f"{value} already belongs to a partner of this gateway ({owner.name}): give the SIRET or GLN of "
            "this establishment, or contact us if you are registered already")
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


def _profile(channel: str, settings: dict[str, Any], errors: dict[str, str], fields: Mapping[str, str],
             session: Session) -> dict[str, Any]:
    """``{channel: settings}`` checked by the gateway's channel profiles (the CLI and the API use the
    same check, so a registration is refused for the same reasons, in the same words); a problem
    goes next to the form field its setting comes from (``fields``: setting prefix → field)."""
    try:
        normal = validate_channel_settings(channel, settings, session=session)
    except ChannelSettingsError as exc:
        target = next((f for prefix, f in fields.items() if exc.setting.startswith(prefix)), "channel")
        errors.setdefault(target, exc.problem)
        return {}
    return {channel: normal} if normal else {}


def _email_settings(v: dict[str, str], errors: dict[str, str], session: Session, lang: str) -> dict[str, Any]:
    """Addresses (one or more), the subject rule and the attachment of the mails carrying its invoices."""
    if not v["email_to"].strip():
        errors["email_to"] = say(getattr(errors, "lang", DEFAULT_LANGUAGE), "e_email_to")
        return {}
    v["email_subject"] = " ".join(v["email_subject"].split())
    settings: dict[str, Any] = {"to": v["email_to"], "attach": v["email_attach"] or DEFAULT_ATTACH, "lang": lang}
    if v["email_subject"]:
        settings["subject"] = v["email_subject"]
    return _profile("email", settings, errors, {"email.to": "email_to", "email.subject": "email_subject",
                                                "email.attach": "email_attach"}, session)


def _as2(v: dict[str, str], files: Mapping[str, Any], errors: dict[str, str], session: Session,
         now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        out["as2_url"] = as2_url(v["as2_url"]) if v["as2_url"].strip() else None
        if out["as2_url"] is None:
            errors["as2_url"] = "give the URL your AS2 server receives messages on (https://…)"
        elif (why := url_problem(out["as2_url"])) is not None:
            # A stranger names this address, and the gateway will post invoices to it.
            errors["as2_url"] = say(getattr(errors, "lang", DEFAULT_LANGUAGE), "e_as2_url_private", why=why)
    except ValueError as exc:
        errors["as2_url"] = str(exc)
    name = v["as2_id"].strip()
    v["as2_id"] = name
    if not name:
        errors["as2_id"] = "give your AS2 id (the AS2-From of what you send)"
    else:
        try:
            out["as2_id"] = as2_name(name)
        except ValueError as exc:
            errors["as2_id"] = str(exc)
        else:
            if session.scalar(sa.select(AS2Identity.id).where(AS2Identity.as2_name == name)) is not None:
                errors["as2_id"] = f"AS2 id {name!r} is ours: give your own"
            elif session.scalar(sa.select(Partner.id).where(Partner.as2_id == name)) is not None:
                errors["as2_id"] = f"AS2 id {name!r} is already used by another partner: choose another"
    upload = files.get("as2_certificate")
    v["as2_certificate_kept"] = ""
    data = upload.read() if upload is not None else b""
    try:
        out["certificate_pem"] = v["as2_certificate_kept"] = \
            check_certificate(data, getattr(upload, "filename", "") or "", now=now).pem
    except ValueError as exc:
        errors["as2_certificate"] = str(exc)
    return out


def kept_certificate(values: Mapping[str, str]) -> Optional[dict[str, str]]:
    """The certificate that passed its checks in an earlier submission of the form, carried over
    (a browser cannot fill a file input again): its PEM, subject and expiry for the page."""
    pem = values.get("as2_certificate_kept") or ""
    if not pem:
        return None
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        return None
    return {"pem": pem, "subject": cert.subject.rfc4514_string(), "not_after": f"{cert.not_valid_after_utc:%Y-%m-%d}"}


def _network(v: dict[str, str], errors: dict[str, str], session: Session,
             idents: list[tuple[str, str]]) -> Optional[Network]:
    """The chosen network, which must list one of the identifiers given (it delivers by them)."""
    raw = v["network_id"].strip()
    network = session.get(Network, int(raw)) if raw.isdigit() else None
    if network is None or not network.active:
        errors["network_id"] = "choose the network you belong to from the list"
        return None
    if idents:
        listed = session.scalar(sa.select(NetworkParticipant.id).where(
            NetworkParticipant.network_id == network.id,
            sa.tuple_(NetworkParticipant.scheme, NetworkParticipant.value).in_(idents)).limit(1))
        if listed is None:
            errors["network_id"] = (f"{network.name}'s directory does not list your identifiers "
                                    f"({', '.join(v for _, v in idents)}): choose another way to receive, "
                                    "or ask that network to publish you first")
    return network


def _format(v: dict[str, str], errors: dict[str, str], name: str) -> str:
    value = v[name] or DEFAULT_FORMAT
    if value not in FORMAT_LABELS:
        errors[name] = say(getattr(errors, "lang", DEFAULT_LANGUAGE), "e_format")
    return value


def check_registration(session: Session, form: Mapping[str, str], files: Mapping[str, Any], *,
                       now: datetime, language: str = "fr", page_language: Optional[str] = None) -> Checked:
    """The submitted form, checked; ``enrolment`` is set only when every field is right.
    ``language``: the counterparty's, for the mails that will carry its invoices;
    ``page_language``: the messages' (the page's; the counterparty's when not given)."""
    v = {name: (form.get(name) or "")[:5000] for name in TEXT_FIELDS}
    errors = Errors(page_language or language)
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
    if channel not in RECEIVING_CHANNELS:
        errors["channel"] = errors.say("e_channel")
    extra: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    fmt: Optional[str] = None
    password = None
    if channel == "email":
        settings = _email_settings(v, errors, session, language)
        attach = settings.get("email", {}).get("attach", DEFAULT_ATTACH)
        fmt = "facturx" if attach.startswith("facturx") else attach
    elif channel == "portal":
        password = form.get("portal_password") or ""
        if len(password) < MIN_PORTAL_PASSWORD:
            errors["portal_password"] = errors.say("e_password", n=MIN_PORTAL_PASSWORD)
        elif password != (form.get("portal_password2") or ""):
            errors["portal_password2"] = errors.say("e_password2")
        if contact_email and session.scalar(sa.select(User.id).where(User.username == contact_email)):
            errors["contact_email"] = (f"a portal login {contact_email!r} already exists: "
                                       "give another contact address")
        settings = _profile("portal", {"notify": [contact_email] if contact_email else [], "lang": language},
                            errors, {"portal.notify": "contact_email"}, session)
        fmt = "facturx"
    elif channel == "as2":
        extra = _as2(v, files, errors, session, now)
        fmt = _format(v, errors, "as2_format")
    elif channel == "sftp":
        try:
            extra["sftp_keys"] = tuple(check_public_keys(v["sftp_key"]))
        except ValueError as exc:
            errors["sftp_key"] = str(exc)
            if "PRIVATE KEY" in v["sftp_key"]:
                v["sftp_key"] = ""              # a private key is never shown back, nor kept
        fmt = _format(v, errors, "sftp_format")
    elif channel == "network":
        network = _network(v, errors, session, idents)
        if network is not None:
            extra["network_id"] = network.id
            settings = _profile("network", {"network": network.code}, errors, {"network.": "network_id"}, session)
            accepted = [f for f in network.formats or () if f in writable()]
            fmt = accepted[0] if accepted else None
    if form.get("terms") != "yes":
        errors["terms"] = errors.say("e_terms")
    if errors:
        return Checked(v, errors)
    enrolment = Enrolment(
        name=v["name"], identifiers=tuple(idents), company_email=company_email, contact_name=v["contact_name"],
        contact_email=contact_email, contact_phone=phone or None, channel=channel, preferred_format=fmt,
        channel_settings=settings, as2_id=extra.get("as2_id"), as2_url=extra.get("as2_url"),
        certificate_pem=extra.get("certificate_pem"), sftp_keys=extra.get("sftp_keys", ()),
        network_id=extra.get("network_id"), portal_password=password, terms_accepted_at=now)
    return Checked(v, errors, enrolment)
