"""An XML flavour (UBL, CII) is data: its mapping files and the XSD of their root element.

Reading picks the mapping whose root element matches the document; writing
picks the mapping whose ``select`` matches the invoice (UBL CreditNote for
credit-note type codes), writes through it, then puts every element in the
order the XSD requires, so mapping files never care about element order. The
XSD is the official one of the mapping's root (``gateway.xml.schemas``), or, for a file
that declares a profile (its ``facturx:`` section: a Factur-X profile such as ``cii-minimum``),
the profile's XSD; such a flavour also writes the profile's guideline in BT-24 and reports a
different BT-24 of the invoice as dropped.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Optional

from lxml import etree

from gateway import mapping
from gateway.model.errors import InputError, MappingError
from gateway.model.invoice import Invoice, ProcessControl, term_value
from gateway.mapping import Dropped
from gateway.syntaxes import registry
from gateway.syntaxes.base import Document, Rendering, unread_findings
from gateway.syntaxes.registry import Flavour
from gateway.xml import safe, schemas
from gateway.xml.schema import XmlSchema, load_schema

XML = ("ubl", "cii")                  # the syntaxes whose documents are XML trees as they are


class XmlSyntax:
    """One XML flavour: ``name`` and the mapping files that serve it."""

    def __init__(self, name: str, mapping_names: tuple[str, ...]):
        self.name = name
        self.mapping_names = mapping_names

    def __repr__(self) -> str:
        return f"XmlSyntax({self.name!r})"

    def specs(self) -> list[mapping.MappingSpec]:
        return [mapping.load(n) for n in self.mapping_names]

    def owns(self, root: etree._Element) -> bool:
        return any(s.root_tag == root.tag for s in self.specs())

    def read(self, root: etree._Element) -> Document:
        for spec in self.specs():
            if spec.root_tag == root.tag:
                result = mapping.read(spec, root)
                findings = result.findings + unread_findings(result.source_map, spec)
                return Document(self.name, spec.name, result.invoice, result.source_map, findings)
        raise InputError(f"{etree.QName(root).localname} is not a {self.name.upper()} document root")

    def read_bytes(self, data: bytes) -> Document:
        return self.read(safe.parse(data))

    def choose(self, invoice: Invoice) -> mapping.MappingSpec:
        """The mapping whose ``select`` the invoice matches, else the one without ``select``."""
        fallback: Optional[mapping.MappingSpec] = None
        for spec in self.specs():
            if not spec.select:
                fallback = fallback or spec
                continue
            if all(str(term_value(invoice, t)) in values for t, values in spec.select.items()):
                return spec
        if fallback is None:
            raise MappingError(f"{self.name}: no mapping file without 'select' to write the other invoices "
                               f"({', '.join(self.mapping_names)})")
        return fallback

    def write(self, invoice: Invoice, *, validate: bool = False) -> Rendering:
        spec = self.choose(invoice)
        profile, schema = _output_of(spec)
        replaced = []
        if profile:
            invoice, replaced = with_guideline(invoice, profile["guideline"])
        result = mapping.write(spec, invoice)
        result.dropped.extend(replaced)
        schema.sort_children(result.root)
        findings = result.findings + (schema.validate(result.root) if validate else [])
        # the written tree is ours alone: indented in place, not copied first
        return Rendering(self.name, spec.name, safe.serialize(result.root, own=True), result.dropped, findings)


def _output_of(spec: mapping.MappingSpec) -> tuple[Optional[dict], XmlSchema]:
    """The profile a mapping declares and the XSD its output is put in order by, found once per
    compiled mapping (a changed search path compiles new ones: ``registry.forget``)."""
    got = spec.__dict__.get("_xml_output")
    if got is None:
        got = spec.__dict__["_xml_output"] = (declared_profile(spec.name), _schema(spec))
    return got


GUIDELINE_PATH = "process_control.specification_identifier"


def with_guideline(invoice: Invoice, guideline: str) -> tuple[Invoice, list[Dropped]]:
    """The invoice with ``guideline`` in BT-24, and BT-24 as dropped when it held another value."""
    pc = invoice.process_control or ProcessControl()
    before = (pc.specification_identifier or "").strip()
    if before == guideline:
        return invoice, []
    out = dataclasses.replace(invoice, process_control=dataclasses.replace(pc, specification_identifier=guideline))
    return out, [Dropped("BT-24", GUIDELINE_PATH)] if before else []


def declared_profile(mapping_name: str) -> Optional[dict]:
    """The profile a mapping file declares (its ``facturx:`` section), None when it declares none."""
    try:
        sections = registry.mapping_file(mapping_name).carried_as
    except ValueError:
        return None
    return next(iter(sections.values()), None)


def _schema(spec: mapping.MappingSpec) -> XmlSchema:
    profile = declared_profile(spec.name)
    if profile and profile.get("xsd"):
        return load_schema(schemas.facturx_dir() / profile["xsd"])
    schema = schemas.for_root_tag(spec.root_tag or "")
    if schema is None:
        raise MappingError(f"{spec.file}: root {spec.root!r}: no official XSD is known for it "
                           "(UBL Invoice, UBL CreditNote, CII CrossIndustryInvoice)")
    return schema


def of(flavour: Flavour) -> XmlSyntax:
    """The syntax object of an XML flavour."""
    if flavour.syntax not in XML:
        raise ValueError(f"{flavour.name} is not an XML flavour ({flavour.syntax})")
    return _of(flavour.name, flavour.mappings)


@lru_cache(maxsize=64)
def _of(name: str, mapping_names: tuple[str, ...]) -> XmlSyntax:
    return XmlSyntax(name, mapping_names)


def owner(root: etree._Element) -> Optional[XmlSyntax]:
    """The first XML flavour (in listing order: shipped ones first) that reads this root element."""
    for flavour in registry.flavours():
        if flavour.syntax in XML:
            syntax = of(flavour)
            if syntax.owns(root):
                return syntax
    return None
