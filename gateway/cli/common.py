"""What the administration commands share: the database transaction, refusals, output,
finding partners and organisations by what operators call them, storing certificates.

A refusal is a ``BadInput`` (exit 2): raised inside ``database()``, it rolls the
whole transaction back, so a refused command has written nothing.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.model import identifiers
from gateway.config import ConfigError, Settings, load_settings
from gateway.db import AS2Identity, Certificate, Organisation, Partner, migrate, session_scope
from gateway.partners.checks import CertificateFile, ExpiredCertificateError, read_certificate_file

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT, EXIT_SETUP = 0, 1, 2, 3
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

Owner = Union[Partner, Organisation]


class BadInput(click.ClickException):
    """Refused input: the message says what and why; the transaction is rolled back."""
    exit_code = EXIT_BAD_INPUT


class SetupError(click.ClickException):
    exit_code = EXIT_SETUP


# --- database and shared helpers ---------------------------------------------------------------

def current_settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise SetupError(str(exc)) from None


@contextmanager
def database(settings: Optional[Settings] = None) -> Iterator[Session]:
    """One transaction on the configured database, migrated first. A unique constraint hit at
    commit (another process was quicker than our checks) is bad input too, not a traceback."""
    settings = settings or current_settings()
    migrate(settings.database_url)
    try:
        with session_scope(settings.database_url) as session:
            yield session
    except sa.exc.IntegrityError as exc:
        raise BadInput(f"conflicts with an existing record ({exc.orig}); nothing written") from None


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


def check_as2_name_free(s: Session, name: str, partner: Optional[Partner] = None) -> None:
    """AS2 names identify both ends of a message: one may belong to one party only."""
    ours = s.scalar(sa.select(AS2Identity).where(AS2Identity.as2_name == name))
    if ours is not None:
        raise BadInput(f"AS2 name {name!r} is already ours (organisation {ours.organisation.name})")
    other = s.scalar(sa.select(Partner).where(Partner.as2_id == name))
    if other is not None and other is not partner:
        raise BadInput(f"AS2 id {name!r} already belongs to partner {other.name!r} (#{other.id})")


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
    """Store ``cf`` for ``owner`` beside the certificates it has (a rollover keeps both active)."""
    what = f"partner {owner.name!r}" if isinstance(owner, Partner) else f"organisation {owner.name!r}"
    cert = Certificate.from_pem(cf.pem, usage=usage, key_ref=key_ref)
    for c in owner.certificates:
        if c.fingerprint_sha256 == cert.fingerprint_sha256:
            state = "active" if c.active else "retired"
            raise BadInput(f"{what} already has this certificate as #{c.id} ({state}); nothing imported")
    if isinstance(owner, Partner):
        cert.partner = owner
    else:
        cert.organisation = owner
    s.add(cert)
    s.flush()
    for note in cf.notes:
        warn(note)
    elsewhere = s.scalars(sa.select(Certificate).where(
        Certificate.fingerprint_sha256 == cert.fingerprint_sha256, Certificate.id != cert.id)).all()
    for c in elsewhere:
        warn(f"the same certificate is also #{c.id} of {cert_owner(c)}")
    return cert


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
