"""Certificates as the partner, org and cert commands show and store them: their state and
expiry, reading a certificate file, storing it for its owner (through the partner service),
and what a rollover leaves active.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Union

import click
from sqlalchemy.orm import Session

from gateway.cli.common import actor, day, iso, utc_now, warn
from gateway.cli.errors import BadInput
from gateway.db import Certificate, Organisation, Partner
from gateway.partners.checks import CertificateFile, ExpiredCertificateError, read_certificate_file
from gateway.partners.service import PartnerError, PartnerService

Owner = Union[Partner, Organisation]


def cert_state(c: Certificate, now: datetime) -> str:
    if not c.active:
        return "retired"
    if c.not_after <= now:
        return "expired"
    if c.not_before > now:
        return "not yet valid"
    return "valid"


def cert_owner(c: Certificate) -> str:
    return f"partner {c.partner.name}" if c.partner is not None else f"org {c.organisation.name}"


def cert_dict(c: Certificate, now: datetime) -> dict[str, Any]:
    return {"id": c.id, "owner": cert_owner(c), "usage": c.usage, "subject": c.subject, "issuer": c.issuer,
            "serial": c.serial, "fingerprint_sha256": c.fingerprint_sha256, "not_before": iso(c.not_before),
            "not_after": iso(c.not_after), "active": c.active, "state": cert_state(c, now),
            "days_left": (c.not_after - now).days, "key_ref": c.key_ref}


def cert_line(c: Certificate, now: datetime) -> str:
    state = cert_state(c, now)
    if state == "valid":
        state = f"valid, {(c.not_after - now).days} days left"
    return (f"#{c.id} {c.usage:<10} {c.subject}  {day(c.not_before)} → {day(c.not_after)} ({state})"
            f"  sha256 {c.fingerprint_sha256[:16]}…")


def soonest_expiry(certs: list[Certificate]) -> Optional[datetime]:
    return min((c.not_after for c in certs if c.active), default=None)


def active_certs(owner: Owner) -> list[Certificate]:
    return sorted((c for c in owner.certificates if c.active), key=lambda c: (c.not_before, c.id))


def read_cert(path: Path, allow_expired: bool = False,
              expired_hint: str = "pass --allow-expired to import it anyway") -> CertificateFile:
    try:
        return read_certificate_file(path, allow_expired=allow_expired)
    except ExpiredCertificateError as exc:
        raise BadInput(f"{exc} ({expired_hint})") from None
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def add_cert(s: Session, owner: Owner, cf: CertificateFile, usage: str, key_ref: Optional[str] = None) -> Certificate:
    """Store ``cf`` for ``owner`` beside the certificates it has (a rollover keeps both active),
    through the partner service; what the operator should know goes to stderr."""
    try:
        added = PartnerService(s, actor=actor()).add_certificate(owner, cf.pem, usage, key_ref)   # on the trail
    except PartnerError as e:
        raise BadInput(str(e)) from None
    for note in cf.notes:
        warn(note)
    for c in added.also_held_by:
        warn(f"the same certificate is also #{c.id} of {cert_owner(c)}")
    return added.certificate


def report_rollover(owner: Owner, cert: Certificate) -> None:
    now = utc_now()
    active = active_certs(owner)
    others = [c for c in active if c.id != cert.id]
    if others:
        listing = ", ".join(f"#{c.id} (until {day(c.not_after)})" for c in active)
        click.echo(f"  {len(active)} active certificates now: {listing}. Rollover: all are accepted; "
                   f"retire the old one with `edigate cert retire ID` once the switch is done.")
    if cert.not_before > now:
        click.echo(f"  not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC: until then the others are used.")
