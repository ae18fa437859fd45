"""What every syntax adapter gives back: a read ``Document`` and a written ``Rendering``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..findings import Finding
from ..mapping import Dropped, SourceMap
from ..model import Invoice


@dataclass
class Document:
    """A document read into the model, with where each value came from."""
    syntax: str                      # "ubl", "cii", ...
    mapping: str                     # the mapping file that read it
    invoice: Invoice
    source_map: SourceMap
    findings: list[Finding] = field(default_factory=list)   # values that could not be read

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
