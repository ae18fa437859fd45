"""``edigate token …``: bearer tokens for the REST API, each acting with its user's role.

A token is printed once, alone on stdout, so ``TOKEN=$(edigate token create …)``
works; only its hash is kept.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

import click
import sqlalchemy as sa

from gateway.cli.common import find_user, minute, table
from gateway.cli.context import CONTEXT_SETTINGS, transaction
from gateway.cli.errors import Failed
from gateway.cli.words import _
from gateway.db import ApiToken, User, issue_token


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
    with transaction() as s:
        user = find_user(s, username)
        if not user.active:
            raise Failed(_("user '%(username)s' is disabled", username=username))
        try:
            token, plaintext = issue_token(s, user, name, expires_at=expires_at)
        except ValueError as e:
            raise Failed(str(e)) from None
        if expires_at:
            said = _("token %(id)s (%(name)s) for %(username)s, expires %(when)s UTC. It is shown only now: keep "
                     "it in a secret store.", id=token.id, name=name, username=user.username, when=minute(expires_at))
        else:
            said = _("token %(id)s (%(name)s) for %(username)s. It is shown only now: keep it in a secret store.",
                     id=token.id, name=name, username=user.username)
        click.echo(said, err=True)
        click.echo(plaintext)


@token_group.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
def token_list(username: Optional[str]) -> None:
    """Tokens (never the tokens themselves: their first characters)."""
    with transaction() as s:
        q = sa.select(ApiToken).join(User).order_by(ApiToken.id)
        if username:
            q = q.where(User.id == find_user(s, username).id)
        now = datetime.now(timezone.utc)
        table(["ID", "USER", "NAME", "PREFIX", "STATE", "CREATED", "LAST USED", "EXPIRES"],
              [[str(t.id), t.user.username, t.name, t.prefix + "…", t.state(now), minute(t.created_at),
                minute(t.last_used_at), minute(t.expires_at)] for t in s.scalars(q)])


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    with transaction() as s:
        token = s.get(ApiToken, token_id)
        if token is None:
            raise Failed(_("no token %(id)s", id=token_id))
        if token.revoked_at is not None:
            click.echo(_("token %(id)s was already revoked on %(when)s UTC", id=token_id,
                         when=minute(token.revoked_at)))
            return
        token.revoke()
        click.echo(_("token %(id)s (%(name)s) of %(username)s revoked", id=token_id, name=token.name,
                     username=token.user.username))
