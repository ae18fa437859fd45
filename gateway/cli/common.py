"""What the commands share: finding partners, organisations and users by what operators call
them, output (tables, JSON, dates), certificates.

A refusal is a ``BadInput`` (exit 2): raised inside ``transaction()``, it rolls the
whole transaction back, so a refused command has written nothing.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.model import identifiers
from gateway.cli.context import CONTEXT_SETTINGS, current, transaction  # noqa: F401  (for the commands)
from gateway.cli.errors import (EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEMS, EXIT_SETUP,  # noqa: F401
                                BadInput, SetupError)
from gateway.config import Settings
from gateway.db import AS2Identity, Certificate, Organisation, Partner, User
from gateway.partners.checks import CertificateFile, ExpiredCertificateError, read_certificate_file
from gateway.partners.service import PartnerError, PartnerService

Owner = Union[Partner, Organisation]


# --- shared helpers -----------------------------------------------------------------------------

def current_settings() -> Settings:
    """The run's settings (a setting that cannot be used: ``SetupError``, exit 3)."""
    return current().settings


def checked(fn: Callable[[str], Any], value: str) -> Any:
    """``fn(value)``, a ``ValueError`` turned into a refusal."""
    try:
        return fn(value)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def minute(dt: Optional[datetime]) -> str:
    """``2026-03-01 09:30`` in UTC, or ``-``."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if dt else "-"


def day(dt: Optional[datetime]) -> str:
    return f"{dt:%Y-%m-%d}" if dt else "-"


def iso(dt: Optional[datetime]) -> Optional[str]:
    return dt.isoformat() if dt else None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for row in [headers, *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


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


# --- finding records -----------------------------------------------------------------------------

def find_partner(s: Session, ref: str) -> Partner:
    """A partner by name (case-insensitive if unambiguous), number, SCHEME:VALUE identifier or AS2 id."""
    p = s.scalar(sa.select(Partner).where(Partner.name == ref))
    if p is None:
        same = s.scalars(sa.select(Partner).where(sa.func.lower(Partner.name) == ref.lower())).all()
        p = same[0] if len(same) == 1 else None
    if p is None and ref.isdigit():
        p = s.get(Partner, int(ref))
    if p is None and ":" in ref:
        try:
            p = s.scalar(Partner.by_identifier(*identifiers.parse(ref)))
        except ValueError:
            pass
    if p is None:
        p = s.scalar(sa.select(Partner).where(Partner.as2_id == ref))
    if p is None:
        raise BadInput(f"no partner {ref!r} (give its name, number, SCHEME:VALUE identifier or AS2 id; "
                       "see `edigate partner list`)")
    return p


def find_org(s: Session, ref: str) -> Organisation:
    """One of our organisations by name, one of its AS2 names, or number."""
    o = s.scalar(sa.select(Organisation).where(Organisation.name == ref))
    if o is None:
        ident = s.scalar(sa.select(AS2Identity).where(AS2Identity.as2_name == ref))
        o = ident.organisation if ident is not None else None
    if o is None and ref.isdigit():
        o = s.get(Organisation, int(ref))
    if o is None:
        known = ", ".join(s.scalars(sa.select(Organisation.name).order_by(Organisation.name))) or "none yet"
        raise BadInput(f"no organisation of ours named {ref!r} (known: {known}; see `edigate org add`)")
    return o


def find_user(s: Session, username: str) -> User:
    """A user of the pages by username (a missing one: exit 1, as the user commands always did)."""
    user = s.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


def check_as2_name_free(s: Session, name: str, partner: Optional[Partner] = None) -> None:
    """AS2 names identify both ends of a message: one may belong to one party only."""
    try:
        PartnerService(s).as2_name_free(name, partner)
    except PartnerError as e:
        raise BadInput(str(e)) from None


# --- certificates (shared by partner, org and cert commands) ----------------------------------

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
        added = PartnerService(s).add_certificate(owner, cf.pem, usage, key_ref)
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
