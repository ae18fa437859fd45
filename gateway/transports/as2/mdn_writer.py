"""The MDNs we answer with (RFC 4130 §7, RFC 3798), written as bytes.

Why not pyas2lib's ``Mdn.build``: it needs a parsed pyas2lib message, signs with
the digest spelled ``sha256`` whatever the sender asked (RFC 5751 §3.4.3.2 spells
it ``sha-256``), and re-serialises MIME through the email package. Here the
report is written once as bytes, and the signature covers exactly those bytes.

``MdnRequest.from_headers`` reads what the sender asked for (an MDN at all,
synchronous or to a URL, signed, with which digests); ``write_mdn`` produces it.
"""
from __future__ import annotations

import base64
import email.utils
import re
import uuid
from dataclasses import dataclass
from typing import Optional

from . import compat  # noqa: F401
from pyas2lib.cms import sign_message
from pyas2lib.utils import quote_as2name

from . import signature as signature_mod
from .config import DIGESTS, As2Identity, micalg, normalize_digest

REPORTING_UA = "edigate AS2"
AS2_VERSION = "1.2"


def _clean(value: Optional[str], limit: int = 998) -> str:
    """A header or report field value: one line, bounded (it came from the sender)."""
    return re.sub(r"[\r\n\t]+", " ", value or "")[:limit].strip()


@dataclass
class MdnRequest:
    """What the sender asked: ``Disposition-Notification-To`` (an MDN), ``Receipt-Delivery-Option``
    (where, if asynchronous), ``Disposition-Notification-Options`` (signed, which digests)."""

    wanted: bool
    url: Optional[str] = None
    signed: bool = False
    digests: tuple[str, ...] = ()

    @classmethod
    def from_headers(cls, hdr: dict) -> "MdnRequest":
        options = hdr.get("disposition-notification-options") or ""
        signed, digests = False, []
        for clause in options.split(";"):
            name, _, values = clause.partition("=")
            items = [v.strip().lower() for v in values.split(",")]
            if name.strip().lower() == "signed-receipt-protocol":
                signed = "pkcs7-signature" in items[1:] or "pkcs7-signature" in items
            elif name.strip().lower() == "signed-receipt-micalg":
                digests = [normalize_digest(v) for v in items[1:] if v]
        return cls(wanted=bool(hdr.get("disposition-notification-to")),
                   url=hdr.get("receipt-delivery-option") or None,
                   signed=signed, digests=tuple(d for d in digests if d in DIGESTS))

    @property
    def mode(self) -> str:
        return "async" if self.url else "sync"

    def digest(self, default: str = "sha256") -> str:
        """The first digest the sender listed that we sign with (its order is its preference)."""
        return self.digests[0] if self.digests else default


@dataclass
class OutgoingMdn:
    """An MDN we produced: returned in the HTTP response (sync) or to be posted to ``url`` (async).
    ``allow_private``: the URL may be on a non-public address (the partner's own host, or its
    profile allows it); otherwise the post is refused when the address is not public."""

    message_id: str
    original_message_id: str
    headers: dict
    body: bytes
    mode: str                       # "sync" | "async"
    url: Optional[str] = None
    signed: bool = False
    allow_private: bool = False

    @property
    def raw(self) -> bytes:
        from ._mime import raw_message
        return raw_message(self.headers, self.body)


def _boundary() -> str:
    return "----=_edigate_" + uuid.uuid4().hex


def write_mdn(*, identity: As2Identity, request: MdnRequest, as2_from: str, as2_to: str,
              original_message_id: str, disposition: str, text: str,
              mic: Optional[str] = None, mic_alg: Optional[str] = None,
              spelling: str = "rfc5751", signature_scheme: str = "rsassa_pkcs1v15",
              url: Optional[str] = None, allow_private: bool = False) -> OutgoingMdn:
    """The MDN for one message: ``disposition`` is ``processed``, ``processed/error: <why>``,
    ``processed/warning: duplicate-document``…; signed with our current key when the sender
    asked, with the first digest it listed; ``url`` set: asynchronous."""
    report = (
        f"Reporting-UA: {REPORTING_UA}\r\n"
        f"Original-Recipient: rfc822; {_clean(as2_to, 200)}\r\n"
        f"Final-Recipient: rfc822; {_clean(as2_to, 200)}\r\n"
        f"Original-Message-ID: <{_clean(original_message_id, 900)}>\r\n"
    )
    if mic:
        report += f"Received-Content-MIC: {mic}, {micalg(mic_alg or 'sha256', spelling)}\r\n"
    report += f"Disposition: automatic-action/MDN-sent-automatically; {_clean(disposition, 300)}\r\n"
    inner = _boundary()
    body = (
        f"--{inner}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
        f"{_clean(text, 2000)}\r\n"
        f"--{inner}\r\n"
        "Content-Type: message/disposition-notification\r\n"
        "Content-Transfer-Encoding: 7bit\r\n\r\n"
        f"{report}"
        f"\r\n--{inner}--\r\n"
    ).encode("utf-8")
    content_type = f'multipart/report; report-type=disposition-notification; boundary="{inner}"'
    signed = False
    if request.signed:
        digest = request.digest()
        entity = f"Content-Type: {content_type}\r\n\r\n".encode() + body
        if digest in signature_mod.SIGNABLE:
            signature = signature_mod.sign(entity, digest, identity.key.private_key(),
                                           identity.key.certificate, signature_scheme)
        else:                   # SHA-1, which cryptography does not sign with
            signature = sign_message(entity, digest, identity.lib_organization(0).sign_key, signature_scheme)
        outer = _boundary()
        b64 = base64.encodebytes(signature).replace(b"\n", b"\r\n")
        body = (
            f"--{outer}\r\n".encode() + entity + f"\r\n--{outer}\r\n".encode()
            + b"Content-Type: application/pkcs7-signature; name=smime.p7s; smime-type=signed-data\r\n"
              b"Content-Transfer-Encoding: base64\r\n"
              b"Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"
            + b64 + f"\r\n--{outer}--\r\n".encode())
        content_type = (f'multipart/signed; protocol="application/pkcs7-signature"; '
                        f'micalg={micalg(digest, spelling)}; boundary="{outer}"')
        signed = True
    message_id = f"edigate-mdn-{uuid.uuid4().hex}@{identity.domain}"
    headers = {
        "AS2-Version": AS2_VERSION,
        "EDIINT-Features": "CMS",
        "Message-ID": f"<{message_id}>",
        "AS2-From": quote_as2name(_clean(as2_to, 128)),
        "AS2-To": quote_as2name(_clean(as2_from, 128)),
        "Date": email.utils.formatdate(localtime=False, usegmt=True),
        "User-Agent": REPORTING_UA,
        "MIME-Version": "1.0",
        "Content-Type": content_type,
    }
    return OutgoingMdn(message_id=message_id, original_message_id=_clean(original_message_id, 900),
                       headers=headers, body=body, mode="async" if url else "sync", url=url,
                       signed=signed, allow_private=allow_private)
