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
            raise click.ClickException(f"user {username!r} is disabled")
        try:
            token, plaintext = issue_token(s, user, name, expires_at=expires_at)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        until = f", expires {minute(expires_at)} UTC" if expires_at else ""
        click.echo(f"token {token.id} ({name}) for {user.username}{until}. "
                   "It is shown only now: keep it in a secret store.", err=True)
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
            raise click.ClickException(f"no token {token_id}")
        if token.revoked_at is not None:
            click.echo(f"token {token_id} was already revoked on {minute(token.revoked_at)} UTC")
            return
        token.revoke()
        click.echo(f"token {token_id} ({token.name}) of {token.user.username} revoked")
