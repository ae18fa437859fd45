"""What every syntax adapter gives back: a read ``Document`` and a written ``Rendering``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from gateway import mapping
from gateway.model.findings import WARNING, Finding
from gateway.mapping import Dropped, SourceMap
from gateway.model.invoice import Invoice


@dataclass
class Document:
    """A document read into the model, with where each value came from."""
    syntax: str                      # "ubl", "cii", ...
    mapping: str                     # the mapping file that read it
    invoice: Invoice
    source_map: SourceMap
    findings: list[Finding] = field(default_factory=list)   # values that could not be read
    profile: Optional[str] = None    # the Factur-X profile it declares (CII, Factur-X): "minimum" ...

    def locate(self, findings: list[Finding]) -> list[Finding]:
        return self.source_map.locate(findings)


@dataclass
class Rendering:
    """A document written in a syntax, and what the syntax could not carry."""
    syntax: str
    mapping: str
    data: bytes
    dropped: list[Dropped] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)   # e.g. XSD errors of the output
    media_type: str = "application/xml"
    extension: Optional[str] = ".xml"


def unread_findings(smap: mapping.SourceMap, spec: mapping.MappingSpec) -> list[Finding]:
    """Content the mapping does not read: a warning each, so nothing is dropped unseen."""
    out = []
    for el, attr in smap.unread(spec.structural):
        value = el.get(attr) if attr else el.text.strip()
        out.append(Finding(
            rule="READ-UNMAPPED", severity=WARNING,
            message=f"{'attribute' if attr else 'element'} not part of EN 16931 as mapped by {spec.name}; "
                    f"its value {value[:60]!r} is kept only in the original",
            location=smap.where(el, attr), line=el.sourceline))
    return out
