"""A partner's SSH public keys (its login on our SFTP server), checked the same way wherever they
come from: a file given to ``edigate sftp account``, a key pasted on the operator's partner page
or in the registration form.

``parse_public_key`` takes one OpenSSH public key line (``ssh-ed25519 AAAA… comment``), has
paramiko read it, and refuses with ``KeyRefused`` (a ``ValueError`` whose message starts with
``where``): options before the key, types our server and OpenSSH do not share (DSA,
certificates), damaged data, RSA under 2048 bits. ``public_keys_in`` reads a whole text
(a ``.pub`` file, ``authorized_keys`` lines, what was pasted) and refuses first what is not a
public key at all: a private key (never stored), the RFC 4716 and PEM formats.

A refusal keeps its English message (``str()``, what the CLI and the logs say) and the
catalogue's ``msgid`` with its values, so a page words it in its reader's language
(``worded(lang)``).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import paramiko

from gateway.db.sftp import key_lines
from gateway.i18n import N_
from gateway.transports.sftp.client import fingerprint

# The public key types our SFTP server and OpenSSH agree on (no DSA, no certificates).
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
MIN_RSA_BITS = 2048
MAX_KEY_TEXT = 64 * 1024            # a .pub file or what is pasted: a few lines of a few hundred bytes
MAX_KEYS = 50                       # keys read from one text


class KeyRefused(ValueError):
    """A public key refused: ``str()`` in English, ``worded(lang)`` in the reader's language."""

    def __init__(self, msgid: str, **values: Any):
        self.msgid, self.values = msgid, values
        super().__init__(msgid % values)

    def worded(self, lang: str) -> str:
        from gateway import i18n
        return i18n.gettext(lang, self.msgid, **self.values)


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
            raise KeyRefused(N_("%(where)s: options before the key (from=…, command=…) are not supported: "
                                "give the bare public key line"), where=where)
        if fields and fields[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise KeyRefused(N_("%(where)s: key type %(type)s is not supported (use one of %(types)s)"),
                             where=where, type=repr(fields[0]), types=", ".join(KEY_TYPES))
        raise KeyRefused(N_("%(where)s: not an OpenSSH public key line ('ssh-ed25519 AAAA… comment')"), where=where)
    key_type, b64 = fields[0], fields[1]
    try:
        blob = base64.b64decode(b64, validate=True)
        key = paramiko.PKey.from_type_string(key_type, blob)
    except (binascii.Error, ValueError, TypeError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        raise KeyRefused(N_("%(where)s: the %(type)s key does not parse (%(detail)s)"),
                         where=where, type=key_type, detail=str(exc) or type(exc).__name__) from None
    if key.get_name() != key_type or key.asbytes() != blob:
        raise KeyRefused(N_("%(where)s: the %(type)s key does not parse (its data is damaged, cut short, "
                            "or of another type)"), where=where, type=key_type)
    if key_type == "ssh-rsa" and key.get_bits() < MIN_RSA_BITS:
        raise KeyRefused(N_("%(where)s: an RSA key of %(bits)s bits is too weak (at least %(min)s; "
                            "Ed25519 is better)"), where=where, bits=key.get_bits(), min=MIN_RSA_BITS)
    return PublicKey(key_type, key.get_base64(), fields[2].strip() if len(fields) > 2 else "", fingerprint(blob))


def public_keys_in(text: str, where: str, line_word: str = "line") -> list[PublicKey]:
    """The public keys of ``text`` (one or more lines, ``authorized_keys`` style), each parsed,
    duplicates once; a private key, another format or no key at all refused, saying what to give.
    ``where`` names the text in a refusal, ``line_word`` + a number one of its lines (both in the
    reader's language)."""
    if len(text) > MAX_KEY_TEXT:
        raise KeyRefused(N_("%(where)s is too large for public keys (%(max)s KB at most)"),
                         where=where, max=MAX_KEY_TEXT // 1024)
    if "PRIVATE KEY" in text:
        raise KeyRefused(N_("%(where)s is a private key: give the PUBLIC key instead (its .pub file, "
                            "'ssh-ed25519 AAAA… comment'); a private key must never leave its owner, and one "
                            "that has been sent around should be replaced"), where=where)
    if "BEGIN SSH2 PUBLIC KEY" in text:
        raise KeyRefused(N_("%(where)s is in the RFC 4716 (SSH2) format: convert it with `ssh-keygen -i -f FILE`"),
                         where=where)
    if "BEGIN PUBLIC KEY" in text or "BEGIN RSA PUBLIC KEY" in text:
        raise KeyRefused(N_("%(where)s is a PEM public key: convert it with `ssh-keygen -i -m PKCS8 -f FILE`"),
                         where=where)
    lines = key_lines(text)
    if not lines:
        raise KeyRefused(N_("%(where)s holds no public key"), where=where)
    if len(lines) > MAX_KEYS:
        raise KeyRefused(N_("%(where)s holds more than %(max)s keys"), where=where, max=MAX_KEYS)
    keys: list[PublicKey] = []
    for i, ln in enumerate(lines, 1):
        k = parse_public_key(ln, where + (f" {line_word} {i}" if len(lines) > 1 else ""))
        if all(k.fingerprint != other.fingerprint for other in keys):
            keys.append(k)
    return keys
