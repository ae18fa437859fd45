"""INVOIC messages in and out of the EN 16931 model: the glue between segments and the engine.

Reading: the message's UNH (S009: type, version, release, association code)
picks the flavour whose mapping's ``unh`` matches (``flavour_for``: the EDIFACT
flavours are the mapping files of syntax ``edifact`` on the search path,
``mappings/edifact-invoic-*.yaml`` and any overlay's); the mapping names
its grammar; the grammar builds the ISO 20625 element tree; the mapping engine
reads the tree like any other. Writing goes the same way back.

The syntax layer (bytes <-> segments, UNA/UNB/UNZ, character sets) is not
here: ``read_message`` takes the segments of one message (UNH ... UNT) as
``tree.Segment`` or anything ``tree.adapt`` understands, and ``write_message``
gives ``tree.Segment`` objects back.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Optional

from lxml import etree

from gateway import mapping
from gateway.model import invoice as model
from gateway.model.errors import InputError
from gateway.model.findings import WARNING, Finding
from gateway.mapping import Dropped
from gateway.model.invoice import Invoice
from gateway.model.numbers import problem
from gateway.syntaxes import registry
from gateway.syntaxes.base import Document, unread_findings
from gateway.syntaxes.edifact import grammar as grammars
from gateway.syntaxes.edifact.syntax import Message, Segment as SyntaxSegment
from gateway.syntaxes.edifact.tree import MessageTree, Segment, adapt, build_tree, tree_to_segments
from gateway.syntaxes.registry import Flavour

SYNTAX = "edifact"


def flavour_for(message: str, version: str, release: str, association: str = "") -> str:
    """The flavour that reads a UNH S009: ``("INVOIC", "D", "96A", "EAN008")`` -> ``"edifact-eancom"``.

    Each EDIFACT mapping's ``unh`` says what it reads: the message, version and release,
    and, when it has one, the association code, whose letters name the association
    (EAN008 reads EAN007 too). A mapping with an association is preferred to one without;
    of equals, the first listed (shipped ones first)."""
    if message != "INVOIC":
        raise InputError(f"{message} messages are not invoices (expected INVOIC)")
    key = (version.upper(), release.upper())
    by_association, plain = [], []
    for flavour in registry.of_syntax(SYNTAX):
        unh = _unh(flavour)
        if (str(unh.get("version", "")).upper(), str(unh.get("release", "")).upper()) != key:
            continue
        if not unh.get("association"):
            plain.append(flavour.name)
        elif _letters(str(unh["association"])) == _letters(association):
            by_association.append(flavour.name)
    if by_association or plain:
        return (by_association or plain)[0]
    raise InputError(f"INVOIC {version}:{release} is not supported (supported: {', '.join(_supported())})")


def _unh(flavour: Flavour) -> dict:
    return registry.mapping_file(flavour.mappings[0]).data.get("unh") or {}


def _letters(association: str) -> str:
    """The association an association code names: its letters (EAN of EAN008)."""
    return re.match(r"[A-Za-z]*", association.strip()).group(0).upper()


def _supported() -> list[str]:
    out = []
    for flavour in registry.of_syntax(SYNTAX):
        unh = _unh(flavour)
        out.append(f"{unh.get('version', '?')}:{unh.get('release', '?')}"
                   + (f" {unh['association']}" if unh.get("association") else ""))
    return out


def _s009(segment: Segment) -> tuple[str, str, str, str]:
    comps = segment.elements[1] if len(segment.elements) > 1 else []
    comps = list(comps) + [""] * 5
    return comps[0], comps[1], comps[2], comps[4]


def spec_for(flavour: str) -> mapping.MappingSpec:
    """The mapping of the EDIFACT flavour ``flavour`` (``edifact-d14b``)."""
    try:
        found = registry.flavour(flavour)
    except ValueError:
        found = None
    if found is None or found.syntax != SYNTAX:
        raise ValueError(f"unknown EDIFACT INVOIC flavour {flavour!r}; "
                         f"choose one of {', '.join(f.name for f in registry.of_syntax(SYNTAX))}")
    return mapping.load(found.mappings[0])


def grammar_of(spec: mapping.MappingSpec) -> grammars.Grammar:
    return grammars.load(spec.raw["grammar"])


def message_tree(segments: Any, *, flavour: Optional[str] = None) -> tuple[MessageTree, mapping.MappingSpec]:
    """The element tree of one message and the mapping that reads it.

    ``segments``: the message's segments (UNH ... UNT), or the syntax layer's
    ``Message`` (anything with a ``segments`` list)."""
    segments = getattr(segments, "segments", segments)
    segs = [adapt(s, i) for i, s in enumerate(segments, start=1)]
    if flavour is None:
        unh = next((s for s in segs if s.tag == "UNH"), None)
        if unh is None:
            raise InputError("no UNH segment: not an EDIFACT message")
        flavour = flavour_for(*_s009(unh))
    spec = spec_for(flavour)
    return build_tree(segs, grammar_of(spec)), spec


def read_message(segments: Any, *, flavour: Optional[str] = None) -> Document:
    """Read one INVOIC message (its segments UNH ... UNT, or a syntax-layer ``Message``) into the model.

    Findings: the segment table's (misplaced, unknown, missing segments), values
    that do not parse, and every value no mapping term read (READ-UNMAPPED), each
    with its segment number and element position."""
    tree, spec = message_tree(segments, flavour=flavour)
    result = mapping.read(spec, tree.root, describe=tree.describe)
    findings = tree.findings + result.findings + unread_findings(result.source_map, spec)
    return Document(SYNTAX, spec.name, result.invoice, result.source_map, findings)


@dataclass
class WrittenMessage:
    """One INVOIC message written from the model."""
    mapping: str
    segments: list[Segment]              # UNH ... UNT, numbered
    tree: etree._Element                 # the ISO 20625 tree they were made from
    dropped: list[Dropped] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def message(self) -> Message:
        """The syntax layer's ``Message`` of these segments, for ``new_interchange``/``write_interchange``."""
        return Message([SyntaxSegment(s.tag, s.elements, repeats=s.repeats or None) for s in self.segments])


def write_message(invoice: Invoice, flavour: str = "edifact-d14b", *, reference: str = "1") -> WrittenMessage:
    """Write the model as one INVOIC message; ``reference`` is UNH/UNT 0062."""
    spec = spec_for(flavour)
    g = grammar_of(spec)
    text_findings = _control_characters(invoice, spec.name)
    result = mapping.write(spec, _canonical(invoice))
    root = result.root
    unh = spec.raw.get("unh") or {}
    s_unh = etree.SubElement(root, "S_UNH")
    etree.SubElement(s_unh, "D_0062").text = reference
    s009 = etree.SubElement(s_unh, "C_S009")
    for name, key in (("D_0065", "message"), ("D_0052", "version"), ("D_0054", "release"),
                      ("D_0051", "agency"), ("D_0057", "association")):
        if unh.get(key):
            etree.SubElement(s009, name).text = str(unh[key])
    etree.SubElement(etree.SubElement(root, "S_UNS"), "D_0081").text = "S"
    s_unt = etree.SubElement(root, "S_UNT")
    count = etree.SubElement(s_unt, "D_0074")
    etree.SubElement(s_unt, "D_0062").text = reference
    count.text = "0"
    segments, findings = tree_to_segments(root, g)
    count.text = str(len(segments))
    segments[-1].elements[0] = [count.text]
    return WrittenMessage(spec.name, segments, root, result.dropped, text_findings + result.findings + findings)


_CONTROL = re.compile(r"\r\n|[\x00-\x1f\x7f]")
TEXT = "EDIFACT-TEXT"


def _control_characters(invoice: Invoice, mapping_name: str) -> list[Finding]:
    """EDIFACT text carries no control characters: a line break (or tab) is written as a space."""
    out = []
    for tid, path, value in model.iter_terms(invoice):
        if isinstance(value, str) and _CONTROL.search(value):
            out.append(Finding(rule=TEXT, severity=WARNING, terms=(tid,), path=path,
                               message=f"{tid}: line breaks and other control characters are written as spaces "
                                       f"(EDIFACT text cannot carry them; {mapping_name})"))
    return out


def _canonical(value: Any) -> Any:
    """The model as EDIFACT writes it: every number in its shortest form (25.0 -> 25), equal as
    a model and one text per value (rates and quantities are alphanumeric elements that receivers,
    the CEN schematron among them, compare as text); control characters in texts as spaces."""
    if isinstance(value, str):
        return _CONTROL.sub(" ", value)
    if isinstance(value, Decimal):
        if problem(value, None) is not None:
            return value                # beyond every data type: left for the writer to refuse
        return value.normalize() if value != 0 else Decimal(0)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _canonical(getattr(value, f.name))
                                             for f in dataclasses.fields(value)})
    return value


def tree_of(written: WrittenMessage, flavour: str) -> etree._Element:
    """The canonical tree of written segments (built again by the grammar: table order)."""
    return build_tree(written.segments, grammar_of(spec_for(flavour))).root
