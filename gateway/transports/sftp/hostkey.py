"""The SFTP server's host key: made once, kept, and shown so partners can pin it.

Partners' SSH clients remember our host key on first contact and refuse to talk
to us if it changes, so the key is generated once (Ed25519: small, fast, what
every current client accepts) and loaded on every start after that. The private
key file is created 0600 and in one step (written beside, then hard-linked in),
so two gateways starting at the same time end up with the same key and nobody
ever reads a half-written one. ``<path>.pub`` holds the OpenSSH public line to
hand to partners; ``host_key_line`` / ``host_key_fingerprint`` give the same for
``edigate serve`` to print.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Union

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ...store.fsync import fsync_dir

log = logging.getLogger("edigate.sftp")

#: The usual file name under the certificates directory.
HOST_KEY_FILENAME = "sftp_host_ed25519_key"


def ensure_host_key(path: Union[str, os.PathLike]) -> paramiko.PKey:
    """Load the host key at ``path``, generating it first (Ed25519, mode 0600) if there is none."""
    path = Path(path)
    if not path.exists():
        _generate(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("sftp host key %s is readable by others (mode %o): chmod 600 it", path, mode)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def host_key_line(key: paramiko.PKey, comment: str = "") -> str:
    """The OpenSSH public key line: ``ssh-ed25519 AAAA… [comment]``."""
    line = f"{key.get_name()} {key.get_base64()}"
    return f"{line} {comment}" if comment else line


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:…``, as ``ssh-keygen -lf`` and a connecting OpenSSH client print it."""
    return key.fingerprint


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)      # fails if another process got there first: keep theirs
    except FileExistsError:
        return
    finally:
        os.unlink(tmp)
    key = paramiko.Ed25519Key.from_private_key_file(str(path))
    pub = path.with_name(path.name + ".pub")
    pub.write_text(host_key_line(key, "edigate-sftp") + "\n")
    fsync_dir(path.parent)
    log.info("sftp host key generated: %s (%s)", path, host_key_fingerprint(key))
