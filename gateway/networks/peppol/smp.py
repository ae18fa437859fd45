"""An SMP's answers: fetched (bounded), verified (XMLDSig to a trust anchor), read into endpoints.

The SMP's REST interface (Peppol SMP 1.x; OASIS BDXR SMP 1.0 reads the same way):

* ``GET {smp}/{participant}``: the ServiceGroup, the document types published
  for the participant (``ServiceMetadataReference/@href``);
* ``GET {smp}/{participant}/services/{doctype}``: the SignedServiceMetadata,
  for each process the endpoints by transport profile: URL, the access point's
  certificate, service activation and expiration dates.

Identifiers go in the path percent-encoded whole (``identifiers``). The SMP
URL is someone else's choice (the SML's record): every request goes through
``gateway.transports.safe_http`` (public addresses only, unless the setting
allows private ones), follows no HTTP redirect, reads at most ``MAX_BYTES``
within the caller's deadline, and the XML is read by ``gateway.xml.safe``
(no DTD, bounded depth).

**Signatures.** SignedServiceMetadata carries an enveloped XMLDSig signature
by the SMP. ``verify`` checks it with signxml (exclusive and inclusive
canonicalisation both; a reference without a canonicalisation transform is
read as inclusive C14N 1.0, as XMLDSig 1.0 says) and requires the signing
certificate to chain to one of the configured trust anchors at the time
given. RSA-SHA256 and stronger are accepted; SHA-1 (what SMPs signed with
before SMP 1.2) only when asked for explicitly. The metadata is then read
from what the signature covers (signxml's ``signed_xml``), never from the
document around it, so nothing added beside the signature is believed.

A ``Redirect`` answer (another SMP serves the participant) is followed once,
and the second SMP's signing certificate must have the ``CertificateUID``
the first one named.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.model.errors import InputError
from gateway.networks.peppol.identifiers import (DocumentTypeId, IdentifierError, ParticipantId, PeppolId,
                                                 ProcessId)
from gateway.networks.peppol.refusal import DiscoveryError
from gateway.transports import safe_http

_Id = TypeVar("_Id", bound=PeppolId)

NS_SMP = "http://busdox.org/serviceMetadata/publishing/1.0/"
NS_IDS = "http://busdox.org/transport/identifiers/1.0/"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_BDXR = "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
SMP_NAMESPACES = (NS_SMP, NS_BDXR)

MAX_BYTES = 2 * 1024 * 1024          # an SMP answer is a few KB; a service group of many document types less than this
MAX_DEPTH = 30
MAX_ENDPOINTS = 200                  # endpoints read from one ServiceMetadata
MAX_REFERENCES = 5000                # document types read from one ServiceGroup
HTTP_TIMEOUT = 10.0                  # the longest silence from an SMP


# --- what an answer says -----------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """One way to reach a participant for one document type and process."""
    participant: ParticipantId
    document_type: DocumentTypeId
    process: ProcessId
    transport_profile: str
    url: str
    certificate_der: bytes = field(repr=False)
    activation: Optional[datetime] = None
    expiration: Optional[datetime] = None
    requires_business_level_signature: bool = False
    description: Optional[str] = None
    technical_contact: Optional[str] = None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def active_at(self, when: datetime) -> bool:
        return ((self.activation is None or self.activation <= when)
                and (self.expiration is None or when < self.expiration))

    def to_json(self) -> dict:
        return {"participant": self.participant.uri, "document_type": self.document_type.uri,
                "process": self.process.uri, "transport_profile": self.transport_profile, "url": self.url,
                "certificate": base64.b64encode(self.certificate_der).decode("ascii"),
                "activation": self.activation.isoformat() if self.activation else None,
                "expiration": self.expiration.isoformat() if self.expiration else None,
                "requires_business_level_signature": self.requires_business_level_signature,
                "description": self.description, "technical_contact": self.technical_contact}

    @classmethod
    def from_json(cls, d: dict) -> "Endpoint":
        return cls(ParticipantId.parse(d["participant"]), DocumentTypeId.parse(d["document_type"]),
                   ProcessId.parse(d["process"]), d["transport_profile"], d["url"],
                   base64.b64decode(d["certificate"]),
                   datetime.fromisoformat(d["activation"]) if d.get("activation") else None,
                   datetime.fromisoformat(d["expiration"]) if d.get("expiration") else None,
                   bool(d.get("requires_business_level_signature")), d.get("description"),
                   d.get("technical_contact"))


@dataclass(frozen=True)
class Redirect:
    href: str
    certificate_uid: Optional[str]


@dataclass
class ServiceMetadata:
    participant: ParticipantId
    document_type: Optional[DocumentTypeId]
    endpoints: list[Endpoint]
    redirect: Optional[Redirect] = None
    signer: Optional[x509.Certificate] = None


@dataclass
class ServiceGroup:
    participant: ParticipantId
    references: list[str]                         # the hrefs, as given

    @property
    def document_types(self) -> list[DocumentTypeId]:
        out = []
        for href in self.references:
            path = urlsplit(href).path
            if "/services/" in path:
                try:
                    out.append(DocumentTypeId.parse(unquote(path.rsplit("/services/", 1)[1])))
                except IdentifierError:
                    continue
        return out


# --- reading ---------------------------------------------------------------------------------------

def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _kids(el, name: str) -> list:
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name]


def _kid(el, name: str):
    found = _kids(el, name)
    return found[0] if found else None


def _text(el, name: str) -> Optional[str]:
    c = _kid(el, name)
    return c.text.strip() if c is not None and c.text and c.text.strip() else None


def _need(el, name: str, where: str):
    c = _kid(el, name)
    if c is None:
        raise DiscoveryError("bad_answer", f"{where}: no {name}")
    return c


def _ident(el, where: str) -> str:
    scheme = (el.get("scheme") or "").strip()
    value = (el.text or "").strip()
    if not value:
        raise DiscoveryError("bad_answer", f"{where}: empty {_local(el)}")
    return f"{scheme}::{value}" if scheme else value


def _identifier(cls: type[_Id], parent, name: str, where: str) -> _Id:
    """The Peppol identifier (``cls``: participant, document type or process) of ``parent``'s
    child ``name``; a ``DiscoveryError`` saying where it is wrong."""
    try:
        return cls.parse(_ident(_need(parent, name, where), where))
    except IdentifierError as e:
        raise DiscoveryError("bad_answer", f"{where}: {e}") from None


def _expect(root, name: str) -> None:
    if _local(root) != name or etree.QName(root).namespace not in SMP_NAMESPACES:
        raise DiscoveryError("bad_answer", f"expected an SMP {name}, got <{_local(root)}>")


def _date(text: Optional[str], where: str) -> Optional[datetime]:
    if not text:
        return None
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DiscoveryError("bad_answer", f"{where}: {text[:40]!r} is not a date and time") from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _certificate(text: Optional[str], where: str) -> bytes:
    if not text:
        raise DiscoveryError("bad_answer", f"{where}: no access point certificate")
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise DiscoveryError("bad_answer", f"{where}: the access point certificate cannot be read ({e})") from None
    return der


def _parse_xml(data: bytes, what: str):
    from gateway.xml import safe
    try:
        return safe.parse(data, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
    except InputError as e:
        raise DiscoveryError("bad_answer", f"{what}: {e}") from None


def read_service_group(data: bytes) -> ServiceGroup:
    root = _parse_xml(data, "ServiceGroup")
    _expect(root, "ServiceGroup")
    participant = _identifier(ParticipantId, root, "ParticipantIdentifier", "ServiceGroup")
    collection = _kid(root, "ServiceMetadataReferenceCollection")
    refs = [] if collection is None else [r.get("href", "") for r in _kids(collection, "ServiceMetadataReference")]
    if len(refs) > MAX_REFERENCES:
        raise DiscoveryError("bad_answer", f"ServiceGroup lists more than {MAX_REFERENCES} document types")
    return ServiceGroup(participant, [r for r in refs if r])


def read_service_metadata(root, *, signer: Optional[x509.Certificate] = None) -> ServiceMetadata:
    """``root``: a (Signed)ServiceMetadata element, already verified when it was signed."""
    if _local(root) == "SignedServiceMetadata":
        root = _need(root, "ServiceMetadata", "SignedServiceMetadata")
    _expect(root, "ServiceMetadata")
    redirect = _kid(root, "Redirect")
    if redirect is not None:
        href = (redirect.get("href") or "").strip()
        if not href:
            raise DiscoveryError("bad_answer", "ServiceMetadata: a Redirect without href")
        return ServiceMetadata(participant=None, document_type=None, endpoints=[],   # type: ignore[arg-type]
                               redirect=Redirect(href, _text(redirect, "CertificateUID")), signer=signer)
    info = _need(root, "ServiceInformation", "ServiceMetadata")
    participant = _identifier(ParticipantId, info, "ParticipantIdentifier", "ServiceInformation")
    doctype = _identifier(DocumentTypeId, info, "DocumentIdentifier", "ServiceInformation")
    endpoints: list[Endpoint] = []
    processes = _kid(info, "ProcessList")
    for process in ([] if processes is None else _kids(processes, "Process")):
        proc = _identifier(ProcessId, process, "ProcessIdentifier", "Process")
        for ep in _kids(_need(process, "ServiceEndpointList", "Process"), "Endpoint"):
            if len(endpoints) >= MAX_ENDPOINTS:
                raise DiscoveryError("bad_answer", f"ServiceMetadata lists more than {MAX_ENDPOINTS} endpoints")
            where = f"Endpoint {ep.get('transportProfile')!r} of {proc.value}"
            ref = _kid(ep, "EndpointReference")
            url = _text(ref, "Address") if ref is not None else _text(ep, "EndpointURI")
            if not url:
                raise DiscoveryError("bad_answer", f"{where}: no address")
            endpoints.append(Endpoint(
                participant=participant, document_type=doctype, process=proc,
                transport_profile=(ep.get("transportProfile") or "").strip(), url=url,
                certificate_der=_certificate(_text(ep, "Certificate"), where),
                activation=_date(_text(ep, "ServiceActivationDate"), where),
                expiration=_date(_text(ep, "ServiceExpirationDate"), where),
                requires_business_level_signature=(_text(ep, "RequireBusinessLevelSignature") or "").lower()
                in ("true", "1"),
                description=_text(ep, "ServiceDescription"), technical_contact=_text(ep, "TechnicalContactUrl")))
    return ServiceMetadata(participant, doctype, endpoints, signer=signer)


# --- verifying -------------------------------------------------------------------------------------

def verify(data: bytes, trust: Optional[Path], *, at: Optional[datetime] = None, allow_sha1: bool = False):
    """The element the SMP's signature covers and the signing certificate, once the signature
    checks out and the certificate chains to a certificate of ``trust`` (a PEM file) at ``at``.
    Raises ``DiscoveryError`` (``bad_signature``, ``untrusted_signer``, ``no_trust_anchor``)."""
    from signxml import (CanonicalizationMethod, DigestAlgorithm, SignatureConfiguration, SignatureMethod,
                         XMLVerifier)
    from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

    _parse_xml(data, "SignedServiceMetadata")           # size, depth, no DTD: before signxml reads it
    if trust is None or not Path(trust).is_file():
        raise DiscoveryError("no_trust_anchor", "no SMP trust anchor is configured (EDIGATE_PEPPOL_SMP_TRUST)"
                             if trust is None else f"the SMP trust anchor file {trust} is missing")
    methods = {m for m in SignatureMethod if m.name.startswith(("RSA_", "ECDSA_", "SHA"))
               and (allow_sha1 or "SHA1" not in m.name)}
    digests = {d for d in DigestAlgorithm if allow_sha1 or "SHA1" not in d.name}
    config = SignatureConfiguration(
        signature_methods=frozenset(methods), digest_algorithms=frozenset(digests), expect_references=1,
        location="./", verification_time=at or datetime.now(timezone.utc),
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0)
    try:
        result = XMLVerifier().verify(data, ca_pem_file=str(trust), expect_config=config)
    except InvalidCertificate as e:
        raise DiscoveryError("untrusted_signer", f"the SMP's signing certificate is not trusted: {e}") from None
    except InvalidDigest as e:
        raise DiscoveryError("bad_signature", f"the SMP answer does not match its signature (altered?): {e}") from None
    except InvalidSignature as e:
        raise DiscoveryError("bad_signature", f"the SMP answer's signature is invalid: {e}") from None
    except InvalidInput as e:
        raise DiscoveryError("bad_signature", f"the SMP answer's signature cannot be checked: {e}") from None
    signed = result.signed_xml
    if signed is None or _local(signed) != "SignedServiceMetadata":
        raise DiscoveryError("bad_signature", "the SMP's signature does not cover the whole SignedServiceMetadata")
    return signed, _signer(result)


def _signer(result) -> x509.Certificate:
    """The certificate of the key that verified the signature (signxml gives the key alone)."""
    key = serialization.load_pem_public_key(result.signature_key)
    wanted = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for el in result.signature_xml.iter(f"{{{NS_DS}}}X509Certificate"):
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split())))
        except ValueError:
            continue
        if cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) == wanted:
            return cert
    raise DiscoveryError("bad_signature", "the SMP's signing certificate is not in its signature")


# --- fetching --------------------------------------------------------------------------------------



def get(url: str, *, deadline: float, allow_private: bool = False, address: Optional[str] = None) -> bytes:
    """The body of a 200 answer to GET ``url``, at most ``MAX_BYTES``, before ``deadline``
    (``time.monotonic()``). ``address``: connect there (the DNS already answered), naming the
    URL's host in the Host header. 404 is ``not_found``; anything else not 200 ``smp_error``."""
    import requests
    problem = safe_http.url_problem(url, allow_private=allow_private)
    if problem:
        raise DiscoveryError("forbidden_address" if "address" in problem or "host" in problem else "bad_answer",
                             f"{url[:200]}: {problem}")
    headers = {"Accept": "application/xml, text/xml"}
    target = url
    if address is not None:
        parts = urlsplit(url)
        headers["Host"] = parts.netloc
        host = f"[{address}]" if ":" in address else address
        target = urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path,
                             parts.query, ""))
    left = deadline - time.monotonic()
    if left <= 0:
        raise DiscoveryError("timeout", f"{url[:200]}: no time left to ask the SMP")
    try:
        with safe_http.session(allow_private).get(target, stream=True, timeout=min(HTTP_TIMEOUT, left),
                                                  allow_redirects=False, headers=headers) as r:
            if r.status_code == 404:
                raise DiscoveryError("not_found", f"{url[:200]}: the SMP has no such entry (HTTP 404)")
            if r.status_code != 200:
                raise DiscoveryError("smp_error", f"{url[:200]}: HTTP {r.status_code} {r.reason or ''}".rstrip())
            try:
                return safe_http.read_body(r, MAX_BYTES, deadline)
            except safe_http.BodyRefused as e:
                raise DiscoveryError("bad_answer" if e.too_large else "timeout", f"{url[:200]}: {e}") from None
    except requests.Timeout:
        raise DiscoveryError("timeout", f"{url[:200]}: the SMP did not answer in time") from None
    except requests.RequestException as e:
        forbidden = safe_http.forbidden_cause(e)
        if forbidden is not None:
            raise DiscoveryError("forbidden_address", f"{url[:200]}: {forbidden}") from None
        raise DiscoveryError("smp_unreachable", f"{url[:200]}: {type(e).__name__}") from None


def service_group_url(smp_url: str, participant: ParticipantId) -> str:
    return f"{smp_url.rstrip('/')}/{participant.url_encoded}"


def service_metadata_url(smp_url: str, participant: ParticipantId, doctype: DocumentTypeId) -> str:
    return f"{smp_url.rstrip('/')}/{participant.url_encoded}/services/{doctype.url_encoded}"


def certificate_uid(cert: x509.Certificate) -> Optional[str]:
    """The subject's UID attribute (Peppol SMP certificates carry it), else the subject's CN."""
    from cryptography.x509.oid import NameOID
    for oid in (NameOID.USER_ID, NameOID.COMMON_NAME):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return None


def fetch_service_metadata(smp_url: str, participant: ParticipantId, doctype: DocumentTypeId, *,
                           trust: Optional[Path], deadline: float, allow_private: bool = False,
                           address: Optional[str] = None, at: Optional[datetime] = None) -> ServiceMetadata:
    """The participant's verified metadata for ``doctype`` (one redirect followed)."""
    url = service_metadata_url(smp_url, participant, doctype)
    data = get(url, deadline=deadline, allow_private=allow_private, address=address)
    signed, signer = verify(data, trust, at=at)
    metadata = read_service_metadata(signed, signer=signer)
    if metadata.redirect is None:
        return _checked(metadata, participant, doctype)
    expected_uid = metadata.redirect.certificate_uid
    data = get(metadata.redirect.href, deadline=deadline, allow_private=allow_private)
    signed, signer = verify(data, trust, at=at)
    if expected_uid and certificate_uid(signer) != expected_uid:
        raise DiscoveryError("untrusted_signer", f"the redirected SMP signs as {certificate_uid(signer)!r}, "
                                                 f"not {expected_uid!r} as the first SMP said")
    metadata = read_service_metadata(signed, signer=signer)
    if metadata.redirect is not None:
        raise DiscoveryError("bad_answer", "the SMP redirected twice (one redirect is allowed)")
    return _checked(metadata, participant, doctype)


def _checked(metadata: ServiceMetadata, participant: ParticipantId, doctype: DocumentTypeId) -> ServiceMetadata:
    if metadata.participant != participant:
        raise DiscoveryError("bad_answer", f"the SMP answered for {metadata.participant}, not {participant}")
    if metadata.document_type != doctype:
        raise DiscoveryError("bad_answer", f"the SMP answered for document type {metadata.document_type}, "
                                           f"not {doctype}")
    return metadata


def choose(metadata: ServiceMetadata, process: ProcessId, transport_profile: str,
           when: Optional[datetime] = None) -> Endpoint:
    """The endpoint for the process and transport profile, active at ``when``; ``DiscoveryError``
    (``no_endpoint`` / ``not_active``) otherwise."""
    when = when or datetime.now(timezone.utc)
    matching = [e for e in metadata.endpoints if e.process == process and e.transport_profile == transport_profile]
    if not matching:
        offered = sorted({f"{e.process.value} by {e.transport_profile}" for e in metadata.endpoints})
        raise DiscoveryError("no_endpoint", f"{metadata.participant} has no endpoint for process {process.value} "
                                            f"by {transport_profile}" + (f" (offered: {'; '.join(offered[:5])})"
                                                                         if offered else ""))
    for e in matching:
        if e.active_at(when):
            return e
    e = matching[0]
    raise DiscoveryError("not_active", f"{metadata.participant}'s endpoint for {process.value} is active only from "
                                       f"{e.activation or '-'} to {e.expiration or '-'}")
