"""EDIFACT message <-> ISO 20625-style element tree, driven by a message grammar.

The mapping engine reads and writes element trees; for EDIFACT the tree is
the one ISO 20625 defines and the CEN EN 16931 artefacts use (root
``M_INVOIC``, groups ``G_SG2``, segments ``S_NAD``, composites ``C_C082``,
simple elements and components ``D_3039``), so the official CEN schematron
judges what we write and mapping files say ``G_SG2[S_NAD/D_3035='SE']/S_NAD/C_C080/D_3036``.

* ``build_tree(segments, grammar)`` places every segment of one message
  (UNH ... UNT) by the segment table: a group starts at its trigger segment
  and ends when a segment belongs to an enclosing level. Nothing is dropped:
  a segment the table has no place for (unknown tag, out of order) stays in
  the tree where it was met, element data beyond a segment's layout becomes
  ``X_<position>`` elements, and each case is a finding naming its segment.
* ``tree_to_segments(root, grammar)`` is the way back: segments in table order,
  elements by position, empty trailing elements and components trimmed.

Segments are a small local type (``Segment``: tag, elements as lists of
components, number in the message, optional source line, ISO 9735 v4
repetitions) so this module does not depend on the syntax layer; ``adapt``
takes anything that looks like a segment (``tag`` + ``elements`` whose items
are strings or lists of strings, e.g. pydifact's).

XML has line numbers; EDIFACT has segment numbers and element positions. The
tree keeps them beside the elements (``MessageTree.places``) and
``MessageTree.describe`` is the mapping engine's ``describe`` hook:
"segment 14 (MOA), element 1, component 2".
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from lxml import etree

# lxml keeps source lines in 16 bits; beyond that the segment number and byte offset still locate it
MAX_SOURCELINE = 65535

from gateway.mapping.engine import SiblingPositions, xpath_of
from gateway.model.findings import FATAL, WARNING, Finding
from gateway.syntaxes.edifact.grammar import ElementDef, Entry, Grammar, Representation, SegmentDef

STRUCTURE = "EDIFACT-STRUCTURE"    # segment table: unknown, misplaced, missing, too many
ELEMENT = "EDIFACT-ELEMENT"        # element level: data beyond the layout, bad value
_EXTRA = re.compile(r"^X_(\d+)(?:_(\d+))?$")


# --- segments ---------------------------------------------------------------------------------

@dataclass
class Segment:
    """One segment: ``NAD+SE+123:0088`` is ``Segment("NAD", [["SE"], ["123", "0088"]])``.

    ``elements[i]`` are the components of element position i+1 (a simple element
    is a list of one); ``""`` is an empty component. A repeated element (ISO 9735 v4
    ``*``) keeps its first occurrence in ``elements`` and all of them in
    ``repeats[position]`` (1-based), as the syntax layer's ``Segment`` does.
    """
    tag: str
    elements: list[list[str]] = field(default_factory=list)
    number: int = 0                       # position in the message, UNH = 1 (0: not known)
    line: Optional[int] = None            # line in the source file, when the syntax layer knows it
    repeats: dict[int, list[list[str]]] = field(default_factory=dict)

    @classmethod
    def of(cls, tag: str, *elements: Any, **kw: Any) -> "Segment":
        """``Segment.of("NAD", "SE", ["123", "0088"])``."""
        return cls(tag, [_components(e) for e in elements], **kw)

    def __str__(self) -> str:
        """A readable rendering (no escaping: for messages and tests, not for interchange)."""
        parts = [self.tag]
        for i, el in enumerate(self.elements, start=1):
            occ = self.repeats.get(i) or [el]
            parts.append("*".join(":".join(c) for c in occ))
        return "+".join(parts).rstrip("+")


def _components(value: Any) -> list[str]:
    if value is None:
        return [""]
    if isinstance(value, str):
        return [value]
    return ["" if c is None else str(c) for c in value]


def adapt(segment: Any, number: int = 0) -> Segment:
    """Our ``Segment`` from one of ours, a ``(tag, elements)`` pair, or any object with
    ``tag`` and ``elements``: the syntax layer's (``position`` in the message, ``line``,
    1-based ``repeats``) or pydifact's (each element a string or a list of strings)."""
    if isinstance(segment, Segment):
        if number and not segment.number:
            segment.number = number
        return segment
    if isinstance(segment, tuple):
        tag, elements = segment
        line, repeats = None, None
    else:
        tag, elements = segment.tag, segment.elements
        line = getattr(segment, "line", None)
        repeats = getattr(segment, "repeats", None)
        position = getattr(segment, "position", None)
        if isinstance(position, int) and position > 0:
            number = position
    if not isinstance(line, int):
        line = None
    # lists of strings (the syntax layer's, pydifact's composites) are taken as they are: never changed here
    out = Segment(str(tag), [e if type(e) is list and None not in e else _components(e) for e in elements],
                  number=number, line=line)
    if isinstance(repeats, dict):
        out.repeats = {int(k): [_components(o) for o in v] for k, v in repeats.items() if v}
    return out


# --- where things are ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    segment: int                      # number in the message (UNH = 1)
    tag: str
    element: Optional[int] = None     # 1-based element position
    component: Optional[int] = None   # 1-based component position
    repetition: int = 1
    group: Optional[str] = None       # for a group element: "SG27"

    def __str__(self) -> str:
        if self.group:
            return f"segment group {self.group[2:]} (from segment {self.segment}, {self.tag})"
        out = f"segment {self.segment} ({self.tag})"
        if self.element is not None:
            out += f", element {self.element}"
            if self.repetition > 1:
                out += f" (repetition {self.repetition})"
        if self.component is not None:
            out += f", component {self.component}"
        return out


class MessageTree:
    """The element tree of one message, with where each element came from.

    Places are kept in one of two forms: a dict element -> ``Place`` (the reference builder
    makes one per element as it goes), or, from the fast builder, each element's position in
    document order and a plain tuple per position, worded as a ``Place`` only when asked."""

    def __init__(self, root: etree._Element, grammar: Grammar):
        self.root = root
        self.grammar = grammar
        # element proxies are the keys: holding them keeps lxml's proxy identity stable
        self._places: Optional[dict[etree._Element, Place]] = {}
        self._index: Optional[dict[etree._Element, int]] = None     # fast builder: element -> position
        self._facts: Optional[list[tuple]] = None                     # ... and Place arguments by position
        self.findings: list[Finding] = []
        self._positions: Optional[SiblingPositions] = None      # made when first needed

    @property
    def places(self) -> dict[etree._Element, Place]:
        """Every element's place (made in full when the tree was built lazily)."""
        if self._places is None:
            facts = self._facts
            self._places = {el: _place(facts[i]) for el, i in self._positions_of().items() if facts[i] is not None}
        return self._places

    def _positions_of(self) -> dict[etree._Element, int]:
        """Element -> its position in document order, made on first use: most messages are read
        without a finding, and then no place is ever worded (the tree is not changed once built)."""
        if self._index is None:
            self._index = {el: i for i, el in enumerate(self.root.iter())}
        return self._index

    def place(self, el: etree._Element) -> Optional[Place]:
        if self._places is not None:
            return self._places.get(el)
        i = self._positions_of().get(el)
        if i is None:
            return None
        fact = self._facts[i]
        return None if fact is None else _place(fact)

    def describe(self, el: etree._Element, attribute: Optional[str] = None) -> str:
        """The mapping engine's ``describe`` hook: a place in EDIFACT words."""
        p = self.place(el)
        if p is not None:
            return str(p)
        if el is self.root or el.getparent() is None:
            return f"message {self.grammar.message} {self.grammar.directory}"
        if self._positions is None:
            self._positions = SiblingPositions()
        return xpath_of(el, attribute, self._positions)

    def _finding(self, rule: str, message: str, place: Optional[Place], line: Optional[int],
                 severity: str = WARNING) -> None:
        self.findings.append(Finding(rule=rule, severity=severity, message=message,
                                     location=str(place) if place else None, line=line))


def _place(fact: tuple) -> Place:
    """``Place`` of a fast builder's tuple: (segment, tag, element, component, repetition, group)."""
    return Place(*fact)


# --- segments -> tree ----------------------------------------------------------------------------

@dataclass
class _Frame:
    entries: list[Entry]
    element: etree._Element
    group: Optional[Entry]
    pos: int = -1                         # index of the last entry matched at this level
    counts: dict[int, int] = field(default_factory=dict)
    start: Optional[Segment] = None       # the trigger segment of this group instance


def build_tree_reference(segments: Iterable[Any], grammar: Grammar) -> MessageTree:
    """The element tree of one message (its segments UNH ... UNT, in order), element by element:
    the reference ``build_tree`` agrees with (and falls back on)."""
    root = etree.Element(grammar.root_name)
    tree = MessageTree(root, grammar)
    frames = [_Frame(grammar.structure, root, None)]
    for i, raw in enumerate(segments, start=1):
        seg = adapt(raw, i)
        placed = False
        for depth in range(len(frames) - 1, -1, -1):
            frame = frames[depth]
            idx = _match(frame, seg.tag, innermost=depth == len(frames) - 1)
            if idx is None:
                continue
            for closed in frames[depth + 1:]:
                _check_end(tree, closed)
            del frames[depth + 1:]
            _advance(tree, frame, idx, seg)
            entry = frame.entries[idx]
            if entry.group:
                g = etree.SubElement(frame.element, entry.element_name)
                tree.places[g] = Place(seg.number, seg.tag, group=entry.name)
                if seg.line and seg.line <= MAX_SOURCELINE:
                    g.sourceline = seg.line
                _add_segment(tree, g, seg)
                frames.append(_Frame(entry.children, g, entry, pos=0, counts={0: 1}, start=seg))
            else:
                _add_segment(tree, frame.element, seg)
            placed = True
            break
        if not placed:
            el = _add_segment(tree, frames[-1].element, seg)
            where = frames[-1].group.name if frames[-1].group else "the message level"
            known = seg.tag in grammar.segments
            tree._finding(STRUCTURE,
                          (f"segment {seg.tag} is not expected here by the {grammar.message} "
                           f"{grammar.directory} segment table; kept in {where}") if known else
                          (f"segment {seg.tag} is not part of {grammar.message} {grammar.directory}; "
                           f"kept in {where}, its data is not read"),
                          tree.places[el], seg.line)
    for frame in reversed(frames):
        _check_end(tree, frame)
    return tree


def _match(frame: _Frame, tag: str, *, innermost: bool) -> Optional[int]:
    """Index of the entry at this level that takes a segment ``tag``, or None.

    Only forward (or the current entry again); a group's trigger never matches
    inside the group (its repetition belongs to the enclosing level). Leaving a
    group for an enclosing level never skips an entry that is mandatory and not
    yet seen: such a segment is out of place rather than the start of a jump."""
    start = max(frame.pos, 1 if frame.group else 0)
    for i in range(start, len(frame.entries)):
        entry = frame.entries[i]
        if entry.tag == tag:
            return i
        if not innermost and i > frame.pos and entry.min >= 1 and not frame.counts.get(i):
            return None
    return None


def _advance(tree: MessageTree, frame: _Frame, idx: int, seg: Segment) -> None:
    for skipped in range(frame.pos + 1, idx):
        e = frame.entries[skipped]
        if e.min >= 1 and not frame.counts.get(skipped):
            tree._finding(STRUCTURE, f"mandatory {'segment group ' + e.name if e.group else 'segment ' + e.tag} "
                          f"is missing before segment {seg.number} ({seg.tag})",
                          Place(seg.number, seg.tag), seg.line)
    frame.pos = idx
    frame.counts[idx] = frame.counts.get(idx, 0) + 1
    entry = frame.entries[idx]
    if frame.counts[idx] == entry.max + 1:
        what = f"segment group {entry.name}" if entry.group else f"segment {entry.tag}"
        tree._finding(STRUCTURE, f"{what} occurs more than {entry.max} times"
                      + (f" in {frame.group.name}" if frame.group else ""), Place(seg.number, seg.tag), seg.line)


def _check_end(tree: MessageTree, frame: _Frame) -> None:
    for i in range(frame.pos + 1, len(frame.entries)):
        e = frame.entries[i]
        if e.min >= 1 and not frame.counts.get(i):
            where = f"segment group {frame.group.name} starting at segment {frame.start.number}" \
                if frame.group and frame.start else "the message"
            tree._finding(STRUCTURE, f"mandatory {'segment group ' + e.name if e.group else 'segment ' + e.tag} "
                          f"is missing in {where}",
                          Place(frame.start.number, frame.start.tag) if frame.start else None, None)


def _normalise(value: str, repr_: Optional[Representation]) -> str:
    """Numeric values in the tree always use '.' as decimal mark (ISO 9735 allows both)."""
    if repr_ is not None and repr_.numeric and "," in value and "." not in value:
        return value.replace(",", ".")
    return value


def _add_segment(tree: MessageTree, parent: etree._Element, seg: Segment) -> etree._Element:
    sdef = tree.grammar.segments.get(seg.tag)
    el = etree.SubElement(parent, f"S_{seg.tag}")
    tree.places[el] = Place(seg.number, seg.tag)
    if seg.line and seg.line <= MAX_SOURCELINE:
        el.sourceline = seg.line
    layout = sdef.elements if sdef else ()
    for i, first in enumerate(seg.elements):
        occurrences = seg.repeats.get(i + 1) or [first]
        edef = layout[i] if i < len(layout) else None
        for r, comps in enumerate(occurrences, start=1):
            if all(c == "" for c in comps):
                continue
            place = Place(seg.number, seg.tag, i + 1, repetition=r)
            if edef is None:
                _extra(tree, el, seg, i + 1, comps, known=sdef is not None)
                continue
            if r > edef.max_repeat:
                tree._finding(ELEMENT, f"element {i + 1} ({edef.name}) of {seg.tag} repeats more than "
                              f"{edef.max_repeat} time(s)", place, seg.line)
            if edef.composite:
                c_el = etree.SubElement(el, edef.name)
                tree.places[c_el] = place
                for j, value in enumerate(comps):
                    if value == "":
                        continue
                    if j < len(edef.components):
                        cdef = edef.components[j]
                        d = etree.SubElement(c_el, cdef.name)
                        d.text = _normalise(value, cdef.repr)
                        tree.places[d] = Place(seg.number, seg.tag, i + 1, j + 1, r)
                    else:
                        x = etree.SubElement(c_el, f"X_{i + 1}_{j + 1}")
                        x.text = value
                        tree.places[x] = Place(seg.number, seg.tag, i + 1, j + 1, r)
                        tree._finding(ELEMENT, f"component {j + 1} of element {i + 1} ({edef.name}) of "
                                      f"{seg.tag} is beyond its layout; kept, not read",
                                      tree.places[x], seg.line)
            else:
                d = etree.SubElement(el, edef.name)
                d.text = _normalise(comps[0], edef.repr)
                tree.places[d] = place
                for j, value in enumerate(comps[1:], start=2):
                    if value == "":
                        continue
                    x = etree.SubElement(el, f"X_{i + 1}_{j}")
                    x.text = value
                    tree.places[x] = Place(seg.number, seg.tag, i + 1, j, r)
                    tree._finding(ELEMENT, f"element {i + 1} ({edef.name}) of {seg.tag} is a simple element "
                                  f"but has component {j}; kept, not read", tree.places[x], seg.line)
    return el


def _extra(tree: MessageTree, el: etree._Element, seg: Segment, position: int, comps: list[str],
           *, known: bool) -> None:
    """Data the layout has no position for: kept as X_<position>[_<component>]."""
    if len(comps) == 1:
        x = etree.SubElement(el, f"X_{position}")
        x.text = comps[0]
        tree.places[x] = Place(seg.number, seg.tag, position)
    else:
        x = etree.SubElement(el, f"X_{position}")
        tree.places[x] = Place(seg.number, seg.tag, position)
        for j, value in enumerate(comps, start=1):
            if value:
                c = etree.SubElement(x, f"X_{position}_{j}")
                c.text = value
                tree.places[c] = Place(seg.number, seg.tag, position, j)
    if known:
        tree._finding(ELEMENT, f"element {position} of {seg.tag} is beyond its layout "
                      f"({len(tree.grammar.segments[seg.tag].elements)} elements); kept, not read",
                      tree.places[x], seg.line)


# --- segments -> tree, fast ------------------------------------------------------------------------

class _Unsafe(Exception):
    """A value lxml would refuse or change when parsed (control characters, CR): the reference builds it."""


_SPECIAL = re.compile("[&<>\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_TAG = re.compile(r"[A-Za-z0-9]+\Z")      # segment tags written as they are; others go the reference way
_local = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser for message trees (an lxml parser is not to be shared between threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                                 remove_blank_text=False, huge_tree=False, collect_ids=False)
    return parser


def _text(value: str) -> str:
    """``value`` as XML character data; ``_Unsafe`` when the parser would not give it back as it is."""
    if _SPECIAL.search(value) is None:
        return value
    if _UNSAFE.search(value) is not None:
        raise _Unsafe(value)
    # line breaks as character references: kept as they are, and every element stays on line 1
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "&#10;").replace("\r", "&#13;"))


def build_tree(segments: Iterable[Any], grammar: Grammar) -> MessageTree:
    """The element tree of one message (its segments UNH ... UNT, in order).

    The same tree, findings and places as ``build_tree_reference``, made the fast way: the
    message is written out as XML text, which lxml's parser turns into elements in C, instead
    of one ``SubElement`` call and one ``Place`` object per element from Python. Places are
    kept as tuples by document position and worded when a finding asks; source lines are set
    as the reference sets them (a segment's and a group's own line, none below). A value the
    parser would not give back unchanged (a control character, CR) goes the reference way."""
    segs = [adapt(raw, i) for i, raw in enumerate(segments, start=1)]
    try:
        return _build_fast(segs, grammar)
    except (_Unsafe, etree.XMLSyntaxError):
        return build_tree_reference(segs, grammar)


def _build_fast(segs: list[Segment], grammar: Grammar) -> MessageTree:
    tree = MessageTree(None, grammar)          # root set once parsed
    tree._places = None
    root_name = grammar.root_name
    out = [f"<{root_name}>"]
    facts: list[Optional[tuple]] = [None]        # by document position; the root has no place
    lines: list[int] = [0]
    frames = [_Frame(grammar.structure, None, None)]
    for seg in segs:
        line = seg.line if seg.line and seg.line <= MAX_SOURCELINE else 0
        placed = False
        for depth in range(len(frames) - 1, -1, -1):
            frame = frames[depth]
            idx = _match(frame, seg.tag, innermost=depth == len(frames) - 1)
            if idx is None:
                continue
            for closed in frames[depth + 1:]:
                _check_end(tree, closed)
            for closed in reversed(frames[depth + 1:]):
                out.append(f"</{closed.group.element_name}>")
            del frames[depth + 1:]
            _advance(tree, frame, idx, seg)
            entry = frame.entries[idx]
            if entry.group:
                out.append(f"<{entry.element_name}>")
                facts.append((seg.number, seg.tag, None, None, 1, entry.name))
                lines.append(line)
                _emit_segment(tree, out, facts, lines, seg, line)
                frames.append(_Frame(entry.children, None, entry, pos=0, counts={0: 1}, start=seg))
            else:
                _emit_segment(tree, out, facts, lines, seg, line)
            placed = True
            break
        if not placed:
            _emit_segment(tree, out, facts, lines, seg, line)
            where = frames[-1].group.name if frames[-1].group else "the message level"
            known = seg.tag in grammar.segments
            tree._finding(STRUCTURE,
                          (f"segment {seg.tag} is not expected here by the {grammar.message} "
                           f"{grammar.directory} segment table; kept in {where}") if known else
                          (f"segment {seg.tag} is not part of {grammar.message} {grammar.directory}; "
                           f"kept in {where}, its data is not read"),
                          Place(seg.number, seg.tag), seg.line)
    for frame in reversed(frames):
        _check_end(tree, frame)
    for closed in reversed(frames[1:]):
        out.append(f"</{closed.group.element_name}>")
    out.append(f"</{root_name}>")
    root = etree.fromstring("".join(out), _parser())
    i = 0
    for i, el in enumerate(root.iter(), start=1):
        # parsed elements are all on line 1: the reference's lines are the segment's own, none below
        line = lines[i - 1]
        if line != 1:
            el.sourceline = line
    if i != len(facts):                 # cannot happen: one start tag per fact
        raise AssertionError("fast EDIFACT tree out of step with its places")
    tree.root = root
    tree._facts = facts                 # positions are found when a place is first asked for (_positions_of)
    return tree


def _layout(grammar: Grammar, tag: str) -> Optional[tuple]:
    """What ``_emit_segment`` needs of a segment's layout, worked out once per grammar and tag: per
    element (name, composite, max repeat, numeric, its tags as text, per component (name, numeric,
    its tags as text)); None for a segment the grammar does not know."""
    cache = grammar.__dict__.get("_emit_layouts")
    if cache is None:
        cache = grammar.__dict__["_emit_layouts"] = {}
    got = cache.get(tag, False)
    if got is False:
        sdef = grammar.segments.get(tag)
        if sdef is None:
            got = None
        else:
            got = tuple((e.name, e.composite, e.max_repeat, _numeric(e.repr), f"<{e.name}>", f"</{e.name}>",
                         tuple((c.name, _numeric(c.repr), f"<{c.name}>", f"</{c.name}>") for c in e.components))
                        for e in sdef.elements)
        cache[tag] = got
    return got


def _numeric(rep: Any) -> bool:
    return rep is not None and rep.kind == "n"


def _emit_segment(tree: MessageTree, out: list[str], facts: list, lines: list[int], seg: Segment,
                  line: int) -> None:
    """``_add_segment`` as text: the same elements, in the same order, with the same findings."""
    tag = seg.tag
    if _TAG.match(tag) is None:
        raise _Unsafe(tag)
    number = seg.number
    layout = _layout(tree.grammar, tag)
    known = layout is not None
    out.append(f"<S_{tag}>")
    facts.append((number, tag, None, None, 1, None))
    lines.append(line)
    if layout is None:
        layout = ()
    repeats = seg.repeats
    size = len(layout)
    for i, first in enumerate(seg.elements):
        occurrences = (repeats.get(i + 1) if repeats else None) or (first,)
        edef = layout[i] if i < size else None
        r = 0
        for comps in occurrences:
            r += 1
            for c in comps:
                if c != "":
                    break
            else:
                continue
            if edef is None:
                _emit_extra(tree, out, facts, lines, seg, i + 1, comps, known=known)
                continue
            name, composite, max_repeat, numeric, open_tag, close_tag, components = edef
            if r > max_repeat:
                tree._finding(ELEMENT, f"element {i + 1} ({name}) of {tag} repeats more than "
                              f"{max_repeat} time(s)", Place(number, tag, i + 1, repetition=r), seg.line)
            if composite:
                out.append(open_tag)
                facts.append((number, tag, i + 1, None, r, None))
                lines.append(0)
                ncomp = len(components)
                for j, value in enumerate(comps):
                    if value == "":
                        continue
                    if j < ncomp:
                        _, cnumeric, copen, cclose = components[j]
                        if cnumeric and "," in value and "." not in value:
                            value = value.replace(",", ".")
                        out.append(f"{copen}{_text(value)}{cclose}")
                        facts.append((number, tag, i + 1, j + 1, r, None))
                        lines.append(0)
                    else:
                        out.append(f"<X_{i + 1}_{j + 1}>{_text(value)}</X_{i + 1}_{j + 1}>")
                        facts.append((number, tag, i + 1, j + 1, r, None))
                        lines.append(0)
                        tree._finding(ELEMENT, f"component {j + 1} of element {i + 1} ({name}) of "
                                      f"{tag} is beyond its layout; kept, not read",
                                      Place(number, tag, i + 1, j + 1, r), seg.line)
                out.append(close_tag)
            else:
                value = comps[0]
                if numeric and "," in value and "." not in value:
                    value = value.replace(",", ".")
                out.append(f"{open_tag}{_text(value)}{close_tag}" if value else f"<{name}/>")
                facts.append((number, tag, i + 1, None, r, None))
                lines.append(0)
                for j, value in enumerate(comps[1:], start=2):
                    if value == "":
                        continue
                    out.append(f"<X_{i + 1}_{j}>{_text(value)}</X_{i + 1}_{j}>")
                    facts.append((number, tag, i + 1, j, r, None))
                    lines.append(0)
                    tree._finding(ELEMENT, f"element {i + 1} ({name}) of {tag} is a simple element "
                                  f"but has component {j}; kept, not read", Place(number, tag, i + 1, j, r),
                                  seg.line)
    out.append(f"</S_{tag}>")


def _emit_extra(tree: MessageTree, out: list[str], facts: list, lines: list[int], seg: Segment, position: int,
                comps: list[str], *, known: bool) -> None:
    """``_extra`` as text."""
    number, tag = seg.number, seg.tag
    if len(comps) == 1:
        out.append(f"<X_{position}>{_text(comps[0])}</X_{position}>")
        facts.append((number, tag, position, None, 1, None))
        lines.append(0)
    else:
        out.append(f"<X_{position}>")
        facts.append((number, tag, position, None, 1, None))
        lines.append(0)
        for j, value in enumerate(comps, start=1):
            if value:
                out.append(f"<X_{position}_{j}>{_text(value)}</X_{position}_{j}>")
                facts.append((number, tag, position, j, 1, None))
                lines.append(0)
        out.append(f"</X_{position}>")
    if known:
        tree._finding(ELEMENT, f"element {position} of {tag} is beyond its layout "
                      f"({len(tree.grammar.segments[tag].elements)} elements); kept, not read",
                      Place(number, tag, position), seg.line)


# --- tree -> segments ----------------------------------------------------------------------------

def tree_to_segments(root: etree._Element, grammar: Grammar) -> tuple[list[Segment], list[Finding]]:
    """The segments of a message tree, in segment-table order, numbered from 1.

    Findings say what the table or the layouts could not take (an element with no
    place here, a value too long for its representation, a group without data
    for its trigger segment, which is then written empty)."""
    out: list[Segment] = []
    findings: list[Finding] = []
    _emit_level(root, grammar.structure, None, grammar, out, findings)
    for n, seg in enumerate(out, start=1):
        seg.number = n
    return out, findings


def _emit_level(el: etree._Element, entries: list[Entry], group: Optional[Entry], grammar: Grammar,
                out: list[Segment], findings: list[Finding]) -> None:
    children = [c for c in el if isinstance(c.tag, str)]
    by_name: dict[str, list[etree._Element]] = {}
    for c in children:
        by_name.setdefault(c.tag, []).append(c)
    used: set[str] = set()
    where = f"segment group {group.name}" if group else f"{grammar.message} {grammar.directory}"
    for i, entry in enumerate(entries):
        name = entry.element_name
        items = by_name.get(name, [])
        used.add(name)
        if group is not None and i == 0:
            if not items:
                findings.append(Finding(rule=STRUCTURE, severity=WARNING, location=where,
                                        message=f"{where} has no data for its trigger segment {entry.tag}; "
                                                f"written as an empty {entry.tag} segment"))
                out.append(_segment_of(etree.Element(name), grammar, findings))
                continue
            if len(items) > 1:
                findings.append(Finding(rule=STRUCTURE, severity=FATAL, location=where,
                                        message=f"{where} holds {len(items)} {entry.tag} trigger segments; "
                                                "each starts a new group when read back"))
        if len(items) > entry.max:
            findings.append(Finding(rule=STRUCTURE, severity=WARNING, location=where,
                                    message=f"{len(items)} x {name} where {grammar.message} {grammar.directory} "
                                            f"allows {entry.max}"))
        for item in items:
            if entry.group:
                _emit_level(item, entry.children, entry, grammar, out, findings)
            else:
                out.append(_segment_of(item, grammar, findings))
    for c in children:
        if c.tag not in used:
            findings.append(Finding(rule=STRUCTURE, severity=FATAL, location=where,
                                    message=f"{c.tag} has no place in {where} of {grammar.message} "
                                            f"{grammar.directory}; written at the end of it"))
            if c.tag.startswith("S_"):
                out.append(_segment_of(c, grammar, findings))


def _segment_of(el: etree._Element, grammar: Grammar, findings: list[Finding]) -> Segment:
    tag = el.tag[2:]
    sdef: Optional[SegmentDef] = grammar.segments.get(tag)
    slots: dict[int, list[list[str]]] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        pos, comps = _element_value(child, sdef, tag, findings)
        if pos is None:
            continue
        slots.setdefault(pos, []).append(comps)
    seg = Segment(tag)
    if sdef is not None:
        for i, edef in enumerate(sdef.elements):
            if edef.mandatory and i not in slots:
                findings.append(Finding(rule=ELEMENT, severity=WARNING, location=f"segment {tag}",
                                        message=f"mandatory element {i + 1} ({edef.name}) of {tag} has no value; "
                                                "written empty"))
    if not slots:
        return seg
    for pos in range(max(slots) + 1):
        occ = slots.get(pos) or [[""]]
        seg.elements.append(_trim(occ[0]))
        if len(occ) > 1:
            seg.repeats[pos + 1] = [_trim(o) for o in occ]
            edef = sdef.elements[pos] if sdef and pos < len(sdef.elements) else None
            if edef is not None and len(occ) > edef.max_repeat:
                findings.append(Finding(rule=ELEMENT, severity=FATAL, location=f"segment {tag}",
                                        message=f"{len(occ)} x {edef.name} in {tag}, where "
                                                f"{grammar.directory} allows {edef.max_repeat}"))
    while seg.elements and seg.elements[-1] == [""] and len(seg.elements) not in seg.repeats:
        seg.elements.pop()
    return seg


def _trim(comps: list[str]) -> list[str]:
    comps = list(comps)
    while len(comps) > 1 and comps[-1] == "":
        comps.pop()
    return comps or [""]


def _check(value: str, repr_: Optional[Representation], what: str, tag: str, findings: list[Finding]) -> None:
    if repr_ is None or value == "":
        return
    problem = repr_.problem(value)
    if problem:
        findings.append(Finding(rule=ELEMENT, severity=WARNING, location=f"segment {tag}, {what}",
                                message=f"{what} of {tag}: {problem}"))


def _element_value(child: etree._Element, sdef: Optional[SegmentDef], tag: str,
                   findings: list[Finding]) -> tuple[Optional[int], list[str]]:
    m = _EXTRA.match(child.tag)
    if m:                                  # data kept from a read beyond the layout
        pos = int(m.group(1)) - 1
        if len(child):
            comps = [""] * max(int(_EXTRA.match(c.tag).group(2) or 1) for c in child if _EXTRA.match(c.tag))
            for c in child:
                cm = _EXTRA.match(c.tag)
                if cm and cm.group(2):
                    comps[int(cm.group(2)) - 1] = c.text or ""
            return pos, comps
        return pos, [child.text or ""]
    pos = sdef.position_of(child.tag) if sdef else None
    if pos is None:
        findings.append(Finding(rule=ELEMENT, severity=FATAL, location=f"segment {tag}",
                                message=f"{child.tag} is not an element of {tag}; not written"))
        return None, []
    edef: ElementDef = sdef.elements[pos]
    if not edef.composite:
        value = child.text or ""
        _check(value, edef.repr, f"element {pos + 1} ({edef.name})", tag, findings)
        return pos, [value]
    names = [c.name for c in edef.components]
    comps = [""] * len(names)
    last = -1
    for comp in child:
        if not isinstance(comp.tag, str):
            continue
        if comp.tag in names:
            j = names.index(comp.tag)
            comps[j] = comp.text or ""
            _check(comps[j], edef.components[j].repr, f"element {pos + 1} ({edef.name}) component {j + 1} "
                   f"({comp.tag})", tag, findings)
            last = max(last, j)
        else:
            cm = _EXTRA.match(comp.tag)
            if cm and cm.group(2):
                j = int(cm.group(2)) - 1
                comps.extend([""] * (j + 1 - len(comps)))
                comps[j] = comp.text or ""
                last = max(last, j)
            else:
                findings.append(Finding(rule=ELEMENT, severity=FATAL, location=f"segment {tag}",
                                        message=f"{comp.tag} is not a component of {edef.name}; not written"))
    if last >= 0:
        for j, cdef in enumerate(edef.components):
            if cdef.mandatory and comps[j] == "":
                findings.append(Finding(rule=ELEMENT, severity=WARNING, location=f"segment {tag}",
                                        message=f"mandatory component {j + 1} ({cdef.name}) of element {pos + 1} "
                                                f"({edef.name}) of {tag} has no value; written empty"))
    return pos, comps[:last + 1] if last >= 0 else [""]
