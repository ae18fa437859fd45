"""What a recipient downloads from its portal: one invoice in a format, a ZIP of several, a CSV list.

Formats: ``original`` (the file as the sender sent it), ``pdf`` (Factur-X: the
readable PDF with its XML inside), ``ubl``, ``cii``, ``csv`` (the recipient's own
CSV dialect when it chose one, else ``csv-lines``). The written ones come from
``gateway.flow.renderings.rendering_for``: written once from the original, checked,
kept as a ``RenderingRecord``, the same bytes every time after.

The original is offered only when every invoice of the file it came in is the
recipient's: a CSV export or an EDIFACT interchange may carry invoices for
others, and those are none of this recipient's business.

File names are the invoice number reduced to ``[A-Za-z0-9._-]``
(``gateway.store.filenames.safe_filename``) plus the format's extension, the UBL and CII
ones with their format before it (``FA-2026-03-ubl.xml``, ``FA-2026-03-cii.xml``: both are XML); inside a ZIP
a name already used gets the document id, so no member hides another and none
can climb out of the folder it is unpacked into. A ZIP ends with ``index.csv``
(the list, as the CSV export gives it) and, when some invoice could not be
given in the format asked, ``errors.txt`` saying which and why: nothing is
left out silently.

The CSV list has one row per invoice and, after them, one total row per
currency. Text cells that a spreadsheet would run as a formula (starting with
``= + - @``, tab or CR) get a leading ``'``.
"""
from __future__ import annotations

import csv
import io
import mimetypes
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Iterable, Optional

import sqlalchemy as sa

from ... import i18n
from ...i18n import N_, NN_
from ...db import DocumentRecord, Partner
from ...flow.renderings import CannotRender, rendering_for
from ...store.filenames import safe_filename
from ...syntaxes import syntax_of
from ..api.serialise import iso
from ..downloads import basename, extension

FORMATS = {"original": None, "pdf": "facturx", "ubl": "ubl", "cii": "cii", "csv": "csv-lines"}
LABELS = {"original": "Original", "pdf": "PDF (Factur-X)", "ubl": "UBL", "cii": "CII", "csv": "CSV"}
# formats whose files would share an extension with another: their name carries the format
# (FA-2026-03-ubl.xml, FA-2026-03-cii.xml), so both can sit in one folder
NAMED_FORMATS = ("ubl", "cii")
MAX_EXPORT = 500                 # invoices in one export: enough for a month, bounded for the server
CSV_COLUMNS = (N_("Id"), N_("Number"), N_("Type"), N_("Issue date"), N_("Due date"), N_("Sender"), N_("Sender VAT"),
               N_("Currency"), N_("Total without VAT"), N_("VAT"), N_("Total with VAT"), N_("Amount due"),
               N_("Status"), N_("Status date"), N_("Received"))
TOTAL_ROW = NN_("TOTAL (%(num)s invoice)", "TOTAL (%(num)s invoices)")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class NotAvailable(Exception):
    """This invoice cannot be given in this format (the message says why, for the recipient)."""


@dataclass(frozen=True)
class DocumentFile:
    key: str                 # payload-store key of the bytes
    filename: str
    media_type: str


def syntax_for(fmt: str, partner: Optional[Partner]) -> Optional[str]:
    """The ``gateway.syntaxes`` syntax a portal format stands for (None: the original)."""
    if fmt not in FORMATS:
        raise NotAvailable(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "csv" and partner is not None and syntax_of(partner.preferred_format or "") == "csv":
        return partner.preferred_format
    return FORMATS[fmt]


def original_is_theirs(session, doc: DocumentRecord, partner_id: int) -> bool:
    """Every invoice of the file ``doc`` came in is addressed to ``partner_id``."""
    others = session.scalar(sa.select(sa.func.count()).select_from(DocumentRecord).where(
        DocumentRecord.exchange_id == doc.exchange_id,
        sa.or_(DocumentRecord.recipient_partner_id.is_(None), DocumentRecord.recipient_partner_id != partner_id)))
    return not others


def document_file(gw, doc_id: int, fmt: str, partner_id: int) -> DocumentFile:
    """Where the bytes of one of the partner's invoices in ``fmt`` are (written if need be)."""
    with gw.session() as s:
        doc = s.get(DocumentRecord, doc_id)
        if doc is None or doc.recipient_partner_id != partner_id:
            raise LookupError(f"no document {doc_id} for this recipient")
        syntax = syntax_for(fmt, s.get(Partner, partner_id))
        stem = safe_filename(doc.number, f"document-{doc.id}")
        if syntax is None:
            if not original_is_theirs(s, doc, partner_id):
                raise NotAvailable(f"the original file of invoice {doc.number or doc.id} also holds invoices "
                                   "for others; download it in another format")
            ex = doc.exchange
            name = safe_filename(basename(ex.filename), "")
            if not name or "." not in name:
                name = stem + (extension(doc.syntax, ex.content_type or "") if doc.syntax else ".bin")
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return DocumentFile(ex.content_sha256, name, media_type)
    try:
        r = rendering_for(gw, doc_id, syntax)
    except CannotRender as e:
        raise NotAvailable(f"invoice {doc.number or doc.id} cannot be given as {LABELS.get(fmt, fmt)}: {e}") from None
    ext = extension(r.syntax, r.media_type)
    if fmt in NAMED_FORMATS:                     # UBL and CII are both .xml: the name says which
        stem = f"{stem}-{fmt}"
    return DocumentFile(r.payload_key, stem + ext, r.media_type)


# --- the CSV list ------------------------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (date, datetime)):
        return iso(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def summary_csv(docs: Iterable[DocumentRecord], *, lang: str = "en", decimal_comma: bool = False) -> bytes:
    """One row per invoice, then a total row per currency (UTF-8 with BOM, ``;``-separated:
    what spreadsheets open as columns in most locales). The headers are in ``lang``; amounts have
    a decimal point unless ``decimal_comma`` (French spreadsheets read ``1234,50`` as a number);
    dates stay ISO 8601, which every spreadsheet reads."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow([i18n.gettext(lang, c) for c in CSV_COLUMNS])
    totals: dict[str, list[Decimal]] = {}

    def money(value: Decimal) -> str:
        text = f"{value:.2f}"
        return text.replace(".", ",") if decimal_comma else text

    def cell(value: object) -> str:
        return money(value) if isinstance(value, Decimal) else _cell(value)

    for d in docs:
        w.writerow([cell(v) for v in (
            d.id, d.number, d.type_code, d.issue_date, d.due_date, d.seller_name, d.seller_vat_id, d.currency,
            d.total_without_vat, d.total_vat, d.total_with_vat, d.amount_due, d.business_status,
            d.business_status_at, d.created_at)])
        t = totals.setdefault(d.currency or "", [Decimal(0)] * 4 + [0])
        for i, amount in enumerate((d.total_without_vat, d.total_vat, d.total_with_vat, d.amount_due)):
            t[i] += amount or 0
        t[4] += 1
    for currency, t in sorted(totals.items()):
        w.writerow(["", i18n.ngettext(lang, *TOTAL_ROW, t[4]),
                    "", "", "", "", "", currency, *(money(a) for a in t[:4]), "", "", ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- the ZIP -----------------------------------------------------------------------------------

def _unique(name: str, used: set[str], doc_id: int) -> str:
    if name not in used:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate = f"{stem}-{doc_id}" + (f".{ext}" if ext else "")
    n = 2
    while candidate in used:
        candidate = f"{stem}-{doc_id}-{n}" + (f".{ext}" if ext else "")
        n += 1
    return candidate


def zip_export(gw, docs: list[DocumentRecord], fmt: str, partner_id: int) -> tuple[IO[bytes], list[int]]:
    """A ZIP of the invoices in ``fmt`` (see the module docstring), as a file positioned at its
    start, and the ids of the invoices it holds."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)
    used: set[str] = {"index.csv", "errors.txt"}
    errors: list[str] = []
    included: list[int] = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for d in docs:
            try:
                f = document_file(gw, d.id, fmt, partner_id)
            except NotAvailable as e:
                errors.append(str(e))
                continue
            name = _unique(f.filename, used, d.id)
            used.add(name)
            z.writestr(name, gw.payloads.get(f.key))
            included.append(d.id)
        z.writestr("index.csv", summary_csv(docs))
        if errors:
            z.writestr("errors.txt", "\n".join(errors) + "\n")
    spool.seek(0)
    return spool, included
