"""Receipts for what we sent: parse an MDN, verify its signature, compare the MIC, read the disposition.

``check_mdn(headers, body, outbound)`` judges a synchronous MDN (or any MDN whose
original message is at hand); ``receive_mdn(headers, body, find_outbound=…)``
is the asynchronous MDN endpoint's side: it finds the original message by the
MDN's Original-Message-ID first.

A message counts as *delivered* only when the MDN is about that message, says
``processed`` (a ``processed/warning``, e.g. ``duplicate-document``, included),
is signed by one of the partner's certificates when a signed MDN is required,
and returns the MIC we computed when we signed the message.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import mime
from . import signature as signature_mod
from ._mime import lower_headers, raw_message, strip_msgid
from .config import normalize_digest


@dataclass
class Disposition:
    """``automatic-action/MDN-sent-automatically; processed/error: authentication-failed``."""

    action: str                 # "automatic-action/MDN-sent-automatically"
    type: str                   # "processed" | "failed" | …  (lower case)
    modifier: Optional[str]     # None | "error" | "warning" | "failure"
    detail: Optional[str]       # "authentication-failed", "duplicate-document", …

    def __str__(self) -> str:
        s = self.type
        if self.modifier:
            s += "/" + self.modifier
        if self.detail:
            s += ": " + self.detail
        return s

    @property
    def positive(self) -> bool:
        return self.type == "processed" and self.modifier in (None, "warning")


def parse_disposition(value: str) -> Disposition:
    value = " ".join((value or "").split())
    action, _, rest = value.rpartition(";")
    rest = rest.strip()
    head, _, detail = rest.partition(":")
    typ, _, modifier = head.strip().partition("/")
    return Disposition(action.strip(), typ.strip().lower(), modifier.strip().lower() or None,
                       detail.strip() or None)


@dataclass
class MdnResult:
    """What an MDN told us about one of our messages."""

    delivered: bool                             # the partner has it and proved it (see module doc)
    disposition: Optional[Disposition] = None
    original_message_id: Optional[str] = None
    mdn_message_id: Optional[str] = None
    signed: bool = False
    signature_valid: Optional[bool] = None      # None: not signed
    signer_index: Optional[int] = None          # which partner certificate verified it (rollover)
    mic: Optional[str] = None                   # Received-Content-MIC value
    mic_alg: Optional[str] = None
    mic_expected: Optional[str] = None
    mic_matches: Optional[bool] = None          # None: nothing to compare (we did not sign)
    error: Optional[str] = None                 # why it is not delivered, in words
    text: Optional[str] = None                  # the human-readable part of the MDN
    fields: dict = field(default_factory=dict)  # the disposition-notification fields, lower-case names
    headers: dict = field(default_factory=dict)
    raw: bytes = b""                            # headers + CRLF + body, as received (keep it)
    known_original: bool = True                 # False: no outbound message had that Message-ID
    seconds: float = 0.0

    @property
    def duplicate(self) -> bool:
        return bool(self.disposition and self.disposition.detail
                    and self.disposition.detail.lower() == "duplicate-document")

    @property
    def status(self) -> str:
        """delivered | refused (negative disposition) | duplicate-unproven (``duplicate-document``
        without our MIC: the partner saw this Message-ID, but nothing proves it has this content —
        django-pyas2 answers so, even when the first copy had failed) | invalid-mdn."""
        if self.delivered:
            return "delivered"
        if self.disposition and not self.disposition.positive:
            return "refused"
        if self.duplicate and self.mic is None and self.mic_expected:
            return "duplicate-unproven"
        return "invalid-mdn"


@dataclass
class _Parsed:
    headers: dict
    raw: bytes
    report: Optional[mime.Entity] = None
    signature: Optional[bytes] = None
    signed_content: Optional[bytes] = None
    fields: dict = field(default_factory=dict)
    text: Optional[str] = None
    error: Optional[str] = None


def _fields(text: bytes) -> dict:
    """The fields of a message/disposition-notification body (RFC 3798 §3.1), lower-case names,
    folded lines joined; blank lines between field groups are allowed."""
    out = {}
    for m in re.finditer(r"^([A-Za-z0-9-]+):[ \t]*(.*(?:\r?\n[ \t].*)*)",
                         text.decode("utf-8", "replace"), re.M):
        out.setdefault(m.group(1).lower(), " ".join(m.group(2).split()))
    return out


def _parse(headers, body: bytes) -> _Parsed:
    """Read an MDN layer by layer with the bounded MIME reader: a sender's MDN is a stranger's
    bytes too (the asynchronous MDN URL is public), so no recursion into what it nests."""
    hdr = lower_headers(headers)
    raw = raw_message(headers, body)
    p = _Parsed(hdr, raw)
    try:
        entity = mime.parse(raw)
        if entity.content_type == "multipart/signed":
            parts = entity.parts()
            if len(parts) < 2:
                p.error = "multipart/signed MDN without two parts"
                return p
            for part in parts[1:]:
                if part.content_type in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
                    p.signature = bytes(part.decoded())
            p.signed_content = bytes(parts[0].raw)
            report = parts[0]
            if p.signature is None:
                p.error = "signed MDN without a readable signature"
        elif entity.content_type == "multipart/report":
            report = entity
        else:
            p.error = f"not an MDN (Content-Type {entity.content_type})"
            return p
        if report.content_type != "multipart/report":
            p.error = p.error or "no multipart/report in the MDN"
            return p
        p.report = report
        for part in report.parts():
            ct = part.content_type
            if ct == "message/disposition-notification" and not p.fields:
                p.fields = _fields(bytes(part.decoded()))
            elif ct == "text/plain" and p.text is None:
                p.text = bytes(part.decoded()).decode("utf-8", "replace").strip()
    except mime.MimeError as e:
        p.error = p.error or f"unreadable MDN: {e}"
        return p
    if "disposition" not in p.fields:
        p.error = p.error or "MDN without a Disposition field"
    return p


def _verify(p: _Parsed, partner) -> tuple[bool, Optional[int], Optional[str]]:
    """Try each of the partner's certificates; the signed content as received, then with
    CRLF line ends (a sender whose MIME library wrote bare LF)."""
    candidates = [p.signed_content]
    canon = re.sub(rb"\r?\n", b"\r\n", p.signed_content)
    if canon != p.signed_content:
        candidates.append(canon)
    last = "no certificate for the partner"
    for idx in partner.candidate_indexes():
        try:
            cert = partner.verify_certificate(idx)
        except Exception as e:
            last = f"certificate {idx}: {e}"
            continue
        for content in candidates:
            try:
                signature_mod.verify_bytes(content, p.signature, cert)
                return True, idx, None
            except (signature_mod.SignatureError, ValueError, TypeError) as e:
                last = str(e)
            except Exception as e:          # asn1crypto on a garbled signature
                last = f"{type(e).__name__}: {e}"
    return False, None, last


def _judge(p: _Parsed, outbound, t0: float) -> MdnResult:
    r = MdnResult(delivered=False, headers=p.headers, raw=p.raw, fields=p.fields, text=p.text,
                  mdn_message_id=strip_msgid(p.headers.get("message-id")),
                  original_message_id=strip_msgid(p.fields.get("original-message-id")))
    problems = []
    if p.error:
        problems.append(p.error)
    if "disposition" in p.fields:
        r.disposition = parse_disposition(p.fields["disposition"])
    partner = outbound.partner
    if p.signature is not None and p.signed_content is not None:
        r.signed = True
        r.signature_valid, r.signer_index, why = _verify(p, partner)
        if not r.signature_valid:
            problems.append(f"MDN signature does not verify with {partner.as2_name}'s certificate(s): {why}")
    elif outbound.require_signed_mdn and not p.error:
        problems.append("unsigned MDN, a signed one was required")
    if r.original_message_id != outbound.message_id:
        problems.append(f"MDN is about {r.original_message_id!r}, not {outbound.message_id!r}")
    mic_field = p.fields.get("received-content-mic")
    if mic_field:
        value, _, alg = mic_field.partition(",")
        r.mic, r.mic_alg = value.strip(), normalize_digest(alg.strip()) or None
    r.mic_expected = outbound.mic
    if outbound.mic:
        r.mic_matches = (r.mic == outbound.mic and r.mic_alg == outbound.mic_alg)
        if r.disposition and r.disposition.positive and not r.mic_matches:
            if r.mic is None:
                problems.append("the MDN returns no MIC: it does not prove which content was received")
            else:
                problems.append(f"MIC mismatch: MDN has {r.mic!r} ({r.mic_alg}), "
                                f"we computed {outbound.mic!r} ({outbound.mic_alg})")
    if r.disposition is not None and not r.disposition.positive:
        problems.insert(0, f"partner reports {r.disposition}")
    r.delivered = not problems and r.disposition is not None and r.disposition.positive
    r.error = "; ".join(problems) or None
    r.seconds = time.perf_counter() - t0
    return r


def check_mdn(mdn_headers, mdn_body: bytes, outbound) -> MdnResult:
    """Judge the MDN received for ``outbound`` (an ``OutboundMessage``). Never raises on bad input."""
    t0 = time.perf_counter()
    return _judge(_parse(mdn_headers, bytes(mdn_body)), outbound, t0)


def receive_mdn(headers, body, *, find_outbound: Callable[[str], Optional[object]]) -> MdnResult:
    """An asynchronous MDN posted to us: find our message by Original-Message-ID, then judge it.

    ``find_outbound(message_id)`` returns the ``OutboundMessage`` (with its partner) or None.
    """
    t0 = time.perf_counter()
    if hasattr(body, "read"):
        body = body.read()
    p = _parse(headers, bytes(body))
    orig = strip_msgid(p.fields.get("original-message-id"))
    outbound = find_outbound(orig) if orig else None
    if outbound is None:
        r = MdnResult(delivered=False, original_message_id=orig, headers=p.headers, raw=p.raw,
                      fields=p.fields, known_original=False,
                      mdn_message_id=strip_msgid(p.headers.get("message-id")),
                      error=p.error or f"no message of ours has Message-ID {orig!r}")
        if "disposition" in p.fields:
            r.disposition = parse_disposition(p.fields["disposition"])
        r.seconds = time.perf_counter() - t0
        return r
    return _judge(p, outbound, t0)

