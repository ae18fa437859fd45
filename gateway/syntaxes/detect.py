"""Sniffing: which syntax is this byte string?

Looks at the first bytes only (BOM and blanks skipped) so that an unknown
or hostile input is turned away before any parser works on it.
"""
from __future__ import annotations

from gateway.model.errors import UnknownFormatError

NS_ZUGFERD1 = "urn:ferd:CrossIndustryDocument:invoice:1p0"


def sniff(data: bytes) -> str:
    """'xml', 'pdf', 'edifact' or raise UnknownFormatError."""
    head = data[:1024]
    for bom in (b"\xef\xbb\xbf",):
        if head.startswith(bom):
            head = head[len(bom):]
    head = head.lstrip()
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"<"):
        return "xml"
    if head[:3] in (b"UNA", b"UNB"):
        return "edifact"
    if not head:
        raise UnknownFormatError("the file is empty")
    raise UnknownFormatError("not a document edigate recognises (expected XML, EDIFACT, PDF "
                             "or a CSV export with a known header)")
