"""Who we are (``As4Identity``) and the access points we talk to (``As4Partner``): plain data.

In Peppol an access point is known by its certificate, issued by OpenPeppol's
AP CA, whose common name is its seat id (``POP000306``): that is the PartyId
messages carry (type ``urn:fdc:peppol.eu:2017:identifiers:ap``). A partner's
certificates are the ones its SMP published or its record holds; every one
of them is accepted for signatures (a rollover), the first is encrypted to.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from gateway.certs import KeyPair


def common_name(cert: x509.Certificate) -> Optional[str]:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def load_certs(items: Sequence) -> tuple[x509.Certificate, ...]:
    out = []
    for c in items:
        if isinstance(c, x509.Certificate):
            out.append(c)
        elif isinstance(c, KeyPair):
            out.append(c.certificate)
        else:
            data = bytes(c)
            out.append(x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                       else x509.load_der_x509_certificate(data))
    return tuple(out)


@dataclass
class As4Identity:
    """Our access point: the key that signs and decrypts, its certificate, and our party id
    (the certificate's common name unless given). ``previous_keys`` still decrypt during a
    rollover."""
    key: KeyPair = field(repr=False)
    party_id: Optional[str] = None
    previous_keys: Sequence[KeyPair] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.party_id:
            self.party_id = common_name(self.key.certificate) or "edigate"

    @property
    def certificate(self) -> x509.Certificate:
        return self.key.certificate

    @property
    def keys(self) -> tuple[KeyPair, ...]:
        return (self.key, *self.previous_keys)


@dataclass
class As4Partner:
    """Another access point. ``name``: how our records call it; ``partner_id``: its row, if any."""
    party_id: str
    certificates: Sequence = ()
    name: str = ""
    partner_id: Optional[int] = None
    url: Optional[str] = None
    allow_private: bool = False          # our posts to ``url`` may reach loopback/private addresses

    def __post_init__(self) -> None:
        self.certificates = load_certs(self.certificates)
        if not self.certificates:
            raise ValueError(f"access point {self.party_id}: a certificate is needed")
        self.name = self.name or self.party_id

    @property
    def encryption_certificate(self) -> x509.Certificate:
        return self.certificates[0]

    def owns(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` is one of this partner's (by its DER bytes, not by its name)."""
        der = cert.public_bytes(serialization.Encoding.DER)
        return any(c.public_bytes(serialization.Encoding.DER) == der for c in self.certificates)
