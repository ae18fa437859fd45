"""Who logged in, and where its files live.

The SFTP server does not know partners: the caller's ``authenticate`` callback
(bound to the gateway's database) turns a username plus a password or a public
key into an ``Account``, or ``None``. ``Account.ref`` carries whatever the caller
needs to find the partner again in ``on_upload`` (a database id); the transport
never looks at it.

Each root holds two areas, made on login: ``inbound/`` (the partner uploads) and
``outbound/`` (the partner picks up what we left for it).
"""
from __future__ import annotations

import base64
import binascii
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol

import paramiko

INBOUND = "inbound"
OUTBOUND = "outbound"
AREAS = (INBOUND, OUTBOUND)


@dataclass(frozen=True)
class Account:
    """A partner's SFTP account.

    ``may_write_outbound``: the account may also upload, make directories and rename in
    ``outbound/`` (an internal system dropping files for pickup); uploads there never
    call ``on_upload``. Partners keep the default: ``outbound/`` is read and remove only.
    """

    username: str
    root: Path
    may_write_outbound: bool = False
    ref: Any = None

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))


class Authenticate(Protocol):
    """``authenticate(username, password=None, public_key=None) -> Optional[Account]``.

    Called with exactly one of ``password`` (str) / ``public_key`` (a ``paramiko.PKey``,
    public half). For a key it may be called twice per login (the client first asks
    whether the key would do, then signs): keep it cheap and free of side effects.
    Raising counts as a refusal.
    """

    def __call__(self, username: str, password: Optional[str] = None,
                 public_key: Optional[paramiko.PKey] = None) -> Optional[Account]: ...


def authorized_key_matches(public_key: paramiko.PKey, authorized: Iterable[str]) -> bool:
    """Whether ``public_key`` is one of ``authorized``: OpenSSH public key lines
    (``ssh-ed25519 AAAA… comment``, as in ``authorized_keys`` without options).
    Blank lines, ``#`` comments and lines that do not parse are skipped."""
    blob = public_key.asbytes()
    for line in authorized:
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith("#"):
            continue
        try:
            candidate = base64.b64decode(fields[1], validate=True)
        except (binascii.Error, ValueError):
            continue
        if fields[0] == public_key.get_name() and hmac.compare_digest(candidate, blob):
            return True
    return False


def ensure_areas(root: Path) -> None:
    """Make ``root/inbound`` and ``root/outbound`` (0750); refuse areas that are links or files."""
    root.mkdir(parents=True, exist_ok=True, mode=0o750)
    for area in AREAS:
        p = root / area
        try:
            os.mkdir(p, 0o750)
        except FileExistsError:
            pass
        if p.is_symlink() or not p.is_dir():
            raise NotADirectoryError(f"{p} is not a plain directory")
