"""``edigate sftp``: partners' logins on our SFTP server, ours on theirs, and polling now.

* ``sftp account``: a partner's account on our server (``SftpAccount``): a
  password (read from standard input, stored hashed) and/or OpenSSH public
  keys, each parsed before it is stored. A private key given where a public
  one belongs is refused, never stored.
* ``sftp remote``: our login on a partner's server (``SftpRemote``, one per
  partner). Only the path of our private key is recorded, after checking that
  it loads and that other users of this machine cannot read it. The partner's
  host key must be pinned when the remote is created: nothing is ever trusted
  on first use. ``remote test`` logs in and lists the directories.
* ``sftp poll``: fetch what the partner left for us now, outside the schedule.

Exit codes: 0 done; 1 failed (``remote test``, ``poll``: the connection or the
poll failed, the error says why); 2 refused (nothing written).
"""
from __future__ import annotations

import base64
import binascii
import posixpath
import sys
from pathlib import Path
from typing import Any, Optional

import click
import paramiko
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.channels.sftp import poll_remote, remote_settings
from gateway.cli.common import (CONTEXT_SETTINGS, EXIT_PROBLEMS, BadInput, actor, checked, current, echo_json,
                                find_partner, iso, table, transaction, warn)
from gateway.cli import errors
from gateway.cli.words import _, language, ngettext
from gateway.db import Partner, SftpAccount, SftpRemote
from gateway.db.sftp import MIN_PASSWORD_LENGTH, key_lines
from gateway.partners import sftp_account, ssh_keys
from gateway.partners.service import PartnerError, PartnerService
from gateway.partners.ssh_keys import PublicKey
from gateway.transports.sftp.client import (_KEY_TYPES, HostKeyMismatch, SftpError, _parse_pin, connect,
                                            load_private_key)

MIN_POLL_INTERVAL = 30
MAX_KEY_FILE = 64 * 1024
LISTED_NAMES = 20           # names shown per directory by `remote test`


class Failed(errors.Failed):
    """The operation was tried and failed (connection, host key, poll): exit 1."""
    exit_code = EXIT_PROBLEMS


def _minute(dt: Any) -> str:
    return f"{dt:%Y-%m-%d %H:%M}" if dt else "-"


# --- public keys (accounts on our server) --------------------------------------------------------

def parse_public_key(line: str, where: str) -> PublicKey:
    """``gateway.partners.ssh_keys.parse_public_key``, a refusal being bad input (exit 2)."""
    try:
        return ssh_keys.parse_public_key(line, where)
    except ssh_keys.KeyRefused as exc:
        raise BadInput(exc.worded(language())) from None


def read_public_keys(path: Path) -> list[PublicKey]:
    """The public keys in an OpenSSH public key file (one or more lines, ``authorized_keys`` style),
    checked by ``gateway.partners.ssh_keys.public_keys_in`` as the partner page checks a pasted key."""
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            raise BadInput(_("%(file)s is too large for a public key file", file=path))
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(_("%(file)s is not a text file: give the OpenSSH public key (the .pub file)", file=path)) from None
    except OSError as exc:
        raise BadInput(_("cannot read %(file)s: %(error)s", file=path, error=exc.strerror or exc)) from None
    try:
        return ssh_keys.public_keys_in(text, str(path), _("line"))
    except ssh_keys.KeyRefused as exc:
        raise BadInput(exc.worded(language())) from None


def _stored_keys(acc: SftpAccount) -> list[tuple[str, Optional[PublicKey]]]:
    """(line, parsed key or None when the stored line does not parse) for each stored key."""
    return sftp_account.stored_keys(acc)


def _fingerprint_arg(text: str) -> str:
    fp = text.strip().rstrip("=")
    return fp if fp.startswith("SHA256:") else f"SHA256:{fp}"


def _keys_text(lines: list[str]) -> Optional[str]:
    return "\n".join(lines) + "\n" if lines else None


def _read_password() -> str:
    """The password on standard input: one line, its line ending dropped, nothing else changed."""
    text = sys.stdin.read()
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    if not text:
        raise BadInput(_("--password-stdin: no password on standard input"))
    if "\n" in text or "\r" in text:
        raise BadInput(_("--password-stdin: the password must be a single line"))
    if len(text) < MIN_PASSWORD_LENGTH:
        raise BadInput(_("an SFTP password has at least %(min)s characters (the one given has %(n)s)",
                         min=MIN_PASSWORD_LENGTH, n=len(text)))
    return text


def _new_keys(files: tuple[Path, ...]) -> list[PublicKey]:
    keys: list[PublicKey] = []
    for path in files:
        for k in read_public_keys(path):
            if all(k.fingerprint != other.fingerprint for other in keys):
                keys.append(k)
    return keys


def _warn_shared_keys(s: Session, acc: SftpAccount, keys: list[PublicKey]) -> None:
    """A key on two accounts lets its holder log in as both: legal, but rarely meant."""
    fps = {k.fingerprint for k in keys}
    for other in s.scalars(sa.select(SftpAccount).where(SftpAccount.id != acc.id)):
        for _ln, k in _stored_keys(other):
            if k is not None and k.fingerprint in fps:
                warn(_("key %(fingerprint)s also opens SFTP account '%(username)s' (partner %(partner)s)",
                       fingerprint=k.fingerprint, username=other.username, partner=other.partner.name))


def _find_account(s: Session, username: str) -> SftpAccount:
    acc = s.scalar(sa.select(SftpAccount).where(SftpAccount.username == username))
    if acc is None:
        known = ", ".join(s.scalars(sa.select(SftpAccount.username).order_by(SftpAccount.username)))
        raise BadInput(_("no SFTP account '%(username)s' (known: %(known)s; see `edigate sftp account add`)",
                         username=username, known=known or "-"))
    return acc


def _account_dict(acc: SftpAccount) -> dict[str, Any]:
    return {"username": acc.username, "partner": acc.partner.name, "partner_id": acc.partner_id,
            "password": bool(acc.password_hash),
            "keys": [{"fingerprint": k.fingerprint if k else None, "type": k.key_type if k else None,
                      "comment": k.comment if k else None, "valid": k is not None}
                     for _ln, k in _stored_keys(acc)],
            "active": acc.active, "created_at": iso(acc.created_at), "last_login_at": iso(acc.last_login_at)}


# --- our login on partners' servers --------------------------------------------------------------

def _host(value: str) -> str:
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or len(host) > 255 or any(c.isspace() for c in host) or "/" in host or host.startswith("-"):
        raise BadInput(f"--host {value!r} is not a host name or address")
    if "@" in host:
        raise BadInput(f"--host {value!r}: give the user name with --username, the host alone with --host")
    if host.count(":") == 1:
        raise BadInput(f"--host {value!r}: give the port with --port, the host alone with --host")
    return host


def _remote_username(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 128 or any(c.isspace() or c in "@:/" for c in name):
        raise BadInput(f"--username {value!r} is not a login name")
    return name


def _our_key(path: Path) -> tuple[str, paramiko.PKey]:
    """(absolute path, key) of our private key, refused unless it loads, unencrypted, and only we can read it."""
    try:
        key = load_private_key(str(path))
    except SftpError as exc:
        if isinstance(exc.__cause__, paramiko.PasswordRequiredException):
            raise BadInput(f"{path} is encrypted: the gateway polls unattended and keeps no passphrase; give it "
                           "an unencrypted key readable only by the gateway's user (chmod 600)") from None
        raise BadInput(f"{exc} (--key is OUR private key; the partner gets its public half)") from None
    if not key.can_sign():
        raise BadInput(f"{path} is not a private key (--key is OUR private key; the partner gets its public half)")
    mode = path.stat().st_mode
    if mode & 0o007:
        raise BadInput(f"{path} can be read by any user of this machine (mode {mode & 0o777:o}): "
                       f"`chmod 600 {path}` first, and consider the key exposed if others may have copied it")
    if mode & 0o070:
        warn(f"{path} can be read by its group (mode {mode & 0o777:o}): chmod 600 it")
    return str(path.resolve()), key


def _host_key_pin(value: str) -> str:
    """A pin ``connect`` will accept: ``SHA256:…`` (43 base64 characters) or a public key line, normalised."""
    try:
        pin = _parse_pin(value)
    except SftpError as exc:
        raise BadInput(f"--host-key: {exc}") from None
    if pin.blob is None:
        digest = pin.fingerprint[len("SHA256:"):]
        try:
            ok = len(base64.b64decode(digest + "=" * (-len(digest) % 4), validate=True)) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise BadInput(f"--host-key {value.strip()!r} is not a SHA256 fingerprint "
                           "(SHA256: and 43 base64 characters, as `ssh-keygen -l` shows)")
        return pin.fingerprint
    if pin.key_type not in _KEY_TYPES:
        raise BadInput(f"--host-key: host key type {pin.key_type} is not supported "
                       f"(one of {', '.join(_KEY_TYPES)}, or pin its SHA256: fingerprint)")
    try:
        paramiko.PKey.from_type_string(pin.key_type or "", pin.blob)
    except (paramiko.SSHException, paramiko.UnknownKeyType, ValueError, TypeError) as exc:
        raise BadInput(f"--host-key: the {pin.key_type} key does not parse ({exc})") from None
    return f"{pin.key_type} {base64.b64encode(pin.blob).decode('ascii')}"


def _pin_fingerprint(pin: str) -> str:
    try:
        return _parse_pin(pin).fingerprint
    except SftpError:
        return "(unreadable pin)"


def _remote_dir(option: str, value: str) -> Optional[str]:
    """A directory on the partner's server; empty: none."""
    d = value.strip()
    if not d:
        return None
    if "\x00" in d or "\n" in d or "\r" in d or len(d) > 500:
        raise BadInput(f"{option} {value!r} is not a directory path")
    return d


def _remote_of(s: Session, p: Partner) -> SftpRemote:
    row = s.scalar(sa.select(SftpRemote).where(SftpRemote.partner_id == p.id))
    if row is None:
        raise BadInput(_("partner '%(name)s' has no SFTP server of its own on record (see `edigate sftp remote "
                         "set %(name)s …`)", name=p.name))
    return row


def _remote_dict(r: SftpRemote) -> dict[str, Any]:
    return {"partner": r.partner.name, "partner_id": r.partner_id, "host": r.host, "port": r.port,
            "username": r.username, "key": r.private_key_ref, "host_key": r.host_key,
            "host_key_fingerprint": _pin_fingerprint(r.host_key), "push_dir": r.push_dir, "poll_dir": r.poll_dir,
            "archive_dir": r.archive_dir, "interval_seconds": r.poll_interval_seconds, "active": r.active,
            "last_poll_at": iso(r.last_poll_at), "last_poll_error": r.last_poll_error,
            "created_at": iso(r.created_at), "updated_at": iso(r.updated_at)}


# --- commands ------------------------------------------------------------------------------------

@click.group("sftp", context_settings=CONTEXT_SETTINGS)
def sftp_group() -> None:
    """SFTP: partners' accounts on our server, our login on theirs, polling.

    A partner is named by its name, its number, a SCHEME:VALUE identifier or its AS2 id.
    Exit codes: 0 done, 1 failed (remote test, poll), 2 refused (nothing written).
    """


@sftp_group.group("account", context_settings=CONTEXT_SETTINGS)
def account_group() -> None:
    """Partners' accounts on OUR SFTP server (password and/or public keys)."""


@account_group.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
@click.option("--username", required=True, metavar="USERNAME",
              help="The login: lower-case letters, digits, '.', '_', '-'.")
@click.option("--password-stdin", is_flag=True,
              help=f"Read a password (one line, at least {MIN_PASSWORD_LENGTH} characters) from standard input.")
@click.option("--key", "key_files", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A public key file of the partner (OpenSSH .pub; repeatable).")
def account_add(ref: str, username: str, password_stdin: bool, key_files: tuple[Path, ...]) -> None:
    """Give PARTNER an account on our SFTP server: a password, public keys, or both."""
    if not password_stdin and not key_files:
        raise BadInput(_("an SFTP account needs a password (--password-stdin), a public key (--key FILE), or both"))
    password = _read_password() if password_stdin else None
    keys = _new_keys(key_files)
    with transaction() as s:
        p = find_partner(s, ref)
        acc = checked(lambda u: SftpAccount(username=u), username)
        other = s.scalar(sa.select(SftpAccount).where(SftpAccount.username == acc.username))
        if other is not None:
            raise BadInput(_("SFTP username '%(username)s' is taken (partner '%(partner)s')", username=acc.username,
                             partner=other.partner.name))
        existing = s.scalar(sa.select(SftpAccount).where(SftpAccount.partner_id == p.id))
        if existing is not None:
            raise BadInput(_("partner '%(name)s' already has SFTP account '%(username)s': change it with "
                             "`edigate sftp account set %(username)s …`", name=p.name, username=existing.username))
        if password is not None:
            checked(acc.set_password, password)
        acc.authorized_keys = _keys_text([k.line for k in keys])
        acc.partner = p
        s.add(acc)
        s.flush()
        creds = ([_("a password")] if password is not None else []) + \
            [_("%(type)s key %(fingerprint)s", type=k.key_type, fingerprint=k.fingerprint) for k in keys]
        click.echo(_("SFTP account %(username)s for partner %(name)s: %(credentials)s", username=acc.username,
                     name=p.name, credentials=", ".join(creds)))
        _warn_shared_keys(s, acc, keys)
        if p.preferred_channel != "sftp":
            warn(_("partner '%(name)s' uses channel %(channel)s: what we send it is not placed for pickup "
                   "(`edigate partner set '%(name)s' --channel sftp`)", name=p.name, channel=p.preferred_channel or "-"))


@account_group.command("set", context_settings=CONTEXT_SETTINGS)
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read a new password from standard input.")
@click.option("--add-key", "add_files", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Add the public key(s) in FILE (repeatable).")
@click.option("--remove-key", "remove_fps", multiple=True, metavar="FINGERPRINT",
              help="Remove the key with this SHA256: fingerprint (see `sftp account list`; repeatable).")
@click.option("--disable/--enable", "disable", default=None, help="Refuse or allow logins.")
def account_set(username: str, password_stdin: bool, add_files: tuple[Path, ...], remove_fps: tuple[str, ...],
                disable: Optional[bool]) -> None:
    """Change the SFTP account USERNAME: password, keys, disabled or not."""
    password = _read_password() if password_stdin else None
    adding = _new_keys(add_files)
    removing = [_fingerprint_arg(fp) for fp in remove_fps]
    both = {k.fingerprint for k in adding} & set(removing)
    if both:
        raise BadInput(_("key %(fingerprint)s is both added and removed", fingerprint=sorted(both)[0]))
    with transaction() as s:
        acc = _find_account(s, username)
        service = PartnerService(s, actor=actor())           # on the audit trail, as from the partner page
        changes: list[str] = []
        if password is not None:
            checked(acc.set_password, password)
            changes.append(_("password"))
        have = {k.fingerprint for _ln, k in _stored_keys(acc) if k is not None}
        for k in adding:
            if k.fingerprint in have:
                click.echo(_("SFTP account %(username)s already has key %(fingerprint)s", username=acc.username,
                             fingerprint=k.fingerprint))
        try:
            added = sftp_account.add_parsed_keys(service, acc, adding)
            if removing:
                service.remove_sftp_keys(acc, removing)
        except PartnerError as exc:
            said = (exc.worded(language()) if isinstance(exc, sftp_account.SftpRefused) else str(exc)).rstrip(".")
            raise BadInput(said[:1].lower() + said[1:]) from None       # the page's sentence, as the CLI says it
        changes[:0] = [_("removed key %(fingerprint)s", fingerprint=fp) for fp in removing] + \
            [_("added %(type)s key %(fingerprint)s", type=k.key_type, fingerprint=k.fingerprint) for k in added]
        if not acc.password_hash and not key_lines(acc.authorized_keys):
            raise BadInput(_("SFTP account '%(username)s' would be left with neither a password nor a key",
                             username=acc.username))
        if disable is not None and acc.active != (not disable):
            acc.active = not disable
            changes.append(_("disabled") if disable else _("enabled"))
        s.flush()
        click.echo(_("SFTP account %(username)s (partner %(name)s): changed %(what)s", username=acc.username,
                     name=acc.partner.name, what=", ".join(changes)) if changes else
                   _("SFTP account %(username)s (partner %(name)s): nothing to change", username=acc.username,
                     name=acc.partner.name))
        _warn_shared_keys(s, acc, added)


@account_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def account_list(as_json: bool) -> None:
    """Every account on our SFTP server: partner, password or not, key fingerprints, last login."""
    with transaction() as s:
        accounts = s.scalars(sa.select(SftpAccount).order_by(SftpAccount.username)).all()
        if as_json:
            echo_json([_account_dict(a) for a in accounts])
            return
        if not accounts:
            click.echo(_("no SFTP accounts yet (see `edigate sftp account add`)"))
            return
        rows = [[a.username, a.partner.name, "yes" if a.password_hash else "no",
                 ", ".join(k.fingerprint if k else "(unreadable)" for _ln, k in _stored_keys(a)) or "-",
                 "yes" if a.active else "no", _minute(a.last_login_at)] for a in accounts]
        table(["username", "partner", "password", "keys (SHA256)", "active", "last login"], rows)


@sftp_group.group("remote", context_settings=CONTEXT_SETTINGS)
def remote_group() -> None:
    """Our login on PARTNERS' SFTP servers (one per partner): push there, poll from there."""


@remote_group.command("set", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
@click.option("--host", metavar="HOST", help="The partner's SFTP server.")
@click.option("--port", type=click.IntRange(1, 65535), metavar="PORT", help="Its port (default 22).")
@click.option("--username", metavar="USER", help="Our login there.")
@click.option("--key", "key_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="OUR private key (unencrypted, mode 600); only its path is recorded.")
@click.option("--host-key", metavar="KEY", help="Its host key, pinned: 'ssh-ed25519 AAAA…' or 'SHA256:…' "
              "(confirmed with the partner; required, nothing is trusted on first use).")
@click.option("--push-dir", metavar="DIR", help="Where we put files for it (default inbound; \"\": we do not push).")
@click.option("--poll-dir", metavar="DIR", help="Where it leaves files for us (default outbound; \"\": no polling).")
@click.option("--archive-dir", metavar="DIR", help="Move fetched files there instead of deleting them (\"\": delete).")
@click.option("--interval", type=int, metavar="SECONDS",
              help=f"Poll every SECONDS (at least {MIN_POLL_INTERVAL}; default 300).")
@click.option("--disable/--enable", "disable", default=None, help="Stop or resume pushing and polling.")
def remote_set(ref: str, host: Optional[str], port: Optional[int], username: Optional[str],
               key_file: Optional[Path], host_key: Optional[str], push_dir: Optional[str], poll_dir: Optional[str],
               archive_dir: Optional[str], interval: Optional[int], disable: Optional[bool]) -> None:
    """Create or change PARTNER's SFTP server (only the options given change)."""
    values: dict[str, Any] = {}
    if host is not None:
        values["host"] = _host(host)
    if port is not None:
        values["port"] = port
    if username is not None:
        values["username"] = _remote_username(username)
    key = None
    if key_file is not None:
        values["private_key_ref"], key = _our_key(key_file)
    if host_key is not None:
        values["host_key"] = _host_key_pin(host_key)
    for option, column, given in (("--push-dir", "push_dir", push_dir), ("--poll-dir", "poll_dir", poll_dir),
                                  ("--archive-dir", "archive_dir", archive_dir)):
        if given is not None:
            values[column] = _remote_dir(option, given)
    if interval is not None:
        if interval < MIN_POLL_INTERVAL:
            raise BadInput(_("--interval %(n)s: at least %(min)s seconds between polls", n=interval, min=MIN_POLL_INTERVAL))
        values["poll_interval_seconds"] = interval
    if disable is not None:
        values["active"] = not disable
    with transaction() as s:
        p = find_partner(s, ref)
        row = s.scalar(sa.select(SftpRemote).where(SftpRemote.partner_id == p.id))
        created = row is None
        if created:
            missing = [opt for opt, col in (("--host", "host"), ("--username", "username"), ("--key", "private_key_ref"),
                                            ("--host-key", "host_key")) if col not in values]
            if missing:
                hint = (" (no trust on first use: get the host key or its SHA256 fingerprint from the partner, "
                        "e.g. what `ssh-keygen -lf` shows on their server)" if "--host-key" in missing else "")
                raise BadInput(f"a new SFTP remote for partner {p.name!r} needs {', '.join(missing)}{hint}")
            values.setdefault("port", 22)
            values.setdefault("push_dir", "inbound")
            values.setdefault("poll_dir", "outbound")
            values.setdefault("poll_interval_seconds", 300)
            row = SftpRemote(partner=p, **values)
            changed = []
        else:
            changed = [k for k, v in values.items() if getattr(row, k) != v]
        merged = {c: values.get(c, getattr(row, c)) for c in ("poll_dir", "archive_dir", "push_dir")}
        if merged["archive_dir"] is not None and merged["poll_dir"] is not None and \
                posixpath.normpath(merged["archive_dir"]) == posixpath.normpath(merged["poll_dir"]):
            raise BadInput(_("--archive-dir must differ from --poll-dir (what is archived would be fetched again)"))
        if created:
            s.add(row)
        else:
            for k, v in values.items():
                setattr(row, k, v)
        s.flush()
        endpoint = f"{row.username}@{row.host}:{row.port}"
        if created:
            click.echo(f"SFTP remote for partner {p.name}: {endpoint}, host key {_pin_fingerprint(row.host_key)} "
                       f"pinned, push to {row.push_dir or '(nothing)'}, poll {row.poll_dir or '(nothing)'} every "
                       f"{row.poll_interval_seconds} s" + ("" if row.active else " (disabled)"))
        else:
            click.echo(f"SFTP remote for partner {p.name} ({endpoint}): "
                       + (f"changed {', '.join(changed)}" if changed else "nothing to change"))
        if key is not None:
            click.echo(f"  our key {key.fingerprint}: the partner must have our public key "
                       f"`{key.get_name()} {key.get_base64()}`")
        if not created and ({"host", "port"} & set(changed)) and "host_key" not in values:
            warn("the server changed but the pinned host key did not: check with "
                 f"`edigate sftp remote test {p.name}`")
        if not row.push_dir and not row.poll_dir:
            warn(_("with neither a push nor a poll directory this remote is not used"))
        if p.preferred_channel != "sftp" and row.push_dir:
            warn(f"partner {p.name!r} uses channel {p.preferred_channel or 'none'}: what we send it is not "
                 f"pushed here (`edigate partner set {p.name!r} --channel sftp`)")


@remote_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def remote_list(as_json: bool) -> None:
    """Every partner's SFTP server: login, directories, schedule, last poll and its error."""
    with transaction() as s:
        rows = s.scalars(sa.select(SftpRemote).join(SftpRemote.partner).order_by(Partner.name)).all()
        if as_json:
            echo_json([_remote_dict(r) for r in rows])
            return
        if not rows:
            click.echo(_("no SFTP remotes yet (see `edigate sftp remote set`)"))
            return
        table(["partner", "login", "push", "poll", "every", "active", "last poll", "last error"],
              [[r.partner.name, f"{r.username}@{r.host}:{r.port}", r.push_dir or "-",
                (r.poll_dir or "-") + (f" → {r.archive_dir}" if r.archive_dir and r.poll_dir else ""),
                f"{r.poll_interval_seconds}s", "yes" if r.active else "no", _minute(r.last_poll_at),
                (r.last_poll_error or "-").replace("\n", " ")[:80]] for r in rows])


@remote_group.command("test", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
def remote_test(ref: str) -> None:
    """Log in to PARTNER's server (host key pinned) and list its push and poll directories.

    Exit 0 when everything worked, 1 with the error otherwise. Nothing is written.
    """
    with transaction() as s:
        p = find_partner(s, ref)
        row = _remote_of(s, p)
        name, settings, active = p.name, remote_settings(row), row.active
        dirs = [("push_dir", row.push_dir), ("poll_dir", row.poll_dir)]
    if not active:
        warn(_("the SFTP remote of partner '%(name)s' is disabled: testing it anyway", name=name))
    problems: list[str] = []
    try:
        with connect(settings) as session:
            click.echo(f"connected to {settings.endpoint}: host key {session.host_key_fingerprint} matches the pin, "
                       "our key was accepted")
            for label, d in dirs:
                if d is None:
                    click.echo(f"  {label}: not set")
                    continue
                try:
                    entries = sorted(session.sftp.listdir_attr(d), key=lambda a: a.filename)
                except Exception as exc:
                    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
                    problems.append(f"{label} {d!r} cannot be listed: {detail}")
                    click.echo(f"  {label} {d}: cannot be listed ({detail})")
                    continue
                click.echo(f"  {label} {d}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
                for a in entries[:LISTED_NAMES]:
                    click.echo(f"    {a.filename}  {a.st_size if a.st_size is not None else '?'} bytes")
                if len(entries) > LISTED_NAMES:
                    click.echo(f"    … and {len(entries) - LISTED_NAMES} more")
    except HostKeyMismatch as exc:
        hint = (f"\n  if the partner confirms the key it offered, pin it: "
                f"edigate sftp remote set {name!r} --host-key '{exc.offered_key}'")
        raise Failed(f"{exc}{hint}") from None
    except SftpError as exc:
        raise Failed(str(exc)) from None
    if problems:
        raise Failed("; ".join(problems))


@sftp_group.command("poll", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True, metavar="SECONDS",
              help="Take only files whose size and time stay the same this long (still being written otherwise).")
@click.option("--json", "as_json", is_flag=True, help="The counts as JSON on stdout.")
def poll_now(ref: str, settle: float, as_json: bool) -> None:
    """Fetch what PARTNER left on its server now, whatever the schedule; each file is recorded
    before it is deleted (or archived) there. Exit 1 when the poll failed."""
    with transaction() as s:
        p = find_partner(s, ref)
        row = _remote_of(s, p)
        if not row.poll_dir:
            raise BadInput(_("the SFTP remote of partner '%(name)s' has no poll directory (`edigate sftp remote set "
                             "'%(name)s' --poll-dir DIR`)", name=p.name))
        if not row.active:
            raise BadInput(_("the SFTP remote of partner '%(name)s' is disabled (`edigate sftp remote set "
                             "'%(name)s' --enable`)", name=p.name))
        remote_id, where = row.id, f"{row.username}@{row.host}:{row.port} {row.poll_dir}"
    counts = poll_remote(current().gateway(), remote_id, force=True, settle_seconds=settle)
    if as_json:
        echo_json(counts)
    else:
        click.echo(ngettext("polled %(where)s: %(num)d file, %(new)s new, %(again)s fetched before",
                            "polled %(where)s: %(num)d files, %(new)s new, %(again)s fetched before",
                            counts["files"], where=where, new=counts["new"], again=counts["again"]))
    if counts.get("error"):
        raise Failed(_("the poll failed: %(error)s", error=counts["error"]))
