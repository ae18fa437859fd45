"""A partner's SSH public keys (its login on our SFTP server), checked the same way wherever they
come from: a file given to ``edigate sftp account``, a key pasted in the registration form.

``parse_public_key`` takes one OpenSSH public key line (``ssh-ed25519 AAAA… comment``), has
paramiko read it, and refuses with ``ValueError`` (the message starts with ``where``): options
before the key, types our server and OpenSSH do not share (DSA, certificates), damaged data,
RSA under 2048 bits.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import paramiko

from gateway.transports.sftp.client import fingerprint

# The public key types our SFTP server and OpenSSH agree on (no DSA, no certificates).
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    base64: str
    comment: str
    fingerprint: str        # OpenSSH's SHA256:…

    @property
    def line(self) -> str:
        return f"{self.key_type} {self.base64}" + (f" {self.comment}" if self.comment else "")


def parse_public_key(line: str, where: str) -> PublicKey:
    """An OpenSSH public key line (``ssh-ed25519 AAAA… comment``), parsed by paramiko; refused otherwise."""
    fields = line.strip().split(None, 2)
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        if any(f in KEY_TYPES for f in fields[1:]):
            raise ValueError(f"{where}: options before the key (from=…, command=…) are not supported: "
                             "give the bare public key line")
        if fields and fields[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError(f"{where}: key type {fields[0]!r} is not supported (use one of {', '.join(KEY_TYPES)})")
        raise ValueError(f"{where}: not an OpenSSH public key line ('ssh-ed25519 AAAA… comment')")
    key_type, b64 = fields[0], fields[1]
    try:
        blob = base64.b64decode(b64, validate=True)
        key = paramiko.PKey.from_type_string(key_type, blob)
    except (binascii.Error, ValueError, TypeError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        raise ValueError(f"{where}: the {key_type} key does not parse ({exc})") from None
    if key.get_name() != key_type or key.asbytes() != blob:
        raise ValueError(f"{where}: the {key_type} key does not parse (its data is damaged, cut short, "
                         "or of another type)")
    if key_type == "ssh-rsa" and key.get_bits() < MIN_RSA_BITS:
        raise ValueError(f"{where}: an RSA key of {key.get_bits()} bits is too weak (at least {MIN_RSA_BITS}; "
                         "Ed25519 is better)")
    return PublicKey(key_type, key.get_base64(), fields[2].strip() if len(fields) > 2 else "", fingerprint(blob))
