"""Checks of what a registering counterparty uploads: its AS2 certificate, its SFTP public key.

The same refusals as the administration CLI (``gateway.partners.checks``,
``gateway.partners.ssh_keys``), with the same words, on bytes from a form instead of
files on disk: a private key is never accepted, a certificate must parse and
be valid now, and keys must be strong enough (RSA ≥ 2048 bits, or EC).
Each function returns the clean value or raises ``ValueError`` with a message
fit to show next to the field (a key's: ``KeyRefused``, worded in the page's language).
"""
from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Optional

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.i18n import N_
from gateway.partners.checks import CertificateFile, read_certificate_file
from gateway.partners.ssh_keys import KeyRefused, parse_public_key, public_keys_in

MAX_CERTIFICATE_SIZE = 64 * 1024
MIN_RSA_BITS = 2048


def check_certificate(data: bytes, filename: str, *, now: datetime) -> CertificateFile:
    """The X.509 certificate uploaded as ``filename`` (PEM or DER): parses, holds no private
    key, is valid at ``now``, and has an RSA key of at least 2048 bits or an EC key."""
    name = Path(filename or "certificate").name or "certificate"
    if not data:
        raise ValueError("no certificate uploaded: choose your AS2 certificate file (.pem, .cer or .crt)")
    if len(data) > MAX_CERTIFICATE_SIZE:
        raise ValueError(f"{name} is too large for a certificate ({len(data)} bytes): upload the certificate alone")
    # read_certificate_file is the one reader of certificates (CLI and here): it reads a path.
    with tempfile.TemporaryDirectory(prefix="edigate-upload-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            cf = read_certificate_file(path, now=now)
        except ValueError as exc:
            raise ValueError(str(exc).replace(str(path), name)) from None
    if cf.not_before > now:
        raise ValueError(f"{name}: the certificate is valid only from {cf.not_before:%Y-%m-%d %H:%M} UTC; "
                         "upload one valid today")
    key = cf.certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"{name}: an RSA key of {key.key_size} bits is too weak (at least {MIN_RSA_BITS})")
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{name}: the certificate's key is {type(key).__name__.removeprefix('_')}; "
                         f"AS2 needs an RSA (≥ {MIN_RSA_BITS} bits) or EC key")
    return cf


def check_public_keys(text: str, lang: str) -> list[str]:
    """The OpenSSH public key lines in ``text`` (one or more, ``authorized_keys`` style): the
    partner service's own checks (``gateway.partners.ssh_keys.public_keys_in``, as the CLI and the
    operator pages refuse a key), naming the key in ``lang``; ``KeyRefused`` otherwise, whose
    ``worded(lang)`` is the message for the field."""
    from gateway import i18n
    if not (text or "").strip():
        raise KeyRefused(N_("paste your SSH public key (the one line of your .pub file, 'ssh-ed25519 AAAA… comment')"))
    keys = public_keys_in(text, i18n.gettext(lang, "the key"), i18n.gettext(lang, "line"))
    return [k.line for k in keys]


def fingerprint_of(line: str) -> Optional[str]:
    """OpenSSH's SHA256 fingerprint of a stored key line (for the confirmation page)."""
    try:
        return parse_public_key(line, "key").fingerprint
    except ValueError:
        return None
