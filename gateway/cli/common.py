"""What the commands share: finding partners, organisations and users by what operators call
them, and output (tables, JSON, dates). Certificates are in ``gateway.cli.certificates``.

A refusal is a ``BadInput`` (exit 2): raised inside ``transaction()``, it rolls the
whole transaction back, so a refused command has written nothing.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.model import identifiers
from gateway.cli.context import CONTEXT_SETTINGS, current, transaction  # noqa: F401  (for the commands)
from gateway.cli.errors import (EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEMS, EXIT_SETUP,  # noqa: F401
                                BadInput, Failed, SetupError)
from gateway.cli.words import _, identifier_problem
from gateway.config import Settings
from gateway.db import AS2Identity, Organisation, Partner, User



# --- shared helpers -----------------------------------------------------------------------------

def current_settings() -> Settings:
    """The run's settings (a setting that cannot be used: ``SetupError``, exit 3)."""
    return current().settings


def checked(fn: Callable[[str], Any], value: str) -> Any:
    """``fn(value)``, a ``ValueError`` turned into a refusal (an identifier's in the run's language)."""
    try:
        return fn(value)
    except ValueError as exc:
        if getattr(exc, "problem", None) is not None:
            raise BadInput(identifier_problem(exc.problem)) from None
        raise BadInput(str(exc)) from None


def actor() -> str:
    """Who the audit trail names for a change made from the command line: ``cli:<login>``."""
    import getpass
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:           # no login name in this environment (a container without a user entry)
        return "cli"


def warn(message: str) -> None:
    click.echo(_("warning: %(message)s", message=message), err=True)


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


# --- finding records -----------------------------------------------------------------------------

def find_partner(s: Session, ref: str) -> Partner:
    """A partner by name (case-insensitive if unambiguous), number, SCHEME:VALUE identifier or AS2 id."""
    p = s.scalar(sa.select(Partner).where(Partner.name == ref))
    if p is None:
        same = s.scalars(sa.select(Partner).where(sa.func.lower(Partner.name) == ref.lower())).all()
        p = same[0] if len(same) == 1 else None
    if p is None and (ref.isascii() and ref.isdigit()):
        p = s.get(Partner, int(ref))
    if p is None and ":" in ref:
        try:
            p = s.scalar(Partner.by_identifier(*identifiers.parse(ref)))
        except ValueError:
            pass
    if p is None:
        p = s.scalar(sa.select(Partner).where(Partner.as2_id == ref))
    if p is None:
        raise BadInput(_("no partner '%(ref)s' (give its name, number, SCHEME:VALUE identifier or AS2 id; "
                         "see `edigate partner list`)", ref=ref))
    return p


def find_org(s: Session, ref: str) -> Organisation:
    """One of our organisations by name, one of its AS2 names, or number."""
    o = s.scalar(sa.select(Organisation).where(Organisation.name == ref))
    if o is None:
        ident = s.scalar(sa.select(AS2Identity).where(AS2Identity.as2_name == ref))
        o = ident.organisation if ident is not None else None
    if o is None and (ref.isascii() and ref.isdigit()):
        o = s.get(Organisation, int(ref))
    if o is None:
        known = ", ".join(s.scalars(sa.select(Organisation.name).order_by(Organisation.name))) or _("none yet")
        raise BadInput(_("no organisation of ours named '%(ref)s' (known: %(known)s; see `edigate org add`)",
                         ref=ref, known=known))
    return o


def find_user(s: Session, username: str) -> User:
    """A user of the pages by username (a missing one: exit 1, as the user commands always did)."""
    user = s.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise Failed(_("no user '%(username)s'", username=username))
    return user
