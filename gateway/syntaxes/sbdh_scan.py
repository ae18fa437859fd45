"""Where the parts of an envelope lie in its bytes, found in one streaming pass without a tree.

An SBDH can carry an invoice of tens of megabytes. What the reader needs from the whole of it
is small: that it is well-formed XML within the bounds ``gateway.xml.safe`` sets (no DTD, size,
depth), where the root's child elements (the header, then the business document) begin and
end as byte offsets, the business document's name, and whether it stands alone as it is or
uses a namespace prefix (or default namespace) declared on the envelope's root. expat gives
byte offsets and namespace prefixes as it reads a window at a time; lxml gives neither while
streaming, so it reads only the header afterwards (``gateway.syntaxes.sbdh``).

``Source`` is anything with ``size`` and ``read_at(offset, n)``: the AS4 transport's spooled
payload, or bytes through ``BytesSource``.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Optional, Protocol, Union
from xml.parsers import expat

from lxml import etree

from gateway.model.errors import HostileInputError, InputError
from gateway.xml import safe

__all__ = ["Source", "BytesSource", "Child", "Layout", "scan", "WINDOW"]

WINDOW = 1 << 20                   # read and parsed this much at a time
MAX_NAMESPACES = 10_000            # distinct namespace names in one envelope
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}


class Source(Protocol):
    size: int

    def read_at(self, offset: int, n: int) -> bytes: ...


class BytesSource:
    """Bytes in memory as a ``Source`` (no copy)."""

    def __init__(self, data: Union[bytes, bytearray, memoryview]):
        self._view = memoryview(data).cast("B")
        self.size = len(self._view)

    def read_at(self, offset: int, n: int) -> bytes:
        return bytes(self._view[offset:offset + n])


@dataclass
class Child:
    """One child element of the root: its namespace, local name, prefix, line, and byte span."""
    namespace: str
    local: str
    prefix: str
    line: int
    start: int                      # its start tag's '<'
    end_event: int = -1             # where expat reported its end (its end tag, or past an empty tag)
    end: int = -1                   # just past its end tag (``scan`` fills it in)

    @property
    def qname(self) -> str:
        return f"{self.prefix}:{self.local}" if self.prefix else self.local


@dataclass
class Layout:
    """What ``scan`` found: the root's name and declarations, its child elements (up to three are
    kept; ``children`` counts them all), the document's encoding, and whether the second child
    uses a binding declared on the root (``inherits``)."""
    root_namespace: str = ""
    root_local: str = ""
    root_line: int = 0
    root_declarations: list[tuple[str, str]] = field(default_factory=list)     # (prefix, uri) in order
    children: int = 0
    kept: list[Child] = field(default_factory=list)
    own_prefixes: set[str] = field(default_factory=set)                       # declared on the second child
    inherits: bool = False
    encoding: str = "utf-8"


def _name(name: str) -> tuple[str, str, str]:
    """expat's "uri local prefix" (``namespace_prefixes``) as (uri, local, prefix)."""
    parts = name.split(" ")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return "", parts[0], ""


def _encoding(declared: Optional[str], head: bytes) -> str:
    for bom, name in _UTF16_BOMS.items():
        if head.startswith(bom):
            return name
    if not declared:
        return "utf-8"
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise InputError(f"Malformed XML: unknown encoding {declared[:40]!r}") from None
    return "utf-16-be" if name == "utf-16" else name          # no byte order mark: big-endian, as expat reads it


def scan(source: Source, *, max_bytes: int = safe.DEFAULT_MAX_BYTES,
         max_depth: int = safe.DEFAULT_MAX_DEPTH) -> Layout:
    """One pass over ``source``: refuses (``InputError``, ``HostileInputError``) what
    ``safe.parse`` refuses (a DTD, more than ``max_bytes``, deeper than ``max_depth``, malformed
    XML), and says where the root's children lie."""
    if source.size > max_bytes:
        raise HostileInputError(f"XML document is {source.size:,} bytes, more than the {max_bytes:,} bytes accepted")
    head = source.read_at(0, 4)
    if source.size == 0 or not source.read_at(0, WINDOW).strip():
        raise InputError("Malformed XML: the document is empty")
    out = Layout()
    p = expat.ParserCreate(namespace_separator=" ")
    p.namespace_prefixes = True
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    declared: list[Optional[str]] = [None]
    names: set[str] = set()                          # namespace names declared, judged by libxml2 at the end
    pending: list[tuple[str, str]] = []
    scope: dict[str, list[int]] = {}                 # prefix -> the depths declaring it, innermost last
    at_depth: list[list[str]] = [[]]                 # prefixes declared at each open depth
    depth = 0
    inside = False                                   # within the second child of the root

    def doctype(*_args) -> None:
        raise HostileInputError(safe.DOCTYPE_MESSAGE)

    def xml_decl(version, encoding, standalone) -> None:
        declared[0] = encoding

    def ns_start(prefix, uri) -> None:
        pending.append((prefix or "", uri or ""))
        if uri and uri not in names:
            names.add(uri)
            if len(names) > MAX_NAMESPACES:
                raise HostileInputError(f"more than {MAX_NAMESPACES:,} distinct XML namespaces")

    def uses_root(prefix: str) -> bool:
        found = scope.get(prefix)
        return bool(found) and found[-1] == 1

    def start(name, attrs) -> None:
        nonlocal depth, pending, inside
        depth += 1
        uri, local, prefix = _name(name)
        if depth > max_depth:
            raise HostileInputError(f"XML nesting deeper than {max_depth} levels (element <{local}>)",
                                    line=p.CurrentLineNumber)
        mine = [pfx for pfx, _ in pending]
        for pfx in mine:
            scope.setdefault(pfx, []).append(depth)
        at_depth.append(mine)
        if depth == 1:
            out.root_namespace, out.root_local, out.root_declarations = uri, local, list(pending)
            out.root_line = p.CurrentLineNumber
        elif depth == 2:
            out.children += 1
            if len(out.kept) < 3:
                out.kept.append(Child(uri, local, prefix, p.CurrentLineNumber, p.CurrentByteIndex))
            inside = out.children == 2
            if inside:
                out.own_prefixes = set(mine)
        pending = []
        if inside and not out.inherits:
            if (uri and uses_root(prefix)) or any(
                    " " in a and uses_root(_name(a)[2]) for a in attrs if a.count(" ") == 2):
                out.inherits = True

    def end(name) -> None:
        nonlocal depth, inside
        if depth == 2:
            if out.children <= 3:
                out.kept[out.children - 1].end_event = p.CurrentByteIndex
            inside = False
        for pfx in at_depth.pop():
            scope[pfx].pop()
        depth -= 1

    p.StartDoctypeDeclHandler = doctype
    p.XmlDeclHandler = xml_decl
    p.StartNamespaceDeclHandler = ns_start
    p.StartElementHandler = start
    p.EndElementHandler = end
    try:
        pos = 0
        while pos < source.size:
            chunk = source.read_at(pos, WINDOW)
            if not chunk:
                break
            pos += len(chunk)
            p.Parse(chunk, False)
        p.Parse(b"", True)
    except expat.ExpatError as e:
        raise InputError(f"Malformed XML: {expat.ErrorString(e.code)}", line=e.lineno, column=e.offset) from None
    except (LookupError, UnicodeError, ValueError) as e:      # an encoding Python does not know or read
        raise InputError(f"Malformed XML: unsupported encoding ({str(e)[:80]})") from None
    _judge_namespaces(names)
    out.encoding = _encoding(declared[0], head)
    for child in out.kept:
        child.end = element_end(source, child, out.encoding)
    return out


def _judge_namespaces(names: set[str]) -> None:
    """libxml2 refuses namespace names it cannot parse as URIs, where expat takes any string: the
    envelope is refused for the same names the business document alone would be."""
    if not names:
        return
    text = "".join(f' xmlns:n{i}="{attribute(uri)}"' for i, uri in enumerate(sorted(names)))
    try:
        etree.fromstring(f"<r{text}/>".encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True,
                                                                        load_dtd=False, huge_tree=False))
    except etree.XMLSyntaxError as e:
        raise InputError(f"Malformed XML: {re.sub(r'xmlns:n[0-9]+', 'xmlns', e.msg or '')}") from None


def attribute(value: str) -> str:
    """``value`` as the text of a double-quoted attribute that reads back as exactly ``value``."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            .replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;"))


def _scan_to(source: Source, pos: int, want: str, quoted: bool, encoding: str) -> int:
    """The offset just past the first ``want`` character from ``pos`` (outside quoted attribute
    values when ``quoted``), in the document's encoding: UTF-8 or one byte a character (an ASCII
    byte is then always that character), or UTF-16 (two bytes a unit); the document is already
    known well-formed."""
    unit = len(">".encode(encoding))
    target = want.encode(encoding)
    marks = [target] + ([q.encode(encoding) for q in "\"'"] if quoted else [])
    quote: Optional[bytes] = None
    while pos < source.size:
        window = source.read_at(pos, 64 * 1024 - (64 * 1024) % unit)
        i = 0
        while i < len(window):
            found = [(h, m) for h, m in ((window.find(m, i), m) for m in ([quote] if quote else marks)) if h >= 0]
            if not found:
                break
            at, mark = min(found)
            if at % unit:                            # inside a UTF-16 unit, not a character: look on
                i = at + 1
                continue
            if quote is not None:
                quote = None
            elif mark == target:
                return pos + at + unit
            else:
                quote = mark
            i = at + unit
        pos += len(window)
    raise InputError("Malformed XML: an element's tag is not closed")


def element_end(source: Source, child: Child, encoding: str = "utf-8") -> int:
    """Just past ``child``'s end tag: its start tag's end when it is empty (``<X/>``), else the
    '>' of the end tag expat reported."""
    tag_end = _scan_to(source, child.start, ">", True, encoding)
    slash = "/".encode(encoding)
    if source.read_at(tag_end - 2 * len(slash), len(slash)) == slash:
        return tag_end
    return _scan_to(source, child.end_event, ">", False, encoding)
