"""``edigate sftp`` (gateway.cli.sftp): accounts on our server and remotes read back from the
database, refusals that write nothing, and ``remote test`` / ``poll`` against a real OpenSSH peer
(tests/peers/sshd.py; those tests are skipped, saying why, where it cannot run)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import click
import paramiko
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from gateway.cli.partner import partner_group
from gateway.cli.sftp import sftp_group
from gateway.db import Exchange, Partner, SftpAccount, SftpRemote, migrate, session_scope
from gateway.db.sftp import key_lines
from gateway.transports.sftp.account import authorized_key_matches
from tests.peers.sshd import SshdPeer, new_ed25519

PASSWORD = "correct horse battery"


@click.group()
def cli() -> None:
    """The groups as the main ``edigate`` command carries them."""


cli.add_command(partner_group)
cli.add_command(sftp_group)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.setenv("EDIGATE_CERTS_DIR", str(tmp_path / "certs"))
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_PAYLOAD_DIR", "EDIGATE_JOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    migrate(url(tmp_path))
    ok("partner", "add", "ACME", "--channel", "sftp")
    ok("partner", "add", "Globex", "--channel", "sftp")
    return tmp_path


def url(home: Path) -> str:
    return f"sqlite:///{home}/edigate.db"


def run(*args: Any, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def ok(*args: Any, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def refused(home: Path, *args: Any, says: str, input: str | None = None) -> Result:
    """Exit 2, ``says`` in the error, and not a row written."""
    before = snapshot(home)
    result = run(*args, input=input)
    assert result.exit_code == 2, result.output
    assert says in result.stderr, result.stderr
    assert snapshot(home) == before
    return result


def snapshot(home: Path) -> dict[str, list[tuple]]:
    with session_scope(url(home)) as s:
        return {m.__tablename__: sorted(tuple(r) for r in s.execute(sa.select(m.__table__)).all())
                for m in (SftpAccount, SftpRemote, Partner)}


def account(home: Path, username: str) -> dict[str, Any]:
    with session_scope(url(home)) as s:
        a = s.scalar(sa.select(SftpAccount).where(SftpAccount.username == username))
        assert a is not None, f"no account {username}"
        return {"partner": a.partner.name, "active": a.active, "keys": key_lines(a.authorized_keys),
                "hash": a.password_hash}


def check_password(home: Path, username: str, password: str) -> bool:
    with session_scope(url(home)) as s:
        return s.scalar(sa.select(SftpAccount).where(SftpAccount.username == username)).check_password(password)


def remote(home: Path, partner: str = "ACME") -> dict[str, Any]:
    with session_scope(url(home)) as s:
        r = s.scalar(sa.select(SftpRemote).join(SftpRemote.partner).where(Partner.name == partner))
        assert r is not None, f"no remote for {partner}"
        return {c.key: getattr(r, c.key) for c in sa.inspect(SftpRemote).column_attrs}


# --- keys ----------------------------------------------------------------------------------------

def ed25519(directory: Path, name: str) -> tuple[Path, Path, paramiko.PKey]:
    """(private key file 0600, .pub file, the key as paramiko reads it)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    new_ed25519(path, f"{name}@test")
    return path, Path(f"{path}.pub"), paramiko.PKey.from_path(str(path))


def ecdsa(directory: Path, name: str) -> tuple[Path, Path, paramiko.PKey]:
    directory.mkdir(parents=True, exist_ok=True)
    key = paramiko.ECDSAKey.generate()
    path = directory / name
    key.write_private_key_file(str(path))
    os.chmod(path, 0o600)
    pub = Path(f"{path}.pub")
    pub.write_text(f"{key.get_name()} {key.get_base64()} {name}@test\n")
    return path, pub, key


def public_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def host_key_of(line: str) -> paramiko.PKey:
    kind, b64 = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(b64))


# --- accounts on our server ----------------------------------------------------------------------

def test_account_add_stores_a_hashed_password_and_parsed_keys(home: Path) -> None:
    _, pub_a, key_a = ed25519(home / "keys", "a")
    _, pub_b, key_b = ecdsa(home / "keys", "b")
    result = ok("sftp", "account", "add", "ACME", "--username", "acme", "--password-stdin",
                "--key", pub_a, "--key", pub_b, input=PASSWORD + "\n")
    assert key_a.fingerprint in result.stdout and key_b.fingerprint in result.stdout
    a = account(home, "acme")
    assert a["partner"] == "ACME" and a["active"]
    assert PASSWORD not in a["hash"]
    assert check_password(home, "acme", PASSWORD)
    assert not check_password(home, "acme", PASSWORD + "\n")      # the line ending is not part of it
    assert [ln.split()[:2] for ln in a["keys"]] == [public_line(key_a).split(), public_line(key_b).split()]
    # what the SFTP server matches logins against
    for key in (key_a, key_b):
        assert authorized_key_matches(key, a["keys"])
    assert not authorized_key_matches(ed25519(home / "keys", "other")[2], a["keys"])


def test_account_add_key_only_and_list(home: Path) -> None:
    _, pub, key = ed25519(home / "keys", "g")
    ok("sftp", "account", "add", "Globex", "--username", "globex", "--key", pub)
    ok("sftp", "account", "add", "ACME", "--username", "acme", "--password-stdin", input=PASSWORD)
    assert account(home, "globex")["hash"] is None
    listed = json.loads(ok("sftp", "account", "list", "--json").stdout)
    assert [a["username"] for a in listed] == ["acme", "globex"]
    acme, globex = listed
    assert (acme["partner"], acme["password"], acme["keys"], acme["active"]) == ("ACME", True, [], True)
    assert (globex["partner"], globex["password"]) == ("Globex", False)
    assert [k["fingerprint"] for k in globex["keys"]] == [key.fingerprint]
    assert globex["last_login_at"] is None
    text = ok("sftp", "account", "list").stdout
    assert key.fingerprint in text and "globex" in text and "Globex" in text


@pytest.mark.parametrize("case", ["openssh-private", "pem-private", "garbage", "rsa-1024", "no-key-line",
                                  "ssh2-format", "options"])
def test_account_add_refuses_bad_key_files(home: Path, case: str) -> None:
    keys = home / "keys"
    priv, pub, _ = ed25519(keys, "a")
    bad = keys / "bad.pub"
    says = {"openssh-private": "is a private key", "pem-private": "is a private key",
            "garbage": "does not parse", "rsa-1024": "too weak", "no-key-line": "holds no public key",
            "ssh2-format": "RFC 4716", "options": "options before the key"}[case]
    if case == "openssh-private":
        bad = priv
    elif case == "pem-private":
        bad = ecdsa(keys, "ec")[0]
    elif case == "garbage":
        bad.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFyYmFnZQ== x\n")
    elif case == "rsa-1024":
        bad.write_text(public_line(paramiko.RSAKey.generate(1024)) + "\n")
    elif case == "no-key-line":
        bad.write_text("# nothing but a comment\n\n")
    elif case == "ssh2-format":
        bad.write_text("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----\n")
    elif case == "options":
        bad.write_text('from="10.0.0.1" ' + pub.read_text())
    refused(home, "sftp", "account", "add", "ACME", "--username", "acme", "--key", pub, "--key", bad, says=says)


def test_account_add_refusals_write_nothing(home: Path) -> None:
    _, pub, _ = ed25519(home / "keys", "a")
    refused(home, "sftp", "account", "add", "ACME", "--username", "acme", says="needs a password")
    refused(home, "sftp", "account", "add", "ACME", "--username", "acme", "--password-stdin",
            input="eleven-char\n", says="at least 12 characters")
    refused(home, "sftp", "account", "add", "ACME", "--username", "acme", "--password-stdin",
            input="", says="no password")
    refused(home, "sftp", "account", "add", "ACME", "--username", "Not OK", "--key", pub, says="SFTP username")
    refused(home, "sftp", "account", "add", "Nobody", "--username", "acme", "--key", pub, says="no partner")
    ok("sftp", "account", "add", "ACME", "--username", "acme", "--key", pub)
    refused(home, "sftp", "account", "add", "Globex", "--username", "acme", "--key", pub, says="is taken")
    refused(home, "sftp", "account", "add", "ACME", "--username", "acme2", "--key", pub,
            says="already has SFTP account 'acme'")


def test_account_set_changes_keys_password_and_state(home: Path) -> None:
    _, pub_a, key_a = ed25519(home / "keys", "a")
    _, pub_b, key_b = ecdsa(home / "keys", "b")
    ok("sftp", "account", "add", "ACME", "--username", "acme", "--key", pub_a)
    ok("sftp", "account", "set", "acme", "--add-key", pub_b, "--password-stdin", input=PASSWORD + "\n")
    a = account(home, "acme")
    assert [ln.split()[1] for ln in a["keys"]] == [key_a.get_base64(), key_b.get_base64()]
    assert check_password(home, "acme", PASSWORD)
    # the fingerprint as `account list` shows it, with or without its SHA256: prefix
    ok("sftp", "account", "set", "acme", "--remove-key", key_a.fingerprint)
    assert [ln.split()[1] for ln in account(home, "acme")["keys"]] == [key_b.get_base64()]
    ok("sftp", "account", "set", "acme", "--remove-key", key_b.fingerprint[len("SHA256:"):])
    assert account(home, "acme")["keys"] == []
    ok("sftp", "account", "set", "acme", "--password-stdin", input="another password!\n")
    assert check_password(home, "acme", "another password!")
    assert not check_password(home, "acme", PASSWORD)
    ok("sftp", "account", "set", "acme", "--disable")
    assert account(home, "acme")["active"] is False
    assert json.loads(ok("sftp", "account", "list", "--json").stdout)[0]["active"] is False
    ok("sftp", "account", "set", "acme", "--enable")
    assert account(home, "acme")["active"] is True


def test_account_set_refusals_write_nothing(home: Path) -> None:
    _, pub_a, key_a = ed25519(home / "keys", "a")
    priv_b, pub_b, key_b = ed25519(home / "keys", "b")
    ok("sftp", "account", "add", "ACME", "--username", "acme", "--key", pub_a)
    refused(home, "sftp", "account", "set", "acme", "--remove-key", key_b.fingerprint, says="has no key")
    refused(home, "sftp", "account", "set", "acme", "--remove-key", key_a.fingerprint,
            says="neither a password nor a key")
    refused(home, "sftp", "account", "set", "acme", "--add-key", priv_b, says="is a private key")
    refused(home, "sftp", "account", "set", "acme", "--password-stdin", input="short\n", says="at least 12")
    refused(home, "sftp", "account", "set", "nobody", "--disable", says="no SFTP account 'nobody'")
    # one bad change in a batch: the good ones are not written either
    refused(home, "sftp", "account", "set", "acme", "--add-key", pub_b, "--remove-key", "SHA256:nope",
            "--disable", says="has no key")


# --- remotes (no connection) ---------------------------------------------------------------------

def test_remote_set_creates_with_defaults_then_changes_only_what_is_given(home: Path) -> None:
    priv, _, key = ed25519(home / "keys", "ours")
    host_key = ed25519(home / "keys", "theirs")[2]
    result = ok("sftp", "remote", "set", "ACME", "--host", "sftp.acme.example", "--username", "edigate",
                "--key", priv, "--host-key", public_line(host_key) + " root@acme")
    assert public_line(key) in result.stdout        # what to send the partner
    r = remote(home)
    assert (r["host"], r["port"], r["username"]) == ("sftp.acme.example", 22, "edigate")
    assert r["private_key_ref"] == str(priv.resolve())
    assert r["host_key"] == public_line(host_key)
    assert (r["push_dir"], r["poll_dir"], r["archive_dir"], r["poll_interval_seconds"], r["active"]) == \
        ("inbound", "outbound", None, 300, True)
    assert "PRIVATE" not in json.dumps({k: str(v) for k, v in r.items()})   # the key itself is not stored

    ok("sftp", "remote", "set", "ACME", "--interval", "60", "--archive-dir", "outbound/done", "--port", "2022",
       "--host-key", host_key.fingerprint, "--push-dir", "", "--disable")
    r2 = remote(home)
    assert (r2["poll_interval_seconds"], r2["archive_dir"], r2["port"], r2["host_key"], r2["push_dir"],
            r2["active"]) == (60, "outbound/done", 2022, host_key.fingerprint, None, False)
    assert (r2["host"], r2["username"], r2["private_key_ref"], r2["poll_dir"]) == \
        (r["host"], r["username"], r["private_key_ref"], r["poll_dir"])
    ok("sftp", "remote", "set", "ACME", "--enable")
    assert remote(home)["active"] is True

    listed = json.loads(ok("sftp", "remote", "list", "--json").stdout)
    assert len(listed) == 1
    assert (listed[0]["partner"], listed[0]["host_key_fingerprint"], listed[0]["last_poll_at"],
            listed[0]["last_poll_error"]) == ("ACME", host_key.fingerprint, None, None)


def test_remote_set_refusals_write_nothing(home: Path) -> None:
    keys = home / "keys"
    priv, pub, _ = ed25519(keys, "ours")
    host_key = ed25519(keys, "theirs")[2]
    pin = public_line(host_key)
    base = ("sftp", "remote", "set", "ACME", "--host", "sftp.acme.example", "--username", "edigate")
    refused(home, *base, "--key", priv, says="--host-key")                       # no trust on first use
    refused(home, *base, "--host-key", pin, says="--key")
    refused(home, *base, "--key", priv, "--host-key", "ssh-ed25519 not-base64!", says="--host-key")
    refused(home, *base, "--key", priv, "--host-key", "SHA256:tooshort", says="not a SHA256 fingerprint")
    refused(home, *base, "--key", pub, "--host-key", pin, says="cannot load private key")
    readable = keys / "readable"
    shutil.copy(priv, readable)
    os.chmod(readable, 0o644)
    refused(home, *base, "--key", readable, "--host-key", pin, says="chmod 600")
    encrypted = keys / "encrypted"
    paramiko.ECDSAKey.generate().write_private_key_file(str(encrypted), password="secret")
    os.chmod(encrypted, 0o600)
    refused(home, *base, "--key", encrypted, "--host-key", pin, says="is encrypted")
    refused(home, *base, "--key", priv, "--host-key", pin, "--interval", "10", says="at least 30")
    refused(home, *base, "--key", priv, "--host-key", pin, "--archive-dir", "outbound/", says="must differ")
    refused(home, "sftp", "remote", "set", "ACME", "--host", "edigate@sftp.acme.example", "--username", "x",
            "--key", priv, "--host-key", pin, says="--username")
    refused(home, "sftp", "remote", "set", "Nobody", "--host", "h", "--username", "u", "--key", priv,
            "--host-key", pin, says="no partner")
    assert snapshot(home)["sftp_remotes"] == []


def test_test_and_poll_need_a_remote(home: Path) -> None:
    refused(home, "sftp", "remote", "test", "ACME", says="has no SFTP server")
    refused(home, "sftp", "poll", "ACME", says="has no SFTP server")


# --- against a real OpenSSH server ---------------------------------------------------------------

@pytest.fixture
def peer(sshd_peer: SshdPeer) -> SshdPeer:
    """The session's sshd (tests/peers/sshd.py)."""
    return sshd_peer


@pytest.fixture
def outbound(peer: SshdPeer) -> Path:
    for name in ("inbound", "outbound"):
        for child in (peer.chroot / name).iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    return peer.chroot / "outbound"


def set_remote(peer: SshdPeer, *extra: Any, pin: str | None = None) -> None:
    ok("sftp", "remote", "set", "ACME", "--host", peer.host, "--port", peer.port, "--username", peer.username,
       "--key", peer.client_key_path, "--host-key", pin or peer.host_key_line, *extra)


def test_remote_test_with_the_right_pin_connects_and_lists(home: Path, peer: SshdPeer, outbound: Path) -> None:
    (outbound / "INV-1.xml").write_bytes(b"<Invoice/>")
    for pin in (peer.host_key_line, host_key_of(peer.host_key_line).fingerprint):
        set_remote(peer, pin=pin)
        result = ok("sftp", "remote", "test", "ACME")
        assert host_key_of(peer.host_key_line).fingerprint in result.stdout
        assert "push_dir inbound: 0 entries" in result.stdout
        assert "poll_dir outbound: 1 entry" in result.stdout
        assert "INV-1.xml" in result.stdout
    assert (outbound / "INV-1.xml").exists()        # a test takes nothing


def test_remote_test_with_a_wrong_pin_fails_naming_both_fingerprints(home: Path, peer: SshdPeer) -> None:
    wrong = ed25519(home / "keys", "impostor")[2]
    set_remote(peer, pin=public_line(wrong))
    before = snapshot(home)
    result = run("sftp", "remote", "test", "ACME")
    assert result.exit_code == 1, result.output
    assert wrong.fingerprint in result.stderr
    assert host_key_of(peer.host_key_line).fingerprint in result.stderr
    assert "connected" not in result.stdout
    assert snapshot(home) == before


def test_remote_test_fails_on_a_directory_it_cannot_list(home: Path, peer: SshdPeer, outbound: Path) -> None:
    set_remote(peer, "--poll-dir", "missing")
    result = run("sftp", "remote", "test", "ACME")
    assert result.exit_code == 1, result.output
    assert "poll_dir 'missing' cannot be listed" in result.stderr


def exchanges(home: Path) -> list[tuple]:
    with session_scope(url(home)) as s:
        rows = s.execute(sa.select(Exchange.direction, Exchange.channel, Partner.name, Exchange.filename,
                                   Exchange.content_sha256)
                         .outerjoin(Partner, Partner.id == Exchange.partner_id).order_by(Exchange.id)).all()
        return [tuple(r) for r in rows]


def test_poll_records_the_file_once_and_removes_it(home: Path, peer: SshdPeer, outbound: Path) -> None:
    set_remote(peer)
    data = b"<Invoice>poll me</Invoice>\n"
    digest = hashlib.sha256(data).hexdigest()
    (outbound / "INV-7.xml").write_bytes(data)
    result = ok("sftp", "poll", "ACME", "--settle", "0", "--json")
    counts = json.loads(result.stdout)
    assert (counts["files"], counts["new"], counts["again"], counts["error"]) == (1, 1, 0, None)
    assert exchanges(home) == [("in", "sftp", "ACME", "INV-7.xml", digest)]
    assert not (outbound / "INV-7.xml").exists()
    r = remote(home)
    assert r["last_poll_at"] is not None and r["last_poll_error"] is None

    (outbound / "INV-7.xml").write_bytes(data)      # delivered again (their delete was cut short, say)
    result = ok("sftp", "poll", "ACME", "--settle", "0")
    assert "1 file, 0 new, 1 fetched before" in result.stdout
    assert len(exchanges(home)) == 1
    assert not (outbound / "INV-7.xml").exists()


def test_poll_failure_exits_1_and_is_recorded(home: Path, peer: SshdPeer, outbound: Path) -> None:
    (outbound / "INV-8.xml").write_bytes(b"<Invoice/>")
    set_remote(peer, pin=public_line(ed25519(home / "keys", "impostor")[2]))
    result = run("sftp", "poll", "ACME", "--settle", "0")
    assert result.exit_code == 1, result.output
    assert "HostKeyMismatch" in result.stderr
    assert "0 files, 0 new" in result.stdout
    listed = json.loads(ok("sftp", "remote", "list", "--json").stdout)[0]
    assert "does not match the pin" in listed["last_poll_error"] and listed["last_poll_at"] is not None
    assert exchanges(home) == []
    assert (outbound / "INV-8.xml").exists()


def test_poll_refuses_a_disabled_remote(home: Path, peer: SshdPeer) -> None:
    set_remote(peer, "--disable")
    refused(home, "sftp", "poll", "ACME", says="is disabled")
