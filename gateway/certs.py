"""Development X.509 certificates and keys (AS2 signing and encryption), and loading helpers.

``ensure_dev_keypair(directory, name)`` makes ``NAME.key.pem`` and ``NAME.cert.pem``
in ``directory`` the first time and keeps them afterwards (idempotent: an
existing pair is loaded, never replaced). The default directory is
``certs/dev/`` of the source checkout (git-ignored), or ``$EDIGATE_CERTS_DIR``.

Choices, for development certificates:

* RSA 3072, SHA-256, self-signed, valid two years from now (five minutes of
  clock skew allowed before), a random 159-bit serial;
* key usage (critical): digitalSignature, nonRepudiation, keyEncipherment (AS2
  signs and encrypts with the same pair); extended key usage emailProtection
  (S/MIME); basicConstraints CA:FALSE; subject and authority key identifiers;
* keys are PKCS#8 PEM, **not encrypted, mode 0600** in a 0700 directory: a
  passphrase would have to live next to the key for an unattended gateway,
  which protects nothing. Pass ``password=`` to encrypt them anyway (the same
  password then loads them). Files are written under a temporary name created
  0600 and renamed into place, so a key is never readable by others, nor half
  written.

Nothing is written inside the source checkout except under its ``certs/``
folder: ``ensure_dev_keypair`` refuses any other place in it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_SIZE = 3072
VALIDITY_DAYS = 730
_REPO = Path(__file__).resolve().parents[1]


def _is_checkout(root: Path) -> bool:
    return (root / "pyproject.toml").is_file() and (root / "certs").is_dir()


def default_dev_dir() -> Path:
    """Where development certificates live: ``$EDIGATE_CERTS_DIR``, else ``certs/dev`` of the
    checkout, else ``$XDG_DATA_HOME/edigate/certs/dev`` (an installed package)."""
    env = os.environ.get("EDIGATE_CERTS_DIR")
    if env:
        return Path(env)
    if _is_checkout(_REPO):
        return _REPO / "certs" / "dev"
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "edigate" / "certs" / "dev"


def _check_place(directory: Path) -> None:
    """Refuse to write anywhere in the source checkout but under its certs/ folder."""
    if not _is_checkout(_REPO):
        return
    d = directory.resolve()
    repo = _REPO.resolve()
    if d == repo or repo in d.parents:
        certs = repo / "certs"
        if not (d == certs or certs in d.parents):
            raise ValueError(f"refusing to write keys into the source tree outside certs/: {directory}")


@dataclass
class KeyPair:
    """A private key and its certificate, as PEM bytes (what AS2 libraries want), parsed on demand."""

    key_pem: bytes
    cert_pem: bytes
    password: Optional[str] = None
    key_path: Optional[Path] = None
    cert_path: Optional[Path] = None
    _cert: Optional[x509.Certificate] = field(default=None, repr=False, compare=False)
    _key: Optional[object] = field(default=None, repr=False, compare=False)

    @property
    def certificate(self) -> x509.Certificate:
        if self._cert is None:
            self._cert = x509.load_pem_x509_certificate(self.cert_pem)
        return self._cert

    def private_key(self):
        """The private key, parsed once (decrypting every inbound message needs it)."""
        if self._key is None:
            self._key = serialization.load_pem_private_key(
                self.key_pem, self.password.encode() if self.password else None)
        return self._key

    @property
    def bundle_pem(self) -> bytes:
        """Key then certificate in one PEM (pyas2lib's ``Organization`` format)."""
        return self.key_pem.rstrip(b"\n") + b"\n" + self.cert_pem

    @property
    def fingerprint(self) -> str:
        return cert_fingerprint(self.cert_pem)

    @classmethod
    def load(cls, key_path: os.PathLike, cert_path: os.PathLike, password: Optional[str] = None) -> "KeyPair":
        kp = cls(Path(key_path).read_bytes(), Path(cert_path).read_bytes(), password,
                 Path(key_path), Path(cert_path))
        key = kp.private_key()          # fail now on a wrong password or a broken key
        if kp.certificate.public_key().public_numbers() != key.public_key().public_numbers():
            raise ValueError(f"{cert_path} does not belong to the key {key_path}")
        return kp


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    serial: int
    not_before: _dt.datetime
    not_after: _dt.datetime
    sha256: str
    key_bits: Optional[int]

    def valid_at(self, when: Optional[_dt.datetime] = None) -> bool:
        when = when or _dt.datetime.now(_dt.timezone.utc)
        return self.not_before <= when <= self.not_after

    def days_left(self, when: Optional[_dt.datetime] = None) -> float:
        when = when or _dt.datetime.now(_dt.timezone.utc)
        return (self.not_after - when).total_seconds() / 86400


def load_certificate(data: bytes | os.PathLike | str) -> x509.Certificate:
    """A certificate from PEM or DER bytes, or from a file path."""
    if not isinstance(data, bytes):
        data = Path(data).read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def load_private_key(data: bytes | os.PathLike | str, password: Optional[str] = None):
    if not isinstance(data, bytes):
        data = Path(data).read_bytes()
    return serialization.load_pem_private_key(data, password.encode() if password else None)


def cert_fingerprint(cert: bytes | x509.Certificate) -> str:
    if not isinstance(cert, x509.Certificate):
        cert = load_certificate(cert)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def cert_info(cert: bytes | x509.Certificate) -> CertInfo:
    if not isinstance(cert, x509.Certificate):
        cert = load_certificate(cert)
    pub = cert.public_key()
    return CertInfo(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        serial=cert.serial_number, not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc, sha256=cert_fingerprint(cert),
        key_bits=getattr(pub, "key_size", None))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _self_signed_cert(key, common_name: str, organization: str, days: int,
                      not_before: Optional[_dt.datetime]) -> x509.Certificate:
    start = (not_before or _dt.datetime.now(_dt.timezone.utc)) - _dt.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_self_signed(common_name: str, *, organization: str = "edigate development",
                     key_size: int = KEY_SIZE, days: int = VALIDITY_DAYS,
                     password: Optional[str] = None,
                     not_before: Optional[_dt.datetime] = None) -> KeyPair:
    """A new key and self-signed certificate in memory (nothing written)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    cert = _self_signed_cert(key, common_name, organization, days, not_before)
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    return KeyPair(key_pem, cert.public_bytes(serialization.Encoding.PEM), password, _cert=cert)


def ensure_dev_keypair(directory: os.PathLike | str | None = None, name: str = "edigate", *,
                       common_name: Optional[str] = None, password: Optional[str] = None,
                       key_size: int = KEY_SIZE, days: int = VALIDITY_DAYS) -> KeyPair:
    """``NAME.key.pem`` + ``NAME.cert.pem`` in ``directory``: loaded if both exist, made otherwise.

    A key without its certificate gets a new certificate for the same key; a
    certificate without its key is an error (it is never overwritten).
    """
    d = Path(directory) if directory is not None else default_dev_dir()
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad key pair name: {name!r}")
    key_path, cert_path = d / f"{name}.key.pem", d / f"{name}.cert.pem"
    if key_path.exists() and cert_path.exists():
        return KeyPair.load(key_path, cert_path, password)
    if cert_path.exists():
        raise FileExistsError(f"{cert_path} exists without its key {key_path}: not replacing it")
    _check_place(d)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    if key_path.exists():                   # a kept key: a new certificate for it
        key = load_private_key(key_path, password)
        cert = _self_signed_cert(key, common_name or name, "edigate development", days, None)
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        os.chmod(cert_path, 0o644)
        return KeyPair.load(key_path, cert_path, password)
    kp = make_self_signed(common_name or name, key_size=key_size, days=days, password=password)
    _write_private(key_path, kp.key_pem)
    _write_private(cert_path, kp.cert_pem)
    os.chmod(cert_path, 0o644)              # a certificate is public
    kp.key_path, kp.cert_path = key_path, cert_path
    return kp


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m gateway.certs [DIR] [NAME…]``: make (or show) development key pairs."""
    import sys
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args.pop(0)) if args else default_dev_dir()
    for name in args or ["edigate"]:
        kp = ensure_dev_keypair(directory, name)
        info = cert_info(kp.certificate)
        print(f"{name}: {kp.cert_path} (key {kp.key_path}), {info.subject}, "
              f"valid until {info.not_after:%Y-%m-%d}, sha256 {info.sha256[:16]}…")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
