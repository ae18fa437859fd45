"""Turning a submitted registration into an active partner of the gateway, once.

``enrol(session, invitation_id, enrolment, now=…)`` does everything in the
caller's one transaction: the invitation's link is spent first, by a
compare-and-set (``UPDATE … WHERE used_at IS NULL``), so two submits of the same
form (a double click, a second tab, two browsers) make one partner and the
other gets ``AlreadyUsed``; then the ``Partner`` (identifiers, channel and its
settings, contact e-mail, AS2 certificate, SFTP account or portal login as
chosen), the ``Registration``, the counterparty ``enrolled``, its scheduled
mails cancelled and its other invitations closed as enrolled (no reminder
after enrolment), and the ``enrolled`` tracking event. Anything refused on the
way (an identifier another partner took meanwhile) raises and the caller's
transaction rolls everything back, the link included.

``release_held(gw, partner_id)`` runs after the commit: documents held because
nobody was known by the new partner's identifiers are routed again.

Why here and not in the web layer: the pages only collect and check input; a
CLI or an API can enrol with the same guarantees. The partner itself is made by
``gateway.partners.service`` (as the CLI's and the API's are), whose refusals
this module words for a stranger: what is taken, never by whom.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import Network, Partner, SftpAccount, User, compare_and_set
from gateway.db.partners import SCHEMES
from gateway.delivery.channel import registry
from gateway.partners.service import PartnerError, PartnerService

from .models import Invitation, Registration
from .tracking import record_event, stop_mailing

log = logging.getLogger("edigate.onboarding.enrol")


class AlreadyUsed(Exception):
    """The invitation's link was spent meanwhile (another submit won the compare-and-set)."""


class EnrolmentConflict(ValueError):
    """Something the registration needs is taken by someone else (``field`` names the form field)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class Enrolment:
    """A checked registration: what the partner will be. Secrets (the portal password) are
    never part of ``public_data()``, which is what the ``Registration`` row keeps."""
    name: str
    identifiers: tuple[tuple[str, str], ...]        # normalised (scheme code, value)
    company_email: str
    contact_name: str
    contact_email: str
    channel: str                                    # a self-service channel (registry.self_service())
    contact_phone: Optional[str] = None
    preferred_format: Optional[str] = None
    channel_settings: dict[str, Any] = field(default_factory=dict)
    as2_id: Optional[str] = None
    as2_url: Optional[str] = None
    certificate_pem: Optional[str] = None
    sftp_keys: tuple[str, ...] = ()
    network_id: Optional[int] = None
    portal_password: Optional[str] = field(default=None, repr=False)
    terms_accepted_at: Optional[datetime] = None
    # a supplier's answer: how it sends us its invoices (``onboarding.inbound``)
    sends_by: Optional[str] = None
    sends_detail: dict[str, str] = field(default_factory=dict)
    sends_ssh_keys: tuple[str, ...] = ()

    def public_data(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("portal_password")
        data.pop("sends_ssh_keys")
        data["identifiers"] = [f"{s}:{v}" for s, v in self.identifiers]
        data["sftp_keys"] = list(self.sftp_keys)
        if self.terms_accepted_at is not None:
            data["terms_accepted_at"] = self.terms_accepted_at.isoformat()
        return data


@dataclass(frozen=True)
class Enrolled:
    """What the confirmation page tells the new partner."""
    partner_id: int
    partner_name: str
    registration_id: int
    counterparty_id: int
    channel: str
    as2_id: Optional[str] = None
    sftp_username: Optional[str] = None
    portal_username: Optional[str] = None
    network_name: Optional[str] = None


def spend_link(session: Session, invitation_id: int, now: datetime) -> None:
    """Mark the invitation used, if nobody did: the one statement two concurrent submits race on.

    First write of the transaction on purpose: SQLite then takes its write lock here (the
    loser waits, then sees ``used_at`` set), PostgreSQL locks the row (the loser re-reads it)."""
    won = compare_and_set(session, Invitation, Invitation.id == invitation_id, Invitation.used_at.is_(None),
                          used_at=now, status="enrolled", status_at=now)
    if won != 1:
        raise AlreadyUsed(f"invitation {invitation_id}'s link has already been used")


def free_partner_name(session: Session, enrolment: Enrolment, counterparty_id: int) -> str:
    """The company name, or the name with its first identifier when another partner has it."""
    candidates = [enrolment.name]
    if enrolment.identifiers:
        scheme, value = enrolment.identifiers[0]
        candidates.append(f"{enrolment.name} ({SCHEMES.get(scheme, scheme)} {value})")
    candidates.append(f"{enrolment.name} (#{counterparty_id})")
    for name in candidates:
        name = name[:200]
        if session.scalar(sa.select(Partner.id).where(Partner.name == name)) is None:
            return name
    raise EnrolmentConflict("name", f"a partner named {enrolment.name!r} already exists: contact us")


def sftp_username(session: Session, company: str) -> str:
    """A free SFTP username made from the company name: ``acme-sarl``, ``acme-sarl-2``…"""
    ascii_name = unicodedata.normalize("NFKD", company).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:56] or "partner"
    taken = set(session.scalars(sa.select(SftpAccount.username).where(SftpAccount.username.like(f"{base}%"))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def identifier_owner(session: Session, scheme: str, value: str) -> Optional[Partner]:
    return session.scalar(Partner.by_identifier(scheme, value))


def enrol(session: Session, invitation_id: int, enrolment: Enrolment, *, now: datetime,
          remote_addr: Optional[str] = None) -> Enrolled:
    """The active partner ``enrolment`` describes, made from invitation ``invitation_id`` in the
    session's transaction (commit is the caller's). Raises ``AlreadyUsed`` if the link was spent,
    ``EnrolmentConflict`` if an identifier, AS2 id or login is taken."""
    if enrolment.channel not in registry.self_service():
        raise ValueError(f"channel {enrolment.channel!r} is not one a counterparty may choose "
                         f"({', '.join(registry.self_service())})")
    spend_link(session, invitation_id, now)
    invitation = session.get(Invitation, invitation_id)
    cp = invitation.counterparty

    values: dict[str, Any] = {
        "name": free_partner_name(session, enrolment, cp.id), "active": True,
        "preferred_format": enrolment.preferred_format, "preferred_channel": enrolment.channel,
        "channel_settings": dict(enrolment.channel_settings), "contact_email": enrolment.contact_email}
    result: dict[str, Any] = {}
    if enrolment.channel == "as2":
        # The counterparty named that URL itself: connect only to public addresses until an
        # operator who knows better clears this option.
        values.update(as2_id=enrolment.as2_id, as2_url=enrolment.as2_url, as2_options={"public_url_only": True})
        result["as2_id"] = enrolment.as2_id
    partners = PartnerService(session)
    try:
        partner = partners.create(values, identifiers=enrolment.identifiers)
    except PartnerError as e:
        raise _refusal(e, enrolment) from None
    if enrolment.channel == "as2" and enrolment.certificate_pem:
        partners.add_certificate(partner, enrolment.certificate_pem, "both")
    elif enrolment.channel == "sftp":
        account = SftpAccount(partner_id=partner.id, username=sftp_username(session, partner.name),
                              authorized_keys="\n".join(enrolment.sftp_keys) + "\n")
        session.add(account)
        result["sftp_username"] = account.username
    elif enrolment.channel == "portal" and enrolment.portal_password:
        username = enrolment.contact_email
        if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
            raise EnrolmentConflict("contact_email", f"a login {username!r} already exists: give another "
                                                     "contact e-mail address")
        session.add(User.create(username, enrolment.portal_password, "recipient", partner_id=partner.id))
        result["portal_username"] = username
    elif enrolment.channel == "network" and enrolment.network_id is not None:
        network = session.get(Network, enrolment.network_id)
        result["network_name"] = network.name if network is not None else None

    if enrolment.sends_by:
        from .inbound import set_up
        set_up(session, partner, cp, enrolment.sends_by, enrolment.sends_detail, enrolment.sends_ssh_keys,
               sftp_username=sftp_username)
    registration = Registration(invitation_id=invitation.id, counterparty_id=cp.id, partner_id=partner.id,
                                data=enrolment.public_data(), submitted_at=now, remote_addr=remote_addr)
    session.add(registration)
    cp.status, cp.status_at, cp.enrolled_at, cp.partner_id = "enrolled", now, now, partner.id
    if enrolment.contact_name and not cp.contact_name:
        cp.contact_name = enrolment.contact_name[:200]
    stop_mailing(session, cp.id, now, invitation_status="enrolled")     # no reminder after enrolment
    record_event(session, invitation, "enrolled", now=now,
                 detail={"partner_id": partner.id, "channel": enrolment.channel})
    session.flush()
    return Enrolled(partner_id=partner.id, partner_name=partner.name, registration_id=registration.id,
                    counterparty_id=cp.id, channel=enrolment.channel, **result)


def _refusal(e: PartnerError, enrolment: Enrolment) -> EnrolmentConflict:
    """The partner service's refusal as the registration form says it: to a stranger, never
    who holds an identifier or an AS2 id, only that it is taken."""
    if e.field == "identifiers" and e.conflict:
        scheme, value = e.value
        return EnrolmentConflict(_identifier_field(scheme),
                                 f"{SCHEMES.get(scheme, scheme)} {value} already belongs to a partner "
                                 "of this gateway: contact us rather than registering again")
    if e.field == "as2.id" and e.conflict:
        return EnrolmentConflict("as2_id", f"AS2 id {enrolment.as2_id!r} is taken: choose another")
    if e.field == "identifiers" and e.value:
        return EnrolmentConflict(_identifier_field(e.value[0]), e.problem)
    return EnrolmentConflict(_FORM_FIELDS.get(e.field, "channel"), e.problem)


# The form's fields for the partner settings it collects (the rest belong to the channel part).
_FORM_FIELDS = {"name": "name", "as2.id": "as2_id", "as2.url": "as2_url", "contact_email": "contact_email",
                "preferred_format": "preferred_format"}


def _identifier_field(scheme: str) -> str:
    return {"0009": "siret", "0002": "siren", "0088": "gln", "EM": "email"}.get(scheme, "vat")


def release_held(gw: Any, partner_id: int) -> Optional[Any]:
    """Route again what was held for lack of this partner (``gw.jobs.reroute_held`` when the
    gateway has it). Never raises: the partner exists whatever happens here; the sweep and the
    operators can release later."""
    reroute = getattr(gw.jobs, "reroute_held", None)
    if reroute is None:
        log.info("partner %d enrolled; this gateway has no reroute_held: held documents stay held", partner_id)
        return None
    try:
        return reroute(partner_id=partner_id)
    except Exception:                    # noqa: BLE001 - the enrolment is committed; log, do not fail the page
        log.exception("releasing held documents for partner %d failed", partner_id)
        return None
