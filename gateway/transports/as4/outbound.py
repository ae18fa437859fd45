"""Sending: build a Peppol AS4 UserMessage for an access point, post it, judge the answer.

``build`` gzips the payload, signs (eb:Messaging, Body, the compressed attachment),
then encrypts the attachment to the receiver's certificate; the MessageId is
the caller's (a retry reuses the first attempt's: the receiver answers a
duplicate with the Receipt it gave). ``send`` posts it through
``gateway.transports.safe_http`` (public addresses only unless the partner
allows private ones) and returns the judged signal (``signals.check_signal``);
transport failures raise ``As4SendError`` with ``retryable`` set. Durable jobs,
retries and back-off belong to the caller.
"""
from __future__ import annotations

import gzip
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Optional, Union

from lxml import etree

from ..safe_http import forbidden_cause, guarded_session, url_problem
from . import ns, wss, xenc
from .config import As4Identity, As4Partner
from .message import Addressing, envelope, new_message_id, package, user_message
from .signals import SignalResult, check_signal
from .wss import SentReference

USER_AGENT = "edigate AS4"
MAX_ANSWER = 4 * 1024 * 1024


class As4SendError(Exception):
    """Nothing judged came back: ``retryable`` says whether sending again (same MessageId) may help."""

    def __init__(self, message: str, *, retryable: bool, http_status: Optional[int] = None):
        super().__init__(message)
        self.retryable, self.http_status = retryable, http_status


@dataclass
class OutboundMessage:
    message_id: str
    content_type: str
    body: bytes = field(repr=False)
    sent: list[SentReference]
    partner: As4Partner = field(repr=False)
    payload_size: int = 0
    payload_sha256: str = ""
    build_seconds: float = 0.0

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "MIME-Version": "1.0", "User-Agent": USER_AGENT,
                "Message-Id": f"<{self.message_id}>"}

    @property
    def raw(self) -> bytes:
        """Headers + CRLF + body, as sent (kept for non-repudiation of origin)."""
        return b"".join(f"{k}: {v}\r\n".encode() for k, v in self.headers.items()) + b"\r\n" + self.body


def build(payload: bytes, *, identity: As4Identity, partner: As4Partner, addressing: Addressing,
          message_id: Optional[str] = None, mime_type: str = "application/xml") -> OutboundMessage:
    """The signed and encrypted UserMessage carrying ``payload`` (an SBDH document) to ``partner``."""
    t0 = time.perf_counter()
    message_id = message_id or new_message_id()
    cid = f"payload-{uuid.uuid4()}@edigate"
    compressed = gzip.compress(bytes(payload), compresslevel=6, mtime=0)
    root, header, security, body = envelope()
    messaging = user_message(header, message_id, addressing, [(cid, mime_type)])
    encrypted = xenc.encrypt(security, partner.encryption_certificate, {cid: compressed})
    sent = wss.sign(security, identity.key.private_key(), identity.certificate, [messaging, body], {cid: compressed})
    soap = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    content_type, data = package(soap, encrypted)
    return OutboundMessage(message_id, content_type, data, sent, partner, len(payload),
                           hashlib.sha256(payload).hexdigest(), time.perf_counter() - t0)


def send(outbound: OutboundMessage, *, timeout: Union[float, tuple] = (10, 300), session=None,
         url: Optional[str] = None) -> SignalResult:
    """POST the message; the judged Receipt or Error signal. Raises ``As4SendError`` when no
    signal came back (connection errors, time-outs, 5xx without a signal: retryable)."""
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    target = url or outbound.partner.url
    if not target:
        raise As4SendError(f"access point {outbound.partner.party_id} has no URL", retryable=False)
    problem = url_problem(target, allow_private=outbound.partner.allow_private)
    if problem:
        raise As4SendError(f"endpoint URL refused: {problem}", retryable=False)
    if session is None:
        if outbound.partner.allow_private:
            from ..as2._mime import http_session
            session = http_session()
        else:
            session = guarded_session()
    try:
        resp = session.post(target, data=outbound.body, headers=outbound.headers, timeout=timeout,
                            allow_redirects=False, stream=True)
        content = resp.raw.read(MAX_ANSWER + 1, decode_content=True)
        resp.close()
    except requests.RequestException as e:
        refused = forbidden_cause(e)
        if refused is not None:
            raise As4SendError(f"endpoint URL refused: {refused}", retryable=False) from e
        raise As4SendError(f"{type(e).__name__}: {e}", retryable=True) from e
    except (OSError, Urllib3Error) as e:     # the answer cut short (read from the raw stream: urllib3's own)
        raise As4SendError(f"{type(e).__name__}: {e}", retryable=True) from e
    if len(content) > MAX_ANSWER:
        raise As4SendError(f"HTTP {resp.status_code}: an answer over {MAX_ANSWER} bytes", retryable=True,
                           http_status=resp.status_code)
    if b"SignalMessage" in content[:1 << 20]:
        result = check_signal(content, message_id=outbound.message_id,
                              receiver_certs=outbound.partner.certificates, sent=outbound.sent)
        result.raw = content
        result.http_status = resp.status_code
        return result
    excerpt = content[:300].decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")
    retry = resp.status_code in (408, 425, 429) or resp.status_code >= 500 or resp.status_code < 300
    raise As4SendError(f"HTTP {resp.status_code} from {target} without an ebMS signal: {excerpt}",
                       retryable=retry, http_status=resp.status_code)
