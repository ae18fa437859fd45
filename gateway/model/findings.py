"""What a check says about a document: one ``Finding`` per broken rule.

Rules speak in model paths (``lines[2].price.net_price``); the reader's
source map turns those into places in the original file (an XPath and a line
for XML, a segment number and element position for EDIFACT, a row and column
for CSV), so a person can find what is wrong where they sent it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

FATAL = "fatal"
WARNING = "warning"


@dataclass
class Finding:
    rule: str                       # rule id: "BR-CO-10", "BR-CL-04", "XSD", ...
    message: str                    # a sentence a person understands
    severity: str = FATAL           # "fatal" or "warning"
    terms: tuple[str, ...] = ()     # business terms concerned: ("BT-106", "BT-131")
    path: Optional[str] = None      # model path of the offending value, when there is one
    location: Optional[str] = None  # where in the source: XPath, "segment 12 (MOA), element 1", "row 3, column Amount"
    line: Optional[int] = None      # line in the source file, when known
    extra: dict[str, Any] = field(default_factory=dict)
    rule_set: Optional[str] = None  # the rule set of a business rule ("en16931", "peppol" ...), None otherwise

    @property
    def fatal(self) -> bool:
        return self.severity == FATAL

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["terms"] = list(self.terms)
        if not d["extra"]:
            del d["extra"]
        if d["rule_set"] is None:
            del d["rule_set"]
        return d

    def __str__(self) -> str:
        where = self.location or self.path or ""
        if self.line:
            where = f"line {self.line}: {where}" if where else f"line {self.line}"
        terms = ",".join(self.terms)
        head = f"[{self.severity}] {self.rule}" + (f" ({terms})" if terms else "")
        return f"{head}: {self.message}" + (f" @ {where}" if where else "")
