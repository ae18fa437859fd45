"""``edigate user …``: who may log in to the operator pages (and own API tokens).

Each command works on the configured database (``EDIGATE_DATABASE_URL`` /
``EDIGATE_HOME``), migrated first, so the first ``edigate user add`` on a fresh
install just works. Passwords are never arguments (they would land in the shell
history and the process list): a hidden prompt with confirmation, or one line on stdin.
"""
from __future__ import annotations

import sys
from typing import Optional

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.cli.common import find_user, minute, table
from gateway.cli.context import CONTEXT_SETTINGS, transaction
from gateway.db import ROLES, Partner, User


@click.group("user", context_settings=CONTEXT_SETTINGS)
def user_group() -> None:
    """Users of the operator pages (and owners of API tokens)."""


def _partner(s: Session, ref: str) -> Partner:
    """A partner by id or by exact name (case-insensitive)."""
    ref = ref.strip()
    partner = s.get(Partner, int(ref)) if (ref.isascii() and ref.isdigit()) else None
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
    with transaction() as s:
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
    with transaction() as s:
        users = s.scalars(sa.select(User).order_by(User.username)).all()
        table(["ID", "USERNAME", "ROLE", "ACTIVE", "CREATED", "LAST LOGIN", "PARTNER"],
              [[str(u.id), u.username, u.role, "yes" if u.active else "no", minute(u.created_at),
                minute(u.last_login_at), s.get(Partner, u.partner_id).name if u.partner_id else "-"]
               for u in users])


@user_group.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Stop a user: their sessions end and their API tokens stop working at once."""
    with transaction() as s:
        user = find_user(s, username)
        user.active = False
        click.echo(f"user {user.username} disabled")
