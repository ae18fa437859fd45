"""Syntaxes in and out of the EN 16931 model: ``read_document`` and ``write_document``.

Code here knows syntaxes (bytes, trees, XSDs); business meaning lives in the
mapping files, and so does the list of flavours: every mapping file on the
search path with a ``syntax:`` is one (``registry``). Every reader returns a
``Document`` (the model plus a source map to point findings at the original
file); every writer a ``Rendering`` (bytes plus the business terms the target
could not carry).
"""
from __future__ import annotations

from typing import Optional

from lxml import etree

from gateway.model.errors import MappingError, UnknownFormatError
from gateway.model.findings import Finding
from gateway.model.invoice import Invoice
from gateway.rules import DEFAULT_PROFILE
from gateway.rules import validate as check_rules
from gateway.syntaxes import csv_syntax, facturx, xml_syntax
from gateway.syntaxes.base import Document, Rendering
from gateway.syntaxes.detect import NS_ZUGFERD1, sniff
from gateway.syntaxes.edifact import documents as edifact
from gateway.syntaxes.registry import Flavour, flavour, flavours, writable
from gateway.xml import safe

__all__ = ["Document", "Rendering", "Flavour", "read_document", "read_documents", "write_document",
           "validate_document", "detect", "flavours", "flavour", "writable", "extension", "syntax_of"]


def extension(name: str) -> Optional[str]:
    """The file extension of what the flavour ``name`` writes (``.xml``), None for no usable flavour."""
    found = _usable(name)
    return found.extension if found else None


def syntax_of(name: str) -> Optional[str]:
    """The syntax of the flavour ``name`` (``csv`` for a partner's CSV dialect), None for no usable flavour."""
    found = _usable(name)
    return found.syntax if found else None


def _usable(name: str) -> Optional[Flavour]:
    try:
        return flavour(name)
    except (ValueError, MappingError):
        return None


def _xml_syntax(root: etree._Element) -> xml_syntax.XmlSyntax:
    syntax = xml_syntax.owner(root)
    if syntax is not None:
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


def read_documents(data: bytes, *, tolerate_unz_reference: bool = False) -> list[Document]:
    """Every invoice in a file: several for CSV exports and EDIFACT interchanges, one for the other
    syntaxes. ``tolerate_unz_reference``: read on an EDIFACT interchange whose UNZ reference is not
    its UNB's (a warning then, not an error: a sender's setting)."""
    dialect = csv_syntax.detect_dialect(data)
    if dialect is not None:
        return dialect.read_all(data)
    if sniff(data) == "edifact":
        return edifact.read_all(data, tolerate_unz_reference=tolerate_unz_reference)
    return [read_document(data)]


def read_document(data: bytes) -> Document:
    """Read any supported document into the model (format detected); one invoice per file."""
    dialect = csv_syntax.detect_dialect(data)
    if dialect is not None:
        return dialect.read_bytes(data)
    kind = sniff(data)
    if kind == "xml":
        root = safe.parse(data)
        doc = _xml_syntax(root).read(root)
        if syntax_of(doc.syntax) == facturx.registry.SYNTAXES[facturx.NAME].carries:
            doc.profile = facturx.profile_of(doc.invoice)      # a Factur-X profile's CII says which
        return doc
    if kind == "pdf":
        return facturx.read(data)
    if kind == "edifact":
        return edifact.read_one(data)
    raise UnknownFormatError(f"{kind.upper()} input is recognised but not readable yet")


def write_document(invoice: Invoice, syntax: str, *, validate: bool = False, **options) -> Rendering:
    """Write the model in the flavour ``syntax``; ``validate`` also checks the output against the XSD.

    Factur-X takes ``profile`` and ``lang`` options and always checks its XML
    against the profile's XSD; a profile's flavour (``facturx-minimum``) writes that
    profile; EDIFACT takes the interchange's ``sender``,
    ``recipient`` and ``prepared``."""
    try:
        target = flavour(syntax)
    except ValueError:
        raise ValueError(f"cannot write {syntax!r}; choose one of {', '.join(writable())}") from None
    if target.syntax == "facturx":
        own = facturx.of_flavour(target.name)
        if own is not None and options.get("profile") not in (None, own):
            if facturx.normalise_profile(options["profile"]) != own:
                raise ValueError(f"{target.name} writes the {facturx.PROFILES[own].label} profile, "
                                 f"not {options['profile']!r}")
        return facturx.write(invoice, **{**options, "profile": options.get("profile") or own}, flavour=target.name)
    if target.syntax == "csv":        # no XSD for CSV: the dialect checks its own columns
        return csv_syntax.dialect(target.name).write(invoice)
    if target.syntax == "edifact":    # the segment table checks the message (findings)
        return edifact.write(invoice, target.name, **options)
    return xml_syntax.of(target).write(invoice, validate=validate)


def validate_document(doc: Document, profile: str = DEFAULT_PROFILE) -> list[Finding]:
    """Reading problems plus every rule of the validation ``profile`` (``gateway.rules.profiles``;
    EN 16931 by default), each pointed at its place in the source. ``ProfileError`` when the
    profile cannot be used."""
    syntax = syntax_of(doc.syntax) or doc.syntax
    return doc.findings + doc.locate(check_rules(doc.invoice, profile=profile, syntax=syntax))
