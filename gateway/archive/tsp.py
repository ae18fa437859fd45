"""RFC 3161 time-stamps: the request over a SHA-256 digest, and the full check of the answer.

asn1crypto reads and writes the messages (TimeStampReq/Resp, CMS SignedData, TSTInfo: a
pure-Python, dependency-free ASN.1 library, the one pyHanko and certvalidator build on);
cryptography checks signatures and certificates. ``rfc3161ng`` was not used: it rests on
pyasn1 and leaves the certificate path to the caller. Nothing in a token is believed before it
is checked:

1. the TSA granted the request (status 0 or 1) and sent a token, and nothing trails it;
2. the token is CMS SignedData over an id-ct-TSTInfo; the TSTInfo's message imprint is SHA-256
   of exactly the digest asked about; the nonce, when one was sent, comes back;
3. one signer; its signed attributes say content-type TSTInfo and carry the digest of the
   TSTInfo as signed; the signature over those attributes verifies with the signer's key
   (RSA PKCS#1 v1.5 or PSS, ECDSA, Ed25519; SHA-256 or stronger);
4. the signer's certificate is the one the signer info names and the ESS signing-certificate
   attribute (v1 or v2) binds; it has the timeStamping extended key usage, critical (RFC 3161
   2.3); it chains to one of the trust anchors through the token's certificates, every link
   valid at the token's time, every issuer a CA.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.model.errors import EdigateError

MEDIA_QUERY = "application/timestamp-query"
MEDIA_REPLY = "application/timestamp-reply"
MAX_RESPONSE = 256 * 1024
MAX_CHAIN = 6
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
           "sha3_256": hashes.SHA3_256, "sha3_384": hashes.SHA3_384, "sha3_512": hashes.SHA3_512}


class TimestampError(EdigateError):
    """A time-stamp answer that cannot be trusted; the message says which check failed."""


@dataclass(frozen=True)
class Token:
    gen_time: datetime
    serial: str                       # hex
    policy: str
    digest: str                       # hex: what was time-stamped
    signer: str                       # the TSA certificate's subject
    certificates: list[bytes] = field(default_factory=list, repr=False)   # DER, as the token carried them


def request(digest: bytes, *, nonce: Optional[int] = None) -> bytes:
    """A DER TimeStampReq for a SHA-256 ``digest``, asking for the TSA's certificate."""
    if len(digest) != 32:
        raise ValueError("a SHA-256 digest is 32 bytes")
    return tsp.TimeStampReq({
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
        "nonce": nonce, "cert_req": True}).dump()


def load_anchors(path: Path) -> list[x509.Certificate]:
    """The trust anchors: every certificate of a PEM file."""
    try:
        found = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as e:
        raise TimestampError(f"TSA trust anchors {path}: {e}") from None
    return found


def _hash(name: str, data: bytes) -> bytes:
    if name not in _HASHES:
        raise TimestampError(f"digest algorithm {name} is not accepted (SHA-256 or stronger)")
    h = hashes.Hash(_HASHES[name]())
    h.update(data)
    return h.finalize()


def check_response(der: bytes, digest: bytes, anchors: Sequence[x509.Certificate], *,
                   nonce: Optional[int] = None) -> Token:
    """The checked token of a DER TimeStampResp over ``digest``; ``TimestampError`` otherwise."""
    if len(der) > MAX_RESPONSE:
        raise TimestampError(f"answer of {len(der):,} bytes, more than the {MAX_RESPONSE:,} accepted")
    try:
        return _check(der, digest, anchors, nonce)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        raise TimestampError(f"not a readable time-stamp response: {e}") from None


def _check(der: bytes, digest: bytes, anchors: Sequence[x509.Certificate], nonce: Optional[int]) -> Token:
    resp = tsp.TimeStampResp.load(der, strict=True)
    status = resp["status"]["status"].native
    if status not in ("granted", "granted_with_mods"):
        text = resp["status"]["status_string"].native
        raise TimestampError(f"the TSA did not grant the request: {status}"
                             + (f" ({'; '.join(text)})" if text else ""))
    token = resp["time_stamp_token"]
    if not isinstance(token, cms.ContentInfo) or token["content_type"].native != "signed_data":
        raise TimestampError("the answer carries no signed time-stamp token")
    sd = token["content"]
    encap = sd["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TimestampError("the token does not sign a TSTInfo")
    tst_der = encap["content"].contents
    tst = tsp.TSTInfo.load(tst_der, strict=True)
    imprint = tst["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint["hashed_message"].native != digest:
        raise TimestampError(f"the token's message imprint ({imprint['hash_algorithm']['algorithm'].native} "
                             f"{imprint['hashed_message'].native.hex()}) is not SHA-256 {digest.hex()}")
    if nonce is not None and tst["nonce"].native != nonce:
        raise TimestampError("the token does not carry the nonce of the request")
    if len(sd["signer_infos"]) != 1:
        raise TimestampError(f"the token has {len(sd['signer_infos'])} signers, not one")
    si = sd["signer_infos"][0]
    digest_name = si["digest_algorithm"]["algorithm"].native
    attrs = si["signed_attrs"]
    if not attrs:
        raise TimestampError("the token's signer has no signed attributes")
    found = {a["type"].native: a["values"] for a in attrs}
    if [v.native for v in found.get("content_type", [])] != ["tst_info"]:
        raise TimestampError("the signed content-type attribute is not TSTInfo")
    if [v.native for v in found.get("message_digest", [])] != [_hash(digest_name, tst_der)]:
        raise TimestampError("the signed message-digest does not match the TSTInfo: the token was altered")

    certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in sd["certificates"] or []
             if c.name == "certificate"]
    signer = _signer_certificate(si["sid"], certs + list(anchors))
    _check_ess(found, signer)
    signed = b"\x31" + attrs.dump()[1:]          # the attributes are signed as a SET OF, not [0]
    _verify_signature(signer, si, signed, digest_name)
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TimestampError("the TSA certificate has no extended key usage (timeStamping required)") from None
    if ExtendedKeyUsageOID.TIME_STAMPING not in eku.value or not eku.critical:
        raise TimestampError("the TSA certificate's extended key usage is not a critical timeStamping")
    gen_time = tst["gen_time"].native
    _chain(signer, certs, list(anchors), gen_time)
    return Token(gen_time=gen_time, serial=format(tst["serial_number"].native, "x"),
                 policy=tst["policy"].dotted, digest=digest.hex(), signer=signer.subject.rfc4514_string(),
                 certificates=[c.chosen.dump() for c in sd["certificates"] or [] if c.name == "certificate"])


def _signer_certificate(sid: cms.SignerIdentifier, pool: list[x509.Certificate]) -> x509.Certificate:
    for cert in pool:
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.serial_number == ias["serial_number"].native and \
                    cert.issuer.public_bytes() == ias["issuer"].dump():
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid.chosen.native:
                return cert
    raise TimestampError("the certificate of the token's signer is neither in the token nor an anchor")


def _check_ess(attrs: dict, signer: x509.Certificate) -> None:
    der = signer.public_bytes(Encoding.DER)
    if "signing_certificate_v2" in attrs:
        first = attrs["signing_certificate_v2"][0]["certs"][0]
        algorithm = first["hash_algorithm"]["algorithm"].native
        if first["cert_hash"].native != _hash(algorithm, der):
            raise TimestampError("the ESS signing-certificate-v2 attribute names another certificate")
    elif "signing_certificate" in attrs:
        if attrs["signing_certificate"][0]["certs"][0]["cert_hash"].native != hashlib.sha1(der).digest():
            raise TimestampError("the ESS signing-certificate attribute names another certificate")
    else:
        raise TimestampError("the token has no ESS signing-certificate attribute binding the TSA certificate")


def _verify_signature(cert: x509.Certificate, si: cms.SignerInfo, data: bytes, digest_name: str) -> None:
    key = cert.public_key()
    signature = si["signature"].native
    algo = si["signature_algorithm"]
    h = _HASHES.get(digest_name)
    if h is None:
        raise TimestampError(f"digest algorithm {digest_name} is not accepted (SHA-256 or stronger)")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if algo["algorithm"].native == "rsassa_pss":
                params = algo["parameters"]
                pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]
                mgf_hash = _HASHES[params["mask_gen_algorithm"]["parameters"]["algorithm"].native]
                key.verify(signature, data, padding.PSS(padding.MGF1(mgf_hash()), params["salt_length"].native),
                           pss_hash())
            else:
                key.verify(signature, data, padding.PKCS1v15(), h())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(h()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise TimestampError(f"TSA key type {type(key).__name__} is not supported")
    except InvalidSignature:
        raise TimestampError("the token's signature does not verify with the TSA certificate: "
                             "the token was altered") from None


def _valid_at(cert: x509.Certificate, when: datetime) -> None:
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise TimestampError(f"certificate {cert.subject.rfc4514_string()} was not valid at {when.isoformat()}")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _chain(signer: x509.Certificate, certs: list[x509.Certificate], anchors: list[x509.Certificate],
           when: datetime) -> None:
    """From the signer up to an anchor, each certificate issued (signed) by the next."""
    if not anchors:
        raise TimestampError("no TSA trust anchor is configured")
    current = signer
    for _ in range(MAX_CHAIN):
        _valid_at(current, when)
        if current in anchors:
            return
        issuer = None
        for candidate in anchors + [c for c in certs if c != current]:
            if candidate.subject != current.issuer or not _is_ca(candidate):
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            issuer = candidate
            break
        if issuer is None:
            raise TimestampError(f"the TSA certificate {signer.subject.rfc4514_string()} does not chain to a "
                                 "trust anchor")
        current = issuer
    raise TimestampError("the TSA certificate chain is too long")
