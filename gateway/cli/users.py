"""``edigate user …`` and ``edigate token …``: who may log in to the pages and call the API.

Two click groups for the main command line to register (``user_group``,
``token_group``). Each command works on the configured database
(``EDIGATE_DATABASE_URL`` / ``EDIGATE_HOME``) and migrates it first, so the
first ``edigate user add`` on a fresh install just works. Passwords are never
arguments (they would land in the shell history and the process list): a
hidden prompt with confirmation, or one line on stdin. A token is printed
once, alone on stdout, so ``TOKEN=$(edigate token create …)`` works.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.config import load_settings
from gateway.db import ROLES, ApiToken, Partner, User, issue_token, migrate, session_scope

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@contextmanager
def _session() -> Iterator[Session]:
    """A unit of work on the configured database, migrated to the latest schema first."""
    url = load_settings().database_url
    migrate(url)
    with session_scope(url) as s:
        yield s


def _when(value: Optional[datetime]) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if value else "-"


def _user(s: Session, username: str) -> User:
    user = s.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for row in [headers, *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


# --- users -----------------------------------------------------------------------------------

@click.group("user", context_settings=CONTEXT_SETTINGS)
def user_group() -> None:
    """Users of the operator pages (and owners of API tokens)."""


def _partner(s: Session, ref: str) -> Partner:
    """A partner by id or by exact name (case-insensitive)."""
    ref = ref.strip()
    partner = s.get(Partner, int(ref)) if ref.isdigit() else None
    if partner is None:
        matches = s.scalars(sa.select(Partner).where(sa.func.lower(Partner.name) == ref.lower())).all()
        if len(matches) > 1:
            raise click.ClickException(f"{len(matches)} partners are named {ref!r}: give the partner's id")
        partner = matches[0] if matches else None
    if partner is None:
        raise click.ClickException(f"no partner {ref!r} (give its id or its exact name: edigate partner list)")
    return partner


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="staff", show_default=True,
              help="admin: everything; operator: retries and partner settings; staff: reading and uploads; "
                   "recipient: a recipient organisation's login to its portal and ERP pull (needs --partner).")
@click.option("--partner", "partner_ref", default=None, metavar="PARTNER",
              help="The partner (id or exact name) a recipient login belongs to.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def user_add(username: str, role: str, partner_ref: Optional[str], password_stdin: bool) -> None:
    """Create a user; the password is asked for (twice) unless given on stdin."""
    if (role == "recipient") != (partner_ref is not None):
        raise click.UsageError("--partner goes with --role recipient, and only with it")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session() as s:
        if s.scalar(sa.select(User.id).where(User.username == username.strip())) is not None:
            raise click.ClickException(f"user {username!r} exists already")
        partner = _partner(s, partner_ref) if partner_ref is not None else None
        try:
            user = User.create(username, password, role, partner_id=partner.id if partner else None)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        s.add(user)
        s.flush()
        of = f" of partner {partner.name} (id {partner.id})" if partner else ""
        click.echo(f"user {user.username} ({user.role}{of}) created, id {user.id}")


@user_group.command("list")
def user_list() -> None:
    """Every user, with role, state and last login."""
    with _session() as s:
        users = s.scalars(sa.select(User).order_by(User.username)).all()
        _table(["ID", "USERNAME", "ROLE", "ACTIVE", "CREATED", "LAST LOGIN", "PARTNER"],
               [[str(u.id), u.username, u.role, "yes" if u.active else "no", _when(u.created_at),
                 _when(u.last_login_at), s.get(Partner, u.partner_id).name if u.partner_id else "-"]
                for u in users])


@user_group.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Stop a user: their sessions end and their API tokens stop working at once."""
    with _session() as s:
        user = _user(s, username)
        user.active = False
        click.echo(f"user {user.username} disabled")


# --- tokens ----------------------------------------------------------------------------------

@click.group("token", context_settings=CONTEXT_SETTINGS)
def token_group() -> None:
    """Bearer tokens for the REST API (each acts with its user's role)."""


@token_group.command("create")
@click.option("--user", "username", required=True, help="The user the token acts for.")
@click.option("--name", required=True, help="What the token is for, e.g. 'erp-export'.")
@click.option("--expires-days", type=click.IntRange(min=1), default=None,
              help="Valid for this many days (default: until revoked).")
def token_create(username: str, name: str, expires_days: Optional[int]) -> None:
    """Create a token and print it, once: only its hash is kept."""
    expires_at = datetime.now(timezone.utc) + timedelta(days=expires_days) if expires_days else None
    with _session() as s:
        user = _user(s, username)
        if not user.active:
            raise click.ClickException(f"user {username!r} is disabled")
        try:
            token, plaintext = issue_token(s, user, name, expires_at=expires_at)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        until = f", expires {_when(expires_at)} UTC" if expires_at else ""
        click.echo(f"token {token.id} ({name}) for {user.username}{until}. "
                   "It is shown only now: keep it in a secret store.", err=True)
        click.echo(plaintext)


@token_group.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
def token_list(username: Optional[str]) -> None:
    """Tokens (never the tokens themselves: their first characters)."""
    with _session() as s:
        q = sa.select(ApiToken).join(User).order_by(ApiToken.id)
        if username:
            q = q.where(User.id == _user(s, username).id)
        now = datetime.now(timezone.utc)
        _table(["ID", "USER", "NAME", "PREFIX", "STATE", "CREATED", "LAST USED", "EXPIRES"],
               [[str(t.id), t.user.username, t.name, t.prefix + "…", t.state(now), _when(t.created_at),
                 _when(t.last_used_at), _when(t.expires_at)] for t in s.scalars(q)])


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    with _session() as s:
        token = s.get(ApiToken, token_id)
        if token is None:
            raise click.ClickException(f"no token {token_id}")
        if token.revoked_at is not None:
            click.echo(f"token {token_id} was already revoked on {_when(token.revoked_at)} UTC")
            return
        token.revoke()
        click.echo(f"token {token_id} ({token.name}) of {token.user.username} revoked")
