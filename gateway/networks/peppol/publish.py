"""Our own SMP's answers (Peppol SMP 1.x): a member's ServiceGroup and its SignedServiceMetadata.

Another access point finds our members as we find theirs (``discovery``): the
SML points it at our SMP (``gateway.web.smp`` serves these documents), and it
trusts our answers because we sign them. The documents follow
``peppol-smp-types-v1-ext.xsd`` (namespace ``http://busdox.org/serviceMetadata/publishing/1.0/``);
the signature is enveloped XMLDSig over the whole SignedServiceMetadata, as
the Peppol SMP specification (1.2 and later) asks: RSA-SHA256, SHA-256
digest, exclusive canonicalisation, our certificate in ``KeyInfo/X509Data``.

What a member is published for is data (``services.yaml``: document type +
process pairs), not code. The endpoint is ours for every member: our AS4
URL and our access point's certificate. During a certificate rollover (a next
certificate and the instant it takes over) each process has two endpoints, the
current certificate's until that instant and the next one's from it: a sender
picks the one active when it sends (``smp.choose``), so the switch needs no
republishing at the instant itself.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.networks.peppol.identifiers import DocumentTypeId, ParticipantId, ProcessId
from gateway.networks.peppol.smp import NS_IDS, NS_SMP, NS_WSA

SERVICES_FILE = Path(__file__).with_name("services.yaml")
NSMAP = {"smp": NS_SMP, "id": NS_IDS, "wsa": NS_WSA}


@dataclass(frozen=True)
class Service:
    document_type: DocumentTypeId
    process: ProcessId


@lru_cache(maxsize=1)
def services() -> tuple[Service, ...]:
    """What every member is published for, from ``services.yaml``."""
    import yaml
    rows = yaml.safe_load(SERVICES_FILE.read_text(encoding="utf-8")) or []
    return tuple(Service(DocumentTypeId.parse(r["document_type"]), ProcessId.parse(r["process"])) for r in rows)


@dataclass(frozen=True)
class Signer:
    """Our SMP's key and certificate chain (leaf first), and the certificate our endpoint publishes."""
    key_pem: bytes = field(repr=False)
    chain_pem: tuple[bytes, ...]
    endpoint_cert: x509.Certificate
    next_cert: Optional[x509.Certificate] = None          # a rollover's next access point certificate
    switch_at: Optional[datetime] = None                   # when it takes over (default its notBefore)

    def endpoints(self) -> list[tuple[x509.Certificate, datetime, datetime]]:
        """(certificate, activation, expiration) of each endpoint published per process."""
        cur = self.endpoint_cert
        if self.next_cert is None:
            return [(cur, cur.not_valid_before_utc, cur.not_valid_after_utc)]
        switch = self.switch_at or self.next_cert.not_valid_before_utc
        return [(cur, cur.not_valid_before_utc, min(switch, cur.not_valid_after_utc)),
                (self.next_cert, max(switch, self.next_cert.not_valid_before_utc), self.next_cert.not_valid_after_utc)]

    @classmethod
    def load(cls, key_path: Path, cert_path: Path, endpoint_cert_path: Optional[Path] = None, *,
             next_cert_path: Optional[Path] = None, switch_at: Optional[datetime] = None) -> "Signer":
        chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key_pem = key_path.read_bytes()
        key = serialization.load_pem_private_key(key_pem, None)
        if chain[0].public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo) != \
                key.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo):
            raise ValueError(f"{cert_path} does not belong to the key {key_path}")
        endpoint = (x509.load_pem_x509_certificates(endpoint_cert_path.read_bytes())[0]
                    if endpoint_cert_path is not None else chain[0])
        nxt = x509.load_pem_x509_certificates(next_cert_path.read_bytes())[0] if next_cert_path is not None else None
        return cls(key_pem, tuple(c.public_bytes(serialization.Encoding.PEM) for c in chain), endpoint,
                   next_cert=nxt, switch_at=switch_at if nxt is not None else None)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _ident(parent, ns: str, name: str, scheme: str, value: str):
    el = etree.SubElement(parent, _q(ns, name), scheme=scheme)
    el.text = value
    return el


def _z(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_group(participant: ParticipantId, smp_url: str, published: tuple[Service, ...]) -> bytes:
    """The ServiceGroup: the participant and a reference per published document type."""
    from gateway.networks.peppol.smp import service_metadata_url
    root = etree.Element(_q(NS_SMP, "ServiceGroup"), nsmap={"smp": NS_SMP, "id": NS_IDS})
    _ident(root, NS_IDS, "ParticipantIdentifier", participant.scheme, participant.value)
    refs = etree.SubElement(root, _q(NS_SMP, "ServiceMetadataReferenceCollection"))
    seen = set()
    for s in published:
        if s.document_type in seen:
            continue
        seen.add(s.document_type)
        etree.SubElement(refs, _q(NS_SMP, "ServiceMetadataReference"),
                         href=service_metadata_url(smp_url, participant, s.document_type))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def service_metadata(participant: ParticipantId, doctype: DocumentTypeId, processes: list[ProcessId], *,
                     endpoint_url: str, transport_profile: str, signer: Signer,
                     contact: str = "") -> bytes:
    """The SignedServiceMetadata for one document type, signed by ``signer``."""
    from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner, methods

    root = etree.Element(_q(NS_SMP, "SignedServiceMetadata"), nsmap=NSMAP)
    info = etree.SubElement(etree.SubElement(root, _q(NS_SMP, "ServiceMetadata")), _q(NS_SMP, "ServiceInformation"))
    _ident(info, NS_IDS, "ParticipantIdentifier", participant.scheme, participant.value)
    _ident(info, NS_IDS, "DocumentIdentifier", doctype.scheme, doctype.value)
    plist = etree.SubElement(info, _q(NS_SMP, "ProcessList"))
    for proc in processes:
        process = etree.SubElement(plist, _q(NS_SMP, "Process"))
        _ident(process, NS_IDS, "ProcessIdentifier", proc.scheme, proc.value)
        endpoints = etree.SubElement(process, _q(NS_SMP, "ServiceEndpointList"))
        for cert, activation, expiration in signer.endpoints():
            ep = etree.SubElement(endpoints, _q(NS_SMP, "Endpoint"), transportProfile=transport_profile)
            etree.SubElement(etree.SubElement(ep, _q(NS_WSA, "EndpointReference")), _q(NS_WSA, "Address")).text = \
                endpoint_url
            etree.SubElement(ep, _q(NS_SMP, "RequireBusinessLevelSignature")).text = "false"
            etree.SubElement(ep, _q(NS_SMP, "ServiceActivationDate")).text = _z(activation)
            etree.SubElement(ep, _q(NS_SMP, "ServiceExpirationDate")).text = _z(expiration)
            etree.SubElement(ep, _q(NS_SMP, "Certificate")).text = base64.b64encode(
                cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
            etree.SubElement(ep, _q(NS_SMP, "ServiceDescription")).text = "edigate access point"
            etree.SubElement(ep, _q(NS_SMP, "TechnicalContactUrl")).text = contact or endpoint_url
    xml_signer = XMLSigner(method=methods.enveloped, signature_algorithm=SignatureMethod.RSA_SHA256,
                           digest_algorithm=DigestAlgorithm.SHA256,
                           c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    xml_signer.namespaces = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    signed = xml_signer.sign(root, key=signer.key_pem, cert=[c.decode("ascii") for c in signer.chain_pem])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
