"""Receiving: one AS2 request in, one ``InboundResult`` out (never an exception for bad input).

Order of work, so that nothing acknowledged is ever lost, nothing unknown is
trusted, and a stranger's bytes cost no more than a small multiple of their size:

1. AS2-To must be one of our identities, AS2-From one of our partners (an unknown
   one is answered ``unknown-trading-partner``);
2. size limit (Content-Length first, then while reading);
3. the layers are opened one at a time, outermost first, each judged by the
   partner's policy *before* it is opened (``_Unwrap``): a message that must be
   encrypted is refused unless its outer layer is enveloped data (read from the
   DER, not from a header), weak ciphers before any key operation, compressed
   data is inflated with a hard cap (the inbound size limit), a signature is
   verified against each of the partner's certificates (rollover) over the exact
   bytes received, and each of our keys is tried for decryption;
4. policy: signed / encrypted where the partner must, accepted digests;
5. duplicates (Message-ID) get ``processed/warning: duplicate-document`` and are not stored;
6. ``store(payload, meta)`` — and only when it returned, the positive MDN (written before,
   handed to ``store`` as ``meta["mdn"]`` to be kept in the same step, sent only after).
   ``store`` raising means HTTP 503 and no MDN (the sender will retry);
   ``store`` raising ``DuplicateMessage`` (e.g. a unique constraint) is a duplicate.

MDNs are signed when the sender asks (Disposition-Notification-Options, the
digest it prefers, ``micalg`` spelled as the partner's setting says) and carry the
MIC. An asynchronous MDN (Receipt-Delivery-Option) is only ever produced for a
message whose signature verified with the partner's certificate, to a URL the
partner's profile allows (``mdn_url_policy``); otherwise the answer goes back in
the HTTP response: an error over HTTP for an unauthenticated sender, the MDN
itself for an authenticated one whose URL is not allowed.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import urlsplit

from . import compat  # noqa: F401

from . import cms, cms_stream, files
from . import signature as signature_mod
from .. import mime
from ._mime import as2_name, excerpt, lower_headers, raw_message, strip_msgid
from .config import As2Identity, As2Partner
from .mdn_writer import MdnRequest, OutgoingMdn, write_mdn
from ..safe_http import guarded_session, url_problem

log = logging.getLogger("edigate.as2")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_LAYERS = 4                  # encrypted, compressed, signed, compressed: no more
_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
_SIGNATURES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
FAILED_TEXT = ("The AS2 message could not be processed. The disposition-notification report "
               "has additional details.")


class DuplicateMessage(Exception):
    """Raised by ``store()`` when it finds the Message-ID already stored (race-free duplicate check)."""


@dataclass
class InboundResult:
    """What happened to one inbound request, and what to answer."""

    status: str          # processed | duplicate | refused | unknown-partner | unknown-recipient
                         # | too-large | bad-request | store-failed
    http_status: int
    disposition: Optional[str] = None   # e.g. "processed/error: authentication-failed"
    error: Optional[str] = None
    message_id: Optional[str] = None
    as2_from: Optional[str] = None
    as2_to: Optional[str] = None
    subject: Optional[str] = None
    payload: Optional[bytes] = None
    filename: Optional[str] = None
    content_type: Optional[str] = None
    mic: Optional[str] = None
    mic_alg: Optional[str] = None
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    stored: bool = False
    signer_index: Optional[int] = None      # which partner certificate verified the signature
    key_index: Optional[int] = None         # which of our keys decrypted it
    mdn: Optional[OutgoingMdn] = None
    store_ref: object = None                # what ``store`` returned (e.g. the record it made)
    payload_path: Optional[Path] = None     # a large message's payload: a file, not bytes
    raw_path: Optional[Path] = None         # a large message's raw form: the spooled file
    raw_message: bytes = b""
    response_headers: list = field(default_factory=list)
    response_body: bytes = b""
    seconds: float = 0.0

    @property
    def acknowledged(self) -> bool:
        """A positive MDN (or 2xx without MDN) tells the sender we have it."""
        return self.status in ("processed", "duplicate")

    @property
    def pending_mdn(self) -> Optional[OutgoingMdn]:
        return self.mdn if self.mdn is not None and self.mdn.mode == "async" else None


class _Refusal(Exception):
    """A layer the partner's policy or the cryptography refuses: ``modifier`` is the MDN's word."""

    def __init__(self, modifier: str, why: str):
        super().__init__(why)
        self.modifier = modifier


@dataclass
class _Unwrap:
    """The layers of one message, opened outermost first. What was learnt stays on the object
    when a later layer is refused (``authenticated`` decides whether an async MDN may go)."""

    identity: As2Identity
    partner: As2Partner
    limit: int
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    authenticated: bool = False         # a signature verified with one of the partner's certificates
    signer_index: Optional[int] = None
    key_index: Optional[int] = None
    digest_alg: Optional[str] = None
    mic: Optional[str] = None           # base64, over the signed content (RFC 4130 §7.3.1)
    mic_source: Optional[bytes] = None  # what an unsigned message's MIC is computed over
    encryption: Optional[str] = None
    key_transport: Optional[str] = None

    def __call__(self, entity: mime.Entity) -> mime.Entity:
        for _ in range(MAX_LAYERS + 1):
            ctype = entity.content_type
            if ctype in _PKCS7_MIME:
                entity = self._cms_layer(entity)
            elif ctype == "multipart/signed":
                entity = self._signed_layer(entity)
            else:
                self._final_policy()
                if not self.signed:
                    self.mic_source = entity.raw if self.encrypted else entity.decoded()
                return entity
        raise _Refusal("unexpected-processing-error", f"more than {MAX_LAYERS} nested security layers")

    def _require_encrypted_first(self, what: str) -> None:
        if self.partner.require_encrypted and not self.encrypted:
            raise _Refusal("insufficient-message-security",
                           f"message is not encrypted ({what} found outside any encryption)")

    def _cms_layer(self, entity: mime.Entity) -> mime.Entity:
        try:
            der = self._der(entity)
            kind = self._kind(der)
        except (mime.MimeError, cms.CmsError) as e:
            raise _Refusal("unexpected-processing-error", str(e)) from None
        if kind == "enveloped_data":
            if self.encrypted or self.signed or self.compressed:
                raise _Refusal("unexpected-processing-error", "encryption inside another layer")
            try:
                self.encryption = self._encryption_algorithm(der)
            except cms.CmsError as e:
                raise _Refusal(e.modifier, str(e)) from None
            if self.encryption not in self.partner.accepted_encryptions:
                raise _Refusal("insufficient-message-security",
                               f"content encryption {self.encryption} is not accepted from {self.partner.as2_name}")
            try:
                content, self.key_index, self.key_transport = self._decrypt(der)
            except cms.CmsError as e:
                raise _Refusal(e.modifier, str(e)) from None
            self.encrypted = True
            return self._inner(content)
        if kind == "compressed_data":
            self._require_encrypted_first("compressed data")
            if self.compressed:
                raise _Refusal("unexpected-processing-error", "compressed twice")
            try:
                if self.partner.require_signed and not self.signed:
                    self._require_signed_inside(self._decompress_head(der))
                content = self._decompress(der)
            except cms.CmsError as e:
                raise _Refusal(e.modifier, str(e)) from None
            self.compressed = True
            return self._inner(content)
        raise _Refusal("unexpected-processing-error", f"CMS {kind} is not an AS2 layer we read")

    @staticmethod
    def _require_signed_inside(head: bytes) -> None:
        """Compressed outside the signature (RFC 5402 allows it) when a signature is required:
        the content must begin as a signed entity, or nothing more of it is inflated."""
        try:
            kind = mime.parse(head).content_type if head else "nothing"
        except mime.MimeError:
            kind = "unreadable MIME"
        if kind != "multipart/signed":
            raise _Refusal("insufficient-message-security",
                           f"message is not signed (the compressed content is {kind})")

    def _signed_layer(self, entity: mime.Entity) -> mime.Entity:
        self._require_encrypted_first("a signature")
        if self.signed:
            raise _Refusal("unexpected-processing-error", "signed twice")
        try:
            parts = entity.parts()
            signature = next((self._signature(p) for p in parts[1:] if p.content_type in _SIGNATURES), None)
        except mime.MimeError as e:
            raise _Refusal("authentication-failed", f"unreadable signed message: {e}") from None
        if len(parts) < 2 or signature is None:
            raise _Refusal("authentication-failed", "multipart/signed without a PKCS#7 signature part")
        content = parts[0]
        self.signed = True

        last = "no certificate for the partner"
        for index in self.partner.candidate_indexes():
            try:
                cert = self.partner.verify_certificate(index)
            except Exception as e:
                last = f"certificate {index}: {e}"
                continue
            try:
                digest, self.mic = self._check(content, signature, cert)
            except signature_mod.SignatureError as e:
                last = str(e)
                continue
            except Exception as e:        # asn1crypto on a garbled signature
                last = f"{type(e).__name__}: {e}"
                continue
            self.authenticated, self.signer_index = True, index
            self.digest_alg = digest
            if digest not in self.partner.accepted_digests:
                raise _Refusal("insufficient-message-security",
                               f"signature digest {digest} is not accepted from {self.partner.as2_name}")
            return content
        raise _Refusal("authentication-failed",
                       f"the signature does not verify with {self.partner.as2_name}'s certificate(s): {last}")

    # --- the primitives: on bytes here, on a file in ``_FileUnwrap`` ----------------------
    def _der(self, entity):
        return bytes(entity.decoded())

    def _kind(self, der) -> str:
        return cms.content_kind(der)

    def _encryption_algorithm(self, der) -> str:
        return cms.encryption_algorithm(der)

    def _decrypt(self, der):
        opened = cms.decrypt(der, self.identity.keys)
        return opened.content, opened.key_index, opened.key_transport

    def _decompress_head(self, der) -> bytes:
        return cms.decompress_head(der)

    def _decompress(self, der):
        return cms.decompress(der, self.limit)

    def _inner(self, content):
        return _inner(content)

    def _signature(self, part) -> bytes:
        return bytes(part.decoded())

    def _check(self, content, signature: bytes, cert) -> tuple[str, str]:
        """(digest, MIC) of a signature over ``content``: the bytes as received; then, only if
        that failed, with CRLF line ends (a sender whose MIME library signed CRLF but sent bare LF)."""
        data = bytes(content.raw)
        try:
            digest = signature_mod.verify_bytes(data, signature, cert)
        except signature_mod.SignatureError:
            canonical = re.sub(rb"\r?\n", b"\r\n", data)
            if canonical == data:
                raise
            data = canonical
            digest = signature_mod.verify_bytes(data, signature, cert)
        return digest, base64.b64encode(hashlib.new(digest, data).digest()).decode()

    def _final_policy(self) -> None:
        if self.partner.require_encrypted and not self.encrypted:
            raise _Refusal("insufficient-message-security", "message is not encrypted")
        if self.partner.require_signed and not self.signed:
            raise _Refusal("insufficient-message-security", "message is not signed")


class _FileUnwrap(_Unwrap):
    """The same layers and the same policy, opened from a spooled file a chunk at a time: every
    intermediate layer is a new temporary file of ``scratch``, never bytes in memory."""

    scratch: Optional[files.Scratch] = None

    def _der(self, entity):
        return entity.decoded()

    def _kind(self, der) -> str:
        return cms_stream.kind(der)

    def _encryption_algorithm(self, der) -> str:
        return cms_stream.encryption_algorithm(der)

    def _decrypt(self, der):
        content, key_index, _name, transport = cms_stream.decrypt(der, self.identity.keys, self.scratch)
        return content, key_index, transport

    def _decompress_head(self, der) -> bytes:
        n = 64 * 1024
        return cms_stream.decompress(der, self.limit, self.scratch, head_only=n).read(n)

    def _decompress(self, der):
        return cms_stream.decompress(der, self.limit, self.scratch)

    def _inner(self, content):
        try:
            entity = files.parse(content, self.scratch)
        except mime.MimeError:
            entity = None
        if entity is None or entity.headers.get("content-type") is None:
            return files.header_only("application/octet-stream", content, self.scratch)
        return entity

    def _signature(self, part) -> bytes:
        return part.decoded().read(1 << 20)

    def _check(self, content, signature: bytes, cert) -> tuple[str, str]:
        names = [n for n in dict.fromkeys(signature_mod.digest_algorithms(signature)) if n in signature_mod.HASHES]
        digests = content.raw.digest(*names)
        try:
            digest = signature_mod.verify(signature, digests.__getitem__, cert)
        except signature_mod.SignatureError:
            canonical = _canonical_digests(content.raw, names)
            if canonical == digests:
                raise
            digests = canonical
            digest = signature_mod.verify(signature, digests.__getitem__, cert)
        return digest, base64.b64encode(digests[digest]).decode()


def _canonical_digests(rng, names) -> dict[str, bytes]:
    """Digests of a span with its line ends made CRLF, a chunk at a time (a CR at the end of a
    chunk waits for the next one)."""
    hs = {n: hashlib.new(n) for n in names}
    held = b""
    for chunk in rng.chunks():
        data = held + chunk
        held = b"\r" if data.endswith(b"\r") else b""
        data = re.sub(rb"\r?\n", b"\r\n", data[:len(data) - len(held)])
        for h in hs.values():
            h.update(data)
    for h in hs.values():
        h.update(held)
    return {n: h.digest() for n, h in hs.items()}


def _digest(name: str, source) -> bytes:
    """The digest of bytes, or of a file span (read in chunks)."""
    if isinstance(source, files.FileRange):
        return source.digest(name)[name]
    return hashlib.new(name, source).digest()


def _inner(content) -> mime.Entity:
    """The entity inside a layer; content without MIME headers is the payload itself (some
    senders encrypt bare EDI), never guessed at as headers."""
    try:
        entity = mime.parse(content)
    except mime.MimeError:
        entity = None
    if entity is None or entity.headers.get("content-type") is None:
        return mime.header_only("application/octet-stream", content)
    return entity


def mdn_url_policy(url: str, partner: As2Partner) -> tuple[Optional[str], bool]:
    """(why ``url`` may not receive an asynchronous MDN, or None; whether it may be on a
    non-public address). The partner's own host (from its configured URL) is always allowed:
    the operator vouched for it; elsewhere, public addresses only unless ``mdn_url_private``."""
    own_host = urlsplit(partner.url).hostname if partner.url else None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    allow_private = partner.mdn_url_private or (own_host is not None and host == own_host)
    return url_problem(url, allow_private=allow_private, schemes=partner.mdn_url_schemes), allow_private


def _read_body(body, limit: int) -> Optional[bytes]:
    """The whole body, or None when it is larger than ``limit``."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body) if len(body) <= limit else None
    chunks, size = [], 0
    while True:
        chunk = body.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def _respond(result: InboundResult, mdn: Optional[OutgoingMdn], text: str) -> InboundResult:
    result.mdn = mdn
    if mdn is not None and mdn.mode == "sync":
        result.response_headers = list(mdn.headers.items())
        result.response_body = mdn.body
    else:
        result.response_headers = [("Content-Type", "text/plain; charset=utf-8")]
        result.response_body = (text + "\n").encode()
    return result


def receive(headers, body, *, identities, partners, is_duplicate: Callable[[str], bool],
            store: Callable[[bytes, dict], None], max_bytes: int = DEFAULT_MAX_BYTES,
            now: Optional[Callable[[], _dt.datetime]] = None) -> InboundResult:
    """Handle one inbound AS2 request (HTTP headers + body bytes or a readable stream, or a
    ``files.Spool``: a large request already on disk, whose layers are then opened from files).

    ``identities`` / ``partners``: anything with ``.get(as2_name)`` (a dict, a
    database-backed mapping). ``is_duplicate(message_id)``; ``store(payload, meta)``
    must make the payload durable before returning (``meta`` has the Message-ID,
    names, filename, content type, MIC, flags and the raw message). For a spooled
    message ``payload`` and ``meta["raw_message"]`` are paths of fsync'd files that
    will not change (to be linked, not copied). ``max_bytes`` bounds the body, and
    what decompresses out of it.
    """
    t0 = time.perf_counter()
    hdr = lower_headers(headers)
    result = InboundResult(status="bad-request", http_status=400)
    result.message_id = strip_msgid(hdr.get("message-id"))
    result.as2_from = as2_name(hdr.get("as2-from"))
    result.as2_to = as2_name(hdr.get("as2-to"))
    result.subject = hdr.get("subject")
    request = MdnRequest.from_headers(hdr)

    def done(r: InboundResult) -> InboundResult:
        r.seconds = time.perf_counter() - t0
        level = logging.INFO if r.acknowledged else logging.WARNING
        disposition = r.disposition if r.disposition and r.disposition != r.status else ""
        log.log(level, "AS2 in %s from %s to %s: %s%s%s", r.message_id, r.as2_from, r.as2_to,
                r.status, f" {disposition}" if disposition else "", f" ({r.error})" if r.error else "")
        return r

    missing = [h for h in ("as2-from", "as2-to", "message-id") if not hdr.get(h)]
    if missing:
        result.error = "not an AS2 message: missing " + ", ".join(missing)
        return done(_respond(result, None, result.error))

    identity: Optional[As2Identity] = identities.get(result.as2_to)
    if identity is None:
        result.status, result.http_status = "unknown-recipient", 404
        result.error = f"AS2-To {result.as2_to!r} is not one of our AS2 identities"
        return done(_respond(result, None, result.error))

    declared = hdr.get("content-length")
    if declared and (declared.isascii() and declared.isdigit()) and int(declared) > max_bytes:
        result.status, result.http_status = "too-large", 413
        result.error = f"message of {declared} bytes is over the limit of {max_bytes}"
        return done(_respond(result, None, result.error))
    spooled = body if isinstance(body, files.Spool) else None
    if spooled is not None:                     # a large message, on disk as it arrived
        data = None
        raw = spooled.raw
        result.raw_path = spooled.path
        if spooled.size > max_bytes:
            data = None
            result.status, result.http_status = "too-large", 413
            result.error = f"message over the limit of {max_bytes} bytes"
            return done(_respond(result, None, result.error))
    else:
        data = _read_body(body, max_bytes)
        if data is None:
            result.status, result.http_status = "too-large", 413
            result.error = f"message over the limit of {max_bytes} bytes"
            return done(_respond(result, None, result.error))
        raw = raw_message(headers, data)
        result.raw_message = raw
    size = spooled.size if spooled is not None else len(data)

    def mdn_for(disposition: str, text: str, *, partner: Optional[As2Partner], url: Optional[str] = None,
                allow_private: bool = False, mic: Optional[str] = None,
                mic_alg: Optional[str] = None) -> Optional[OutgoingMdn]:
        if not request.wanted:
            return None
        return write_mdn(identity=identity, request=request, as2_from=result.as2_from,
                         as2_to=result.as2_to, original_message_id=result.message_id,
                         disposition=disposition, text=text, mic=mic, mic_alg=mic_alg,
                         spelling=partner.micalg_spelling if partner else "rfc5751",
                         signature_scheme=partner.signature_scheme if partner else "rsassa_pkcs1v15",
                         url=url, allow_private=allow_private)

    partner: Optional[As2Partner] = partners.get(result.as2_from)
    if partner is None:
        result.status = "unknown-partner"
        result.disposition = "processed/error: unknown-trading-partner"
        result.error = f"AS2-From {result.as2_from!r} is not a known partner of {identity.as2_name}"
        mdn = None
        if request.url:
            result.http_status = 403   # never post MDNs to a URL an unknown party gave us
        else:
            mdn = mdn_for(result.disposition, FAILED_TEXT, partner=None)
            result.http_status = 200 if mdn else 403
        return done(_respond(result, mdn, result.error))
    if partner.max_message_bytes is not None and size > partner.max_message_bytes:
        result.status, result.http_status = "too-large", 413
        result.error = f"message over {partner.as2_name}'s limit of {partner.max_message_bytes} bytes"
        return done(_respond(result, None, result.error))

    async_url, allow_private, url_refused = request.url, False, None
    if async_url and urlsplit(async_url).scheme.lower() not in ("http", "https"):
        async_url = None                            # mailto: etc.: answer synchronously
    if async_url:
        url_refused, allow_private = mdn_url_policy(async_url, partner)
    if spooled is not None:
        layers = _FileUnwrap(identity, partner, max_bytes)
        layers.scratch = spooled.scratch
    else:
        layers = _Unwrap(identity, partner, max_bytes)

    def mdn_url() -> Optional[str]:
        """Where the MDN may go: the sender's URL only if the sender proved who it is and the
        URL is one the partner may name; else back in the HTTP response."""
        if not async_url:
            return None
        if not layers.authenticated:
            return None
        return None if url_refused else async_url

    def refuse(modifier: str, why: str) -> InboundResult:
        result.status = "refused"
        result.disposition = f"processed/error: {modifier}"
        result.error = why
        result.signed, result.encrypted, result.compressed = layers.signed, layers.encrypted, layers.compressed
        if async_url and not layers.authenticated:
            # An unauthenticated sender gets its answer here, never at a URL it chose.
            result.http_status = 403 if modifier in ("authentication-failed",
                                                     "insufficient-message-security") else 400
            return done(_respond(result, None, f"{result.disposition} ({why})"))
        mdn = mdn_for(result.disposition, FAILED_TEXT, partner=partner, url=mdn_url(),
                      allow_private=allow_private)
        result.http_status = 200 if mdn else 400
        return done(_respond(result, mdn, f"{result.disposition} ({why})"))

    try:
        if spooled is not None:
            payload_entity = layers(files.parse(raw, spooled.scratch))
            span = (payload_entity.body if payload_entity.content_type.startswith("multipart/")
                    else payload_entity.decoded())
            if span.start != 0 or span.end != span.path.stat().st_size:
                span = files.copy_range(span, spooled.scratch)      # a payload is a whole file
            files.fsync_file(span.path)
            payload, payload_size, payload_sha256 = span.path, len(span), span.digest("sha256")["sha256"].hex()
        else:
            payload_entity = layers(mime.parse(raw))
            payload = bytes(payload_entity.body if payload_entity.content_type.startswith("multipart/")
                            else payload_entity.decoded())
            payload_size, payload_sha256 = len(payload), hashlib.sha256(payload).hexdigest()
    except _Refusal as r:
        return refuse(r.modifier, str(r))
    except mime.MimeError as e:
        return refuse("unexpected-processing-error", f"unreadable MIME: {e}")
    except OSError as e:
        return refuse("unexpected-processing-error", f"could not read the spooled message: {e}")

    result.signed, result.encrypted, result.compressed = layers.signed, layers.encrypted, layers.compressed
    result.signer_index, result.key_index = layers.signer_index, layers.key_index
    if spooled is not None:
        result.payload_path = payload
    else:
        result.payload = payload
    result.filename = payload_entity.filename
    result.content_type = payload_entity.content_type
    if layers.mic:
        result.mic, result.mic_alg = layers.mic, layers.digest_alg
    elif request.signed and layers.mic_source is not None:
        result.mic_alg = request.digest()
        result.mic = base64.b64encode(_digest(result.mic_alg, layers.mic_source)).decode()
    if url_refused and layers.authenticated:
        log.warning("AS2 in %s from %s: asynchronous MDN URL refused (%s); MDN in the HTTP response",
                    result.message_id, partner.as2_name, url_refused)
    confirm = partner.mdn_confirm_text or identity.mdn_confirm_text

    def duplicate() -> InboundResult:
        result.status, result.disposition = "duplicate", "processed/warning: duplicate-document"
        mdn = mdn_for(result.disposition, confirm, partner=partner, url=mdn_url(),
                      allow_private=allow_private, mic=result.mic, mic_alg=result.mic_alg)
        result.http_status = 200
        return done(_respond(result, mdn, "duplicate-document: this Message-ID was received before"))

    try:
        if is_duplicate(result.message_id):
            return duplicate()
        mdn_mode = "async" if mdn_url() else ("sync" if request.wanted else None)
        meta = {
            "message_id": result.message_id, "as2_from": result.as2_from, "as2_to": result.as2_to,
            "subject": result.subject, "filename": result.filename,
            "content_type": result.content_type, "mic": result.mic, "mic_alg": result.mic_alg,
            "signed": layers.signed, "encrypted": layers.encrypted, "compressed": layers.compressed,
            "signer_index": result.signer_index, "key_index": result.key_index,
            "encryption": layers.encryption, "key_transport": layers.key_transport,
            "size": payload_size, "sha256": payload_sha256,
            "received_at": (now or (lambda: _dt.datetime.now(_dt.timezone.utc)))(),
            "headers": dict(hdr), "raw_message": spooled.path if spooled is not None else raw,
            "mdn_mode": mdn_mode,
            "mdn_url": mdn_url(), "mdn_url_refused": url_refused if async_url else None,
        }
        # The positive MDN is written before storing, so that ``store`` can keep it in the same
        # durable step as the message (one commit); a failed store discards it unsent.
        mdn = mdn_for("processed", confirm, partner=partner, url=mdn_url(), allow_private=allow_private,
                      mic=result.mic, mic_alg=result.mic_alg)
        meta["mdn"] = mdn
        result.store_ref = store(payload, meta)
    except DuplicateMessage:
        return duplicate()
    except Exception as e:
        result.status, result.http_status = "store-failed", 503
        result.error = f"could not store the message: {type(e).__name__}: {e}"
        log.exception("AS2 in %s: store failed", result.message_id)
        result.response_headers = [("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", "60")]
        result.response_body = b"temporarily unable to store the message; send it again later\n"
        return done(result)
    result.stored = True
    result.status, result.disposition, result.http_status = "processed", "processed", 200
    follows = mdn is not None and mdn.mode == "async"
    return done(_respond(result, mdn, "AS2 message received" + (", MDN to follow" if follows else "")))


def send_async_mdn(mdn: OutgoingMdn, *, timeout: Union[float, tuple] = (10, 60), session=None) -> int:
    """POST an asynchronous MDN to the URL the sender gave; returns the HTTP status (2xx).

    The URL is checked again, and the connection goes only to a public address unless
    ``mdn.allow_private``. Raises ``As2SendError`` (retryable unless a 4xx other than
    408/425/429, or an address that is refused)."""
    import requests
    from ..safe_http import forbidden_cause
    from ._mime import http_session
    from .outbound import As2SendError

    if mdn.mode != "async" or not mdn.url:
        raise ValueError("not an asynchronous MDN")
    problem = url_problem(mdn.url, allow_private=mdn.allow_private)
    if problem:
        raise As2SendError(f"MDN URL refused: {problem}", retryable=False)
    sess = session or (http_session() if mdn.allow_private else guarded_session())
    try:
        resp = sess.post(mdn.url, data=mdn.body, headers=mdn.headers, timeout=timeout,
                         allow_redirects=False)
    except requests.RequestException as e:
        refused = forbidden_cause(e)
        if refused is not None:
            raise As2SendError(f"MDN URL refused: {refused}", retryable=False) from e
        raise As2SendError(f"{type(e).__name__}: {e}", retryable=True) from e
    if resp.status_code >= 300:
        retry = resp.status_code in (408, 425, 429) or resp.status_code >= 500
        raise As2SendError(f"HTTP {resp.status_code} from {mdn.url}: {excerpt(resp.content)}",
                           retryable=retry, http_status=resp.status_code)
    return resp.status_code
