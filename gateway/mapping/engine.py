"""The mapping engine: a syntax tree and the EN 16931 model, both ways.

It walks the model's groups and the mapping file's nodes together. Reading
selects elements with each node's path and converts text to typed values;
writing finds or creates elements along the same paths. It knows nothing of
any particular syntax: XML documents, EDIFACT and CSV all reach it as element
trees built by their adapters in ``gateway/syntaxes``.

Both directions report what they could not carry: values that do not parse
(read) and terms the target mapping has no place for (write). Writing also
reports what it adds: a term the invoice does not have but the target syntax
needs (a mapping ``default``) is written and reported as a ``WRITE-ADDED``
warning naming the term and its model path.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Optional

from lxml import etree

from gateway.model import invoice as model
from gateway.model.errors import InputError, MappingError
from gateway.model.findings import WARNING, Finding
from gateway.model.numbers import NumberError, checked, problem
from .paths import NoPlace, Path
from .spec import Alternative, Default, GroupNode, LeafNode, MappingSpec, Node

ADDED = "WRITE-ADDED"      # a value the invoice does not have, written because the syntax needs it

_TEMPLATE_TERM = re.compile(r"\{((?:BT|BG)-\d+(?:-\d+)?)\}")


# --- results ---------------------------------------------------------------------------

@dataclass
class SourceMap:
    """Model path -> the element (and attribute) a value was read from."""
    root: Optional[etree._Element] = None
    places: dict[str, tuple[etree._Element, Optional[str]]] = field(default_factory=dict)
    describe: Any = None   # syntax-specific: element -> human location; default: an XPath
    positions: "SiblingPositions" = field(default_factory=lambda: SiblingPositions())

    def where(self, el: etree._Element, attribute: Optional[str] = None) -> str:
        """How a person finds this element in the original: the syntax's own words, else an XPath."""
        return self.describe(el, attribute) if self.describe else xpath_of(el, attribute, self.positions)

    def add(self, mpath: str, element: etree._Element, attribute: Optional[str] = None) -> None:
        self.places[mpath] = (element, attribute)

    def lookup(self, mpath: Optional[str]) -> tuple[Optional[str], Optional[int]]:
        """(location, line) of a model path, or of its nearest recorded ancestor."""
        p = mpath
        while p:
            hit = self.places.get(p)
            if hit is not None:
                el, attr = hit
                return self.where(el, attr), el.sourceline
            p = _parent_path(p)
        if self.root is not None and mpath is not None:   # absent at top level: the document itself
            return self.where(self.root), self.root.sourceline
        return None, None

    def unread(self, structural: list = ()) -> list[tuple[etree._Element, Optional[str]]]:
        """Values in the source no mapping entry read: (element, attribute or None).

        Leaf texts and attributes count; those matched by the mapping's
        ``structural`` paths (scaffolding such as UBL's TaxScheme 'VAT') do not.
        A mapping's own list (``spec.Structural``) judges only the values left over,
        each against its patterns; ``unread_reference`` searches with every XPath."""
        if self.root is None:
            return []
        patterns = structural.patterns() if hasattr(structural, "patterns") else None
        if patterns is None:
            return self.unread_reference(structural)
        used = set(self.places.values())
        element, attribute = patterns.checker(self.root), patterns.attribute
        out = []
        for el in self.root.iter(etree.Element):
            if len(el) == 0 and (el, None) not in used and (el.text or "").strip() and not element(el):
                out.append((el, None))
            if el.attrib:
                for attr in el.attrib:
                    if (el, attr) not in used and not attr.startswith("{http://www.w3.org/2001/XMLSchema-instance}") \
                            and not attribute(el, attr):
                        out.append((el, attr))
        return out

    def unread_reference(self, structural: list = ()) -> list[tuple[etree._Element, Optional[str]]]:
        """``unread`` by the structural XPaths, each searching the whole tree: the reference."""
        if self.root is None:
            return []
        # element proxies are the keys: holding them keeps lxml's proxy identity stable
        used = set(self.places.values())
        for xp in structural:
            for hit in xp(self.root):
                if isinstance(hit, str):
                    used.add((hit.getparent(), getattr(hit, "attrname", None)))
                else:
                    used.add((hit, None))
        out = []
        for el in self.root.iter(etree.Element):
            if len(el) == 0 and (el.text or "").strip() and (el, None) not in used:
                out.append((el, None))
            for attr in el.attrib:
                if (el, attr) not in used and not attr.startswith("{http://www.w3.org/2001/XMLSchema-instance}"):
                    out.append((el, attr))
        return out

    def locate(self, findings: list[Finding]) -> list[Finding]:
        """Fill in location and line of findings that name a model path."""
        for f in findings:
            if f.path and not f.location:
                f.location, line = self.lookup(f.path)
                f.line = f.line or line
        return findings


def _parent_path(p: str) -> str:
    if p.endswith("]"):
        return p[: p.rfind("[")]
    return p.rpartition(".")[0]


class SiblingPositions:
    """Where an element stands among its same-name siblings, counted once per parent.

    Locating every one of n siblings by scanning the parent each time is
    quadratic (3,000 taxes in a line: seconds); one table per parent keeps a
    document's locations linear. The tables hold the element proxies, which
    keeps lxml's proxy identity stable; the tree must not change meanwhile."""

    def __init__(self) -> None:
        self._tables: dict[etree._Element, dict[etree._Element, int]] = {}

    def __call__(self, el: etree._Element) -> Optional[int]:
        """1-based position among the parent's children with its tag; None when it is alone."""
        parent = el.getparent()
        if parent is None:
            return None
        table = self._tables.get(parent)
        if table is None:
            counts = Counter(c.tag for c in parent)
            seen: Counter = Counter()
            table = {}
            for c in parent:
                if counts[c.tag] > 1:
                    seen[c.tag] += 1
                    table[c] = seen[c.tag]
            self._tables[parent] = table
        return table.get(el)


def xpath_of(el: etree._Element, attribute: Optional[str] = None,
             positions: Optional[SiblingPositions] = None) -> str:
    """A readable XPath with prefixes and positions: /Invoice/cac:InvoiceLine[2]/cbc:ID.

    Pass the same ``positions`` for every element of a document (a SourceMap
    does) so that locating many siblings stays linear."""
    position = positions if positions is not None else SiblingPositions()
    parts = []
    node = el
    while node is not None:
        q = etree.QName(node)
        prefix = node.prefix
        name = f"{prefix}:{q.localname}" if prefix else q.localname
        index = position(node)
        if index is not None:
            name += f"[{index}]"
        parts.append(name)
        node = node.getparent()
    out = "/" + "/".join(reversed(parts))
    return out + (f"/@{attribute}" if attribute else "")


@dataclass
class Dropped:
    """A business term present in the model that the target mapping cannot carry."""
    term: str
    path: str

    def __str__(self) -> str:
        return f"{self.term} ({self.path})"


@dataclass
class ReadResult:
    invoice: model.Invoice
    source_map: SourceMap
    findings: list[Finding]


@dataclass
class WriteResult:
    root: etree._Element
    dropped: list[Dropped]
    findings: list[Finding] = field(default_factory=list)    # values added (WRITE-ADDED warnings)


# --- value conversion ----------------------------------------------------------------------

def _format_value(value: Any, spec: MappingSpec, codes: Optional[dict] = None, fmt: Optional[str] = None,
                  term: Optional[str] = None) -> str:
    if isinstance(value, Decimal):
        why = problem(value, term)     # never expand a number no invoice holds (1E+999999999)
        if why is not None:
            raise NumberError(f"{value} {why}")
        text = format(value, "f")
        sep = spec.formats.get("decimal_separator")
        if sep and sep != ".":
            text = text.replace(".", sep)
    elif isinstance(value, date):
        text = value.strftime(fmt or spec.formats.get("date", "%Y-%m-%d"))
    elif isinstance(value, bytes):
        text = base64.b64encode(value).decode("ascii")
    else:
        text = str(value)
    if codes:
        text = codes.get(text, text)
    return text


class _ValueError(Exception):
    pass


def _decode(text: str, codes: Optional[dict]) -> str:
    """A syntax code back to the model's (codes map model -> syntax); unknown codes pass through."""
    if codes:
        for k, v in codes.items():
            if v == text:
                return k
    return text


def _parse_value(text: str, typ: Any, spec: MappingSpec, codes: Optional[dict] = None,
                 fmt: Optional[str] = None, term: Optional[str] = None) -> Any:
    """A typed value of a term's text; ``_ValueError`` when it is not one, ``NumberError``
    when it is a number out of the bounds of the term's data type (``gateway/numbers.py``)."""
    text = _decode(text, codes)
    if typ is Decimal:
        sep = spec.formats.get("decimal_separator")
        if sep and sep != ".":
            text = text.replace(sep, ".")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise _ValueError(f"{text!r} is not a decimal number") from None
        if not d.is_finite():
            raise _ValueError(f"{text!r} is not a finite number")
        return checked(d, term, text)
    if typ is date:
        fmt = fmt or spec.formats.get("date", "%Y-%m-%d")
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            raise _ValueError(f"{text!r} is not a date in the format {fmt}") from None
    if typ is bytes:
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _ValueError("attachment content is not valid base64") from None
    return text


@lru_cache(maxsize=None)
def _compile_template(template: str) -> tuple[re.Pattern, list[tuple[str, list[str]]]]:
    """'[#{BT-21}#]{BT-22}' -> a regex with one group per term, and the sections to compose."""
    sections: list[tuple[str, list[str]]] = []   # (text with {terms}, terms); "[..]" sections optional
    regex = []
    i = 0
    for m in re.finditer(r"\[([^\]]*)\]|([^\[]+)", template):
        optional = m.group(1) is not None
        chunk = m.group(1) if optional else m.group(2)
        part_re = []
        pos = 0
        for tm in _TEMPLATE_TERM.finditer(chunk):
            part_re.append(re.escape(chunk[pos:tm.start()]))
            part_re.append(f"(?P<t{i}>.*?)")
            i += 1
            pos = tm.end()
        part_re.append(re.escape(chunk[pos:]))
        body = "".join(part_re)
        regex.append(f"(?:{body})?" if optional else body)
        sections.append((("[" if optional else "") + chunk, _TEMPLATE_TERM.findall(chunk)))
    return re.compile("".join(regex) + r"\Z", re.S), sections


# --- reading ------------------------------------------------------------------------------

class Reader:
    def __init__(self, spec: MappingSpec, root: etree._Element, describe: Any = None):
        self.spec = spec
        self.root = root
        self.findings: list[Finding] = []
        self.smap = SourceMap(root=root, describe=describe)
        self.variables: dict[str, str] = {}
        self._order: Optional[dict] = None

    def run(self) -> ReadResult:
        # Terms used as path variables ($BT-5) are read first, from the top level.
        for tid in self.spec.variables:
            node = self.spec.tree.children.get(tid)
            if isinstance(node, LeafNode) and not node.repeats:
                hits = self.select(node, self.root)
                if hits:
                    raw = self.raw(hits[0])
                    if raw:
                        self.variables[tid] = _decode(raw, node.codes)
        for tid in self.spec.variables:
            self.variables.setdefault(tid, "")
        inv = self.group(model.Invoice, self.spec.tree, self.root, "")
        return ReadResult(inv or model.Invoice(), self.smap, self.findings)

    def select(self, node: Node, ctx: Optional[etree._Element]) -> list:
        if not node.places:
            return [ctx] if ctx is not None else []
        places = node.places
        if ctx is None:   # inside a group absent from this document: only absolute paths can hit
            places = [a for a in places if a.path.absolute]
        if node.repeats and len(places) > 1:
            hits = []
            for alt in places:
                hits.extend(alt.path.select(ctx, self.root, self.variables))
            return sorted(hits, key=self._doc_order)
        for alt in places:
            hits = alt.path.select(ctx, self.root, self.variables)
            if hits:
                return hits
        return []

    def _doc_order(self, hit: Any) -> int:
        if self._order is None:
            self._order = {el: i for i, el in enumerate(self.root.iter())}
        el = hit.getparent() if isinstance(hit, str) else hit
        return self._order.get(el, 0)

    @staticmethod
    def raw(hit: Any) -> Optional[str]:
        if isinstance(hit, str):
            return str(hit)
        if isinstance(hit, etree._Element):
            return hit.text
        return str(hit)

    def group(self, cls: type, node: GroupNode, ctx: etree._Element, mpath: str) -> Any:
        kwargs: dict[str, Any] = {}
        if node.text is not None:
            kwargs.update(self.template_values(cls, node.text, ctx.text or ""))
        for child in node.children.values():
            f = child.field
            cpath = f"{mpath}.{f.name}" if mpath else f.name
            hits = self.select(child, ctx)
            if f.repeats:
                if not child.repeats:
                    hits = hits[:1]
                items = []
                for i, hit in enumerate(hits):
                    v = self.value(child, hit, f"{cpath}[{i}]")
                    if v is not None:
                        items.append(v)
                kwargs[f.name] = items
            elif hits:
                kwargs[f.name] = self.value(child, hits[0], cpath)
                if isinstance(child, LeafNode) and child.broadcast and not child.into_first and len(hits) > 1:
                    self.broadcast_rest(child, hits, cpath)
            elif isinstance(child, GroupNode) and not child.repeats and self._has_absolute(child):
                obj = self.group(f.type, child, None, cpath)
                kwargs[f.name] = None if model.is_empty(obj) else obj
        obj = cls(**kwargs)
        if mpath and ctx is not None:
            self.smap.add(mpath, ctx)
        return obj

    @staticmethod
    def _has_absolute(node: GroupNode) -> bool:
        for c in node.children.values():
            if any(a.path.absolute for a in c.places):
                return True
            if isinstance(c, GroupNode) and Reader._has_absolute(c):
                return True
        return False

    def broadcast_rest(self, node: LeafNode, hits: list, mpath: str) -> None:
        """A term the syntax repeats (BT-81 in every PaymentMeans): all copies must agree."""
        first = self.raw(hits[0])
        for i, hit in enumerate(hits[1:], start=1):
            el = hit.getparent() if isinstance(hit, str) else hit
            attr = getattr(hit, "attrname", None)
            self.smap.add(f"{mpath}#{i}", el, attr)
            other = self.raw(hit)
            if (other or "").strip() != (first or "").strip():
                self.findings.append(Finding(
                    rule="READ-CONFLICT", severity=WARNING, terms=(node.term,), path=mpath,
                    message=f"{node.term} occurs several times with different values "
                            f"({(first or '').strip()!r}, {(other or '').strip()!r}); the first is kept",
                    location=self.smap.where(el, attr), line=el.sourceline))

    def template_values(self, cls: type, template: str, text: str) -> dict[str, Any]:
        regex, sections = _compile_template(template)
        terms = [t for _, ts in sections for t in ts]
        m = regex.match(text.strip())
        if not m:
            return {}
        by_term = {f.term: f.name for f in model.term_fields(cls)}
        out = {}
        for i, t in enumerate(terms):
            v = m.group(f"t{i}")
            if v:
                out[by_term[t]] = v.strip()
        return out

    def value(self, node: Node, hit: Any, mpath: str) -> Any:
        if isinstance(node, GroupNode):
            if not isinstance(hit, etree._Element):
                raise MappingError(f"{node.source}: a group must be located at an element")
            obj = self.group(node.field.type, node, hit, mpath)
            if node.field.repeats:
                return obj
            return None if model.is_empty(obj) else obj
        assert isinstance(node, LeafNode)
        typ = node.field.type
        if model.is_compound(typ):
            values = {}
            subs = {sf.term: sf for sf in model.term_fields(typ)}
            main = subs[""]
            values[main.name] = self.scalar(node, hit, main.type, mpath)
            owner = hit.getparent() if isinstance(hit, str) else hit
            for suffix, p in node.subs.items():
                sf = subs[suffix]
                got = p.select(owner, self.root, self.variables)
                if got:
                    values[sf.name] = self.scalar(node, got[0], sf.type, f"{mpath}.{sf.name}",
                                                  codes=node.sub_codes.get(suffix))
            obj = typ(**values)
            return None if model.is_empty(obj) else obj
        return self.scalar(node, hit, typ, mpath)

    @staticmethod
    def _is_placeholder(text: str, typ: Any, node: LeafNode) -> bool:
        if not node.absent:
            return False
        if typ is Decimal:
            try:
                return any(Decimal(text) == Decimal(a) for a in node.absent)
            except InvalidOperation:
                return False
        return text in node.absent

    def scalar(self, node: LeafNode, hit: Any, typ: Any, mpath: str, codes: Any = True) -> Any:
        """A typed value; ``codes`` is True for the node's own code list, or a sub-term's list (or None)."""
        text = self.raw(hit)
        if text is None:
            return None
        if node.strip or typ is not str:
            text = text.strip()
        if text == "" or self._is_placeholder(text, typ, node):
            return None
        if isinstance(hit, str):
            el, attr = hit.getparent(), getattr(hit, "attrname", None)
        else:
            el, attr = hit, None
        if el is not None:
            self.smap.add(mpath, el, attr)
        try:
            if codes is True:
                return _parse_value(text, typ, self.spec, node.codes, node.format, node.term)
            return _parse_value(text, typ, self.spec, codes or None)
        except NumberError as exc:       # no invoice holds it: the document is refused
            raise InputError(f"{node.term}: {exc}", location=self.smap.where(el, attr),
                             line=el.sourceline if el is not None else None) from None
        except _ValueError as exc:
            where = self.smap.where(el, attr)
            self.findings.append(Finding(
                rule="READ-VALUE", message=f"{node.term}: {exc}", terms=(node.term,), path=mpath,
                location=where, line=el.sourceline if el is not None else None))
            return None


# --- writing ------------------------------------------------------------------------------

class Writer:
    def __init__(self, spec: MappingSpec, invoice: model.Invoice, root: Optional[etree._Element] = None):
        self.spec = spec
        self.invoice = invoice
        if root is None:
            if not spec.root:
                raise MappingError(f"{spec.file}: no 'root' element to write")
            nsmap = {(k or None): v for k, v in spec.namespaces.items()}
            root = etree.Element(spec.root_tag, nsmap=nsmap)
        self.root = root
        self.dropped: list[Dropped] = []
        self.findings: list[Finding] = []
        self.variables = {}
        for tid in spec.variables:
            node = spec.tree.children.get(tid)
            v = model.term_value(invoice, tid, None)
            if v is None or isinstance(v, list) or dataclasses.is_dataclass(v):
                self.variables[tid] = ""
            else:
                try:
                    self.variables[tid] = (_format_value(v, spec, node.codes, node.format, tid)
                                           if isinstance(node, LeafNode) else str(v))
                except NumberError as exc:
                    raise _unwritable(tid, tid, exc) from None

    def run(self) -> WriteResult:
        self.group(self.invoice, self.spec.tree, self.root, "")
        _prune_empty(self.root)
        for p in self.spec.skeleton:
            p.ensure(self.root, self.root, self.variables)
        return WriteResult(self.root, self.dropped, self.findings)

    def drop(self, value: Any, tid: str, mpath: str) -> None:
        if dataclasses.is_dataclass(value) and not model.is_compound(type(value)):
            for sub_tid, sub_path, _ in model.iter_terms(value, mpath):
                self.dropped.append(Dropped(sub_tid, sub_path))
        elif model.is_compound(type(value)):
            for sf in model.term_fields(type(value)):
                if not model.is_empty(getattr(value, sf.name)):
                    self.dropped.append(Dropped(tid + sf.term, mpath if sf.term == "" else f"{mpath}.{sf.name}"))
        else:
            self.dropped.append(Dropped(tid, mpath))

    def group(self, obj: Any, node: GroupNode, el: etree._Element, mpath: str) -> None:
        template_terms = set(_TEMPLATE_TERM.findall(node.text)) if node.text else set()
        if node.text is not None:
            el.text = self.compose(obj, node.text)
        for f in model.term_fields(type(obj)):
            value = getattr(obj, f.name)
            if _absent(value) or f.term in node.children or f.term in template_terms:
                continue
            cpath = f"{mpath}.{f.name}" if mpath else f.name
            if f.repeats:
                for i, item in enumerate(value):
                    self.drop(item, f.term, f"{cpath}[{i}]")
            else:
                self.drop(value, f.term, cpath)
        # broadcast terms last: they go into every element the other terms created (or the first)
        for child in sorted(node.children.values(), key=lambda n: isinstance(n, LeafNode) and n.broadcast):
            f = child.field
            value = getattr(obj, f.name)
            cpath = f"{mpath}.{f.name}" if mpath else f.name
            if f.repeats:
                if not value:
                    continue
                items = value if child.repeats else value[:1]
                for i, item in enumerate(value[len(items):], start=len(items)):
                    self.drop(item, f.term, f"{cpath}[{i}]")
                outer = self.variables.get("position")
                for i, item in enumerate(items):
                    self.variables["position"] = str(i + 1)     # $position: the item's, 1-based
                    self.write_node(child, item, el, obj, f"{cpath}[{i}]", new_item=child.repeats)
                if outer is None:
                    self.variables.pop("position", None)
                else:
                    self.variables["position"] = outer
            elif not _absent(value):        # a group empty deep down leaves empty elements: pruned later
                self.write_node(child, value, el, obj, cpath, new_item=False)
            elif isinstance(child, LeafNode) and child.default is not None:
                self.write_default(child, el, obj, cpath)
        if node.const and mpath and not model.is_empty(obj):
            self.consts(node, el)

    def write_default(self, node: LeafNode, el: etree._Element, obj: Any, mpath: str) -> None:
        """A term the invoice does not have and the syntax needs: its default, written and reported."""
        value = self.default_value(node, node.default)
        if value is None:
            return
        written = len(self.dropped)
        self.write_node(node, value, el, obj, mpath, new_item=False)
        if len(self.dropped) > written:        # no place for it after all: nothing was added
            del self.dropped[written:]
            return
        text = _format_value(value, self.spec, None, node.format, node.term)
        self.findings.append(Finding(
            rule=ADDED, severity=WARNING, terms=(node.term,), path=mpath,
            message=f"{node.term} is not in the invoice, but {self.spec.name} needs it: written as {text} "
                    f"({node.default.describe()})"))

    def default_value(self, node: LeafNode, default: Default) -> Any:
        typ = node.field.type
        if default.sum_of is not None:
            values = [v for t, _, v in model.iter_terms(self.invoice) if t == default.sum_of and isinstance(v, Decimal)]
            return sum(values, Decimal(0))
        try:
            return _parse_value(default.value, typ, self.spec, None, node.format, node.term)
        except (_ValueError, NumberError) as exc:
            raise MappingError(f"{node.source}: default {default.value!r}: {exc}") from None

    def consts(self, node: Node, el: etree._Element) -> None:
        """Fill what the syntax requires beside the terms, where nothing is there yet."""
        for p, value in node.const:
            if value.startswith("$"):
                value = self.variables.get(value[1:], "")
            target = p.ensure(el, self.root, self.variables)
            if p.target_attribute:
                if target.get(p.target_attribute) is None:
                    target.set(p.target_attribute, value)
            elif not (target.text or "").strip():
                target.text = value

    def choose(self, node: Node, value: Any, parent_obj: Any) -> Optional[Alternative]:
        alts = node.write_alternatives()
        for alt in alts:
            if any(model.is_empty(self._term_value(value, node.term, t, parent_obj)) for t in alt.when):
                continue
            if alt.unless_same:
                vals = [self._term_value(value, node.term, t, parent_obj) for t in alt.unless_same]
                if vals[0] is not None and all(v == vals[0] for v in vals[1:]):
                    continue
            if alt.matches is not None:
                main = value
                if model.is_compound(type(value)):
                    main = getattr(value, model.term_fields(type(value))[0].name)
                if main is None or not alt.matches.search(str(main)):
                    continue
            return alt
        return None

    def _term_value(self, value: Any, own: str, tid: str, parent_obj: Any) -> Any:
        """A condition's term: a sub-term of the value, a sibling, or a document-level term."""
        if tid == own:
            return value
        if tid.startswith(own) and dataclasses.is_dataclass(value):
            sub = model.term_value(value, tid[len(own):], _NOT_HERE)
            if sub is not _NOT_HERE:
                return sub
        for obj in (parent_obj, self.invoice):
            found = model.term_value(obj, tid, _NOT_HERE)
            if found is not _NOT_HERE:
                return found
        return None

    def write_node(self, node: Node, value: Any, ctx: etree._Element, parent_obj: Any, mpath: str,
                   *, new_item: bool) -> None:
        if not node.write_alternatives():
            if new_item:
                raise MappingError(f"{node.source}: a repeating term needs an 'each' path")
            target = ctx
            alt = None
        else:
            alt = self.choose(node, value, parent_obj)
            if alt is None:
                self.drop(value, node.term, mpath)
                return
            target = None
        try:
            if isinstance(node, GroupNode):
                if alt is not None:
                    target = alt.path.ensure(ctx, self.root, self.variables, new_item=new_item)
                self.group(value, node, target, mpath)
                return
            assert isinstance(node, LeafNode)
            if alt is None:
                targets = [target]
            elif node.broadcast and not node.into_first:   # into every element the path's first step matches
                targets = alt.path.ensure_all(ctx, self.root, self.variables)
            else:
                targets = [alt.path.ensure(ctx, self.root, self.variables, new_item=new_item)]
        except NoPlace:                   # e.g. BT-150 beside a price the invoice does not have
            self.drop(value, node.term, mpath)
            return
        if model.is_compound(type(value)):
            main = next(sf for sf in model.term_fields(type(value)) if sf.term == "")
            main_value = getattr(value, main.name)
        else:
            main_value = value
        for target in targets:
            try:
                self.put(node, alt.path if alt else None, target, main_value)
            except NumberError as exc:
                raise _unwritable(node.term, mpath, exc) from None
            if model.is_compound(type(value)):
                self.put_subterms(node, value, target, mpath)
            if node.const:
                self.consts(node, target)

    def put_subterms(self, node: LeafNode, value: Any, target: etree._Element, mpath: str) -> None:
        """The scheme, MIME code, file name ... of a compound value, beside its main value."""
        for sf in model.term_fields(type(value)):
            sv = getattr(value, sf.name)
            if sf.term == "" or _absent(sv):
                continue
            p = node.subs.get(sf.term)
            listed = node.sub_codes.get(sf.term, {})
            if p is None or (sf.term in node.sub_only_listed and str(sv) not in listed):
                self.drop(sv, node.term + sf.term, f"{mpath}.{sf.name}")   # no place, or no code for it
                continue
            owner = p.ensure(target, self.root, self.variables)
            text = _format_value(sv, self.spec, node.sub_codes.get(sf.term))
            if p.target_attribute:
                owner.set(p.target_attribute, text)
            else:
                owner.text = text

    def put(self, node: LeafNode, path: Optional[Path], target: etree._Element, value: Any) -> None:
        if value is None:
            return
        text = _format_value(value, self.spec, node.codes, node.format, node.term)
        attr = path.target_attribute if path else None
        if attr:
            target.set(attr, text)
            return
        target.text = text
        attrs = dict(self.spec.datatype_attrs.get(model.datatype(node.term) or "", {}))
        attrs.update(node.attrs)
        for k, v in attrs.items():
            v = self.variables.get(v[1:], "") if v.startswith("$") else v
            if v:
                target.set(k, v)

    def compose(self, obj: Any, template: str) -> str:
        by_term = {f.term: getattr(obj, f.name) for f in model.term_fields(type(obj))}
        _, sections = _compile_template(template)
        out = []
        for chunk, terms in sections:
            optional = chunk.startswith("[")
            body = chunk[1:] if optional else chunk
            if optional and any(model.is_empty(by_term.get(t)) for t in terms):
                continue
            out.append(_TEMPLATE_TERM.sub(lambda m: str(by_term.get(m.group(1)) or ""), body))
        return "".join(out)


_NOT_HERE = object()   # "this object has no such term" (as opposed to a term whose value is None)


def _unwritable(term: str, mpath: str, exc: NumberError) -> InputError:
    """A model value no syntax can hold (built around the readers): the invoice is refused."""
    return InputError(f"{term}: {exc}; the invoice cannot be written", location=mpath)


def _absent(value: Any) -> bool:
    """Shallow emptiness, for the write path (deep checks there cost more than the pruning they save)."""
    return value is None or value == "" or value == []


def _prune_empty(el: etree._Element) -> bool:
    """Remove descendants with no text, no attributes and no children left; True if el is empty."""
    for child in list(el):
        if _prune_empty(child):
            el.remove(child)
    return len(el) == 0 and not (el.text or "").strip() and not el.attrib


def read(spec: MappingSpec, root: etree._Element, describe: Any = None) -> ReadResult:
    """Read a syntax tree into the model through a mapping.

    ``describe(element, attribute) -> str`` says where a value is in the
    syntax's own terms (EDIFACT segment and element, CSV row and column);
    without it, locations are XPaths."""
    return Reader(spec, root, describe).run()


def write(spec: MappingSpec, invoice: model.Invoice, root: Optional[etree._Element] = None) -> WriteResult:
    """Write the model into a syntax tree through a mapping; say what could not be carried."""
    return Writer(spec, invoice, root).run()
