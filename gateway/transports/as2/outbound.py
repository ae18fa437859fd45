"""Sending: build an AS2 message for a partner, post it, judge the MDN.

``build`` assembles the MIME layers itself (with pyas2lib's CMS primitives) so
that the per-partner interop switches apply: compression before or after the
signature, ``micalg`` spelling, content-transfer-encoding of each part. The
payload part is ``binary`` by default, so the receiver gets our bytes exactly
(no line-end rewriting).

``send`` posts over a keep-alive HTTP session and returns the judged MDN
(synchronous) or an ``AwaitingAsyncMdn``; transport failures raise
``As2SendError`` with ``retryable`` set. Durable jobs, retries and back-off
belong to the caller.
"""
from __future__ import annotations

import binascii
import datetime as _dt
import email.utils
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from email import encoders
from email import message as email_message
from email.mime.multipart import MIMEMultipart
from pathlib import PurePath
from typing import Mapping, Optional, Union

from . import compat  # noqa: F401
from pyas2lib.cms import compress_message, sign_message
from pyas2lib.utils import canonicalize, make_mime_boundary, mime_to_bytes, quote_as2name

from . import cms
from ..safe_http import forbidden_cause, guarded_session, url_problem
from ._mime import excerpt, http_session, looks_like_mdn, raw_message
from .config import As2Identity, As2Partner, ConfigError, micalg
from .mdn import MdnResult, check_mdn

USER_AGENT = "edigate AS2"
AS2_VERSION = "1.2"          # 1.1 + compression (RFC 5402)


class As2SendError(Exception):
    """The message did not get through (no MDN): ``retryable`` tells whether sending again may help."""

    def __init__(self, message: str, *, retryable: bool, http_status: Optional[int] = None):
        super().__init__(message)
        self.retryable = retryable
        self.http_status = http_status


@dataclass
class OutboundMessage:
    """A built AS2 message: what goes over HTTP, and what its MDN must prove."""

    message_id: str                     # without angle brackets
    headers: dict                       # HTTP headers (AS2 headers + the MIME entity's headers)
    body: bytes
    mic: Optional[str]                  # base64 MIC we expect back (None when not signed)
    mic_alg: Optional[str]
    partner: As2Partner = field(repr=False)
    identity_name: str = ""
    url: Optional[str] = None
    mdn_mode: str = "sync"
    require_signed_mdn: bool = True
    filename: Optional[str] = None
    content_type: str = "application/octet-stream"
    payload_size: int = 0
    payload_sha256: str = ""
    built_at: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))
    build_seconds: float = 0.0

    @property
    def partner_name(self) -> str:
        return self.partner.as2_name

    @property
    def raw(self) -> bytes:
        """Headers + CRLF + body, as sent (for non-repudiation of origin)."""
        return raw_message(self.headers, self.body)


@dataclass
class AwaitingAsyncMdn:
    """The partner accepted the message over HTTP; its MDN will be posted to our MDN URL."""

    message_id: str
    http_status: int
    sent_at: _dt.datetime
    url: str
    response_excerpt: str = ""
    seconds: float = 0.0

    delivered = False


def _set_body(part: email_message.Message, data: bytes, cte: str) -> None:
    part.set_payload(data)
    if cte == "base64":
        encoders.encode_base64(part)
    else:
        part["Content-Transfer-Encoding"] = "binary"


def _smime_part(ctype: str, name: str, smime_type: str) -> email_message.Message:
    part = email_message.Message()
    part.set_type(ctype)
    part.set_param("name", name)
    part.set_param("smime-type", smime_type)
    part.add_header("Content-Disposition", "attachment", filename=name)
    del part["MIME-Version"]
    return part


def _safe_filename(filename: Optional[str]) -> Optional[str]:
    if not filename:
        return None
    name = PurePath(str(filename).replace("\\", "/")).name
    name = "".join(c for c in name if c.isprintable() and c not in '"\r\n')
    return name or None


def build(payload: bytes, filename: Optional[str], content_type: str, *,
          identity: As2Identity, partner: As2Partner, subject: Optional[str] = None,
          message_id: Optional[str] = None, extra_headers: Optional[Mapping[str, str]] = None,
          ) -> OutboundMessage:
    """Compress, sign and encrypt ``payload`` for ``partner`` as its settings say.

    ``message_id``: reuse one (a resend of the same message); without ``@`` our
    domain is appended. The MIC is computed over the signed content (RFC 4130
    §7.3.1) and kept on the result for the MDN check.
    """
    t0 = time.perf_counter()
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError("payload must be bytes")
    payload = bytes(payload)
    if "/" not in (content_type or "") or "\n" in content_type or "\r" in content_type:
        raise ValueError(f"bad content type {content_type!r}")
    cte = partner.content_transfer_encoding
    org = identity.lib_organization(0)

    if message_id:
        message_id = message_id.strip().strip("<>")
        if "@" not in message_id:
            message_id = f"{message_id}@{identity.domain}"
    else:
        message_id = f"edigate-{uuid.uuid4().hex}@{identity.domain}"
    if len(message_id) > 255 or any(c in message_id for c in "<> \r\n"):
        raise ValueError(f"bad Message-ID {message_id!r}")

    entity = email_message.Message()
    entity["Content-Type"] = content_type
    fname = _safe_filename(filename)
    if fname:
        entity.add_header("Content-Disposition", "attachment", filename=fname)
    _set_body(entity, payload, cte)

    def compress(ent):
        part = _smime_part("application/pkcs7-mime", "smime.p7z", "compressed-data")
        _set_body(part, compress_message(mime_to_bytes(ent)), cte)
        return part

    mic = mic_alg = None
    if partner.compress and partner.compress_before_signing:
        entity = compress(entity)
    if partner.sign:
        mic_alg = partner.signing_alg
        signed = MIMEMultipart("signed", protocol="application/pkcs7-signature")
        del signed["MIME-Version"]
        signed.attach(entity)
        mic_content = canonicalize(entity)
        mic = binascii.b2a_base64(hashlib.new(mic_alg, mic_content).digest()).decode().strip()
        sig = _smime_part("application/pkcs7-signature", "smime.p7s", "signed-data")
        sig.set_payload(sign_message(mic_content, mic_alg, org.sign_key, partner.signature_scheme))
        encoders.encode_base64(sig)
        signed.attach(sig)
        signed.replace_header(   # written out: the email package would quote the micalg token
            "Content-Type", 'multipart/signed; protocol="application/pkcs7-signature"; '
            f'micalg={micalg(mic_alg, partner.micalg_spelling)}; boundary="{make_mime_boundary()}"')
        entity = signed
    if partner.compress and not partner.compress_before_signing:
        entity = compress(entity)
    if partner.encrypt:
        try:
            partner.lib_partner(0).load_encrypt_cert()          # validity and chain, as configured
        except Exception as e:
            raise ConfigError(f"partner {partner.as2_name}: encryption certificate unusable: {e}") from e
        part = _smime_part("application/pkcs7-mime", "smime.p7m", "enveloped-data")
        _set_body(part, cms.encrypt(mime_to_bytes(entity), partner.certificates[0],
                                    cipher=partner.encryption_alg, key_encryption=partner.key_encryption,
                                    oaep_hash=partner.oaep_hash), cte)
        entity = part

    headers = {
        "AS2-Version": AS2_VERSION,
        "EDIINT-Features": "CMS",
        "Message-ID": f"<{message_id}>",
        "AS2-From": quote_as2name(identity.as2_name),
        "AS2-To": quote_as2name(partner.as2_name),
        "Subject": subject if subject is not None else partner.subject,
        "Date": email.utils.formatdate(localtime=False, usegmt=True),
        "MIME-Version": "1.0",
        "User-Agent": USER_AGENT,
        "Disposition-Notification-To": identity.disposition_notification_to,
    }
    if partner.require_signed_mdn:
        headers["Disposition-Notification-Options"] = (
            "signed-receipt-protocol=optional, pkcs7-signature; "
            f"signed-receipt-micalg=optional, {micalg(partner.mdn_digest, partner.micalg_spelling)}")
    if partner.mdn_mode == "async":
        if not identity.mdn_url:
            raise ConfigError(f"identity {identity.as2_name}: asynchronous MDNs need an mdn_url")
        headers["Receipt-Delivery-Option"] = identity.mdn_url
    for k, v in (extra_headers or {}).items():
        headers[k] = v
    flat = mime_to_bytes(entity)
    head, sep, body = flat.partition(b"\r\n\r\n")
    if not sep:                                  # pragma: no cover - the generator always writes one
        raise RuntimeError("MIME entity without a header block")
    for k, v in entity.items():
        if k.lower() != "mime-version":
            headers[k] = v
    return OutboundMessage(
        message_id=message_id, headers=headers, body=body, mic=mic, mic_alg=mic_alg,
        partner=partner, identity_name=identity.as2_name, url=partner.url,
        mdn_mode=partner.mdn_mode, require_signed_mdn=partner.require_signed_mdn,
        filename=fname, content_type=content_type, payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        build_seconds=time.perf_counter() - t0)


Timeout = Union[float, tuple]


def send(outbound: OutboundMessage, *, timeout: Timeout = (10, 300), session=None,
         url: Optional[str] = None) -> Union[MdnResult, AwaitingAsyncMdn]:
    """POST the message; return the judged synchronous MDN, or ``AwaitingAsyncMdn``.

    Raises ``As2SendError`` when nothing was acknowledged: connection errors, time-outs and
    HTTP 408/425/429/5xx are retryable, other HTTP errors are not (a resend with the same
    Message-ID is safe either way: the receiver answers a duplicate with ``duplicate-document``).
    """
    import requests

    t0 = time.perf_counter()
    target = url or outbound.url or outbound.partner.url
    if not target:
        raise ConfigError(f"partner {outbound.partner_name} has no URL")
    headers = dict(outbound.headers)
    headers.update(outbound.partner.http_headers or {})
    if outbound.partner.public_url_only:
        problem = url_problem(target)
        if problem:
            raise As2SendError(f"partner URL refused: {problem}", retryable=False)
    sess = session or (guarded_session() if outbound.partner.public_url_only else http_session())
    try:
        resp = sess.post(target, data=outbound.body, headers=headers,
                         auth=outbound.partner.http_auth, timeout=timeout, allow_redirects=False)
    except requests.RequestException as e:
        refused = forbidden_cause(e)
        if refused is not None:
            raise As2SendError(f"partner URL refused: {refused}", retryable=False) from e
        raise As2SendError(f"{type(e).__name__}: {e}", retryable=True) from e
    content = resp.content
    if resp.status_code >= 300:
        retry = resp.status_code in (408, 425, 429) or resp.status_code >= 500
        raise As2SendError(f"HTTP {resp.status_code} from {target}: {excerpt(content)}",
                           retryable=retry, http_status=resp.status_code)
    if content and looks_like_mdn(resp.headers, content):
        result = check_mdn(resp.headers, content, outbound)
        result.seconds = time.perf_counter() - t0
        return result
    if outbound.mdn_mode == "async":
        return AwaitingAsyncMdn(outbound.message_id, resp.status_code,
                                _dt.datetime.now(_dt.timezone.utc), target, excerpt(content),
                                time.perf_counter() - t0)
    raise As2SendError(f"HTTP {resp.status_code} from {target} without an MDN: {excerpt(content)}",
                       retryable=True, http_status=resp.status_code)
