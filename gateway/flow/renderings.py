"""A document in another syntax, on demand: read from its original, written, and kept.

The pipeline writes each document once, in its recipient's format. A recipient
(ERP pull, portal download) may ask for another syntax later; ``rendering_for``
writes it from the original file (the authority: a rendering may have dropped
terms), checks it like the pipeline does, stores the bytes and records a
``RenderingRecord``, so every later request gets the same bytes back. Two
requests racing for the same rendering end with one record (the unique
document + syntax + mapping constraint decides; the loser takes the winner's).
"""
from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.db import DocumentRecord, RenderingRecord
from gateway.model.errors import EdigateError, RenderError
from gateway.model.findings import FATAL
from gateway.syntaxes import read_documents, writable, write_document
from gateway.model.invoice import Invoice


class CannotRender(EdigateError):
    """The document cannot be given in that syntax (unknown syntax, or the output fails its checks)."""


def read_invoice(gw, document: DocumentRecord) -> Invoice:
    """The document's invoice, read again from its exchange's content (the n-th of the file).
    ``PayloadNotFound`` when the store lost the original."""
    data = gw.payloads.get(document.exchange.content_sha256)
    docs = read_documents(data)
    if document.position >= len(docs):
        raise RuntimeError(f"document {document.id}: its original holds {len(docs)} invoice(s), "
                           f"not one at position {document.position}")
    return docs[document.position].invoice


def _stored(s, document_id: int, syntax: str) -> Optional[RenderingRecord]:
    return s.scalar(sa.select(RenderingRecord)
                    .where(RenderingRecord.document_id == document_id, RenderingRecord.syntax == syntax)
                    .order_by(RenderingRecord.id).limit(1))


def _fatal(findings: list) -> list[str]:
    return [f"{f['rule']}: {f['message']}" for f in findings if f.get("severity") == FATAL]


def rendering_for(gw, document_id: int, syntax: str) -> RenderingRecord:
    """The document written in ``syntax`` (one of ``gateway.syntaxes.writable()``): the record
    kept from before, else a new one. Raises ``CannotRender`` when the output does not pass
    its checks, or the PDF renderer refuses it (``RenderError``); nothing is kept then."""
    if syntax not in writable():
        raise CannotRender(f"cannot write {syntax!r}; choose one of {', '.join(writable())}")
    with gw.session() as s:
        record = _stored(s, document_id, syntax)
        if record is None:
            document = s.get(DocumentRecord, document_id)
            if document is None:
                raise LookupError(f"no document {document_id}")
            document.exchange                   # loaded now: read below, after the session
    if record is not None:
        problems = _fatal(record.findings or [])
        if problems:
            raise CannotRender(f"the {syntax} written does not pass its checks: " + "; ".join(problems)[:1000])
        return record

    # the slow part (reading, writing, XSD, PDF) outside any transaction, like the pipeline
    invoice = read_invoice(gw, document)
    try:
        rendering = write_document(invoice, syntax, validate=True)
    except RenderError as e:                # beyond the PDF renderer's caps: refused, nothing kept
        raise CannotRender(f"the {syntax} cannot be written: {e}") from None
    problems = [f"{f.rule}: {f.message}" for f in rendering.findings if f.severity == FATAL]
    if problems:
        raise CannotRender(f"the {syntax} written does not pass its checks: " + "; ".join(problems)[:1000])
    key = gw.payloads.put(rendering.data).key
    try:
        with gw.session() as s:             # the insert alone: a lost race rolls back nothing else
            record = RenderingRecord.from_rendering(rendering, payload_key=key, size=len(rendering.data),
                                                    document_id=document_id)
            s.add(record)
        return record
    except IntegrityError:                  # another request kept it first: theirs is ours
        with gw.session() as s:
            record = _stored(s, document_id, syntax)
        if record is None:
            raise
        return record
