"""``edigate user …``: who may log in to the operator pages (and own API tokens).

Each command works on the configured database (``EDIGATE_DATABASE_URL`` /
``EDIGATE_HOME``), migrated first, so the first ``edigate user add`` on a fresh
install just works. Passwords are never arguments (they would land in the shell
history and the process list): a hidden prompt with confirmation on a terminal; without
one (a script, a container's entry point), the first line of stdin (``--password-stdin``),
of a file (``--password-file``, e.g. a mounted secret) or the ``EDIGATE_USER_PASSWORD``
variable.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.cli.common import find_user, minute, table
from gateway.cli.context import CONTEXT_SETTINGS, transaction
from gateway.cli.errors import Failed
from gateway.cli.words import _
from gateway.db import ROLES, Partner, User


@click.group("user", context_settings=CONTEXT_SETTINGS)
def user_group() -> None:
    """Users of the operator pages (and owners of API tokens)."""


def _partner(s: Session, ref: str) -> Partner:
    """A partner by id, by exact name (case-insensitive) or by AS2 id."""
    ref = ref.strip()
    partner = s.get(Partner, int(ref)) if (ref.isascii() and ref.isdigit()) else None
    if partner is None:
        matches = s.scalars(sa.select(Partner).where(sa.func.lower(Partner.name) == ref.lower())).all()
        if len(matches) > 1:
            raise Failed(_("%(n)s partners are named '%(ref)s': give the partner's id", n=len(matches), ref=ref))
        partner = matches[0] if matches else None
    if partner is None:
        partner = s.scalar(sa.select(Partner).where(Partner.as2_id == ref))
    if partner is None:
        raise Failed(_("no partner '%(ref)s' (give its id or its exact name: edigate partner list)", ref=ref))
    return partner


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="staff", show_default=True,
              help="admin: everything; operator: retries and partner settings; staff: reading and uploads; "
                   "recipient: a recipient organisation's login to its portal and ERP pull (needs --partner).")
@click.option("--partner", "partner_ref", default=None, metavar="PARTNER",
              help="The partner (id, exact name or AS2 id) a recipient login belongs to.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Read the password from the first line of this file (a mounted secret).")
def user_add(username: str, role: str, partner_ref: Optional[str], password_stdin: bool,
             password_file: Optional[Path]) -> None:
    """Create a user; the password is asked for (twice) on a terminal, else read from stdin
    (--password-stdin), a file (--password-file) or EDIGATE_USER_PASSWORD."""
    if (role == "recipient") != (partner_ref is not None):
        raise click.UsageError("--partner goes with --role recipient, and only with it")
    password = _password(password_stdin, password_file)
    with transaction() as s:
        if s.scalar(sa.select(User.id).where(User.username == username.strip())) is not None:
            raise Failed(_("user '%(username)s' exists already", username=username))
        partner = _partner(s, partner_ref) if partner_ref is not None else None
        try:
            user = User.create(username, password, role, partner_id=partner.id if partner else None)
        except ValueError as e:
            raise Failed(str(e)) from None
        s.add(user)
        s.flush()
        if partner:
            click.echo(_("user %(username)s (%(role)s of partner %(partner)s (id %(partner_id)s)) created, id %(id)s",
                         username=user.username, role=user.role, partner=partner.name, partner_id=partner.id,
                         id=user.id))
        else:
            click.echo(_("user %(username)s (%(role)s) created, id %(id)s", username=user.username, role=user.role,
                         id=user.id))


def _password(from_stdin: bool, from_file: Optional[Path]) -> str:
    """The new user's password: stdin's or the file's first line, else EDIGATE_USER_PASSWORD, else
    asked twice (on the terminal, or two lines of stdin)."""
    if from_stdin and from_file:
        raise click.UsageError("--password-stdin or --password-file, not both")
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if from_file is not None:
        with from_file.open(encoding="utf-8") as f:
            return f.readline(4096).rstrip("\r\n")
    if os.environ.get("EDIGATE_USER_PASSWORD"):
        return os.environ["EDIGATE_USER_PASSWORD"]
    return click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)


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
        click.echo(_("user %(username)s disabled", username=user.username))
