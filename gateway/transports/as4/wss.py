"""WS-Security 1.1 X.509 signatures over a SOAP 1.2 envelope and its attachments, by hand.

signxml signs and verifies whole documents with ``ds:KeyInfo/X509Data``; AS4
needs references to elements by ``wsu:Id`` *and* to MIME attachments
(``cid:``, the SwA Attachment-Content-Signature transform), and a key named by a
``wsse:SecurityTokenReference``. So the few steps are written here with lxml's
exclusive canonicalisation and ``cryptography``:

* ``sign`` adds ``ds:Signature`` (RSA-SHA256 over the exclusive-C14N SignedInfo)
  with one SHA-256 reference per element id and per attachment;
* ``verify`` is strict where signature wrapping attacks live: every ``wsu:Id``
  / ``Id`` in the document is unique, the references that must be covered are
  given *by element* (the eb:Messaging and Body actually read, not any element
  of that name somewhere), only exclusive C14N, RSA-SHA256/384/512 and SHA-256/
  384/512 are accepted, and the key is the partner's certificate, never one the
  message brings (a ``BinarySecurityToken`` is only compared with it).

Attachment references are checked separately (``check_attachment``): their
content is only known once decrypted.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from . import ns
from .errors import As4Refusal

DIGESTS = {ns.SHA256: "sha256", "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
           "http://www.w3.org/2001/04/xmlenc#sha512": "sha512"}
SIGNATURES = {ns.RSA_SHA256: hashes.SHA256, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
              "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512}
MAX_REFERENCES = 16
ID_ATTRIBUTES = (ns.WSU_ID, "Id", "id", "ID")


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def c14n(el: etree._Element, prefixes: Sequence[str] = ()) -> bytes:
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False,
                          inclusive_ns_prefixes=list(prefixes) or None)


def b64digest(data: bytes, alg: str = "sha256") -> str:
    return base64.b64encode(hashlib.new(alg, data).digest()).decode("ascii")


def index_ids(root: etree._Element) -> dict[str, etree._Element]:
    """Every element by its id attribute; a second element with the same id is a refusal."""
    out: dict[str, etree._Element] = {}
    for el in root.iter(etree.Element):
        for attr in ID_ATTRIBUTES:
            value = el.get(attr)
            if value is None:
                continue
            if value in out and out[value] is not el:
                raise As4Refusal("EBMS:0101", f"the id {value[:80]!r} is on two elements (signature wrapping?)")
            out[value] = el
    return out


# --- signing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SentReference:
    """One reference of a SignedInfo, as compared with a receipt's non-repudiation information."""
    uri: str
    digest_method: str
    digest_value: str


def _reference(parent, uri: str, transform: str, digest: str) -> etree._Element:
    ref = etree.SubElement(parent, q(ns.DS, "Reference"), URI=uri)
    transforms = etree.SubElement(ref, q(ns.DS, "Transforms"))
    etree.SubElement(transforms, q(ns.DS, "Transform"), Algorithm=transform)
    etree.SubElement(ref, q(ns.DS, "DigestMethod"), Algorithm=ns.SHA256)
    etree.SubElement(ref, q(ns.DS, "DigestValue")).text = digest
    return ref


def binary_security_token(security: etree._Element, cert: x509.Certificate, token_id: str) -> etree._Element:
    bst = etree.SubElement(security, q(ns.WSSE, "BinarySecurityToken"), EncodingType=ns.BASE64_BINARY,
                           ValueType=ns.X509V3)
    bst.set(ns.WSU_ID, token_id)
    bst.text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
    return bst


def sign(security: etree._Element, key: rsa.RSAPrivateKey, cert: x509.Certificate,
         elements: Sequence[etree._Element], attachments: Mapping[str, bytes] = {}) -> list[SentReference]:
    """Sign ``elements`` (each has a ``wsu:Id``, all in ``security``'s document) and the
    ``attachments`` (content id → the bytes as sent, before encryption); the signature goes at
    the end of ``security``. Returns the references, for the receipt check."""
    token_id = new_id("X509")
    binary_security_token(security, cert, token_id)
    signature = etree.SubElement(security, q(ns.DS, "Signature"), Id=new_id("SIG"))
    info = etree.SubElement(signature, q(ns.DS, "SignedInfo"))
    etree.SubElement(info, q(ns.DS, "CanonicalizationMethod"), Algorithm=ns.EXC_C14N)
    etree.SubElement(info, q(ns.DS, "SignatureMethod"), Algorithm=ns.RSA_SHA256)
    sent = []
    for el in elements:
        el_id = el.get(ns.WSU_ID)
        digest = b64digest(c14n(el))
        _reference(info, f"#{el_id}", ns.EXC_C14N, digest)
        sent.append(SentReference(f"#{el_id}", ns.SHA256, digest))
    for cid, data in attachments.items():
        digest = b64digest(data)
        _reference(info, f"cid:{cid}", ns.SWA_CONTENT_SIGNATURE, digest)
        sent.append(SentReference(f"cid:{cid}", ns.SHA256, digest))
    value = key.sign(c14n(info), padding.PKCS1v15(), hashes.SHA256())
    etree.SubElement(signature, q(ns.DS, "SignatureValue")).text = base64.b64encode(value).decode("ascii")
    key_info = etree.SubElement(signature, q(ns.DS, "KeyInfo"), Id=new_id("KI"))
    str_ = etree.SubElement(key_info, q(ns.WSSE, "SecurityTokenReference"))
    str_.set(ns.WSU_ID, new_id("STR"))
    etree.SubElement(str_, q(ns.WSSE, "Reference"), URI=f"#{token_id}", ValueType=ns.X509V3)
    return sent


# --- verifying -------------------------------------------------------------------------------------

@dataclass
class Verified:
    """What a valid signature covers: element references checked, attachment references to check."""
    signer: x509.Certificate
    references: list[etree._Element]             # the ds:Reference elements, as received
    attachment_digests: dict[str, tuple[str, str]]     # cid -> (hashlib name, base64 digest)
    digest_algorithms: set[str]


def embedded_certificate(security: etree._Element, signature: etree._Element) -> Optional[x509.Certificate]:
    """The BinarySecurityToken the signature's KeyInfo names (informative: what the sender says it
    signed with)."""
    ref = signature.find(f"{{{ns.DS}}}KeyInfo/{{{ns.WSSE}}}SecurityTokenReference/{{{ns.WSSE}}}Reference")
    if ref is None or not (ref.get("URI") or "").startswith("#"):
        return None
    want = ref.get("URI")[1:]
    for bst in security.findall(q(ns.WSSE, "BinarySecurityToken")):
        if bst.get(ns.WSU_ID) == want and (bst.get("ValueType") or ns.X509V3) == ns.X509V3:
            try:
                return x509.load_der_x509_certificate(base64.b64decode((bst.text or "").strip(), validate=True))
            except ValueError:
                return None
    return None


def _prefixes(transform_or_method: etree._Element) -> list[str]:
    inc = transform_or_method.find(q(ns.EC, "InclusiveNamespaces"))
    return (inc.get("PrefixList") or "").split() if inc is not None else []


def verify(root: etree._Element, security: etree._Element, certificates: Iterable[x509.Certificate],
           must_cover: Sequence[etree._Element], attachments: Iterable[str] = ()) -> Verified:
    """Check the one ``ds:Signature`` in ``security`` with one of ``certificates``; raise
    ``As4Refusal`` (EBMS:0101, or 0103 for what the policy does not accept) otherwise.
    ``must_cover``: elements that must be referenced by their id and digested; ``attachments``:
    content ids that must be referenced (digests checked later by ``check_attachment``)."""
    signatures = security.findall(q(ns.DS, "Signature"))
    if len(signatures) != 1:
        raise As4Refusal("EBMS:0103" if not signatures else "EBMS:0101",
                         "the message is not signed" if not signatures else "more than one signature")
    signature = signatures[0]
    info = signature.find(q(ns.DS, "SignedInfo"))
    value_el = signature.find(q(ns.DS, "SignatureValue"))
    if info is None or value_el is None:
        raise As4Refusal("EBMS:0101", "a signature without SignedInfo or SignatureValue")
    ids = index_ids(root)
    method = info.find(q(ns.DS, "CanonicalizationMethod"))
    if method is None or method.get("Algorithm") != ns.EXC_C14N:
        raise As4Refusal("EBMS:0103", "SignedInfo is not canonicalised with exclusive C14N")
    sig_method = info.find(q(ns.DS, "SignatureMethod"))
    hash_cls = SIGNATURES.get(sig_method.get("Algorithm") if sig_method is not None else "")
    if hash_cls is None:
        raise As4Refusal("EBMS:0103", f"signature method {sig_method.get('Algorithm') if sig_method is not None else None} "
                                      "is not accepted (RSA-SHA256 or stronger)")
    try:
        value = base64.b64decode("".join((value_el.text or "").split()), validate=True)
    except ValueError:
        raise As4Refusal("EBMS:0101", "the SignatureValue is not base64") from None
    signed = c14n(info, _prefixes(method))
    signer = None
    last = "no certificate"
    for cert in certificates:
        pub = cert.public_key()
        if not isinstance(pub, rsa.RSAPublicKey):
            last = "not an RSA certificate"
            continue
        try:
            pub.verify(value, signed, padding.PKCS1v15(), hash_cls())
        except InvalidSignature:
            last = "the signature value does not verify with the sender's certificate"
            continue
        signer = cert
        break
    if signer is None:
        raise As4Refusal("EBMS:0101", last)
    references = info.findall(q(ns.DS, "Reference"))
    if not references or len(references) > MAX_REFERENCES:
        raise As4Refusal("EBMS:0101", f"{len(references)} references (1 to {MAX_REFERENCES} accepted)")
    covered: set[int] = set()
    att: dict[str, tuple[str, str]] = {}
    algorithms = set()
    for ref in references:
        uri = ref.get("URI") or ""
        dm = ref.find(q(ns.DS, "DigestMethod"))
        alg = DIGESTS.get(dm.get("Algorithm") if dm is not None else "")
        if alg is None:
            raise As4Refusal("EBMS:0103", f"reference {uri[:80]}: digest method not accepted (SHA-256 or stronger)")
        algorithms.add(alg)
        expected = "".join((ref.findtext(q(ns.DS, "DigestValue")) or "").split())
        transforms = ref.findall(f"{{{ns.DS}}}Transforms/{{{ns.DS}}}Transform")
        kinds = [t.get("Algorithm") for t in transforms]
        if uri.startswith("cid:"):
            if kinds != [ns.SWA_CONTENT_SIGNATURE]:
                raise As4Refusal("EBMS:0103", f"reference {uri[:80]}: transforms {kinds} not accepted")
            att[uri[4:]] = (alg, expected)
            continue
        if not uri.startswith("#") or kinds != [ns.EXC_C14N]:
            raise As4Refusal("EBMS:0103", f"reference {uri[:80]!r}: only #id with exclusive C14N is accepted")
        target = ids.get(uri[1:])
        if target is None:
            raise As4Refusal("EBMS:0101", f"reference {uri[:80]} names no element of the message")
        actual = b64digest(c14n(target, _prefixes(transforms[0])), alg)
        if not hmac.compare_digest(actual, expected):
            raise As4Refusal("EBMS:0101", f"the digest of {uri[:80]} does not match: the message was altered")
        covered.add(id(target))
    for el in must_cover:
        if id(el) not in covered:
            raise As4Refusal("EBMS:0101", f"the signature does not cover the {etree.QName(el).localname} read")
    for cid in attachments:
        if cid not in att:
            raise As4Refusal("EBMS:0101", f"the signature does not cover the attachment {cid[:80]}")
    return Verified(signer, references, att, algorithms)


def check_attachment(verified: Verified, cid: str, data: bytes) -> None:
    """The attachment's bytes (decrypted, still compressed) against the signed digest."""
    digest = attachment_hash(verified, cid)
    digest.update(data)
    check_attachment_hash(verified, cid, digest)


def attachment_hash(verified: Verified, cid: str):
    """A new hash object of the algorithm the signature names for attachment ``cid`` (to be fed
    its decrypted bytes as they stream, then given to ``check_attachment_hash``)."""
    return hashlib.new(verified.attachment_digests[cid][0])


def check_attachment_hash(verified: Verified, cid: str, digest) -> None:
    expected = verified.attachment_digests[cid][1]
    if not hmac.compare_digest(base64.b64encode(digest.digest()).decode("ascii"), expected):
        raise As4Refusal("EBMS:0101", f"the digest of attachment {cid[:80]} does not match: it was altered")
