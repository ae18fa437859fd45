"""SBDH: the Standard Business Document Header around every Peppol message (Peppol Business
Message Envelope 1.2), read and written.

Peppol access points exchange a business document (an invoice, an Invoice Response...) wrapped in
a ``StandardBusinessDocument`` (namespace ``http://www.unece.org/cefact/namespaces/
StandardBusinessDocumentHeader``) whose header says who sends it to whom and what it is::

    StandardBusinessDocumentHeader
      HeaderVersion            1.0
      Sender/Identifier        @Authority iso6523-actorid-upis, value 0088:7315458756324
      Receiver/Identifier      the same (exactly one of each)
      DocumentIdentification   Standard (the payload's namespace), TypeVersion (2.1 for UBL),
                               InstanceIdentifier (the message's id), Type (the payload's root
                               name), CreationDateAndTime
      BusinessScope/Scope*     Type, InstanceIdentifier, Identifier: DOCUMENTID (the document type
                               identifier, busdox-docid-qns), PROCESSID (the process, cenbii-procid-
                               ubl), COUNTRY_C1 (the sender's country), MLS_TO / MLS_TYPE (where and
                               when the Message Level Status goes), and any other scope (kept)
    <the business document>    one element, in its own namespace

Reading never holds the envelope as a tree: ``read_header(source)`` makes one streaming pass
(``sbdh_scan``: the bounds of ``gateway.xml.safe``, no DTD, size and depth bounded, where the
header and the business document lie) and parses the header alone (at most ``MAX_SCOPES``
scopes, ending within ``MAX_HEADER_BYTES``), checking what the envelope specification requires
and refusing with an ``InputError`` that says what is wrong; ``document_chunks`` then streams
the business document out of the same source, byte for byte as it stands in the envelope, but
for the root's namespace declarations it needs to stand alone (added to its start tag) and
UTF-8 where the envelope is in another encoding. ``read_sbdh(bytes)`` is those two over bytes
(``Sbdh.payload``; ``payload_document()`` with an XML declaration). ``build_sbdh(header,
payload)`` writes an envelope around a business document, the payload's bytes copied unchanged
(only its XML declaration and byte order mark left out), so a signature over it survives.
No transport here: AS4 is another module's business.
"""
from __future__ import annotations

import codecs
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional

from lxml import etree

from gateway.model.errors import HostileInputError, InputError
from gateway.syntaxes import sbdh_scan
from gateway.syntaxes.sbdh_scan import Source
from gateway.xml import safe

__all__ = ["NS", "ROOT", "HEADER", "PEPPOL_AUTHORITY", "DOCUMENT_SCHEME", "PROCESS_SCHEME", "Participant",
           "Scope", "Sbdh", "Place", "read_sbdh", "read_header", "document_chunks", "build_sbdh", "is_sbdh_bytes",
           "MAX_BYTES", "MAX_SCOPES", "MAX_HEADER_BYTES"]

NS = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
ROOT = f"{{{NS}}}StandardBusinessDocument"
HEADER = f"{{{NS}}}StandardBusinessDocumentHeader"
HEADER_VERSION = "1.0"
PEPPOL_AUTHORITY = "iso6523-actorid-upis"
DOCUMENT_SCHEME = "busdox-docid-qns"
PROCESS_SCHEME = "cenbii-procid-ubl"
MLS_TYPES = ("ALWAYS_SEND", "FAILURE_ONLY")
MAX_BYTES = safe.DEFAULT_MAX_BYTES        # an invoice with its attachments
MAX_DEPTH = safe.DEFAULT_MAX_DEPTH
MAX_SCOPES = 100
MAX_HEADER_BYTES = 1 << 20               # where the header must end (a Peppol header takes a few KB)
MAX_TEXT = 1000                           # a header value (identifiers are far shorter)
_PARTICIPANT = re.compile(r"[0-9]{4}:\S{1,}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_DATETIME = re.compile(r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?")


def _q(local: str) -> str:
    return f"{{{NS}}}{local}"


@dataclass(frozen=True)
class Participant:
    """A sender or receiver: its identifier's value (``0088:7315458756324``) and Authority (the
    identifier scheme, ``iso6523-actorid-upis``)."""
    value: str
    authority: str = PEPPOL_AUTHORITY

    @property
    def id(self) -> str:
        """``scheme::value``, as Peppol writes a participant identifier."""
        return f"{self.authority}::{self.value}"

    @classmethod
    def parse(cls, text: str) -> Participant:
        """``iso6523-actorid-upis::0088:123`` or ``0088:123`` (the Peppol scheme then)."""
        authority, sep, value = text.partition("::")
        return cls(value, authority) if sep else cls(text)


@dataclass(frozen=True)
class Scope:
    """One BusinessScope/Scope: its Type, InstanceIdentifier and Identifier (a scheme)."""
    type: str
    instance_identifier: str
    identifier: Optional[str] = None


@dataclass(frozen=True)
class Place:
    """Where a read envelope's business document lies in its bytes (``start`` to ``end``), the
    envelope's encoding, and the namespace declarations it needs to stand alone, to be written
    into its start tag ``name_end`` bytes in (past ``<`` and its name)."""
    start: int
    end: int
    encoding: str
    name_end: int
    declarations: bytes = b""


@dataclass
class Sbdh:
    """An envelope's header, and the business document it carries (``payload``, when read)."""
    sender: Participant
    receiver: Participant
    document_type: str                        # DOCUMENTID scope
    process: str                              # PROCESSID scope
    standard: Optional[str] = None            # written: the payload's namespace
    type: Optional[str] = None                # written: the payload's root name
    type_version: str = "2.1"
    instance_identifier: Optional[str] = None  # written: a new UUID when not given
    created_at: Optional[datetime] = None     # written: now (UTC) when not given
    document_type_scheme: str = DOCUMENT_SCHEME
    process_scheme: str = PROCESS_SCHEME
    country_c1: Optional[str] = None
    mls_to: Optional[Participant] = None
    mls_type: Optional[str] = None
    other_scopes: tuple[Scope, ...] = ()
    header_version: str = HEADER_VERSION
    payload: Optional[bytes] = field(default=None, repr=False)
    place: Optional[Place] = field(default=None, repr=False, compare=False)     # when read

    @property
    def document_type_id(self) -> str:
        """``busdox-docid-qns::urn:oasis:...::Invoice##...::2.1``."""
        return f"{self.document_type_scheme}::{self.document_type}"

    @property
    def process_id(self) -> str:
        return f"{self.process_scheme}::{self.process}"

    def payload_document(self) -> bytes:
        """The business document on its own, with an XML declaration."""
        if self.payload is None:
            raise ValueError("this header carries no payload")
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + self.payload


# --------------------------------------------------------------------------- reading

def is_sbdh_bytes(data: bytes) -> bool:
    """Whether a received file looks like a Peppol envelope (its root named in its first KB)."""
    head = data[:2048]
    return b"StandardBusinessDocument" in head and NS.encode() in head


def _text(el: Optional[etree._Element], local: str) -> Optional[str]:
    node = el.find(_q(local)) if el is not None else None
    if node is None:
        return None
    value = "".join(node.itertext()).strip()
    return value[:MAX_TEXT] if value else None


def _need(el: etree._Element, local: str, where: str) -> str:
    value = _text(el, local)
    if value is None:
        raise InputError(f"SBDH: {where} has no {local}", line=el.sourceline)
    return value


def _participant(header: etree._Element, local: str) -> Participant:
    found = header.findall(_q(local))
    if len(found) != 1:
        raise InputError(f"SBDH: a Peppol envelope has exactly one {local} (this one has {len(found)})",
                         line=header.sourceline)
    ident = found[0].find(_q("Identifier"))
    value = _text(found[0], "Identifier")
    authority = ident.get("Authority") if ident is not None else None
    if value is None or not authority:
        raise InputError(f"SBDH: the {local}'s Identifier and its Authority are required", line=found[0].sourceline)
    _check_participant(value, authority, local)
    return Participant(value, authority)


def _check_participant(value: str, authority: str, what: str) -> None:
    if authority != PEPPOL_AUTHORITY:
        raise InputError(f"SBDH: the {what}'s Authority is {authority!r}, not {PEPPOL_AUTHORITY}")
    if not _PARTICIPANT.fullmatch(value):
        raise InputError(f"SBDH: the {what} {value!r} is not a participant identifier (ICD:identifier, "
                         "such as 0088:7315458756324)")


def _created(ident: etree._Element) -> datetime:
    value = _need(ident, "CreationDateAndTime", "DocumentIdentification")
    if not _DATETIME.fullmatch(value):
        raise InputError(f"SBDH: CreationDateAndTime {value!r} is not a date and time (xs:dateTime)",
                         line=ident.sourceline)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"SBDH: CreationDateAndTime {value!r} is not a date and time", line=ident.sourceline) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _scopes(header: etree._Element) -> list[Scope]:
    bs = header.find(_q("BusinessScope"))
    if bs is None:
        raise InputError("SBDH: no BusinessScope: a Peppol envelope names the document type (DOCUMENTID) and the "
                         "process (PROCESSID) there", line=header.sourceline)
    found = bs.findall(_q("Scope"))
    if len(found) > MAX_SCOPES:
        raise InputError(f"SBDH: more than {MAX_SCOPES} scopes", line=bs.sourceline)
    out = []
    for s in found:
        out.append(Scope(_need(s, "Type", "a Scope"), _text(s, "InstanceIdentifier") or "", _text(s, "Identifier")))
    return out


def _one_scope(scopes: list[Scope], kind: str, required: bool) -> Optional[Scope]:
    found = [s for s in scopes if s.type == kind]
    if len(found) > 1 or (required and not found):
        raise InputError(f"SBDH: a Peppol envelope has {'exactly' if required else 'at most'} one {kind} scope "
                         f"(this one has {len(found)})")
    if found and not found[0].instance_identifier:
        raise InputError(f"SBDH: the {kind} scope has no InstanceIdentifier")
    return found[0] if found else None


def _shape(layout: sbdh_scan.Layout) -> tuple[sbdh_scan.Child, sbdh_scan.Child]:
    """The header and the business document, where an envelope has them."""
    if (layout.root_namespace, layout.root_local) != (NS, "StandardBusinessDocument"):
        raise InputError(f"not a Peppol envelope: the root element is {layout.root_local} "
                         f"({layout.root_namespace or 'no namespace'}), not StandardBusinessDocument")
    if not layout.kept or (layout.kept[0].namespace, layout.kept[0].local) != (NS, "StandardBusinessDocumentHeader"):
        raise InputError("SBDH: the StandardBusinessDocument has no StandardBusinessDocumentHeader "
                         "(it must come first)", line=layout.root_line)
    if layout.children != 2:
        raise InputError(f"SBDH: an envelope carries exactly one business document (this one has "
                         f"{layout.children - 1})", line=layout.root_line)
    header, payload = layout.kept[0], layout.kept[1]
    if not payload.namespace or payload.namespace == NS:
        raise InputError("SBDH: the business document is in no namespace of its own", line=payload.line)
    if header.end > MAX_HEADER_BYTES:
        raise HostileInputError(f"SBDH: the header ends {header.end:,} bytes into the envelope, past the "
                                f"{MAX_HEADER_BYTES:,} bytes a header may take")
    return header, payload


def _header_element(source: Source, end: int) -> etree._Element:
    """The header as a tree, parsed from the envelope's first ``end`` bytes (no further)."""
    parser = etree.XMLPullParser(events=("end",), resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False, collect_ids=False)
    try:
        parser.feed(source.read_at(0, end))
        for _event, el in parser.read_events():
            if el.tag == HEADER and el.getparent() is not None and el.getparent().getparent() is None:
                return el
    except etree.XMLSyntaxError as e:                  # not after sbdh_scan's pass; kept for safety
        raise InputError(f"Malformed XML: {e.msg}", line=e.lineno) from None
    raise InputError("SBDH: the StandardBusinessDocumentHeader could not be read")


def _check_header(header: etree._Element, payload: sbdh_scan.Child) -> Sbdh:
    """The header's values, checked (see the module docstring), for the business document ``payload``."""
    version = _need(header, "HeaderVersion", "the header")
    if version != HEADER_VERSION:
        raise InputError(f"SBDH: HeaderVersion {version!r} is not {HEADER_VERSION}")
    sender, receiver = _participant(header, "Sender"), _participant(header, "Receiver")
    ident = header.find(_q("DocumentIdentification"))
    if ident is None:
        raise InputError("SBDH: no DocumentIdentification", line=header.sourceline)
    standard = _need(ident, "Standard", "DocumentIdentification")
    if standard != payload.namespace:
        raise InputError(f"SBDH: the Standard {standard!r} is not the business document's namespace "
                         f"{payload.namespace!r}", line=ident.sourceline)
    kind = _need(ident, "Type", "DocumentIdentification")
    if kind != payload.local:
        raise InputError(f"SBDH: the Type {kind!r} is not the business document's root element "
                         f"{payload.local!r}", line=ident.sourceline)
    type_version = _need(ident, "TypeVersion", "DocumentIdentification")
    instance = _need(ident, "InstanceIdentifier", "DocumentIdentification")
    created = _created(ident)
    scopes = _scopes(header)
    doc = _one_scope(scopes, "DOCUMENTID", True)
    proc = _one_scope(scopes, "PROCESSID", True)
    country = _one_scope(scopes, "COUNTRY_C1", False)
    if country is not None and not _COUNTRY.fullmatch(country.instance_identifier):
        raise InputError(f"SBDH: COUNTRY_C1 {country.instance_identifier!r} is not a country code (ISO 3166-1, "
                         "two capital letters)")
    mls_to = _one_scope(scopes, "MLS_TO", False)
    if mls_to is not None:
        _check_participant(mls_to.instance_identifier, mls_to.identifier or PEPPOL_AUTHORITY, "MLS_TO")
    mls_type = _one_scope(scopes, "MLS_TYPE", False)
    if mls_type is not None and mls_type.instance_identifier not in MLS_TYPES:
        raise InputError(f"SBDH: MLS_TYPE {mls_type.instance_identifier!r} is not one of {', '.join(MLS_TYPES)}")
    known = {"DOCUMENTID", "PROCESSID", "COUNTRY_C1", "MLS_TO", "MLS_TYPE"}
    return Sbdh(sender=sender, receiver=receiver, document_type=doc.instance_identifier,
                process=proc.instance_identifier, standard=standard, type=kind, type_version=type_version,
                instance_identifier=instance, created_at=created,
                document_type_scheme=doc.identifier or DOCUMENT_SCHEME, process_scheme=proc.identifier or PROCESS_SCHEME,
                country_c1=country.instance_identifier if country else None,
                mls_to=Participant(mls_to.instance_identifier, mls_to.identifier or PEPPOL_AUTHORITY) if mls_to else None,
                mls_type=mls_type.instance_identifier if mls_type else None,
                other_scopes=tuple(s for s in scopes if s.type not in known), header_version=version)


def _place(layout: sbdh_scan.Layout, payload: sbdh_scan.Child) -> Place:
    declarations = b""
    if layout.inherits:                    # it needs the root's bindings: they go on its start tag
        declarations = "".join(f' xmlns{":" + prefix if prefix else ""}="{sbdh_scan.attribute(uri)}"'
                               for prefix, uri in layout.root_declarations
                               if uri and prefix not in layout.own_prefixes).encode("utf-8")
    return Place(payload.start, payload.end, layout.encoding, 1 + len(payload.qname.encode("utf-8")), declarations)


def read_header(source: Source) -> Sbdh:
    """An envelope read from ``source`` (``size`` and ``read_at``: bytes through ``read_sbdh``, or
    the AS4 transport's spooled payload) without holding it: one streaming pass checks it is XML
    within bounds and finds its parts (``sbdh_scan``), then the header alone is parsed and checked.
    The business document is not read: ``document_chunks`` streams it. ``InputError`` /
    ``HostileInputError`` saying what is wrong."""
    layout = sbdh_scan.scan(source, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
    header, payload = _shape(layout)
    sbdh = _check_header(_header_element(source, header.end), payload)
    sbdh.place = _place(layout, payload)
    return sbdh


def document_chunks(source: Source, sbdh: Sbdh, *, declaration: bool = True) -> Iterator[bytes]:
    """The business document of an envelope ``read_header`` read from ``source``, a window at a
    time: its bytes as they stand in the envelope (with an XML declaration first when
    ``declaration``), but for what it needs to stand alone: the root's namespace declarations
    it uses, added to its start tag, and UTF-8 when the envelope is in another encoding."""
    place = sbdh.place
    if place is None:
        raise ValueError("this header was not read from an envelope")
    if declaration:
        yield safe.XML_DECLARATION
    pieces: Iterable[bytes] = (source.read_at(at, min(sbdh_scan.WINDOW, place.end - at))
                               for at in range(place.start, place.end, sbdh_scan.WINDOW))
    if place.encoding not in ("utf-8", "ascii"):
        pieces = _to_utf8(pieces, place.encoding)
    if not place.declarations:
        yield from pieces
        return
    head = b""
    for piece in pieces:
        if head is None:
            yield piece
            continue
        head += piece
        if len(head) >= place.name_end:
            yield head[:place.name_end] + place.declarations + head[place.name_end:]
            head = None
    if head:
        yield head[:place.name_end] + place.declarations + head[place.name_end:]


def _to_utf8(pieces: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(encoding)()
    for piece in pieces:
        yield decoder.decode(piece).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")


def read_sbdh(data: bytes) -> Sbdh:
    """An envelope from its bytes, its header checked and its payload given back as it stands
    (``read_header`` and ``document_chunks``, the one way envelopes are read);
    ``InputError`` / ``HostileInputError`` saying what is wrong."""
    source = sbdh_scan.BytesSource(data)
    sbdh = read_header(source)
    sbdh.payload = b"".join(document_chunks(source, sbdh, declaration=False))
    return sbdh


# --------------------------------------------------------------------------- writing

_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\?>\s*", re.S)


def _payload_root(payload: bytes) -> tuple[str, str, bytes]:
    """(namespace, local name, the bytes to embed) of a business document; ValueError when it is no
    document an envelope can carry."""
    m = _DECLARATION.match(payload)
    if m and re.search(rb"encoding\s*=\s*[\"'](?!utf-8|UTF-8|utf8|UTF8)", m.group(0)):
        raise ValueError("the business document must be encoded in UTF-8 to be carried as it is")
    body = payload[m.end():] if m else payload.lstrip(b"\xef\xbb\xbf")
    try:
        root = safe.parse(payload, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH - 1)
    except InputError as e:
        raise ValueError(f"the business document is not XML an envelope can carry: {e}") from None
    q = etree.QName(root)
    if not q.namespace or q.namespace == NS:
        raise ValueError("the business document has no namespace of its own (SBDH Standard)")
    return q.namespace, q.localname, body.rstrip()


def _sub(parent: etree._Element, local: str, text: Optional[str] = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, _q(local), attrib)
    if text is not None:
        el.text = text
    return el


def _stamp(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: give the creation time a time zone (UTC)")
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_sbdh(header: Sbdh, payload: bytes) -> bytes:
    """An envelope around ``payload`` (a UTF-8 XML document: its bytes are copied unchanged, but for
    its XML declaration); ValueError when the header or the payload would make one a Peppol access
    point refuses (see ``parse_header``)."""
    standard, local, body = _payload_root(payload)
    for what, p in (("sender", header.sender), ("receiver", header.receiver)) + \
            ((("MLS_TO", header.mls_to),) if header.mls_to else ()):
        try:
            _check_participant(p.value, p.authority, what)
        except InputError as e:
            raise ValueError(str(e)) from None
    if header.country_c1 is not None and not _COUNTRY.fullmatch(header.country_c1):
        raise ValueError(f"COUNTRY_C1 {header.country_c1!r} is not a country code (two capital letters)")
    if header.mls_type is not None and header.mls_type not in MLS_TYPES:
        raise ValueError(f"MLS_TYPE {header.mls_type!r} is not one of {', '.join(MLS_TYPES)}")
    if not header.document_type or not header.process:
        raise ValueError("an envelope names the document type (DOCUMENTID) and the process (PROCESSID)")
    reserved = {"DOCUMENTID", "PROCESSID", "COUNTRY_C1", "MLS_TO", "MLS_TYPE"}
    if any(s.type in reserved or not s.type for s in header.other_scopes):
        raise ValueError("other scopes have a Type of their own (not DOCUMENTID, PROCESSID, COUNTRY_C1, MLS_*)")
    if len(header.other_scopes) + 5 > MAX_SCOPES:
        raise ValueError(f"at most {MAX_SCOPES} scopes")
    root = etree.Element(ROOT, nsmap={"sh": NS})
    h = _sub(root, "StandardBusinessDocumentHeader")
    _sub(h, "HeaderVersion", HEADER_VERSION)
    for local_name, p in (("Sender", header.sender), ("Receiver", header.receiver)):
        _sub(_sub(h, local_name), "Identifier", p.value, Authority=p.authority)
    ident = _sub(h, "DocumentIdentification")
    _sub(ident, "Standard", standard)
    _sub(ident, "TypeVersion", header.type_version)
    _sub(ident, "InstanceIdentifier", header.instance_identifier or str(uuid.uuid4()))
    _sub(ident, "Type", local)
    _sub(ident, "CreationDateAndTime", _stamp(header.created_at or datetime.now(timezone.utc)))
    scopes = [Scope("DOCUMENTID", header.document_type, header.document_type_scheme),
              Scope("PROCESSID", header.process, header.process_scheme)]
    if header.country_c1:
        scopes.append(Scope("COUNTRY_C1", header.country_c1))
    if header.mls_to:
        scopes.append(Scope("MLS_TO", header.mls_to.value, header.mls_to.authority))
    if header.mls_type:
        scopes.append(Scope("MLS_TYPE", header.mls_type))
    bs = _sub(h, "BusinessScope")
    for s in scopes + list(header.other_scopes):
        el = _sub(bs, "Scope")
        _sub(el, "Type", s.type)
        _sub(el, "InstanceIdentifier", s.instance_identifier)
        if s.identifier:
            _sub(el, "Identifier", s.identifier)
    text = safe.serialize(root)                               # ends with the empty root's "/>"
    head, _, _ = text.rstrip().rpartition(b"</sh:StandardBusinessDocument>")
    if not head:
        raise AssertionError("the envelope's root was not written with an end tag")
    return head + b"  " + body + b"\n</sh:StandardBusinessDocument>\n"
