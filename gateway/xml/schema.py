"""What an XSD says about a syntax: validation, and the order children must come in.

Writers (the mapping engine writing UBL or CII) append elements in whatever
order the mapping file lists business terms; XSDs use ``xsd:sequence``, so
the result must be reordered. Rather than keep hand-written order lists that
drift from the official schemas, ``sort_children`` reads the order from the
XSD files themselves.

The XSD reader understands what UBL 2.1 and CII D16B (and Factur-X's
restrictions of it) use: ``include``/``import``, global and local element
declarations (``name`` + ``type`` or an anonymous ``complexType``), ``ref=``,
named and anonymous complex types, ``sequence``/``choice``/``all``,
``group ref``, ``complexContent`` extension (base content first) and
restriction, ``simpleContent`` and wildcards. Types are resolved per parent
type, because CII declares elements locally (``ram:ID`` is a different thing
under different parents) while UBL uses global elements and ``ref``.
Not handled: substitution groups and ``redefine``/``override`` (none of the
supported schemas use them).

Ranks: each element particle of a content model gets an increasing rank.
All elements inside a *repeating* group (``maxOccurs`` > 1 on a sequence,
choice or group ref) and inside ``xsd:all`` share one rank, because there
the schema allows them interleaved: their input order is kept (the sort is
stable). Children the type does not know take the rank of the type's
wildcard when it has one, else they go after every known child.

Everything is lazy: ``XmlSchema(path)`` costs nothing; the XSD files are
read on the first ``sort_children``, the lxml ``XMLSchema`` is built on the
first ``validate``, and each type's child table is built the first time an
element of that type is met.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from lxml import etree

from gateway.model.findings import FATAL, Finding

__all__ = ["XmlSchema", "load_schema"]

XS = "http://www.w3.org/2001/XMLSchema"
_ELEMENT = f"{{{XS}}}element"
_SEQUENCE = f"{{{XS}}}sequence"
_CHOICE = f"{{{XS}}}choice"
_ALL = f"{{{XS}}}all"
_GROUP = f"{{{XS}}}group"
_ANY = f"{{{XS}}}any"
_COMPLEX = f"{{{XS}}}complexType"
_SIMPLE = f"{{{XS}}}simpleType"
_COMPLEX_CONTENT = f"{{{XS}}}complexContent"
_SIMPLE_CONTENT = f"{{{XS}}}simpleContent"
_EXTENSION = f"{{{XS}}}extension"
_RESTRICTION = f"{{{XS}}}restriction"
_INCLUDE = f"{{{XS}}}include"
_IMPORT = f"{{{XS}}}import"
_ANY_TYPE = f"{{{XS}}}anyType"
_MODEL_GROUPS = (_SEQUENCE, _CHOICE, _ALL)


def _xsd_parser() -> etree.XMLParser:
    # XSD files are package data we trust, but some (xmldsig) carry a DOCTYPE
    # with internal entities: resolve those, never anything from outside.
    return etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False,
                           remove_comments=True, remove_blank_text=True)


class _Doc:
    """One XSD file: its target namespace and element form default."""
    __slots__ = ("tns", "qualified", "chameleon")

    def __init__(self, tns: Optional[str], qualified: bool, chameleon: bool):
        self.tns = tns
        self.qualified = qualified
        self.chameleon = chameleon


class _Type:
    """A complex type's child table: child QName (Clark) -> (rank, child type or None)."""
    __slots__ = ("name", "node", "doc", "filled", "children", "wildcard", "end")

    def __init__(self, name: str, node: Optional[etree._Element], doc: Optional[_Doc]):
        self.name = name
        self.node = node
        self.doc = doc
        self.filled = node is None
        self.children: dict[str, tuple[int, Optional[_Type]]] = {}
        self.wildcard: Optional[int] = None
        self.end = 0  # rank for children the type does not know

    def __repr__(self) -> str:
        return f"<_Type {self.name} {len(self.children)} children>"


_EMPTY = _Type("(simple)", None, None)  # simple types and simple content: no child elements


def _max_occurs(node: etree._Element) -> float:
    v = node.get("maxOccurs", "1")
    return float("inf") if v == "unbounded" else int(v)


class _Builder:
    """Assigns ranks while walking one content model."""
    __slots__ = ("t", "next", "group")

    def __init__(self, t: _Type):
        self.t = t
        self.next = 0
        self.group: Optional[int] = None  # shared rank inside a repeating group

    def rank(self) -> int:
        if self.group is not None:
            return self.group
        r = self.next
        self.next += 1
        return r

    def add(self, name: str, typ: Optional[_Type]) -> None:
        if name not in self.t.children:  # an element met again later keeps its first rank
            self.t.children[name] = (self.rank(), typ)


class _Model:
    """The global declarations of a set of XSD files, and the lazily built type tables."""

    def __init__(self, entry: Path):
        self.elements: dict[str, tuple[etree._Element, _Doc]] = {}
        self.types: dict[str, tuple[etree._Element, _Doc]] = {}
        self.groups: dict[str, tuple[etree._Element, _Doc]] = {}
        self._named: dict[str, Optional[_Type]] = {}
        self._global_types: dict[str, Optional[_Type]] = {}
        self._seen: set[tuple[Path, Optional[str]]] = set()
        self._lock = threading.RLock()
        self.files = 0
        self._load(entry, None)

    # --- reading the files --------------------------------------------------------
    def _load(self, path: Path, chameleon_tns: Optional[str]) -> None:
        path = path.resolve()
        key = (path, chameleon_tns)
        if key in self._seen:
            return
        self._seen.add(key)
        root = etree.parse(str(path), _xsd_parser()).getroot()
        self.files += 1
        own_tns = root.get("targetNamespace")
        doc = _Doc(own_tns if own_tns is not None else chameleon_tns,
                   root.get("elementFormDefault") == "qualified",
                   own_tns is None and chameleon_tns is not None)
        for node in root:
            tag, name = node.tag, node.get("name")
            if tag in (_INCLUDE, _IMPORT):
                loc = node.get("schemaLocation")
                if loc:
                    self._load(path.parent / loc, doc.tns if tag == _INCLUDE else None)
            elif name is None:
                continue
            elif tag == _ELEMENT:
                self.elements.setdefault(self._clark(doc.tns, name), (node, doc))
            elif tag in (_COMPLEX, _SIMPLE):
                self.types.setdefault(self._clark(doc.tns, name), (node, doc))
            elif tag == _GROUP:
                self.groups.setdefault(self._clark(doc.tns, name), (node, doc))

    @staticmethod
    def _clark(ns: Optional[str], local: str) -> str:
        return f"{{{ns}}}{local}" if ns else local

    def _qname(self, node: etree._Element, value: str, doc: _Doc) -> str:
        prefix, _, local = value.rpartition(":")
        ns = node.nsmap.get(prefix or None)
        if ns is None and doc.chameleon:
            ns = doc.tns
        return self._clark(ns, local)

    # --- types ---------------------------------------------------------------------
    def named_type(self, clark: str) -> Optional[_Type]:
        """The table of a named type; ``None`` when unknown (anyType, missing)."""
        try:
            return self._named[clark]
        except KeyError:
            pass
        entry = self.types.get(clark)
        if entry is None:
            t = None if clark == _ANY_TYPE or not clark.startswith(f"{{{XS}}}") else _EMPTY
        elif entry[0].tag == _SIMPLE:
            t = _EMPTY
        else:
            t = _Type(clark, *entry)
        self._named[clark] = t
        return t

    def global_element_type(self, clark: str) -> Optional[_Type]:
        """Type of a global element declaration, ``None`` when not declared or untyped."""
        try:
            return self._global_types[clark]
        except KeyError:
            pass
        entry = self.elements.get(clark)
        t = self._element_type(*entry) if entry else None
        self._global_types[clark] = t
        return t

    def _element_type(self, node: etree._Element, doc: _Doc) -> Optional[_Type]:
        tname = node.get("type")
        if tname:
            return self.named_type(self._qname(node, tname, doc))
        for c in node:
            if c.tag == _COMPLEX:
                return _Type(f"(anonymous in {node.get('name')})", c, doc)
            if c.tag == _SIMPLE:
                return _EMPTY
        return None

    def fill(self, t: _Type) -> _Type:
        """Build the child table of ``t`` (once; thread-safe)."""
        if t.filled:
            return t
        with self._lock:
            if not t.filled:
                b = _Builder(t)
                self._content(b, t.node, t.doc)
                t.end = b.next
                t.node = None
                t.filled = True
        return t

    def _content(self, b: _Builder, ctype: etree._Element, doc: _Doc) -> None:
        for c in ctype:
            if c.tag in _MODEL_GROUPS or c.tag == _GROUP:
                self._particle(b, c, doc, False)
            elif c.tag == _COMPLEX_CONTENT:
                for d in c:
                    if d.tag == _EXTENSION:
                        base = self.named_type(self._qname(d, d.get("base", ""), doc))
                        if base is not None and base is not _EMPTY:
                            self._inherit(b, self.fill(base))
                        self._content(b, d, doc)
                    elif d.tag == _RESTRICTION:  # a restriction restates the whole content
                        self._content(b, d, doc)
            # simpleContent, attributes, annotations: no child elements

    def _inherit(self, b: _Builder, base: _Type) -> None:
        offset = b.next
        for name, (rank, typ) in base.children.items():
            b.t.children.setdefault(name, (rank + offset, typ))
        if base.wildcard is not None and b.t.wildcard is None:
            b.t.wildcard = base.wildcard + offset
        b.next = offset + base.end

    def _particle(self, b: _Builder, node: etree._Element, doc: _Doc, repeated: bool) -> None:
        tag = node.tag
        if tag == _ELEMENT:
            ref = node.get("ref")
            if ref:
                name = self._qname(node, ref, doc)
                b.add(name, self.global_element_type(name))
            else:
                form = node.get("form")
                qualified = doc.qualified if form is None else form == "qualified"
                name = self._clark(doc.tns if qualified else None, node.get("name"))
                b.add(name, self._element_type(node, doc))
            return
        if tag == _ANY:
            if b.t.wildcard is None:
                b.t.wildcard = b.rank()
            return
        if tag == _GROUP:
            entry = self.groups.get(self._qname(node, node.get("ref", ""), doc))
            if entry is None:
                return
            rep = repeated or _max_occurs(node) > 1
            opened = self._open(b, rep, repeated)
            for c in entry[0]:
                if c.tag in _MODEL_GROUPS:
                    self._particle(b, c, entry[1], rep)
            if opened:
                b.group = None
            return
        if tag in _MODEL_GROUPS:
            rep = repeated or tag == _ALL or _max_occurs(node) > 1
            opened = self._open(b, rep, repeated)
            for c in node:
                self._particle(b, c, doc, rep)
            if opened:
                b.group = None

    @staticmethod
    def _open(b: _Builder, rep: bool, already: bool) -> bool:
        if rep and not already:
            b.group = b.next
            b.next += 1
            return True
        return False


class XmlSchema:
    """One XSD entry file: validation and child ordering. Use ``load_schema(path)``."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"XSD not found: {self.path}")
        self._lock = threading.Lock()
        self._xmlschema: Optional[etree.XMLSchema] = None
        self._model: Optional[_Model] = None

    def __repr__(self) -> str:
        return f"XmlSchema({str(self.path)!r})"

    # --- validation ----------------------------------------------------------------
    def _compiled(self) -> etree.XMLSchema:
        if self._xmlschema is None:
            doc = etree.parse(str(self.path), _xsd_parser())
            self._xmlschema = etree.XMLSchema(doc)
        return self._xmlschema

    def validate(self, root: etree._Element) -> list[Finding]:
        """XSD-validate ``root``; one fatal ``Finding(rule="XSD")`` per error, with line and XPath."""
        with self._lock:  # the error log lives on the schema object: one validation at a time
            schema = self._compiled()
            if schema.validate(root):
                return []
            log = list(schema.error_log)
        return [
            Finding(rule="XSD", message=e.message, severity=FATAL,
                    line=e.line or None, location=getattr(e, "path", None) or None)
            for e in log
        ]

    def is_valid(self, root: etree._Element) -> bool:
        return not self.validate(root)

    # --- ordering ------------------------------------------------------------------
    def model(self) -> _Model:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _Model(self.path)
        return self._model

    def sort_children(self, root: etree._Element) -> None:
        """Reorder, in place and recursively, every element's children into XSD order.

        Stable: repeated elements, and elements sharing a rank, keep their
        order. Comments and processing instructions travel with the element
        that follows them; tails travel with their element. Children the
        schema does not know keep their order after the known ones.
        """
        model = self.model()
        fill = model.fill
        global_type = model.global_element_type
        stack: list[tuple[etree._Element, Optional[_Type]]] = [(root, global_type(root.tag))]
        while stack:
            el, t = stack.pop()
            if len(el) == 0:
                continue
            if t is not None and not t.filled:
                fill(t)
            if t is None:
                known: dict = {}
                default = 0
            else:
                known = t.children
                default = t.end if t.wildcard is None else t.wildcard
            units: list[tuple[int, list[etree._Element]]] = []
            pending: list[etree._Element] = []  # comments/PIs waiting for their element
            last = -1
            in_order = True
            for c in el:
                tag = c.tag
                if not isinstance(tag, str):
                    pending.append(c)
                    continue
                hit = known.get(tag)
                if hit is None:
                    rank, ct = default, global_type(tag)
                else:
                    rank, ct = hit
                if rank < last:
                    in_order = False
                last = rank
                pending.append(c)
                units.append((rank, pending))
                pending = []
                if ct is not _EMPTY and len(c):
                    stack.append((c, ct))
            if not in_order:
                units.sort(key=lambda u: u[0])
                el[:] = [n for _, nodes in units for n in nodes] + pending


@lru_cache(maxsize=None)
def _load(path: str) -> XmlSchema:
    return XmlSchema(path)


def load_schema(path: Union[str, Path]) -> XmlSchema:
    """The ``XmlSchema`` of an XSD entry file, one instance per resolved path."""
    return _load(str(Path(path).resolve()))
