"""``edigate user …`` / ``edigate token …`` (gateway.cli.user, gateway.cli.token) on a fresh database under tmp_path."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.db import ApiToken, User, authenticate_token, make_engine, session_scope
from gateway.cli.token import token_group
from gateway.cli.user import user_group


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_DATABASE_URL": ""}


@pytest.fixture
def db(env) -> str:
    return f"sqlite:///{env['EDIGATE_HOME']}/edigate.db"


def run(env, group, *args: str, input: str | None = None):
    return CliRunner().invoke(group, list(args), env=env, input=input, catch_exceptions=False)


def test_user_add_on_a_fresh_install(env, db) -> None:
    r = run(env, user_group, "add", "olivia", "--role", "operator", "--password-stdin", input="a long password\n")
    assert r.exit_code == 0, r.output
    assert "user olivia (operator) created" in r.stdout
    engine = make_engine(db)                      # the command migrated the database itself
    try:
        with session_scope(engine) as s:
            user = s.scalar(sa.select(User).where(User.username == "olivia"))
            assert (user.role, user.active) == ("operator", True)
            assert user.check_password("a long password") and not user.check_password("a long passwor")
            assert "a long password" not in user.password_hash
    finally:
        engine.dispose()


def test_user_add_prompts_twice(env, db) -> None:
    r = run(env, user_group, "add", "sam", input="first password\nfirst password\n")
    assert r.exit_code == 0, r.output
    assert "first password" not in r.output                                     # hidden input
    r = run(env, user_group, "add", "kim", input="one password\nanother one\n")   # mismatch, then no more input
    assert r.exit_code != 0 and "do not match" in r.output
    listing = run(env, user_group, "list").stdout
    assert "sam" in listing and "staff" in listing and "kim" not in listing    # staff: the default role


@pytest.mark.parametrize("args, stdin, message", [
    (["add", "x", "--password-stdin"], "short\n", "at least 8 characters"),
    (["add", "has space", "--password-stdin"], "a long password\n", "without blanks"),
    (["add", "x", "--role", "root", "--password-stdin"], "a long password\n", "'root' is not one of"),
    (["disable", "nobody"], None, "no user 'nobody'"),
])
def test_user_refusals(env, args, stdin, message) -> None:
    r = run(env, user_group, *args, input=stdin)
    assert r.exit_code != 0 and message in r.output


def test_user_add_twice_is_refused(env) -> None:
    assert run(env, user_group, "add", "sam", "--password-stdin", input="a long password\n").exit_code == 0
    r = run(env, user_group, "add", "sam", "--password-stdin", input="other password\n")
    assert r.exit_code == 1 and "user 'sam' exists already" in r.output


def test_user_list(env) -> None:
    run(env, user_group, "add", "zed", "--role", "admin", "--password-stdin", input="a long password\n")
    run(env, user_group, "add", "amy", "--password-stdin", input="a long password\n")
    run(env, user_group, "disable", "zed")
    lines = run(env, user_group, "list").stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "USERNAME", "ROLE", "ACTIVE"]
    assert [line.split()[1:4] for line in lines[1:]] == [["amy", "staff", "yes"], ["zed", "admin", "no"]]


def test_token_lifecycle(env, db) -> None:
    run(env, user_group, "add", "erp", "--role", "staff", "--password-stdin", input="a long password\n")
    r = run(env, token_group, "create", "--user", "erp", "--name", "nightly export")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert token.startswith("edg_") and len(token) > 40 and "\n" not in token   # alone on stdout
    assert "shown only now" in r.stderr

    engine = make_engine(db)
    try:
        with session_scope(engine) as s:
            row = s.scalar(sa.select(ApiToken))
            assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
            assert (row.name, row.expires_at, row.prefix) == ("nightly export", None, token[:12])
            assert authenticate_token(s, token).username == "erp"

        listing = run(env, token_group, "list").stdout
        assert f"{token[:12]}…" in listing and "active" in listing and token not in listing

        r = run(env, token_group, "revoke", str(row.id))
        assert r.exit_code == 0 and f"token {row.id} (nightly export) of erp revoked" in r.stdout
        with session_scope(engine) as s:
            assert authenticate_token(s, token) is None
        assert "revoked" in run(env, token_group, "list", "--user", "erp").stdout
        assert "already revoked" in run(env, token_group, "revoke", str(row.id)).stdout
    finally:
        engine.dispose()


def test_token_expiry_and_refusals(env, db) -> None:
    run(env, user_group, "add", "erp", "--password-stdin", input="a long password\n")
    before = datetime.now(timezone.utc)
    token = run(env, token_group, "create", "--user", "erp", "--name", "short", "--expires-days", "3").stdout.strip()
    engine = make_engine(db)
    try:
        with session_scope(engine) as s:
            row = s.scalar(sa.select(ApiToken))
            assert before + timedelta(days=3) <= row.expires_at <= datetime.now(timezone.utc) + timedelta(days=3)
            assert authenticate_token(s, token, at=before + timedelta(days=2)) is not None
            assert authenticate_token(s, token, at=before + timedelta(days=3, seconds=5)) is None
    finally:
        engine.dispose()
    assert run(env, token_group, "create", "--user", "ghost", "--name", "x").exit_code == 1
    assert run(env, token_group, "create", "--user", "erp", "--name", "x", "--expires-days", "0").exit_code == 2
    assert run(env, token_group, "revoke", "99").exit_code == 1
    run(env, user_group, "disable", "erp")
    r = run(env, token_group, "create", "--user", "erp", "--name", "x")
    assert r.exit_code == 1 and "disabled" in r.output


def test_disabling_a_user_stops_their_tokens(env, db) -> None:
    run(env, user_group, "add", "erp", "--password-stdin", input="a long password\n")
    token = run(env, token_group, "create", "--user", "erp", "--name", "n").stdout.strip()
    engine = make_engine(db)
    try:
        with session_scope(engine) as s:
            assert authenticate_token(s, token) is not None
        assert run(env, user_group, "disable", "erp").exit_code == 0
        with session_scope(engine) as s:
            assert authenticate_token(s, token) is None
    finally:
        engine.dispose()
