"""The CMS layers of an AS2 message (RFC 5652, 3274, 4055): envelope, compression.

Why our own and not pyas2lib's: pyas2lib decrypts RSAES-OAEP with SHA-1 only
(oscrypto), so a partner encrypting with OAEP and SHA-256 (RFC 4055, what
``openssl cms -keyopt rsa_oaep_md:sha256`` writes) could not be read; it writes
OAEP without its parameters; and it decompresses in one call, however large the
result. Here:

* ``decrypt`` reads the key transport as the recipient info says — PKCS#1 v1.5,
  or OAEP with any SHA-1/SHA-2 hash and MGF1 — with each of our keys (rollover),
  and the content cipher (AES-CBC; the weak ones only for the caller that allowed
  them). Every failure gives the same words, so the answer is no padding oracle.
* ``decompress`` inflates in a streaming way and stops at a hard cap: a few
  kilobytes that would inflate to gigabytes cost at most ``limit`` bytes.
* ``encrypt`` writes the OAEP parameters explicitly (RFC 8017 Appendix C),
  hash and MGF1 hash as the partner's setting says, as OpenSSL does.

Signatures: ``signature`` (checked there; written there, SHA-1 aside).
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Sequence

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers import algorithms as weak_algorithms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.certs import load_certificate

#: Hashes an OAEP key transport may name (ours to write, theirs to read).
OAEP_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512")
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
           "sha384": hashes.SHA384, "sha512": hashes.SHA512}
#: asn1crypto's content cipher names -> ours (``As2Partner.accepted_encryptions``).
CIPHER_NAMES = {
    "aes128_cbc": "aes_128_cbc", "aes192_cbc": "aes_192_cbc", "aes256_cbc": "aes_256_cbc",
    "tripledes_3key": "tripledes_192_cbc", "rc2": "rc2_128_cbc", "rc4": "rc4_128_cbc",
    "des": "des_64_cbc",
}
_AES_OIDS = {"aes_128_cbc": "aes128_cbc", "aes_192_cbc": "aes192_cbc", "aes_256_cbc": "aes256_cbc"}
_CHUNK = 1 << 20


class CmsError(Exception):
    """A CMS layer that cannot be opened. ``modifier`` is the MDN's word for it (RFC 4130)."""

    def __init__(self, message: str, modifier: str = "unexpected-processing-error"):
        super().__init__(message)
        self.modifier = modifier


class TooLarge(CmsError):
    """What a layer holds is over the size limit (a decompression bomb, or just too big)."""

    def __init__(self, limit: int):
        super().__init__(f"decompressed content over the limit of {limit} bytes", "decompression-failed")
        self.limit = limit


def content_kind(der: bytes) -> str:
    """``enveloped_data``, ``compressed_data``, ``signed_data``…: what the DER says it is
    (never what a MIME header claims)."""
    try:
        return cms.ContentInfo.load(der)["content_type"].native
    except Exception as e:
        raise CmsError(f"not a CMS structure: {type(e).__name__}: {e}") from None


def _content(der: bytes, kind: str, modifier: str):
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != kind:
            raise CmsError(f"not CMS {kind}", modifier)
        return info["content"]
    except CmsError:
        raise
    except Exception as e:
        raise CmsError(f"unreadable CMS {kind}: {type(e).__name__}: {e}", modifier) from None


# --- envelope ------------------------------------------------------------------------------

def encryption_algorithm(der: bytes) -> str:
    """The content cipher of an enveloped-data body, in our names (``aes_256_cbc``…), read
    before anything is decrypted: weak ciphers are refused without spending a key operation."""
    env = _content(der, "enveloped_data", "decryption-failed")
    try:
        name = env["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native
    except Exception as e:
        raise CmsError(f"unreadable content encryption algorithm: {e}", "decryption-failed") from None
    return CIPHER_NAMES.get(name, name)


@dataclass
class Decrypted:
    content: bytes
    key_index: int              # which of the keys given opened it
    algorithm: str              # content cipher, our name
    key_transport: str          # "rsaes_pkcs1v15" | "rsaes_oaep-sha256" …


def _oaep_padding(params) -> tuple[padding.OAEP, str]:
    """The OAEP padding the recipient info describes (RFC 4055 §4.1; absent fields: SHA-1)."""
    p = params.native if params is not None and not isinstance(params, core.Void) else {}
    p = p or {}
    digest = (p.get("hash_algorithm") or {}).get("algorithm") or "sha1"
    mgf = p.get("mask_gen_algorithm") or {"algorithm": "mgf1", "parameters": {"algorithm": "sha1"}}
    if mgf.get("algorithm") != "mgf1":
        raise CmsError(f"OAEP mask generation {mgf.get('algorithm')!r} is not supported", "decryption-failed")
    mgf_digest = (mgf.get("parameters") or {}).get("algorithm") or "sha1"
    label = (p.get("p_source_algorithm") or {}).get("parameters") or b""
    if digest not in _HASHES or mgf_digest not in _HASHES:
        raise CmsError(f"OAEP with {digest}/MGF1-{mgf_digest} is not supported", "decryption-failed")
    return (padding.OAEP(mgf=padding.MGF1(_HASHES[mgf_digest]()), algorithm=_HASHES[digest](),
                         label=label or None), f"rsaes_oaep-{digest}")


def _unwrap_key(ri, key: rsa.RSAPrivateKey) -> tuple[bytes, str]:
    alg = ri["key_encryption_algorithm"]
    name = alg["algorithm"].native
    encrypted_key = ri["encrypted_key"].native
    if name == "rsaes_pkcs1v15":
        return key.decrypt(encrypted_key, padding.PKCS1v15()), name
    if name == "rsaes_oaep":
        pad, label = _oaep_padding(alg["parameters"])
        return key.decrypt(encrypted_key, pad), label
    raise CmsError(f"key transport {name} is not supported", "decryption-failed")


def _rid_matches(ri, cert: x509.Certificate) -> bool:
    rid = ri["rid"]
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        return (ias["serial_number"].native == cert.serial_number
                and ias["issuer"].dump() == cert.issuer.public_bytes())
    if rid.name == "subject_key_identifier":
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return False
        return rid.chosen.native == ski
    return False


def content_decryptor(alg, key: bytes):
    """(decryptor, PKCS#7 unpadder or None, our cipher name) for a content encryption algorithm
    identifier: fed in chunks by whoever holds the content (here, or ``cms_stream`` from a file)."""
    name = alg["algorithm"].native
    ours = CIPHER_NAMES.get(name, name)
    if name in ("aes128_cbc", "aes192_cbc", "aes256_cbc"):
        cipher, block = algorithms.AES(key), 128
        iv = alg["parameters"].native
    elif name == "tripledes_3key":
        cipher, block = weak_algorithms.TripleDES(key), 64
        iv = alg["parameters"].native
    elif name == "rc2":
        cipher, block = weak_algorithms.RC2(key), 64
        iv = alg["parameters"]["iv"].native
    elif name == "rc4":
        return Cipher(weak_algorithms.ARC4(key), mode=None).decryptor(), None, ours
    else:
        raise CmsError(f"content encryption {name} is not supported", "decryption-failed")
    return Cipher(cipher, modes.CBC(iv)).decryptor(), sym_padding.PKCS7(block).unpadder(), ours


def _decrypt_content(info, key: bytes) -> tuple[bytes, str]:
    data = info["encrypted_content"].native
    if data is None:
        raise CmsError("enveloped data without its content (detached)", "decryption-failed")
    d, unpadder, ours = content_decryptor(info["content_encryption_algorithm"], key)
    plain = d.update(data) + d.finalize()
    if unpadder is None:
        return plain, ours
    return unpadder.update(plain) + unpadder.finalize(), ours


def decrypt(der: bytes, keys: Sequence) -> Decrypted:
    """Open an enveloped-data structure with one of ``keys`` (``KeyPair``s, current first).

    The recipient infos naming one of our certificates are tried first, then every other
    pairing (a partner that addressed an old certificate). Raises ``CmsError``
    (``decryption-failed``) with the same words whatever went wrong inside."""
    env = _content(der, "enveloped_data", "decryption-failed")
    failure = CmsError("the message could not be decrypted with our key(s)", "decryption-failed")
    try:
        infos = [ri.chosen for ri in env["recipient_infos"] if ri.name == "ktri"]
        content_info = env["encrypted_content_info"]
    except Exception:
        raise failure from None
    if not infos:
        raise CmsError("no key transport recipient (RSA) in the enveloped data", "decryption-failed")
    pairs = []
    for ki, kp in enumerate(keys):
        cert = kp.certificate
        for ri in infos:
            pairs.append((not _rid_matches(ri, cert), ki, ri))
    pairs.sort(key=lambda t: t[0])
    for _, ki, ri in pairs[:32]:
        try:
            key, transport = _unwrap_key(ri, keys[ki].private_key())
            content, algorithm = _decrypt_content(content_info, key)
        except CmsError as e:
            if "not supported" in str(e):
                raise
            continue
        except Exception:
            continue
        return Decrypted(content, ki, algorithm, transport)
    raise failure


def _algorithm_id(name: str) -> algos.DigestAlgorithm:
    return algos.DigestAlgorithm({"algorithm": name})


def encrypt(data: bytes, certificate: bytes, *, cipher: str = "aes_256_cbc",
            key_encryption: str = "rsaes_pkcs1v15", oaep_hash: str = "sha256") -> bytes:
    """Enveloped data for one recipient ``certificate`` (PEM or DER). ``key_encryption``: ``rsaes_pkcs1v15`` or
    ``rsaes_oaep`` (parameters written out: hash and MGF1 with ``oaep_hash``)."""
    if cipher not in _AES_OIDS:
        raise ValueError(f"we encrypt with AES-CBC only, not {cipher!r}")
    cert = load_certificate(certificate)
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the partner's certificate has no RSA key")
    key = os.urandom(int(cipher.split("_")[1]) // 8)
    iv = os.urandom(16)
    padder = sym_padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
    if key_encryption == "rsaes_pkcs1v15":
        wrapped = public.encrypt(key, padding.PKCS1v15())
        kea = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15", "parameters": core.Null()})
    elif key_encryption == "rsaes_oaep":
        if oaep_hash not in _HASHES:
            raise ValueError(f"OAEP hash is one of {OAEP_HASHES}")
        h = _HASHES[oaep_hash]()
        wrapped = public.encrypt(key, padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
        params = {"hash_algorithm": _algorithm_id(oaep_hash),        # SHA-1 = the defaults: an empty SEQUENCE
                  "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": _algorithm_id(oaep_hash)}}
        kea = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep",
                                          "parameters": algos.RSAESOAEPParams(params)})
    else:
        raise ValueError(f"unknown key encryption {key_encryption!r}")
    issuer = cms.IssuerAndSerialNumber({
        "issuer": cms.Name.load(cert.issuer.public_bytes()),
        "serial_number": cert.serial_number})
    return cms.ContentInfo({
        "content_type": "enveloped_data",
        "content": cms.EnvelopedData({
            "version": "v0",
            "recipient_infos": [cms.RecipientInfo(name="ktri", value=cms.KeyTransRecipientInfo({
                "version": "v0",
                "rid": cms.RecipientIdentifier(name="issuer_and_serial_number", value=issuer),
                "key_encryption_algorithm": kea,
                "encrypted_key": wrapped,
            }))],
            "encrypted_content_info": cms.EncryptedContentInfo({
                "content_type": "data",
                "content_encryption_algorithm": algos.EncryptionAlgorithm(
                    {"algorithm": _AES_OIDS[cipher], "parameters": core.OctetString(iv)}),
                "encrypted_content": encrypted,
            }),
        }),
    }).dump()


# --- compression ---------------------------------------------------------------------------

def _compressed_content(der: bytes) -> bytes:
    data = _content(der, "compressed_data", "decompression-failed")
    try:
        alg = data["compression_algorithm"]["algorithm"].native
        compressed = data["encap_content_info"]["content"].native
    except Exception as e:
        raise CmsError(f"unreadable compressed data: {type(e).__name__}: {e}", "decompression-failed") from None
    if alg != "zlib":
        raise CmsError(f"compression {alg} is not supported", "decompression-failed")
    if not isinstance(compressed, (bytes, bytearray)):
        raise CmsError("compressed data without content", "decompression-failed")
    return bytes(compressed)


def _inflate(compressed: bytes, limit: int, *, head_only: bool = False) -> bytearray:
    inflater = zlib.decompressobj()
    out, pending = bytearray(), compressed
    try:
        while pending and not inflater.eof:
            chunk = inflater.decompress(pending, min(_CHUNK, limit + 1 - len(out)))
            if len(out) + len(chunk) > limit:
                if head_only:
                    return out + chunk[:limit - len(out)]
                raise TooLarge(limit)
            out += chunk
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break
    except zlib.error as e:
        raise CmsError(f"decompression failed: {e}", "decompression-failed") from None
    if not inflater.eof and not head_only:
        raise CmsError("decompression failed: the compressed stream is truncated", "decompression-failed")
    return out


def decompress(der: bytes, limit: int) -> bytearray:
    """The content of a compressed-data structure (RFC 3274, zlib), at most ``limit`` bytes:
    inflated a chunk at a time, so a bomb stops at the cap instead of filling memory."""
    return _inflate(_compressed_content(der), limit)


def decompress_head(der: bytes, n: int = 64 * 1024) -> bytes:
    """The first ``n`` bytes of the compressed content, to judge what it is before paying for
    the rest (a signature required: is it a signed entity at all?)."""
    return bytes(_inflate(_compressed_content(der), n, head_only=True))
