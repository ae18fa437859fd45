"""Who we are (``As2Identity``) and who they are (``As2Partner``), with the policies AS2 needs.

Plain data: built from the database, a YAML file or a test, then handed to
``receive`` / ``build`` / ``check_mdn``. The pyas2lib objects behind them are made
once and kept on the instance (keys are parsed once, not per message).
"""
from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from . import compat  # noqa: F401  (before pyas2lib)
import pyas2lib
from pyas2lib.exceptions import AS2Exception

from gateway.certs import KeyPair, load_certificate

#: Digests we can sign with / verify (MD5 is never offered).
DIGESTS = ("sha1", "sha224", "sha256", "sha384", "sha512")
#: Content encryption we send and, by default, accept. 3DES, RC2, RC4 and DES are refused.
ENCRYPTIONS = ("aes_128_cbc", "aes_192_cbc", "aes_256_cbc")
WEAK_ENCRYPTIONS = ("tripledes_192_cbc", "rc2_128_cbc", "rc4_128_cbc", "des_64_cbc")
KEY_ENCRYPTIONS = ("rsaes_pkcs1v15", "rsaes_oaep")
MDN_MODES = ("sync", "async")
MICALG_SPELLINGS = ("rfc5751", "rfc3851")     # "sha-256" | "sha256"
TRANSFER_ENCODINGS = ("binary", "base64")
DEFAULT_CONFIRM_TEXT = "The AS2 message has been received and stored by edigate."


def normalize_digest(name: Optional[str]) -> Optional[str]:
    """``SHA-256`` / ``sha256`` / ``sha_256`` → ``sha256`` (``None`` stays ``None``)."""
    if name is None:
        return None
    return name.strip().lower().replace("-", "").replace("_", "")


def micalg(digest: str, spelling: str = "rfc5751") -> str:
    """The ``micalg`` / ``signed-receipt-micalg`` value: ``sha-256`` (RFC 5751) or ``sha256`` (RFC 3851)."""
    d = normalize_digest(digest)
    if spelling == "rfc5751" and d.startswith("sha") and d != "sha1":
        return "sha-" + d[3:]
    return d


class ConfigError(ValueError):
    """An identity or partner that cannot work as configured."""


def _pem_list(certs) -> tuple[bytes, ...]:
    if certs is None:
        return ()
    if isinstance(certs, (bytes, bytearray)):
        certs = [bytes(certs)]
    out = []
    for c in certs:
        if isinstance(c, KeyPair):
            c = c.cert_pem
        out.append(bytes(c))
    return tuple(out)


@dataclass
class As2Identity:
    """Our side of a partnership: the AS2 name partners send to, and our keys.

    ``key`` signs our messages and MDNs and decrypts what partners send us.
    ``previous_keys`` are still tried for decryption during a certificate
    rollover (a partner that has not switched to our new certificate yet).
    ``domain`` is the right-hand side of our Message-IDs (never the host name).
    ``mdn_url`` is where partners post asynchronous MDNs to us.
    """

    as2_name: str
    domain: str
    key: KeyPair
    previous_keys: Sequence[KeyPair] = ()
    mdn_url: Optional[str] = None
    email: Optional[str] = None                 # Disposition-Notification-To (informative in AS2)
    mdn_confirm_text: str = DEFAULT_CONFIRM_TEXT
    _orgs: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.as2_name or len(self.as2_name) > 128:
            raise ConfigError("an AS2 name is 1 to 128 characters")
        if not self.domain or "@" in self.domain or " " in self.domain:
            raise ConfigError(f"bad Message-ID domain {self.domain!r}")
        self.previous_keys = tuple(self.previous_keys)

    @property
    def keys(self) -> tuple[KeyPair, ...]:
        return (self.key,) + tuple(self.previous_keys)

    @property
    def disposition_notification_to(self) -> str:
        return self.email or f"as2@{self.domain}"

    def lib_organization(self, index: int = 0) -> pyas2lib.Organization:
        """pyas2lib's Organization signing with the current key and decrypting with key ``index``."""
        with self._lock:
            org = self._orgs.get(index)
            if org is None:
                dec = self.keys[index]
                try:
                    org = pyas2lib.Organization(
                        as2_name=self.as2_name, domain=self.domain, mdn_url=self.mdn_url,
                        sign_key=self.key.bundle_pem, sign_key_pass=self.key.password,
                        decrypt_key=dec.bundle_pem, decrypt_key_pass=dec.password,
                        mdn_confirm_text=self.mdn_confirm_text)
                except AS2Exception as e:
                    raise ConfigError(f"identity {self.as2_name}: {e}") from e
                self._orgs[index] = org
            return org


@dataclass
class As2Partner:
    """A trading partner's AS2 settings.

    ``certificates``: the partner's certificates (PEM). The first one is current:
    we encrypt to it. All are accepted for signatures (messages and MDNs): two
    during a rollover.

    Inbound policy: ``require_signed``, ``require_encrypted``,
    ``accepted_digests`` (signature digests we accept from them),
    ``accepted_encryptions`` (3DES and friends are refused unless listed),
    ``max_message_bytes``.

    Outbound: ``url``, ``sign`` with ``signing_alg``, ``encrypt`` with
    ``encryption_alg``, ``compress``, ``mdn_mode`` (``sync``/``async``),
    ``require_signed_mdn`` with ``mdn_digest``.

    Interop switches real partners need: ``micalg_spelling`` (``rfc5751``:
    ``sha-256``; ``rfc3851``: ``sha256``), ``compress_before_signing`` (RFC 5402
    allows both orders), ``content_transfer_encoding`` of our MIME parts
    (``binary`` keeps the payload bytes exact; ``base64`` for partners that want
    7-bit parts), ``signature_scheme`` (PKCS#1 v1.5 or PSS), ``key_encryption``
    (PKCS#1 v1.5 or OAEP) with ``oaep_hash`` (the OAEP hash and MGF1 hash we write;
    inbound, OAEP with any SHA-1/SHA-2 hash is read whatever this says).

    Asynchronous MDNs go only where the partner may ask: ``mdn_url_schemes``, and a
    public address — or the host of the partner's own ``url`` — unless
    ``mdn_url_private`` allows loopback, private and link-local addresses.
    ``public_url_only``: ``url`` came from someone we do not know yet (self-registration):
    the connection goes only to a public address.
    """

    as2_name: str
    certificates: Sequence[bytes] = ()
    url: Optional[str] = None
    ca_certificates: Optional[bytes] = None
    validate_certificates: bool = True
    # inbound policy
    require_signed: bool = True
    require_encrypted: bool = True
    accepted_digests: Sequence[str] = ("sha256", "sha384", "sha512")
    accepted_encryptions: Sequence[str] = ENCRYPTIONS
    max_message_bytes: Optional[int] = None
    # outbound
    sign: bool = True
    signing_alg: str = "sha256"
    encrypt: bool = True
    encryption_alg: str = "aes_256_cbc"
    compress: bool = True
    mdn_mode: str = "sync"
    require_signed_mdn: bool = True
    mdn_digest: str = "sha256"
    subject: str = "AS2 message"
    http_auth: Optional[tuple[str, str]] = None
    http_headers: Mapping[str, str] = field(default_factory=dict)
    # interop switches
    micalg_spelling: str = "rfc5751"
    compress_before_signing: bool = True
    content_transfer_encoding: str = "binary"
    signature_scheme: str = "rsassa_pkcs1v15"
    key_encryption: str = "rsaes_pkcs1v15"
    oaep_hash: str = "sha256"
    mdn_url_schemes: Sequence[str] = ("https", "http")
    mdn_url_private: bool = False
    public_url_only: bool = False       # our posts to ``url`` connect only to public addresses
    mdn_confirm_text: Optional[str] = None
    _lib: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _checked: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.certificates = _pem_list(self.certificates)
        self.accepted_digests = tuple(normalize_digest(d) for d in self.accepted_digests)
        self.accepted_encryptions = tuple(self.accepted_encryptions)
        self.signing_alg = normalize_digest(self.signing_alg)
        self.mdn_digest = normalize_digest(self.mdn_digest)
        self.mdn_mode = (self.mdn_mode or "").lower()
        problems = []
        if not self.as2_name or len(self.as2_name) > 128:
            problems.append("an AS2 name is 1 to 128 characters")
        if self.encryption_alg in WEAK_ENCRYPTIONS:
            problems.append(f"encryption {self.encryption_alg} is weak and not offered; use one of {ENCRYPTIONS}")
        elif self.encryption_alg not in ENCRYPTIONS:
            problems.append(f"unknown encryption {self.encryption_alg!r}; use one of {ENCRYPTIONS}")
        for d in (self.signing_alg, self.mdn_digest, *self.accepted_digests):
            if d not in DIGESTS:
                problems.append(f"unknown digest {d!r}; use one of {DIGESTS}")
        for e in self.accepted_encryptions:
            if e not in ENCRYPTIONS + WEAK_ENCRYPTIONS:
                problems.append(f"unknown encryption {e!r}")
        if self.mdn_mode not in MDN_MODES:
            problems.append(f"MDN mode is one of {MDN_MODES}, not {self.mdn_mode!r}")
        if self.micalg_spelling not in MICALG_SPELLINGS:
            problems.append(f"micalg spelling is one of {MICALG_SPELLINGS}")
        if self.content_transfer_encoding not in TRANSFER_ENCODINGS:
            problems.append(f"content-transfer-encoding is one of {TRANSFER_ENCODINGS}")
        if self.signature_scheme not in pyas2lib.as2.SIGNATUR_ALGORITHMS:
            problems.append(f"signature scheme is one of {pyas2lib.as2.SIGNATUR_ALGORITHMS}")
        if self.key_encryption not in KEY_ENCRYPTIONS:
            problems.append(f"key encryption is one of {KEY_ENCRYPTIONS}")
        self.oaep_hash = normalize_digest(self.oaep_hash)
        if self.oaep_hash not in DIGESTS:
            problems.append(f"OAEP hash is one of {DIGESTS}")
        self.mdn_url_schemes = tuple(str(x).lower() for x in self.mdn_url_schemes)
        if not set(self.mdn_url_schemes) <= {"http", "https"}:
            problems.append("asynchronous MDN URL schemes are http and/or https")
        needs_cert = self.encrypt or self.require_signed or self.require_signed_mdn
        if needs_cert and not self.certificates:
            problems.append("a certificate is needed (encryption or signature checks are on)")
        if problems:
            raise ConfigError(f"partner {self.as2_name}: " + "; ".join(problems))

    def lib_partner(self, index: int = 0) -> pyas2lib.Partner:
        """pyas2lib's Partner with certificate ``index`` for verification (inbound side policies)."""
        with self._lock:
            p = self._lib.get(index)
            if p is None:
                cert = self.certificates[index] if self.certificates else None
                p = pyas2lib.Partner(
                    as2_name=self.as2_name, verify_cert=cert, verify_cert_ca=self.ca_certificates,
                    encrypt_cert=cert, encrypt_cert_ca=self.ca_certificates,
                    validate_certs=self.validate_certificates,
                    sign=self.require_signed, encrypt=self.require_encrypted,
                    digest_alg=self.signing_alg, enc_alg=self.encryption_alg,
                    sign_alg=self.signature_scheme, key_enc_alg=self.key_encryption,
                    mdn_confirm_text=self.mdn_confirm_text)
                self._lib[index] = p
            return p

    def verify_certificate(self, index: int = 0):
        """Certificate ``index`` (``cryptography``) to check the partner's signatures with. Its chain
        is checked as pyas2lib checks it (``validate_certificates``) once, its validity dates at
        every call: the chain of a certificate does not change, the clock does."""
        now = _dt.datetime.now(_dt.timezone.utc)
        with self._lock:
            cert = self._checked.get(index)
        if cert is not None and (not self.validate_certificates
                                 or cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            return cert
        self.lib_partner(index).load_verify_cert()          # raises when the chain or dates are wrong
        cert = load_certificate(self.certificates[index])
        if self.validate_certificates and not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise ConfigError(f"partner {self.as2_name}: certificate {index} is not valid now")
        with self._lock:
            self._checked[index] = cert
        return cert

    def candidate_indexes(self) -> range:
        return range(max(1, len(self.certificates)))
