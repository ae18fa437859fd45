"""An XML syntax (UBL, CII) is data: its mappings and its XSD.

Reading picks the mapping whose root element matches the document; writing
picks the mapping whose ``select`` matches the invoice (UBL CreditNote for
credit-note type codes), writes through it, then puts every element in the
order the XSD requires, so mapping files never care about element order.
"""
from __future__ import annotations

from typing import Callable, Optional

from lxml import etree

from gateway import mapping
from gateway.model.errors import InputError
from gateway.model.invoice import Invoice, term_value
from gateway.xml import safe
from gateway.xml.schema import XmlSchema
from gateway.syntaxes.base import Document, Rendering, unread_findings


class XmlSyntax:
    def __init__(self, name: str, mapping_names: list[str], schema_for: Callable[[str], XmlSchema]):
        self.name = name
        self.mapping_names = mapping_names
        self.schema_for = schema_for          # mapping name -> XmlSchema

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
        fallback: Optional[mapping.MappingSpec] = None
        for spec in self.specs():
            if not spec.select:
                fallback = fallback or spec
                continue
            if all(str(term_value(invoice, t)) in values for t, values in spec.select.items()):
                return spec
        assert fallback is not None, f"{self.name}: no default mapping"
        return fallback

    def write(self, invoice: Invoice, *, validate: bool = False) -> Rendering:
        spec = self.choose(invoice)
        result = mapping.write(spec, invoice)
        schema = self.schema_for(spec.name)
        schema.sort_children(result.root)
        findings = schema.validate(result.root) if validate else []
        return Rendering(self.name, spec.name, safe.serialize(result.root), result.dropped, findings)

