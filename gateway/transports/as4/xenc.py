"""XML Encryption 1.1 of attachments (SwA Attachment-Content-Only): AES-128-GCM, RSA-OAEP key.

One session key per message, transported in an ``xenc:EncryptedKey`` encrypted to
the receiver's certificate with RSA-OAEP (MGF1 SHA-256, SHA-256 digest, empty
label); each attachment's body becomes ``IV (12 bytes) || ciphertext || tag
(16 bytes)`` and gets an ``xenc:EncryptedData`` whose ``CipherReference`` names
its ``cid:``. On the way in, only these algorithms are accepted, the declared
OAEP digest and MGF are read (SHA-1 is refused, not silently assumed).
``decrypt`` is one AES-GCM call on bytes in memory; ``decrypt_stream`` reads a
spooled attachment a chunk at a time and hands each decrypted chunk to a sink,
the tag (read first, from the end) checked once all is read: the sink must
treat what it got as unauthenticated until ``decrypt_stream`` has returned.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from . import ns
from .errors import As4Refusal
from .wss import binary_security_token, new_id, q

OAEP_DIGESTS = {ns.SHA256: hashes.SHA256, "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
                "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512}
MGFS = {ns.MGF1_SHA256: hashes.SHA256, "http://www.w3.org/2009/xmlenc11#mgf1sha384": hashes.SHA384,
        "http://www.w3.org/2009/xmlenc11#mgf1sha512": hashes.SHA512}


def _str_ref(parent, uri: str, value_type: str | None = None, token_type: str | None = None):
    str_ = etree.SubElement(parent, q(ns.WSSE, "SecurityTokenReference"))
    if token_type:
        str_.set(q(ns.WSSE11, "TokenType"), token_type)
    ref = etree.SubElement(str_, q(ns.WSSE, "Reference"), URI=uri)
    if value_type:
        ref.set("ValueType", value_type)
    return str_


def encrypt(security: etree._Element, recipient: x509.Certificate, attachments: Mapping[str, bytes],
            mime_type: str = ns.GZIP) -> dict[str, bytes]:
    """Encrypt each attachment (content id → bytes) under one new AES-128 key, transported to
    ``recipient``; the WS-Security elements go into ``security``. Returns the encrypted bodies."""
    session = AESGCM.generate_key(bit_length=128)
    gcm = AESGCM(session)
    token_id = new_id("X509")
    binary_security_token(security, recipient, token_id)
    key_id = new_id("EK")
    ek = etree.SubElement(security, q(ns.XENC, "EncryptedKey"), Id=key_id)
    method = etree.SubElement(ek, q(ns.XENC, "EncryptionMethod"), Algorithm=ns.RSA_OAEP)
    etree.SubElement(method, q(ns.DS, "DigestMethod"), Algorithm=ns.SHA256)
    etree.SubElement(method, q(ns.XENC11, "MGF"), Algorithm=ns.MGF1_SHA256)
    key_info = etree.SubElement(ek, q(ns.DS, "KeyInfo"))
    _str_ref(key_info, f"#{token_id}", ns.X509V3)
    wrapped = recipient.public_key().encrypt(session, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    data = etree.SubElement(etree.SubElement(ek, q(ns.XENC, "CipherData")), q(ns.XENC, "CipherValue"))
    data.text = base64.b64encode(wrapped).decode("ascii")
    refs = etree.SubElement(ek, q(ns.XENC, "ReferenceList"))
    out = {}
    for cid, plain in attachments.items():
        data_id = new_id("ED")
        etree.SubElement(refs, q(ns.XENC, "DataReference"), URI=f"#{data_id}")
        ed = etree.SubElement(security, q(ns.XENC, "EncryptedData"), Id=data_id, MimeType=mime_type,
                              Type=ns.SWA_CONTENT_ONLY)
        etree.SubElement(ed, q(ns.XENC, "EncryptionMethod"), Algorithm=ns.AES128_GCM)
        _str_ref(etree.SubElement(ed, q(ns.DS, "KeyInfo")), f"#{key_id}", token_type=ns.ENCRYPTED_KEY_TOKEN)
        cref = etree.SubElement(etree.SubElement(ed, q(ns.XENC, "CipherData")), q(ns.XENC, "CipherReference"),
                                URI=f"cid:{cid}")
        etree.SubElement(etree.SubElement(cref, q(ns.XENC, "Transforms")), q(ns.DS, "Transform"),
                         Algorithm=ns.SWA_CIPHERTEXT)
        iv = os.urandom(12)
        out[cid] = iv + gcm.encrypt(iv, bytes(plain), None)
    return out


@dataclass
class Encrypted:
    """What the header says is encrypted: the wrapped key and, by content id, the cipher used."""
    wrapped_key: bytes
    oaep: padding.OAEP
    parts: dict[str, str]            # cid -> content encryption algorithm


def read(security: etree._Element) -> Encrypted:
    """The EncryptedKey and the attachments it encrypts, judged by the policy before any key use."""
    keys = security.findall(q(ns.XENC, "EncryptedKey"))
    if len(keys) != 1:
        raise As4Refusal("EBMS:0103", "the message is not encrypted" if not keys else "more than one EncryptedKey")
    ek = keys[0]
    method = ek.find(q(ns.XENC, "EncryptionMethod"))
    alg = method.get("Algorithm") if method is not None else None
    if alg not in (ns.RSA_OAEP, ns.RSA_OAEP_MGF1P):
        raise As4Refusal("EBMS:0103", f"key transport {alg} is not accepted (RSA-OAEP)")
    dm = method.find(q(ns.DS, "DigestMethod"))
    mgf = method.find(q(ns.XENC11, "MGF"))
    digest = OAEP_DIGESTS.get(dm.get("Algorithm") if dm is not None else "")
    mgf_hash = MGFS.get(mgf.get("Algorithm") if mgf is not None else "") if alg == ns.RSA_OAEP else None
    if digest is None or mgf_hash is None:
        raise As4Refusal("EBMS:0103", "RSA-OAEP with SHA-1 (or an unknown digest/MGF) is not accepted; "
                                      "SHA-256 with MGF1-SHA-256 is")
    try:
        wrapped = base64.b64decode("".join((ek.findtext(f"{{{ns.XENC}}}CipherData/{{{ns.XENC}}}CipherValue") or "").split()),
                                   validate=True)
    except ValueError:
        raise As4Refusal("EBMS:0102", "the EncryptedKey's CipherValue is not base64") from None
    by_id = {ed.get("Id"): ed for ed in security.findall(q(ns.XENC, "EncryptedData"))}
    parts: dict[str, str] = {}
    for dr in ek.findall(f"{{{ns.XENC}}}ReferenceList/{{{ns.XENC}}}DataReference"):
        ed = by_id.get((dr.get("URI") or "")[1:])
        if ed is None:
            raise As4Refusal("EBMS:0102", f"DataReference {dr.get('URI', '')[:80]} names no EncryptedData")
        cref = ed.find(f"{{{ns.XENC}}}CipherData/{{{ns.XENC}}}CipherReference")
        uri = cref.get("URI") if cref is not None else ""
        if not uri or not uri.startswith("cid:"):
            raise As4Refusal("EBMS:0102", "an EncryptedData without a cid: CipherReference")
        content_alg = (ed.find(q(ns.XENC, "EncryptionMethod")).get("Algorithm")
                       if ed.find(q(ns.XENC, "EncryptionMethod")) is not None else None)
        if content_alg != ns.AES128_GCM:
            raise As4Refusal("EBMS:0103", f"content encryption {content_alg} is not accepted (AES-128-GCM)")
        parts[uri[4:]] = content_alg
    if not parts:
        raise As4Refusal("EBMS:0102", "the EncryptedKey encrypts nothing")
    return Encrypted(wrapped, padding.OAEP(padding.MGF1(mgf_hash()), digest(), None), parts)


def unwrap_key(encrypted: Encrypted, keys: Sequence) -> bytes:
    """The session key, with the first of our keys that opens it (rollover)."""
    for kp in keys:
        try:
            key = kp.private_key().decrypt(encrypted.wrapped_key, encrypted.oaep)
        except ValueError:
            continue
        if len(key) == 16:
            return key
    raise As4Refusal("EBMS:0102", "the session key is not encrypted to our certificate")


def decrypt(session_key: bytes, body: bytes) -> bytes:
    if len(body) < 12 + 16:
        raise As4Refusal("EBMS:0102", "an encrypted attachment shorter than its IV and tag")
    view = memoryview(body)
    try:
        return AESGCM(session_key).decrypt(bytes(view[:12]), view[12:], None)
    except InvalidTag:
        raise As4Refusal("EBMS:0102", "the attachment does not decrypt (authentication tag mismatch)") from None


def decrypt_stream(session_key: bytes, read_at: Callable[[int, int], bytes], length: int,
                   sink: Callable[[bytes], None], step: int = 1 << 20) -> None:
    """Decrypt ``IV || ciphertext || tag`` of ``length`` bytes, read with ``read_at(offset, n)``,
    into ``sink`` chunk by chunk; raise ``As4Refusal`` (EBMS:0102) when the tag does not verify,
    after the last chunk."""
    if length < 12 + 16:
        raise As4Refusal("EBMS:0102", "an encrypted attachment shorter than its IV and tag")
    iv, tag = read_at(0, 12), read_at(length - 16, 16)
    decryptor = Cipher(algorithms.AES(session_key), modes.GCM(iv, tag)).decryptor()
    pos, end = 12, length - 16
    while pos < end:
        chunk = read_at(pos, min(step, end - pos))
        if not chunk:
            raise As4Refusal("EBMS:0102", "the encrypted attachment ends early")
        pos += len(chunk)
        sink(decryptor.update(chunk))
    try:
        decryptor.finalize()
    except InvalidTag:
        raise As4Refusal("EBMS:0102", "the attachment does not decrypt (authentication tag mismatch)") from None
