"""The ebMS 3 UserMessage of the Peppol profile: written for a send, read from a stranger's bytes.

``Envelope`` is what the rest of the transport needs from a received message,
read from the one ``eb:Messaging`` of the SOAP header (no other element of that
name is ever looked at: a signature must cover *this* one). ``user_message``
writes the header the Peppol processing mode wants; ``package`` / ``unpack``
put the SOAP envelope and the attachments in a ``multipart/related`` MIME body
and take them out again, bounded (``gateway.transports.mime`` reads one level at
a time, and at most ``MAX_PARTS`` parts); ``unpack_spooled`` does it for a body
spooled to a file, leaving each attachment where it is (``spool``).
"""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field
from typing import Optional

from lxml import etree

from .. import mime
from . import ns, spool
from .errors import As4Refusal
from .wss import new_id, q

MAX_PARTS = 8                  # the SOAP part and a few attachments; Peppol sends one
MAX_SOAP_BYTES = 1024 * 1024   # an AS4 header is a few KB
MAX_DEPTH = 40


@dataclass
class Part:
    """One PartInfo: the attachment it names and its properties."""
    cid: str
    properties: dict[str, str]

    @property
    def compression(self) -> Optional[str]:
        return self.properties.get("CompressionType")

    @property
    def mime_type(self) -> Optional[str]:
        return self.properties.get("MimeType")


@dataclass
class Envelope:
    """A received SOAP envelope and what its eb:Messaging says."""
    root: etree._Element
    header: etree._Element
    body: etree._Element
    messaging: etree._Element
    security: Optional[etree._Element]
    kind: str                         # "user" | "receipt" | "error"
    message_id: str = ""
    ref_to: Optional[str] = None
    timestamp: Optional[str] = None
    from_party: Optional[str] = None
    from_type: Optional[str] = None
    from_role: Optional[str] = None
    to_party: Optional[str] = None
    to_type: Optional[str] = None
    to_role: Optional[str] = None
    agreement: Optional[str] = None
    service: Optional[str] = None
    service_type: Optional[str] = None
    action: Optional[str] = None
    conversation_id: Optional[str] = None
    properties: dict[str, tuple[Optional[str], str]] = field(default_factory=dict)   # name -> (type, value)
    parts: list[Part] = field(default_factory=list)
    signal: Optional[etree._Element] = None      # eb:Receipt or the first eb:Error

    def prop(self, name: str) -> Optional[str]:
        return self.properties.get(name, (None, None))[1]


def _text(el: Optional[etree._Element]) -> Optional[str]:
    return None if el is None or el.text is None else el.text.strip()


def _one(parent: etree._Element, tag: str, what: str, *, required: bool = True) -> Optional[etree._Element]:
    found = parent.findall(tag)
    if len(found) > 1:
        raise As4Refusal("EBMS:0009", f"more than one {what}")
    if not found and required:
        raise As4Refusal("EBMS:0009", f"no {what}")
    return found[0] if found else None


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=False)


def parse_xml(data: bytes) -> etree._Element:
    """A stranger's SOAP envelope: bounded in size and depth, no DTD, no entities, no network
    (transports stay below ``gateway.xml``, so the few rules are applied here)."""
    if len(data) > MAX_SOAP_BYTES:
        raise As4Refusal("EBMS:0009", f"a SOAP envelope over {MAX_SOAP_BYTES} bytes")
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
        raise As4Refusal("EBMS:0009", "a SOAP envelope with a DOCTYPE or entities")
    try:
        root = etree.fromstring(bytes(data), _PARSER)
    except etree.XMLSyntaxError as e:
        raise As4Refusal("EBMS:0009", f"the SOAP envelope is not readable XML: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise As4Refusal("EBMS:0009", "a SOAP envelope with a DOCTYPE")
    stack = [(root, 1)]
    while stack:
        el, d = stack.pop()
        if d > MAX_DEPTH:
            raise As4Refusal("EBMS:0009", f"a SOAP envelope nested deeper than {MAX_DEPTH} levels")
        stack.extend((c, d + 1) for c in el if isinstance(c.tag, str))
    return root


def read_envelope(data: bytes) -> Envelope:
    """Parse the SOAP part (bounded, no DTD) and read its eb:Messaging; raise ``As4Refusal``."""
    root = parse_xml(data)
    if root.tag != q(ns.S12, "Envelope"):
        raise As4Refusal("EBMS:0009", f"not a SOAP 1.2 envelope ({etree.QName(root).localname})")
    header = _one(root, q(ns.S12, "Header"), "SOAP Header")
    body = _one(root, q(ns.S12, "Body"), "SOAP Body")
    messaging = _one(header, q(ns.EB, "Messaging"), "eb:Messaging")
    security = _one(header, q(ns.WSSE, "Security"), "wsse:Security", required=False)
    users = messaging.findall(q(ns.EB, "UserMessage"))
    signals = messaging.findall(q(ns.EB, "SignalMessage"))
    if len(users) + len(signals) != 1:
        raise As4Refusal("EBMS:0009" if not users and not signals else "EBMS:0002",
                         "eb:Messaging must hold exactly one message (bundling is not supported)")
    unit = users[0] if users else signals[0]
    info = _one(unit, q(ns.EB, "MessageInfo"), "eb:MessageInfo")
    env = Envelope(root=root, header=header, body=body, messaging=messaging, security=security,
                   kind="user" if users else "signal",
                   message_id=_text(_one(info, q(ns.EB, "MessageId"), "eb:MessageId")) or "",
                   ref_to=_text(_one(info, q(ns.EB, "RefToMessageId"), "eb:RefToMessageId", required=False)),
                   timestamp=_text(info.find(q(ns.EB, "Timestamp"))))
    if not env.message_id or len(env.message_id) > 500:
        raise As4Refusal("EBMS:0009", "an eb:MessageId of 1 to 500 characters is required")
    if not users:
        receipt = unit.find(q(ns.EB, "Receipt"))
        error = unit.find(q(ns.EB, "Error"))
        env.kind = "receipt" if receipt is not None else "error" if error is not None else "signal"
        env.signal = receipt if receipt is not None else error
        return env
    um = users[0]
    party = _one(um, q(ns.EB, "PartyInfo"), "eb:PartyInfo")
    for side in ("From", "To"):
        el = _one(party, q(ns.EB, side), f"eb:{side}")
        pid = _one(el, q(ns.EB, "PartyId"), f"eb:{side}/eb:PartyId")
        setattr(env, f"{side.lower()}_party" if side == "To" else "from_party", _text(pid))
        setattr(env, f"{side.lower()}_type", pid.get("type"))
        setattr(env, f"{side.lower()}_role", _text(el.find(q(ns.EB, "Role"))))
    collab = _one(um, q(ns.EB, "CollaborationInfo"), "eb:CollaborationInfo")
    env.agreement = _text(collab.find(q(ns.EB, "AgreementRef")))
    service = _one(collab, q(ns.EB, "Service"), "eb:Service")
    env.service, env.service_type = _text(service), service.get("type")
    env.action = _text(_one(collab, q(ns.EB, "Action"), "eb:Action"))
    env.conversation_id = _text(collab.find(q(ns.EB, "ConversationId")))
    for prop in um.findall(f"{{{ns.EB}}}MessageProperties/{{{ns.EB}}}Property")[:32]:
        env.properties[prop.get("name") or ""] = (prop.get("type"), (prop.text or "").strip())
    for pi in um.findall(f"{{{ns.EB}}}PayloadInfo/{{{ns.EB}}}PartInfo")[:MAX_PARTS + 1]:
        href = pi.get("href") or ""
        if not href.startswith("cid:"):
            raise As4Refusal("EBMS:0002", f"payload {href[:80]!r} is not a MIME attachment (cid:); "
                                          "a payload in the SOAP Body is not part of the Peppol profile")
        props = {p.get("name") or "": (p.text or "").strip()
                 for p in pi.findall(f"{{{ns.EB}}}PartProperties/{{{ns.EB}}}Property")[:16]}
        env.parts.append(Part(href[4:], props))
    return env


# --- writing ---------------------------------------------------------------------------------------

@dataclass
class Addressing:
    """Who a UserMessage goes from and to, and what it carries, in Peppol's terms."""
    from_party: str                      # our AP (certificate CN)
    to_party: str                        # theirs
    original_sender: str                 # participant ids, iso6523-actorid-upis values (0208:…)
    final_recipient: str
    process: str                         # value of the process id, Service/@type its scheme
    process_scheme: str
    action: str                          # the document type identifier, scheme::value
    conversation_id: Optional[str] = None


def now_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_message_id(domain: str = "edigate") -> str:
    return f"{uuid.uuid4()}@{domain}"


def envelope() -> tuple[etree._Element, etree._Element, etree._Element, etree._Element]:
    """An empty SOAP 1.2 envelope: (root, header, security, body), the body with a wsu:Id."""
    root = etree.Element(q(ns.S12, "Envelope"), nsmap={"S12": ns.S12})
    header = etree.SubElement(root, q(ns.S12, "Header"))
    security = etree.SubElement(header, q(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE, "wsu": ns.WSU})
    security.set(q(ns.S12, "mustUnderstand"), "true")
    body = etree.SubElement(root, q(ns.S12, "Body"), nsmap={"wsu": ns.WSU})
    body.set(ns.WSU_ID, new_id("id"))
    return root, header, security, body


def messaging(header: etree._Element) -> etree._Element:
    m = etree.SubElement(header, q(ns.EB, "Messaging"), nsmap={"eb": ns.EB, "wsu": ns.WSU})
    m.set(q(ns.S12, "mustUnderstand"), "true")
    m.set(ns.WSU_ID, new_id("msg"))
    return m


def _el(parent, tag: str, text: Optional[str] = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, q(ns.EB, tag), **{k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def user_message(header: etree._Element, message_id: str, to: Addressing,
                 parts: list[tuple[str, str]]) -> etree._Element:
    """The eb:Messaging of a Peppol UserMessage; ``parts``: (content id, MimeType) each gzip'd."""
    m = messaging(header)
    um = _el(m, "UserMessage")
    info = _el(um, "MessageInfo")
    _el(info, "Timestamp", now_stamp())
    _el(info, "MessageId", message_id)
    party = _el(um, "PartyInfo")
    frm = _el(party, "From")
    _el(frm, "PartyId", to.from_party, type=ns.PEPPOL_PARTY_TYPE)
    _el(frm, "Role", ns.INITIATOR)
    dst = _el(party, "To")
    _el(dst, "PartyId", to.to_party, type=ns.PEPPOL_PARTY_TYPE)
    _el(dst, "Role", ns.RESPONDER)
    collab = _el(um, "CollaborationInfo")
    _el(collab, "AgreementRef", ns.PEPPOL_AGREEMENT)
    _el(collab, "Service", to.process, type=to.process_scheme)
    _el(collab, "Action", to.action)
    _el(collab, "ConversationId", to.conversation_id or str(uuid.uuid4()))
    props = _el(um, "MessageProperties")
    _el(props, "Property", to.original_sender, name=ns.ORIGINAL_SENDER, type=ns.PARTICIPANT_TYPE)
    _el(props, "Property", to.final_recipient, name=ns.FINAL_RECIPIENT, type=ns.PARTICIPANT_TYPE)
    payload = _el(um, "PayloadInfo")
    for cid, mime_type in parts:
        pi = _el(payload, "PartInfo", href=f"cid:{cid}")
        pp = _el(pi, "PartProperties")
        _el(pp, "Property", mime_type, name="MimeType")
        _el(pp, "Property", ns.GZIP, name="CompressionType")
    return m


# --- MIME ------------------------------------------------------------------------------------------

def package(soap: bytes, attachments: dict[str, bytes]) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/related message: the SOAP part, then each attachment
    as binary with its Content-ID."""
    boundary = f"----=_Part_edigate_{uuid.uuid4().hex}"
    out = [f"--{boundary}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n"
           "Content-Transfer-Encoding: binary\r\n\r\n".encode(), soap]
    for cid, data in attachments.items():
        out.append(f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                   f"Content-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n".encode())
        out.append(data)
    out.append(f"\r\n--{boundary}--\r\n".encode())
    ctype = f'multipart/related; boundary="{boundary}"; type="application/soap+xml"'
    return ctype, b"".join(out)


def unpack(content_type: Optional[str], body: bytes) -> tuple[bytes, dict[str, memoryview]]:
    """(SOAP bytes, attachments by content id as views, decoded) from an HTTP body; a lone SOAP
    envelope (a signal) is returned as it is, with no attachments."""
    entity = _with_type(content_type, body)
    ctype = entity.content_type
    if ctype in ("application/soap+xml", "text/xml", "application/xml"):
        return bytes(entity.body), {}
    if ctype != "multipart/related":
        raise As4Refusal("EBMS:0007", f"content type {ctype} is not multipart/related")
    try:
        parts = entity.parts(max_parts=MAX_PARTS)
    except mime.MimeError as e:
        raise As4Refusal("EBMS:0007", f"unreadable MIME: {e}") from None
    if not parts or parts[0].content_type != "application/soap+xml":
        raise As4Refusal("EBMS:0007", "the first MIME part is not the SOAP envelope (application/soap+xml)")
    soap = bytes(parts[0].decoded())
    attachments: dict[str, memoryview] = {}
    for p in parts[1:]:
        cid = _content_id(p, attachments)
        try:
            decoded = p.decoded()
        except mime.MimeError as e:
            raise As4Refusal("EBMS:0007", f"attachment {cid[:80]}: {e}") from None
        attachments[cid] = decoded if isinstance(decoded, memoryview) else memoryview(decoded)
    return soap, attachments


@dataclass
class Attachment:
    """One MIME attachment of a spooled message: a range of the body (binary transfer encoding,
    as Peppol sends) or, for a part in base64 / quoted-printable, its decoded bytes."""
    body: "spool.Spooled" = field(repr=False)
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def read_at(self, offset: int, n: int) -> bytes:
        return self.body.read_at(self.start + offset, min(n, self.end - self.start - offset))

    def read(self) -> bytes:
        return self.body.read(self.start, self.end)


def unpack_spooled(content_type: Optional[str], body: "spool.Spooled") -> tuple[bytes, dict[str, Attachment]]:
    """``unpack`` for a spooled body: the SOAP part read (it is bounded), the attachments left where
    they are, each a range of the body; at most ``MAX_PARTS`` parts, each part's headers bounded."""
    head = _with_type(content_type, b"")
    ctype = head.content_type
    if ctype in ("application/soap+xml", "text/xml", "application/xml"):
        if body.size > MAX_SOAP_BYTES:
            raise As4Refusal("EBMS:0009", f"a SOAP envelope over {MAX_SOAP_BYTES} bytes")
        return body.read(), {}
    if ctype != "multipart/related":
        raise As4Refusal("EBMS:0007", f"content type {ctype} is not multipart/related")
    boundary = head.param("boundary")
    if not boundary:
        raise As4Refusal("EBMS:0007", "unreadable MIME: multipart/related without a boundary")
    try:
        ranges = spool.part_ranges(body, boundary, MAX_PARTS)
    except ValueError as e:
        raise As4Refusal("EBMS:0007", f"unreadable MIME: {e}") from None
    parts = []
    for start, end in ranges:
        try:
            entity = mime.parse(body.read_at(start, min(end - start, mime.MAX_HEADER_BYTES + 4)))
        except mime.MimeError as e:
            raise As4Refusal("EBMS:0007", f"unreadable MIME: {e}") from None
        parts.append((entity, start + entity.body_offset, end))
    if not parts or parts[0][0].content_type != "application/soap+xml":
        raise As4Refusal("EBMS:0007", "the first MIME part is not the SOAP envelope (application/soap+xml)")
    entity, start, end = parts[0]
    if end - start > 4 * MAX_SOAP_BYTES:
        raise As4Refusal("EBMS:0009", f"a SOAP envelope over {MAX_SOAP_BYTES} bytes")
    soap = bytes(_decoded(entity, body, start, end, "the SOAP part"))
    attachments: dict[str, Attachment] = {}
    for entity, start, end in parts[1:]:
        cid = _content_id(entity, attachments)
        cte = (entity.get("content-transfer-encoding") or "7bit").lower()
        if cte in ("7bit", "8bit", "binary"):
            attachments[cid] = Attachment(body, start, end)
        else:
            decoded = spool.Spooled.of(_decoded(entity, body, start, end, f"attachment {cid[:80]}"))
            attachments[cid] = Attachment(decoded, 0, decoded.size)
    return soap, attachments


def _content_id(entity: mime.Entity, seen: dict) -> str:
    """An attachment's Content-ID (without <>), present and not one of ``seen``: EBMS:0007 else."""
    cid = (entity.get("content-id") or "").strip().strip("<>")
    if not cid:
        raise As4Refusal("EBMS:0007", "a MIME attachment without a Content-ID")
    if cid in seen:
        raise As4Refusal("EBMS:0007", f"two MIME parts with the Content-ID {cid[:80]}")
    return cid


def _decoded(entity: mime.Entity, body: "spool.Spooled", start: int, end: int, what: str) -> bytes:
    """A part's body with its transfer encoding undone (read whole: the SOAP part, or an attachment
    a sender chose to encode, both within the request's size limit)."""
    whole = mime.Entity(headers=entity.headers, raw=memoryview(body.read(start, end)), body_offset=0)
    try:
        return whole.decoded()
    except mime.MimeError as e:
        raise As4Refusal("EBMS:0007", f"{what}: {e}") from None


def _with_type(content_type: Optional[str], body: bytes) -> mime.Entity:
    """The HTTP body as one MIME entity whose headers are the request's Content-Type (no copy of
    the body: the entity's body is a view of it)."""
    from email.message import Message
    headers = Message()
    headers["Content-Type"] = (content_type or "application/octet-stream").replace("\r", " ").replace("\n", " ")
    view = body if isinstance(body, memoryview) else memoryview(body)
    return mime.Entity(headers=headers, raw=view, body_offset=0)
