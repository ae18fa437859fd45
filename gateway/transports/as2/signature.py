"""Detached CMS signatures (RFC 5652 SignedData) for AS2: made and checked with ``cryptography``.

Why not pyas2lib's ``sign_message`` / ``verify_message``: they build and read the
structure through asn1crypto objects and sign through oscrypto, about 20 ms a
signature here, most of it in Python; and they take the signed content as one
``bytes``. Here signing is ``cryptography``'s own SignedData writer (OpenSSL
underneath), and checking takes the *digest* of the signed content, so a
content of a gigabyte is hashed in chunks by the caller (``digest_file``)
and never held in memory.

What is written is what pyas2lib writes: detached, the signer's certificate
included, signed attributes content type, signing time, message digest and
S/MIME capabilities; PKCS#1 v1.5 or RSASSA-PSS (salt as long as the digest).
What is accepted is what ``verify_message`` accepts: every signer must verify,
with signed attributes (the message digest must match) or without.
"""
from __future__ import annotations

import hashlib
from typing import BinaryIO, Callable, Optional

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.serialization import pkcs7

#: digest names (ours, ``sha256``) -> cryptography's hash classes.
HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
          "sha384": hashes.SHA384, "sha512": hashes.SHA512}
#: digests ``sign`` writes (cryptography signs no SHA-1: callers use pyas2lib for that one).
SIGNABLE = ("sha224", "sha256", "sha384", "sha512")
_CHUNK = 1 << 20


class SignatureError(Exception):
    """The signature is unreadable, or does not verify with the certificate given."""


def _digest_name(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def sign(data: bytes, digest: str, key, certificate: x509.Certificate,
         scheme: str = "rsassa_pkcs1v15") -> bytes:
    """A detached SignedData (DER) over ``data`` exactly as given (no MIME canonicalisation)."""
    name = _digest_name(digest)
    if name not in SIGNABLE:
        raise ValueError(f"digest {digest!r} is not one of {SIGNABLE}")
    if scheme == "rsassa_pss":
        pad = padding.PSS(mgf=padding.MGF1(HASHES[name]()), salt_length=padding.PSS.DIGEST_LENGTH)
    elif scheme == "rsassa_pkcs1v15":
        pad = None
    else:
        raise ValueError(f"signature scheme {scheme!r} is not supported")
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(
        certificate, key, HASHES[name](), rsa_padding=pad)
    return builder.sign(serialization.Encoding.DER,
                        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])


def digest_file(f: BinaryIO, start: int, length: int, names) -> dict[str, bytes]:
    """Digests (each of ``names``) of ``length`` bytes of ``f`` from ``start``, read in chunks."""
    hs = {n: hashlib.new(n) for n in names}
    f.seek(start)
    left = length
    while left > 0:
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            raise SignatureError("the signed content is shorter than its part says")
        for h in hs.values():
            h.update(chunk)
        left -= len(chunk)
    return {n: h.digest() for n, h in hs.items()}


def digest_algorithms(signature: bytes) -> list[str]:
    """The digests the signers of ``signature`` used (to hash the content once, before checking)."""
    return [_digest_name(s["digest_algorithm"]["algorithm"].native) for s in _signers(signature)]


def _signers(signature: bytes):
    try:
        info = cms.ContentInfo.load(signature)
        if info["content_type"].native != "signed_data":
            raise SignatureError("not CMS signed data")
        signers = list(info["content"]["signer_infos"])
    except SignatureError:
        raise
    except Exception as e:
        raise SignatureError(f"unreadable signature: {type(e).__name__}: {e}") from None
    if not signers:
        raise SignatureError("signed data without a signer")
    return signers


def _padding(signer, digest: str) -> tuple[Optional[padding.AsymmetricPadding], hashes.HashAlgorithm]:
    sig_alg = signer["signature_algorithm"]
    try:
        algo = sig_alg.signature_algo
    except Exception as e:
        raise SignatureError(f"signature algorithm: {e}") from None
    if algo == "rsassa_pkcs1v15":
        return padding.PKCS1v15(), HASHES[digest]()
    if algo == "rsassa_pss":
        params = sig_alg["parameters"].native if sig_alg["parameters"] is not None else None
        hash_name, mgf_name = digest, digest
        if params:     # RFC 4055 parameters when written; pyas2lib writes none: the signer's digest
            hash_name = _digest_name((params.get("hash_algorithm") or {}).get("algorithm") or digest)
            mgf = ((params.get("mask_gen_algorithm") or {}).get("parameters") or {}).get("algorithm")
            mgf_name = _digest_name(mgf or hash_name)
        if hash_name not in HASHES or mgf_name not in HASHES:
            raise SignatureError(f"RSASSA-PSS with {hash_name}/MGF1-{mgf_name} is not supported")
        return (padding.PSS(mgf=padding.MGF1(HASHES[mgf_name]()), salt_length=padding.PSS.AUTO),
                HASHES[hash_name]())
    raise SignatureError(f"signature algorithm {algo} is not supported")


def verify(signature: bytes, content_digest: Callable[[str], bytes], certificate: x509.Certificate,
           *, digests=("sha1", "sha224", "sha256", "sha384", "sha512")) -> str:
    """Check a detached ``signature`` (DER) with ``certificate``; ``content_digest(name)`` gives the
    digest of the signed content. Returns the digest the (last) signer used; raises
    ``SignatureError``. A signer without signed attributes signed the content itself: checked
    against the digest, prehashed."""
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise SignatureError("the certificate has no RSA key")
    digest = None
    for signer in _signers(signature):
        digest = _digest_name(signer["digest_algorithm"]["algorithm"].native)
        if digest not in HASHES or digest not in digests:
            raise SignatureError(f"unsupported digest algorithm {digest}")
        attrs = signer["signed_attrs"]
        pad, hash_alg = _padding(signer, digest)
        try:
            if attrs:
                claimed = b"".join(bytes(v) for a in attrs if a["type"].native == "message_digest"
                                   for v in a["values"].native)
                if not claimed or claimed != content_digest(digest):
                    raise SignatureError("the message digest does not match the content")
                public.verify(signer["signature"].native, attrs.untag().dump(), pad, hash_alg)
            else:       # the content itself was signed: its digest, prehashed
                if hash_alg.name != HASHES[digest].name:
                    raise SignatureError("signature hash and digest algorithm differ")
                public.verify(signer["signature"].native, content_digest(digest), pad,
                              asym_utils.Prehashed(HASHES[digest]()))
        except InvalidSignature:
            raise SignatureError("the signature does not verify with this certificate") from None
    return digest


def verify_bytes(data: bytes, signature: bytes, certificate: x509.Certificate) -> str:
    """``verify`` with the content in memory."""
    return verify(signature, lambda name: hashlib.new(name, data).digest(), certificate)
