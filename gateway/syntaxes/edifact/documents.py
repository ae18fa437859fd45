"""Interchanges in, invoices out, and back: the EDIFACT entry for ``gateway.syntaxes``.

``syntax`` turns bytes into an interchange of messages (with its syntax
issues), ``invoic`` turns one INVOIC message into a ``Document``. Here the two
meet: every usable INVOIC message becomes a Document carrying its syntax
issues as findings; a message the syntax layer rejected, or a non-invoice
message, is reported, never silently skipped. Writing wraps one message in a
UNB/UNZ envelope whose parties come from the invoice (until partner profiles
give them).
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Optional

from gateway.model.errors import InputError
from gateway.model.findings import FATAL, WARNING, Finding
from gateway.model.invoice import Identifier, Invoice
from gateway.syntaxes.base import Document, Rendering
from gateway.syntaxes.edifact import invoic
from gateway.syntaxes.edifact.syntax import (Party, SyntaxIssue, new_interchange, read_interchange,
                                             write_interchange)
from gateway.syntaxes.registry import SYNTAXES

MEDIA_TYPE = SYNTAXES["edifact"].media_type
EXTENSION = SYNTAXES["edifact"].extension


def _finding(issue: SyntaxIssue) -> Finding:
    extra = {"level": issue.level, "code": issue.code, **({"tolerated": True} if issue.tolerated else {})}
    return Finding(rule=f"EDIFACT-{issue.code}", message=issue.text,
                   severity=FATAL if issue.fatal else WARNING, location=issue.location or None,
                   line=issue.line, extra=extra)


def read_all(data: bytes, *, tolerate_unz_reference: bool = False) -> list[Document]:
    """Every INVOIC message of an interchange as a Document.

    Raises InputError when nothing usable is there (the interchange itself is
    rejected, or it holds no usable INVOIC message), naming the reasons.
    ``tolerate_unz_reference``: a UNZ reference that is not the UNB's is a
    warning (EDIFACT-28, tolerated) instead of an error (see ``syntax``)."""
    interchange = read_interchange(data, tolerate_unz_reference=tolerate_unz_reference)
    # Envelope errors (a UNZ count or reference that does not match) reject the interchange
    # for acknowledgement (CONTRL), but the messages themselves may be sound: they are read,
    # and carry the envelope error as a fatal finding, so no check ever passes them.
    envelope = [_finding(i) for i in interchange.issues]
    docs, refused = [], []
    for message in interchange.messages:
        where = f"message {message.ref} ({message.type})"
        if message.type != "INVOIC":
            refused.append(f"{where}: not an invoice")
            continue
        if not message.accepted or (message.group is not None and not message.group.accepted):
            refused.append(f"{where}: " + "; ".join(
                i.text for i in message.issues + (message.group.issues if message.group else []) if i.fatal))
            continue
        try:
            doc = invoic.read_message(message)
        except InputError as exc:       # this message only (e.g. a number no invoice holds)
            refused.append(f"{where}: {exc}")
            continue
        doc.findings = envelope + [_finding(i) for i in message.issues] + doc.findings
        docs.append(doc)
    if not docs:
        reasons = [f"{f.message} ({f.location})" if f.location else f.message for f in envelope if f.fatal]
        raise InputError("no usable INVOIC message in the interchange: " + "; ".join(reasons + refused or
                                                                                  ["it holds no message"]))
    for doc in docs:
        doc.findings += [Finding(rule="EDIFACT-SKIPPED", message=r, severity=WARNING) for r in refused]
    return docs


def read_one(data: bytes) -> Document:
    """The one INVOIC message of an interchange (several: use ``read_all``)."""
    docs = read_all(data)
    if len(docs) > 1:
        raise InputError(f"the interchange holds {len(docs)} invoices; read them with read_documents")
    return docs[0]


def _party(*candidates: Optional[Identifier], fallback: Optional[str]) -> Party:
    """An interchange party from an electronic address or identifier: GLN (0088) gets qualifier 14."""
    for ident in candidates:
        if ident is not None and ident.value:
            return Party(ident.value[:35], "14" if ident.scheme == "0088" else "ZZZ")
    return Party((fallback or "UNKNOWN")[:35], "ZZZ")


def write(invoice: Invoice, name: str = "edifact-d14b", *, sender: Optional[str] = None,
          recipient: Optional[str] = None, prepared: Optional[datetime] = None) -> Rendering:
    """One invoice as an interchange with one INVOIC message in the flavour ``name``."""
    written = invoic.write_message(invoice, name)
    seller, buyer = invoice.seller, invoice.buyer
    s = Party.of(sender) if sender else _party(
        seller and seller.electronic_address, *(seller.identifiers if seller else []),
        fallback=seller and seller.vat_identifier)
    r = Party.of(recipient) if recipient else _party(
        buyer and buyer.electronic_address, buyer and buyer.identifier,
        fallback=buyer and buyer.vat_identifier)
    ref = hashlib.sha1(f"{invoice.number}|{invoice.issue_date}|{s}".encode()).hexdigest()[:14].upper()
    ic = new_interchange(sender=s, recipient=r, control_ref=ref, prepared=prepared,
                         syntax_level="UNOW" if _needs_unicode(written) else "UNOC",
                         messages=[written.message()])
    data = write_interchange(ic, line_break="\n")
    return Rendering(name, written.mapping, data, written.dropped, written.findings, MEDIA_TYPE, EXTENSION)


def _needs_unicode(written: invoic.WrittenMessage) -> bool:
    """UNOC (Latin-1) when every character fits, else UNOW (UTF-8)."""
    for seg in written.segments:
        for element in seg.elements:
            for comp in element:
                try:
                    (comp or "").encode("latin-1")
                except UnicodeEncodeError:
                    return True
    return False
