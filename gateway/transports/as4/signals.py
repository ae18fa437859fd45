"""Signal messages: the signed Receipt (non-repudiation of receipt) and ebMS Error signals.

A **Receipt** names the UserMessage it acknowledges (``RefToMessageId``) and
carries, in ``ebbp:NonRepudiationInformation``, a copy of every ``ds:Reference``
of that message's signature: the digests of exactly what was received. It is
signed by the receiver over its own eb:Messaging and Body. The sender checks
all of it (``check_receipt``): the signature with the receiver's certificate
(the one its SMP published), that it covers the eb:Messaging read, that it
refers to our MessageId, and that the digests are the ones we sent.

An **Error** signal carries one ``eb:Error`` (code, short description,
category, severity, refToMessageInError, a description and a detail); ours are
signed too when we know who we are.
"""
from __future__ import annotations

import copy
import hmac
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from cryptography import x509
from lxml import etree

from . import ns
from .config import As4Identity
from .errors import CODES, As4Refusal, short
from .message import Envelope, envelope, messaging, new_message_id, now_stamp, read_envelope
from .wss import SentReference, q, sign, verify

MAX_DETAIL = 2000


def _signal(identity: Optional[As4Identity], ref_to: Optional[str], fill) -> tuple[str, bytes]:
    root, header, security, body = envelope()
    m = messaging(header)
    sm = etree.SubElement(m, q(ns.EB, "SignalMessage"))
    info = etree.SubElement(sm, q(ns.EB, "MessageInfo"))
    etree.SubElement(info, q(ns.EB, "Timestamp")).text = now_stamp()
    message_id = new_message_id()
    etree.SubElement(info, q(ns.EB, "MessageId")).text = message_id
    if ref_to:
        etree.SubElement(info, q(ns.EB, "RefToMessageId")).text = ref_to
    fill(sm)
    if identity is not None:
        sign(security, identity.key.private_key(), identity.certificate, [m, body])
    else:
        header.remove(security)
    return message_id, etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def receipt(identity: As4Identity, received: Envelope, references: Sequence[etree._Element]) -> tuple[str, bytes]:
    """Our signed Receipt for ``received``: its MessageId, and the references its signature had."""
    def fill(sm):
        r = etree.SubElement(sm, q(ns.EB, "Receipt"))
        nri = etree.SubElement(r, q(ns.EBBP, "NonRepudiationInformation"), nsmap={"ebbp": ns.EBBP, "ds": ns.DS})
        for ref in references:
            part = etree.SubElement(nri, q(ns.EBBP, "MessagePartNRInformation"))
            part.append(copy.deepcopy(ref))
    return _signal(identity, received.message_id, fill)


def error_signal(identity: Optional[As4Identity], refusal: As4Refusal, ref_to: Optional[str]) -> tuple[str, bytes]:
    """An Error signal for ``refusal`` (in reply to ``ref_to`` when the MessageId was read)."""
    short_description, category, severity, meaning, _fr = CODES[refusal.code]

    def fill(sm):
        err = etree.SubElement(sm, q(ns.EB, "Error"), category=category, errorCode=refusal.code,
                               severity=severity, shortDescription=short_description, origin="ebMS")
        if ref_to:
            err.set("refToMessageInError", ref_to)
        desc = etree.SubElement(err, q(ns.EB, "Description"))
        desc.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        desc.text = refusal.description or meaning
        etree.SubElement(err, q(ns.EB, "ErrorDetail")).text = refusal.detail[:MAX_DETAIL]
    return _signal(identity, ref_to, fill)


# --- reading the answer to what we sent ----------------------------------------------------------

@dataclass
class SignalResult:
    """What came back for one of our messages."""
    kind: str                                   # receipt | error
    signal_message_id: str
    ref_to: Optional[str]
    verified: bool = False
    error_code: Optional[str] = None
    error_detail: Optional[str] = None
    error_description: Optional[str] = None
    problems: list[str] = field(default_factory=list)
    raw: bytes = field(default=b"", repr=False)        # the signal as received
    http_status: Optional[int] = None

    @property
    def delivered(self) -> bool:
        return self.kind == "receipt" and self.verified and not self.problems

    @property
    def summary(self) -> str:
        if self.delivered:
            return f"receipt {self.signal_message_id} verified"
        if self.kind == "error":
            return (f"{self.error_code} {short(self.error_code or '')}: "
                    f"{self.error_detail or self.error_description or ''}").strip()
        return "; ".join(self.problems) or "not a receipt"


def _canon_ref(ref: etree._Element) -> tuple[str, str, str]:
    dm = ref.find(q(ns.DS, "DigestMethod"))
    return (ref.get("URI") or "", dm.get("Algorithm") if dm is not None else "",
            "".join((ref.findtext(q(ns.DS, "DigestValue")) or "").split()))


def read_signal(data: bytes) -> Envelope:
    env = read_envelope(data)
    if env.kind not in ("receipt", "error"):
        raise As4Refusal("EBMS:0009", "the answer is not a Receipt nor an Error signal")
    return env


def check_signal(data: bytes, *, message_id: str, receiver_certs: Iterable[x509.Certificate],
                 sent: Sequence[SentReference]) -> SignalResult:
    """Judge the answer to our UserMessage ``message_id``. A Receipt is ``delivered`` only when
    signed by the receiver, about our message, acknowledging exactly the digests we signed."""
    try:
        env = read_signal(data)
    except As4Refusal as e:
        return SignalResult("invalid", "", None, problems=[f"unreadable answer: {e.detail}"])
    result = SignalResult(env.kind, env.message_id, env.ref_to)
    if env.kind == "error":
        err = env.signal
        result.error_code = err.get("errorCode")
        result.error_detail = (err.findtext(q(ns.EB, "ErrorDetail")) or "").strip()[:MAX_DETAIL]
        result.error_description = (err.findtext(q(ns.EB, "Description")) or "").strip()[:MAX_DETAIL]
        ref = err.get("refToMessageInError") or env.ref_to
        if ref and ref != message_id:
            result.problems.append(f"the error is about {ref[:100]}, not our {message_id}")
        return result
    if env.security is None:
        result.problems.append("the receipt is not signed")
        return result
    try:
        verify(env.root, env.security, receiver_certs, [env.messaging, env.body])
    except As4Refusal as e:
        result.problems.append(f"the receipt's signature: {e.detail}")
        return result
    result.verified = True
    if env.ref_to != message_id:
        result.problems.append(f"the receipt acknowledges {str(env.ref_to)[:100]}, not our {message_id}")
    acked = [_canon_ref(r) for r in env.signal.iter(q(ns.DS, "Reference"))]
    want = [(s.uri, s.digest_method, s.digest_value) for s in sent]
    missing = [w for w in want if not any(hmac.compare_digest(repr(w), repr(a)) for a in acked)]
    extra = [a for a in acked if a not in want]
    if missing:
        result.problems.append("the receipt does not acknowledge the digests we sent for "
                               + ", ".join(m[0][:80] for m in missing))
    if extra:
        result.problems.append("the receipt acknowledges references we did not send: "
                               + ", ".join(e[0][:80] for e in extra))
    return result
