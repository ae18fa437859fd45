"""Receiving: one AS4 request in, one ``InboundResult`` out (a Receipt or an Error signal to answer).

Order of work, so that nothing acknowledged is lost, nothing unauthenticated is
opened, and a stranger's bytes cost no more than a small multiple of their size:

1. size (Content-Length, then while reading: ``max_bytes``); MIME read one level,
   at most ``message.MAX_PARTS`` parts; the SOAP part parsed bounded (size, depth,
   no DTD) and its one eb:Messaging read;
2. the processing mode, before any cryptography: a UserMessage to *our* party,
   Peppol's agreement, party type, roles, a typed Service, an Action, the
   ``originalSender`` / ``finalRecipient`` properties, one gzip'd attachment per
   PartInfo and nothing else;
3. the sending access point: ``find_partner(from_party, certificate)`` from its
   record (an unknown one is refused, EBMS:0101); the signature is checked with
   *its* certificates, covering the eb:Messaging and Body read and every attachment;
4. duplicates (MessageId, from that partner): the Receipt given the first time,
   again, and nothing stored;
5. only then the session key, and in one pass over the attachment: AES-GCM
   decryption, its digest, and gzip inflated with a hard cap (what is left of
   ``max_bytes``) into a ``spool.Spooled``; the tag, then the digest, then the gzip
   verdict are judged once all is read (nothing inflated from bytes not yet
   authenticated is looked at before);
6. ``check(payload, envelope)`` (the channel's SBDH and recipient checks), then our
   signed Receipt is built and ``store(payload, meta)`` makes the payload and the
   Receipt durable; only when it returned is the Receipt answered. ``store``
   raising ``DuplicateMessage`` is a duplicate; raising anything else is HTTP 503
   and no Receipt (the sender will retry with the same MessageId).

The body may be bytes or a ``spool.Spooled`` (what ``wsgi`` reads a request into);
the payload ``check`` and ``store`` get is a ``Spooled`` (``read()`` for bytes,
``reader()`` for a stream, ``size`` and ``sha256``), and ``meta["raw_message"]`` a
``spool.RawMessage`` that reads in chunks: a large message is never held whole.
"""
from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

from cryptography import x509

from . import ns, wss, xenc
from .config import As4Identity, As4Partner, fingerprint
from .errors import As4Refusal
from .message import Envelope, read_envelope, unpack_spooled
from .signals import error_signal, receipt
from .spool import RawMessage, Spooled

log = logging.getLogger("edigate.as4")

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
SOAP_XML = "application/soap+xml; charset=utf-8"


class DuplicateMessage(Exception):
    """Raised by ``store()`` when the MessageId is already stored (race-free duplicate check)."""


@dataclass
class InboundResult:
    status: str                  # processed | duplicate | refused | too-large | store-failed
    http_status: int
    message_id: Optional[str] = None
    from_party: Optional[str] = None
    to_party: Optional[str] = None
    partner: Optional[As4Partner] = None
    envelope: Optional[Envelope] = field(default=None, repr=False)
    payload: Optional[Spooled] = field(default=None, repr=False)
    error_code: Optional[str] = None
    error: Optional[str] = None
    signal_id: Optional[str] = None
    response_body: bytes = field(default=b"", repr=False)
    response_type: str = SOAP_XML
    raw_message: "RawMessage | bytes" = field(default=b"", repr=False)
    seconds: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.status in ("processed", "duplicate")

    def close(self) -> None:
        """Let the payload's temporary file go (the body's belongs to whoever spooled it)."""
        if self.payload is not None:
            self.payload.close()


FindPartner = Callable[[Optional[str], Optional[x509.Certificate]], Optional[As4Partner]]


class Inflater:
    """gzip inflated as it is fed, into ``sink``, never past ``limit`` bytes. A fault (not gzip, over
    the limit) stops the inflating and is kept, not raised: ``finish()`` raises it, once the
    caller has judged what comes first (the bytes fed may not be authenticated yet)."""

    STEP = 1 << 20

    def __init__(self, limit: int, sink: Callable[[bytes], object]):
        self.limit, self.sink = limit, sink
        self._d = zlib.decompressobj(wbits=31)
        self.size = 0
        self.fault: Optional[As4Refusal] = None

    def feed(self, data) -> None:
        if self.fault is not None or self._d.eof:
            return
        chunk = data
        while chunk or not self._d.eof:
            try:
                piece = self._d.decompress(chunk, min(self.STEP, self.limit + 1 - self.size))
            except zlib.error as e:
                self.fault = As4Refusal("EBMS:0303", f"the payload is not valid gzip: {e}")
                return
            self.size += len(piece)
            if self.size > self.limit:
                self.fault = As4Refusal("EBMS:0303", f"the payload inflates past the limit of {self.limit} bytes")
                return
            if piece:
                self.sink(piece)
            chunk = self._d.unconsumed_tail
            if self._d.eof or (not chunk and not piece):
                return

    def finish(self) -> None:
        self.feed(b"")                  # output zlib still holds
        if self.fault is not None:
            raise self.fault
        if not self._d.eof:
            raise As4Refusal("EBMS:0303", "the gzip payload is truncated")


def inflate(data, limit: int) -> bytes:
    """gzip ``data`` inflated, refused past ``limit`` bytes (never more than that is held)."""
    out: list[bytes] = []
    inflater = Inflater(limit, out.append)
    view = memoryview(data)
    for start in range(0, len(view), Inflater.STEP):
        inflater.feed(view[start:start + Inflater.STEP])
    inflater.finish()
    return b"".join(out)


def open_payload(session: bytes, attachment, verified: wss.Verified, cid: str, limit: int) -> Spooled:
    """One pass over an encrypted attachment: decrypted, hashed and inflated into a new ``Spooled``;
    the tag, the signed digest and the gzip verdict judged in that order (``As4Refusal``)."""
    out = Spooled()
    try:
        digest = wss.attachment_hash(verified, cid)
        inflater = Inflater(limit, out.write)

        def sink(plain: bytes) -> None:
            digest.update(plain)
            inflater.feed(plain)
        xenc.decrypt_stream(session, attachment.read_at, attachment.size, sink)
        wss.check_attachment_hash(verified, cid, digest)
        inflater.finish()
    except BaseException:
        out.close()
        raise
    return out


def _policy(env: Envelope, identity: As4Identity, attachments: dict) -> None:
    if env.kind != "user":
        raise As4Refusal("EBMS:0002", f"a {env.kind} signal pushed to us: only UserMessages are received here")
    if len(env.parts) != 1:
        raise As4Refusal("EBMS:0003", f"{len(env.parts)} payloads: the Peppol profile carries exactly one")
    for part in env.parts:
        if part.cid not in attachments:
            raise As4Refusal("EBMS:0007", f"the payload cid:{part.cid[:80]} is not in the MIME message")
        if part.compression != ns.GZIP:
            raise As4Refusal("EBMS:0303", f"compression {str(part.compression)[:80]!r} is not supported "
                                          f"({ns.GZIP} is required)")
        if not part.mime_type:
            raise As4Refusal("EBMS:0003", f"payload {part.cid[:80]} has no MimeType part property")
    extra = set(attachments) - {p.cid for p in env.parts}
    if extra:
        raise As4Refusal("EBMS:0007", f"MIME parts no PartInfo names: {', '.join(sorted(extra))[:200]}")
    if env.to_party != identity.party_id:
        raise As4Refusal("EBMS:0010", f"the message is for party {str(env.to_party)[:80]!r}, not {identity.party_id}")
    for what, got, want in (("To/PartyId/@type", env.to_type, ns.PEPPOL_PARTY_TYPE),
                            ("From/PartyId/@type", env.from_type, ns.PEPPOL_PARTY_TYPE),
                            ("AgreementRef", env.agreement, ns.PEPPOL_AGREEMENT),
                            ("From/Role", env.from_role, ns.INITIATOR), ("To/Role", env.to_role, ns.RESPONDER)):
        if got != want:
            raise As4Refusal("EBMS:0010", f"{what} is {str(got)[:100]!r}, the Peppol profile wants {want}")
    if not env.service or not env.service_type or not env.action:
        raise As4Refusal("EBMS:0010", "a typed eb:Service (the process) and an eb:Action (the document type) "
                                      "are required")
    for name in (ns.ORIGINAL_SENDER, ns.FINAL_RECIPIENT):
        if not env.prop(name):
            raise As4Refusal("EBMS:0003", f"the {name} message property is missing")
    if env.security is None:
        raise As4Refusal("EBMS:0103", "the message has no WS-Security header (it must be signed and encrypted)")


def receive(headers, body, *, identity: As4Identity, find_partner: FindPartner,
            find_duplicate: Callable[[str, As4Partner], Optional[bytes]],
            store: Callable[[Spooled, dict], None],
            check: Optional[Callable[[Spooled, Envelope, As4Partner], None]] = None,
            max_bytes: int = DEFAULT_MAX_BYTES) -> InboundResult:
    """Handle one inbound AS4 request (``headers``: a mapping or pairs; ``body``: bytes or a
    ``Spooled``)."""
    t0 = time.perf_counter()
    hdr = {str(k).lower(): str(v) for k, v in (headers.items() if hasattr(headers, "items") else headers)}
    result = InboundResult(status="refused", http_status=200)
    layers: dict = {}

    def done(r: InboundResult) -> InboundResult:
        r.seconds = time.perf_counter() - t0
        level = logging.INFO if r.acknowledged else logging.WARNING
        log.log(level, "AS4 in %s from %s: %s%s", r.message_id, r.from_party, r.status,
                f" ({r.error_code} {r.error})" if r.error_code else "")
        return r

    def refuse(e: As4Refusal, http_status: int = 200) -> InboundResult:
        result.status, result.error_code, result.error = "refused", e.code, e.detail
        result.http_status = http_status
        result.signal_id, result.response_body = error_signal(identity, e, result.message_id)
        return done(result)

    source = body if isinstance(body, Spooled) else Spooled.of(body)
    if source.size > max_bytes:
        result.status = "too-large"
        return refuse(As4Refusal("EBMS:0004", f"message of {source.size} bytes over the limit of {max_bytes}"), 413)
    result.raw_message = RawMessage(b"".join(f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in hdr.items()
                                             if "\n" not in v and "\r" not in v) + b"\r\n", source)
    payload: Optional[Spooled] = None
    try:
        soap, attachments = unpack_spooled(hdr.get("content-type"), source)
        env = read_envelope(soap)
        result.envelope, result.message_id = env, env.message_id
        result.from_party, result.to_party = env.from_party, env.to_party
        _policy(env, identity, attachments)
        embedded = None
        sig = env.security.find(wss.q(ns.DS, "Signature"))
        if sig is not None:
            embedded = wss.embedded_certificate(env.security, sig)
        partner = find_partner(env.from_party, embedded)
        if partner is None:
            raise As4Refusal("EBMS:0101", f"access point {str(env.from_party)[:80]!r} is not a known partner "
                                          "(no record holds its certificate)")
        result.partner = partner
        verified = wss.verify(env.root, env.security, partner.certificates, [env.messaging, env.body],
                              [p.cid for p in env.parts])
        layers["signer"] = verified.signer
        stored_receipt = find_duplicate(env.message_id, partner)
        if stored_receipt is not None:
            result.status, result.response_body = "duplicate", stored_receipt
            return done(result)
        encrypted = xenc.read(env.security)
        for p in env.parts:
            if p.cid not in encrypted.parts:
                raise As4Refusal("EBMS:0103", f"the payload cid:{p.cid[:80]} is not encrypted")
        session = xenc.unwrap_key(encrypted, identity.keys)
        part = env.parts[0]                          # the policy let exactly one through
        payload = open_payload(session, attachments[part.cid], verified, part.cid, max_bytes)
        if check is not None:
            check(payload, env, partner)
    except As4Refusal as e:
        if payload is not None:
            payload.close()
        return refuse(e, 413 if "limit" in e.detail and e.code == "EBMS:0303" else 200)
    except BaseException:
        if payload is not None:
            payload.close()
        raise
    result.payload = payload
    signal_id, answer = receipt(identity, env, verified.references)
    meta = {
        "message_id": env.message_id, "from_party": env.from_party, "to_party": env.to_party,
        "original_sender": env.prop(ns.ORIGINAL_SENDER), "final_recipient": env.prop(ns.FINAL_RECIPIENT),
        "service": env.service, "service_type": env.service_type, "action": env.action,
        "conversation_id": env.conversation_id, "mime_type": env.parts[0].mime_type,
        "partner": partner, "signer_sha256": fingerprint(verified.signer),
        "size": payload.size, "sha256": payload.sha256,
        "raw_message": result.raw_message, "receipt": answer, "receipt_id": signal_id,
    }
    try:
        store(payload, meta)
    except DuplicateMessage:
        again = find_duplicate(env.message_id, partner)
        result.status, result.response_body = "duplicate", again or answer
        return done(result)
    except Exception as e:
        log.exception("AS4 in %s: store failed", env.message_id)
        result.status, result.http_status = "store-failed", 503
        result.error = f"could not store the message: {type(e).__name__}"
        result.response_type = "text/plain; charset=utf-8"
        result.response_body = b"temporarily unable to store the message; send it again later\n"
        return done(result)
    result.status, result.signal_id, result.response_body = "processed", signal_id, answer
    return done(result)
