"""Checks of what an operator types about a partner: algorithms, URLs, certificate files.

Shared by the administration CLI and onboarding so both refuse the same
things with the same words. Each function returns the clean value or raises
``ValueError`` with a message fit to show as is; nothing here touches the
database.

Why refuse rather than store: a weak algorithm or a private key pasted
where a certificate belongs is a security decision nobody should make by a
slip of the keyboard; a malformed URL only fails at the first send, at night.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from gateway.db.partners import ENCRYPTION_ALGORITHMS, SIGNING_ALGORITHMS

WEAK_SIGNING = {"md5": "MD5", "sha1": "SHA-1", "sha": "SHA-1"}
# Never offered: RC2, RC4, DES and 3DES are breakable or have 64-bit blocks (Sweet32).
WEAK_ENCRYPTION = re.compile(r"3des(ede)?(cbc)?|des\d?(cbc)?|desede\d?(cbc)?|tripledes(cbc)?|rc[24].*")
STRONG_SIGNING = tuple(a for a in SIGNING_ALGORITHMS if a not in WEAK_SIGNING)


def signing_algorithm(text: str) -> str:
    """``"SHA-256"`` → ``"sha256"``; MD5 and SHA-1 are refused (collisions are practical)."""
    name = re.sub(r"[-_\s]", "", text.strip().lower())
    if name in WEAK_SIGNING:
        raise ValueError(f"{WEAK_SIGNING[name]} is too weak for signing (collisions are practical); "
                         f"use sha256 (or {', '.join(a for a in STRONG_SIGNING if a != 'sha256')})")
    if name not in STRONG_SIGNING:
        raise ValueError(f"unknown signing algorithm {text!r}; use one of {', '.join(STRONG_SIGNING)}")
    return name


def encryption_algorithm(text: str) -> str:
    """``"AES-256-CBC"``, ``"aes256"`` → ``"aes_256_cbc"``; 3DES, DES, RC2 and RC4 are refused."""
    compact = re.sub(r"[-_\s]", "", text.strip().lower())
    if WEAK_ENCRYPTION.fullmatch(compact):
        others = ", ".join(a for a in ENCRYPTION_ALGORITHMS if a != "aes_256_cbc")
        raise ValueError(f"{text} is too weak for encryption (broken, or 64-bit blocks); "
                         f"use aes_256_cbc (or {others})")
    m = re.fullmatch(r"aes(128|192|256)(cbc)?", compact)
    if m is None or f"aes_{m.group(1)}_cbc" not in ENCRYPTION_ALGORITHMS:
        raise ValueError(f"unknown encryption algorithm {text!r}; use one of {', '.join(ENCRYPTION_ALGORITHMS)}")
    return f"aes_{m.group(1)}_cbc"


def as2_url(text: str) -> str:
    """An http(s) URL with a host: where the partner receives AS2 messages."""
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"{text!r} is not an http:// or https:// URL with a host "
                         "(e.g. https://as2.example.com/as2/receive)")
    return url


class ExpiredCertificateError(ValueError):
    """The certificate has expired (callers add how to import it anyway, if they allow that)."""


def same_public_key(a: Any, b: Any) -> bool:
    """Whether two certificates or keys (private or public) hold the same public key, compared
    as SubjectPublicKeyInfo so that RSA, EC and EdDSA keys alike can be compared."""
    def spki(x: Any) -> bytes:
        public = x.public_key() if hasattr(x, "public_key") else x
        return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return spki(a) == spki(b)


@dataclass(frozen=True)
class CertificateFile:
    """The certificate read from a file, and what the reader should be told about it."""
    certificate: x509.Certificate
    pem: str                 # the certificate alone, PEM
    notes: tuple[str, ...]   # e.g. "2 further certificates (a chain) not imported"

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc


def _has_private_key(data: bytes) -> bool:
    if b"PRIVATE KEY-----" in data:
        return True
    if b"-----BEGIN" in data:
        return False
    try:
        serialization.load_der_private_key(data, password=None)
        return True
    except (TypeError, UnsupportedAlgorithm):     # encrypted, or an algorithm we lack: still a key
        return True
    except ValueError:
        return False


def read_certificate_file(path: Path, *, allow_expired: bool = False,
                          now: Optional[datetime] = None) -> CertificateFile:
    """The X.509 certificate in ``path`` (PEM or DER). Refuses files holding a private key
    (it would be stored with the public data) and, unless ``allow_expired``, expired ones.
    A PEM chain gives its first certificate (the partner's own), the rest is reported."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if _has_private_key(data):
        raise ValueError(f"{path} contains a private key: import only the certificate "
                         "(the public part), and keep the key private")
    notes: list[str] = []
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
            cert = certs[0]
            if len(certs) > 1:
                notes.append(f"{Path(path).name} holds {len(certs)} certificates: imported the first "
                             f"({cert.subject.rfc4514_string()}); the {len(certs) - 1} others (its chain) "
                             "are not stored")
        else:
            cert = x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError(f"{path} is not an X.509 certificate in PEM or DER form "
                         "(a PKCS#12 .p12/.pfx bundle? export the certificate alone)") from None
    now = now or datetime.now(timezone.utc)
    if cert.not_valid_after_utc <= now and not allow_expired:
        raise ExpiredCertificateError(f"{path}: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if cert.not_valid_before_utc > now:
        notes.append(f"the certificate is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return CertificateFile(cert, pem, tuple(notes))


def as2_name(text: str) -> str:
    """An AS2 name (AS2-From / AS2-To, RFC 4130 §6.2): 1 to 128 printable ASCII characters,
    no quote or backslash, no blank at either end."""
    if not (0 < len(text) <= 128) or not all(" " <= c <= "~" for c in text) \
            or '"' in text or "\\" in text or text != text.strip():
        raise ValueError(f"{text!r} is not a usable AS2 name: 1 to 128 printable ASCII characters, "
                         "without quotes, backslashes or blanks at either end")
    return text


# Switches in a partner's options (``Partner.as2_options``, the API's ``as2.options``) that change
# how what it sends is read. Each is true or false.
TOLERATE_UNZ_REFERENCE = "edifact_tolerate_unz_reference"   # read on when its UNZ 0020 is not its UNB's
READING_SWITCHES = (TOLERATE_UNZ_REFERENCE,)


def partner_options(options: Any) -> dict[str, Any]:
    """A partner's options, its reading switches checked: ``ValueError("KEY: …")`` for one that is
    not true or false."""
    if not isinstance(options, dict):
        raise ValueError("expected an object of options")
    for key in READING_SWITCHES:
        if key in options and not isinstance(options[key], bool):
            raise ValueError(f"{key}: expected true or false, not {options[key]!r}")
    return dict(options)


def tolerates_unz_reference(options: Any) -> bool:
    """Whether a partner's options say to read on an EDIFACT interchange whose UNZ reference is
    not its UNB's (ISO 9735 syntax error 28: rejected unless the partner's setting says so)."""
    return isinstance(options, dict) and options.get(TOLERATE_UNZ_REFERENCE) is True
