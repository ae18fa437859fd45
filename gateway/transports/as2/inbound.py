"""Receiving: one AS2 request in, one ``InboundResult`` out (never an exception for bad input).

Order of work, so that nothing acknowledged is ever lost and nothing unknown is trusted:

1. AS2-To must be one of our identities, AS2-From one of our partners (pyas2lib
   crashes on an unknown one: we answer first, with ``unknown-trading-partner``);
2. size limit (Content-Length first, then while reading);
3. refuse weak content encryption before decrypting (``insufficient-message-security``);
4. pyas2lib decrypts, decompresses and verifies; during a rollover each of our
   decryption keys and each of the partner's certificates is tried;
5. policy: signed / encrypted where the partner must, accepted digests;
6. duplicates (Message-ID) get ``processed/warning: duplicate-document`` and are not stored;
7. ``store(payload, meta)`` — and only when it returned, the positive MDN.
   ``store`` raising means HTTP 503 and no MDN (the sender will retry);
   ``store`` raising ``DuplicateMessage`` (e.g. a unique constraint) is a duplicate.

MDNs are signed when the sender asks (Disposition-Notification-Options) and carry the
MIC. Asynchronous MDNs (Receipt-Delivery-Option) are returned ready to post
(``result.mdn.mode == "async"``): ``send_async_mdn`` posts one.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import logging
import time
import traceback
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Callable, Optional, Union
from urllib.parse import urlsplit

from . import compat  # noqa: F401
import pyas2lib
from pyas2lib.exceptions import (AS2Exception, DecompressionError, DecryptionError,
                                 InsufficientSecurityError, IntegrityError)

from ._mime import (as2_name, excerpt, http_session, lower_headers, raw_message, strip_msgid)
from .config import As2Identity, As2Partner

log = logging.getLogger("edigate.as2")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class _DemoteParseErrors(logging.Filter):
    """pyas2lib logs every refused message (and each rollover attempt) as an ERROR with a full
    traceback; ``receive`` logs one line with the disposition and the reason instead. The
    library's record is kept, at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith("Failed to parse AS2 message"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger("pyas2lib").addFilter(_DemoteParseErrors())
_ASN1_ENCRYPTIONS = {
    "aes128_cbc": "aes_128_cbc", "aes192_cbc": "aes_192_cbc", "aes256_cbc": "aes_256_cbc",
    "tripledes_3key": "tripledes_192_cbc", "rc2": "rc2_128_cbc", "rc4": "rc4_128_cbc",
    "des": "des_64_cbc",
}


class DuplicateMessage(Exception):
    """Raised by ``store()`` when it finds the Message-ID already stored (race-free duplicate check)."""


@dataclass
class OutgoingMdn:
    """An MDN we produced: returned in the HTTP response (sync) or to be posted to ``url`` (async)."""

    message_id: str
    original_message_id: str
    headers: dict
    body: bytes
    mode: str                       # "sync" | "async"
    url: Optional[str] = None
    signed: bool = False

    @property
    def raw(self) -> bytes:
        return raw_message(self.headers, self.body)


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


def _modifier_for(exc: BaseException) -> str:
    if isinstance(exc, InsufficientSecurityError):
        return "insufficient-message-security"
    if isinstance(exc, DecryptionError):
        return "decryption-failed"
    if isinstance(exc, IntegrityError):
        return "authentication-failed"
    if isinstance(exc, DecompressionError):
        return "decompression-failed"
    if isinstance(exc, AS2Exception) and getattr(exc, "disposition_modifier", "") == "invalid-certificate":
        return "authentication-failed"
    names = {f.name for f in traceback.extract_tb(exc.__traceback__)} if exc.__traceback__ else set()
    if "decrypt_message" in names:
        return "decryption-failed"
    if names & {"verify_message", "load_verify_cert", "verify_certificate_chain"}:
        return "authentication-failed"
    if "decompress_message" in names or "_decompress_data" in names:
        return "decompression-failed"
    return "unexpected-processing-error"


def _header_only_message(hdr: dict, identity: As2Identity, partner_name: str,
                         message_id: str, sender=None) -> pyas2lib.Message:
    """A pyas2lib Message carrying only the request headers (lower-case names, as pyas2lib's
    ``parse`` leaves them): enough for ``Mdn.build``."""
    m = pyas2lib.Message()
    m.payload = message_from_bytes(raw_message(hdr, b""))
    m.message_id = message_id
    m.receiver = identity.lib_organization(0)
    m.sender = sender or pyas2lib.Partner(as2_name=partner_name, mdn_confirm_text=None,
                                          enc_alg="aes_256_cbc")
    return m


def _make_mdn(message: pyas2lib.Message, hdr: dict, status: str, detail: Optional[str]) -> Optional[OutgoingMdn]:
    if not hdr.get("disposition-notification-to"):
        return None
    url = hdr.get("receipt-delivery-option")
    mdn = pyas2lib.Mdn(mdn_mode="ASYNC" if url else "SYNC", mdn_url=url)
    mdn.build(message=message, status=status, detailed_status=detail)
    return _wrap_mdn(mdn, message.message_id)


def _wrap_mdn(mdn: pyas2lib.Mdn, orig_id: str) -> OutgoingMdn:
    headers = {k: v for k, v in mdn.headers.items()}
    for k in list(headers):
        if k.lower() == "user-agent":
            del headers[k]
    headers["User-Agent"] = "edigate AS2"
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return OutgoingMdn(message_id=mdn.message_id, original_message_id=orig_id, headers=headers,
                       body=mdn.content, mode="async" if mdn.mdn_mode == "ASYNC" else "sync",
                       url=mdn.mdn_url, signed=ctype.lower().startswith("multipart/signed"))


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


def _encryption_of(hdr: dict, body: bytes) -> Optional[str]:
    """The content encryption of an enveloped-data body, read from its ASN.1 (None: not that)."""
    ctype = hdr.get("content-type", "").lower()
    if not ctype.startswith(("application/pkcs7-mime", "application/x-pkcs7-mime")) \
            or "enveloped-data" not in ctype:
        return None
    try:
        from asn1crypto import cms
        der = body
        if hdr.get("content-transfer-encoding", "").lower() == "base64":
            der = base64.b64decode(body)
        info = cms.ContentInfo.load(der)["content"]["encrypted_content_info"]
        alg = info["content_encryption_algorithm"]["algorithm"].native
        return _ASN1_ENCRYPTIONS.get(alg, alg)
    except Exception:
        return None                 # unreadable: decryption will fail and say so


def _parse_with_rollover(raw: bytes, identity: As2Identity, partner: As2Partner):
    """pyas2lib decrypts, decompresses, verifies. During a rollover, each of our keys and each of
    the partner's certificates is tried: another certificate only after a bad signature, another
    key only after a failed decryption. When all fail, the failure with the current key and
    certificate is the one reported."""
    first_failure = None
    for k in range(len(identity.keys)):
        org = identity.lib_organization(k)
        key_first = None
        for c in partner.candidate_indexes():
            lib_partner = partner.lib_partner(c)
            msg = pyas2lib.Message()
            _status, (exc, _tb), lib_mdn = msg.parse(
                raw, find_org_partner_cb=lambda _to, _from, o=org, p=lib_partner: (o, p))
            if exc is None:
                return msg, None, lib_mdn, k, c
            key_first = key_first or (msg, exc, lib_mdn, k, None)
            if _modifier_for(exc) != "authentication-failed":
                break                   # not the signature: another certificate cannot help
        first_failure = first_failure or key_first
        if _modifier_for(exc) != "decryption-failed":
            return key_first            # decrypted with this key: another key cannot help
    return first_failure


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
    """Handle one inbound AS2 request (HTTP headers + body bytes or a readable stream).

    ``identities`` / ``partners``: anything with ``.get(as2_name)`` (a dict, a
    database-backed mapping). ``is_duplicate(message_id)``; ``store(payload, meta)``
    must make the payload durable before returning (``meta`` has the Message-ID,
    names, filename, content type, MIC, flags and the raw message).
    """
    t0 = time.perf_counter()
    hdr = lower_headers(headers)
    result = InboundResult(status="bad-request", http_status=400)
    result.message_id = strip_msgid(hdr.get("message-id"))
    result.as2_from = as2_name(hdr.get("as2-from"))
    result.as2_to = as2_name(hdr.get("as2-to"))
    result.subject = hdr.get("subject")

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
    if declared and declared.isdigit() and int(declared) > max_bytes:
        result.status, result.http_status = "too-large", 413
        result.error = f"message of {declared} bytes is over the limit of {max_bytes}"
        return done(_respond(result, None, result.error))
    data = _read_body(body, max_bytes)
    if data is None:
        result.status, result.http_status = "too-large", 413
        result.error = f"message over the limit of {max_bytes} bytes"
        return done(_respond(result, None, result.error))
    raw = raw_message(headers, data)
    result.raw_message = raw

    partner: Optional[As2Partner] = partners.get(result.as2_from)
    if partner is None:
        result.status = "unknown-partner"
        result.disposition = "processed/error: unknown-trading-partner"
        result.error = f"AS2-From {result.as2_from!r} is not a known partner of {identity.as2_name}"
        mdn = None
        if hdr.get("receipt-delivery-option"):
            result.http_status = 403   # never post MDNs to a URL an unknown party gave us
        else:
            m = _header_only_message(hdr, identity, result.as2_from, result.message_id)
            mdn = _make_mdn(m, hdr, "processed/error", "unknown-trading-partner")
            result.http_status = 200 if mdn else 403
        return done(_respond(result, mdn, result.error))
    if partner.max_message_bytes is not None and len(data) > partner.max_message_bytes:
        result.status, result.http_status = "too-large", 413
        result.error = f"message over {partner.as2_name}'s limit of {partner.max_message_bytes} bytes"
        return done(_respond(result, None, result.error))

    async_url = hdr.get("receipt-delivery-option")
    if async_url and urlsplit(async_url).scheme not in ("http", "https"):
        hdr.pop("receipt-delivery-option")          # mailto: etc.: answer synchronously
        async_url = None

    def refuse(message, modifier: str, why: str) -> InboundResult:
        result.status = "refused"
        result.disposition = f"processed/error: {modifier}"
        result.error = why
        mdn = _make_mdn(message, hdr, "processed/error", modifier)
        result.http_status = 200 if mdn else 400
        return done(_respond(result, mdn, f"{result.disposition} ({why})"))

    enc = _encryption_of(hdr, data)
    if enc is not None and enc not in partner.accepted_encryptions:
        m = _header_only_message(hdr, identity, partner.as2_name, result.message_id,
                                 partner.lib_partner(0))
        return refuse(m, "insufficient-message-security",
                      f"content encryption {enc} is not accepted from {partner.as2_name}")

    msg, exc, lib_mdn, result.key_index, signer = _parse_with_rollover(raw, identity, partner)
    result.signer_index = signer if exc is None and msg.signed else None
    result.signed, result.encrypted, result.compressed = msg.signed, msg.encrypted, msg.compressed
    if exc is not None:
        return refuse(msg, _modifier_for(exc), f"{type(exc).__name__}: {exc}")
    if msg.signed and msg.digest_alg not in partner.accepted_digests:
        msg.mic = None
        return refuse(msg, "insufficient-message-security",
                      f"signature digest {msg.digest_alg} is not accepted from {partner.as2_name}")
    if partner.require_encrypted and not msg.encrypted:     # pyas2lib checks too; belt and braces
        return refuse(msg, "insufficient-message-security", "message is not encrypted")
    if partner.require_signed and not msg.signed:
        return refuse(msg, "insufficient-message-security", "message is not signed")

    content = msg.content
    payload = content if isinstance(content, bytes) else content.encode()
    result.payload = payload
    result.filename = msg.payload.get_filename()
    result.content_type = msg.payload.get_content_type()
    result.mic = msg.mic.decode() if msg.mic else None
    result.mic_alg = msg.digest_alg if msg.mic else None

    def duplicate() -> InboundResult:
        result.status, result.disposition = "duplicate", "processed/warning: duplicate-document"
        mdn = _make_mdn(msg, hdr, "processed/warning", "duplicate-document")
        result.http_status = 200
        return done(_respond(result, mdn, "duplicate-document: this Message-ID was received before"))

    try:
        if is_duplicate(result.message_id):
            return duplicate()
        meta = {
            "message_id": result.message_id, "as2_from": result.as2_from, "as2_to": result.as2_to,
            "subject": result.subject, "filename": result.filename,
            "content_type": result.content_type, "mic": result.mic, "mic_alg": result.mic_alg,
            "signed": msg.signed, "encrypted": msg.encrypted, "compressed": msg.compressed,
            "signer_index": result.signer_index, "key_index": result.key_index,
            "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
            "received_at": (now or (lambda: _dt.datetime.now(_dt.timezone.utc)))(),
            "headers": dict(hdr), "raw_message": raw,
            "mdn_mode": "async" if async_url else ("sync" if hdr.get("disposition-notification-to") else None),
        }
        store(payload, meta)
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
    if lib_mdn is not None and lib_mdn.mdn_url == async_url:
        mdn = _wrap_mdn(lib_mdn, result.message_id)     # built by pyas2lib while parsing
    else:
        mdn = _make_mdn(msg, hdr, "processed", None)
    return done(_respond(result, mdn, "AS2 message received" + (", MDN to follow" if async_url else "")))


def send_async_mdn(mdn: OutgoingMdn, *, timeout: Union[float, tuple] = (10, 60), session=None) -> int:
    """POST an asynchronous MDN to the URL the sender gave; returns the HTTP status (2xx).
    Raises ``As2SendError`` (retryable unless a 4xx other than 408/429)."""
    import requests
    from .outbound import As2SendError

    if mdn.mode != "async" or not mdn.url:
        raise ValueError("not an asynchronous MDN")
    sess = session or http_session()
    try:
        resp = sess.post(mdn.url, data=mdn.body, headers=mdn.headers, timeout=timeout,
                         allow_redirects=False)
    except requests.RequestException as e:
        raise As2SendError(f"{type(e).__name__}: {e}", retryable=True) from e
    if resp.status_code >= 300:
        retry = resp.status_code in (408, 425, 429) or resp.status_code >= 500
        raise As2SendError(f"HTTP {resp.status_code} from {mdn.url}: {excerpt(resp.content)}",
                           retryable=retry, http_status=resp.status_code)
    return resp.status_code

