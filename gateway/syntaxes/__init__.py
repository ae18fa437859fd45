"""Syntaxes in and out of the EN 16931 model: ``read_document`` and ``write_document``.

Code here knows syntaxes (bytes, trees, XSDs); business meaning lives in the
mapping files. Every reader returns a ``Document`` (the model plus a source
map to point findings at the original file); every writer a ``Rendering``
(bytes plus the business terms the target could not carry).
"""
from __future__ import annotations

from lxml import etree

from gateway.model.errors import UnknownFormatError
from gateway.model.findings import Finding
from gateway.model.invoice import Invoice
from gateway.xml import safe
from gateway.syntaxes import cii, csv_syntax, facturx, ubl
from gateway.syntaxes.edifact import documents as edifact
from gateway.syntaxes.base import Document, Rendering
from gateway.syntaxes.detect import NS_ZUGFERD1, sniff

__all__ = ["Document", "Rendering", "read_document", "read_documents", "write_document", "validate_document",
           "WRITABLE", "EXTENSIONS", "detect"]

XML_SYNTAXES = {"ubl": ubl.SYNTAX, "cii": cii.SYNTAX}
WRITABLE = (*XML_SYNTAXES, "facturx", *edifact.NAMES, *csv_syntax.DIALECTS)
EXTENSIONS = {"ubl": ".xml", "cii": ".xml", "facturx": ".pdf", **{n: ".edi" for n in edifact.NAMES},
              **{n: ".csv" for n in csv_syntax.DIALECTS}}


def _xml_syntax(root: etree._Element):
    for syntax in XML_SYNTAXES.values():
        if syntax.owns(root):
            return syntax
    q = etree.QName(root)
    if q.namespace == NS_ZUGFERD1:
        raise UnknownFormatError(
            "ZUGFeRD 1.0 (CrossIndustryDocument) is not supported: it predates EN 16931; "
            "ask the sender for ZUGFeRD 2.x / Factur-X (CII D16B)")
    raise UnknownFormatError(f"unknown XML document root {{{q.namespace}}}{q.localname} "
                             "(expected UBL Invoice/CreditNote or CII CrossIndustryInvoice)",
                             line=root.sourceline)


def detect(data: bytes) -> str:
    """The syntax name of a document: 'ubl', 'cii', 'pdf', 'edifact', or a CSV dialect's name."""
    dialect = csv_syntax.detect_dialect(data)
    if dialect is not None:
        return dialect.name
    kind = sniff(data)
    if kind != "xml":
        return kind
    return _xml_syntax(safe.parse(data)).name


def read_documents(data: bytes) -> list[Document]:
    """Every invoice in a file: several for CSV exports, one for the other syntaxes."""
    dialect = csv_syntax.detect_dialect(data)
    if dialect is not None:
        return dialect.read_all(data)
    if sniff(data) == "edifact":
        return edifact.read_all(data)
    return [read_document(data)]


def read_document(data: bytes) -> Document:
    """Read any supported document into the model (format detected); one invoice per file."""
    dialect = csv_syntax.detect_dialect(data)
    if dialect is not None:
        return dialect.read_bytes(data)
    kind = sniff(data)
    if kind == "xml":
        root = safe.parse(data)
        return _xml_syntax(root).read(root)
    if kind == "pdf":
        return facturx.read(data)
    if kind == "edifact":
        return edifact.read_one(data)
    raise UnknownFormatError(f"{kind.upper()} input is recognised but not readable yet")


def write_document(invoice: Invoice, syntax: str, *, validate: bool = False, **options) -> Rendering:
    """Write the model in a syntax; ``validate`` also checks the output against the XSD.

    Factur-X takes ``profile`` and ``lang`` options and always checks its XML
    against the profile's XSD."""
    if syntax == "facturx":
        return facturx.write(invoice, **options)
    if syntax in csv_syntax.DIALECTS:     # no XSD for CSV: the dialect checks its own columns
        return csv_syntax.DIALECTS[syntax].write(invoice)
    if syntax in edifact.NAMES:           # the segment table checks the message (findings)
        return edifact.write(invoice, syntax, **options)
    try:
        target = XML_SYNTAXES[syntax]
    except KeyError:
        raise ValueError(f"cannot write {syntax!r}; choose one of {', '.join(WRITABLE)}") from None
    return target.write(invoice, validate=validate)


def validate_document(doc: Document) -> list[Finding]:
    """Reading problems plus every EN 16931 rule, each pointed at its place in the source."""
    from gateway.rules import validate
    return doc.findings + doc.locate(validate(doc.invoice))
