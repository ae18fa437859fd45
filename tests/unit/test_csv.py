"""ERP CSV dialects (mappings/csv-*.yaml) through the mapping engine: gateway/formats/csv_syntax.py.

* every EN 16931-valid corpus invoice survives CSV in both dialects, except exactly
  the terms the writer reports as dropped, and writing again gives the same bytes;
* CSV exported by an ERP becomes UBL that passes the XSD (and the CEN schematron);
* files with several invoices are split; broken or hostile files are refused with an
  error naming the row and the column; values that do not parse, rule findings and
  columns no term reads are located by row and column;
* spreadsheet formula injection is neutralised on write without touching numbers;
  decimal comma, date formats and unit code lists work both ways.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import io
import re
import shutil
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pytest

from gateway import mapping
from gateway.model import invoice as model
from gateway.model.errors import HostileInputError, InputError, MappingError
from gateway.syntaxes import read_document, validate_document, write_document
from gateway.syntaxes.csv_syntax import CsvSyntax, detect_dialect, dialect, dialects
from gateway.rules import validate
from tests.support.corpus import CORPUS, baseline, rel, requires_corpus
from tests.support.invoice_builder import build_invoice, clone
from tests.support.work import line_events

D = Decimal
DIALECTS = {name: dialect(name) for name in ("csv-lines", "csv-records")}    # the shipped ones
LINES = DIALECTS["csv-lines"]
RECORDS = DIALECTS["csv-records"]


def terms(invoice: model.Invoice) -> dict:
    return {(t, p): v for t, p, v in model.iter_terms(invoice)}


def table(data: bytes, dialect: CsvSyntax) -> list[dict]:
    """The records of a written file as {column: value} (empty cells left out)."""
    s = dialect.settings
    text = data.decode("utf-8-sig" if s.encoding.lower() == "utf-8-sig" else s.encoding)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=s.delimiter, quotechar=s.quote))
    assert rows[0] == list(s.columns)                 # the header row, in the dialect's column order
    return [{h: v for h, v in zip(rows[0], r) if v} for r in rows[1:]]


def erp(text: str, encoding: str = "cp1252", newline: str = "\r\n") -> bytes:
    """A hand-written ERP export: lines of the test's text, the ERP's line ends and encoding."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    return "".join(ln + newline for ln in lines).encode(encoding)


# --- hand-written files, as ERPs export them --------------------------------------------------

# A German ERP: semicolons, decimal comma, dd.mm.yyyy, Windows-1252, units "pcs"/"kg".
# Two lines; the second row also carries the second VAT breakdown.
ERP_LINES = erp("""
Invoice Number;Invoice Date;Invoice Type;Currency;Due Date;Buyer Reference;Specification ID;Seller Name;Seller VAT ID;Seller Street;Seller City;Seller Post Code;Seller Country;Seller Electronic Address;Seller Electronic Address Scheme;Buyer Name;Buyer VAT ID;Buyer Street;Buyer City;Buyer Post Code;Buyer Country;Buyer Electronic Address;Buyer Electronic Address Scheme;Payment Means Code;Payment Account;Payment Account BIC;Payment Terms;Total Line Net;Total Without VAT;Total VAT;Total With VAT;Total Amount Due;VAT Breakdown Category;VAT Breakdown Rate;VAT Breakdown Taxable Amount;VAT Breakdown Tax Amount;Line ID;Item Name;Quantity;Unit;Unit Price;Line VAT Category;Line VAT Rate;Line Net Amount
RE-2026-0042;31.01.2026;380;EUR;02.03.2026;04011000-12345-03;urn:cen.eu:en16931:2017;Müller Bürobedarf GmbH;DE123456789;Hauptstraße 5;München;80331;DE;DE123456789;9930;Käufer AG;DE987654321;Marktplatz 1;Köln;50667;DE;rechnung@kaeufer.example;EM;58;DE89370400440532013000;COBADEFFXXX;Zahlbar innerhalb 30 Tagen ohne Abzug;1036,00;1036,00;192,52;1228,52;1228,52;S;19;1000,00;190,00;1;Kopierpapier A4, 500 Blatt;200;pcs;5,00;S;19;1000,00
RE-2026-0042;31.01.2026;380;EUR;02.03.2026;04011000-12345-03;urn:cen.eu:en16931:2017;Müller Bürobedarf GmbH;DE123456789;Hauptstraße 5;München;80331;DE;;;Käufer AG;DE987654321;Marktplatz 1;Köln;50667;DE;;;58;;;Zahlbar innerhalb 30 Tagen ohne Abzug;1036,00;1036,00;192,52;1228,52;1228,52;S;7;36,00;2,52;2;Kaffeebohnen „Crema“;1,5;kg;24,00;S;7;36,00
""")

# A records export: H header, B bank account, L lines with an LA line allowance, A document
# allowance, V VAT breakdown; comma, decimal point, ISO dates, UTF-8, LF.
ERP_RECORDS = erp("""
Record Type,Invoice Number,Issue Date,Type Code,Currency,Due Date,Specification ID,Seller Name,Seller VAT ID,Seller City,Seller Postcode,Seller Country,Buyer Name,Buyer VAT ID,Buyer City,Buyer Postcode,Buyer Country,Payment Means Code,Line Total,Allowance Total,Total Without VAT,VAT Total,Total With VAT,Amount Due,Account ID,Line ID,Item Name,Quantity,Unit,Net Price,Line Net Amount,VAT Category,VAT Rate,Amount,Reason,Taxable Amount,VAT Amount
H,INV-9001,2026-02-15,380,EUR,2026-03-15,urn:cen.eu:en16931:2017,Acme Supplies NV,BE0123456749,Brussels,1000,BE,Widget Works BV,NL123456789B01,Utrecht,3511,NL,30,465.00,15.00,450.00,94.50,544.50,544.50,,,,,,,,,,,,,
B,,,,,,,,,,,,,,,,,,,,,,,,BE71096123456769,,,,,,,,,,,,
L,,,,,,,,,,,,,,,,,,,,,,,,,1,"Widget, large",10,C62,25.00,225.00,S,21,,,,
LA,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,25.00,Volume discount,,
L,,,,,,,,,,,,,,,,,,,,,,,,,2,Installation,3,HUR,80.00,240.00,S,21,,,,
A,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,S,21,15.00,Loyalty discount,,
V,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,S,21,,,450.00,94.50
""", encoding="utf-8", newline="\n")

# the smallest useful lines file, for the bad-input cases
MINI = """
Invoice Number;Invoice Date;Currency;Seller Name;Line ID;Item Name;Quantity;Unit;Unit Price;Line Net Amount
INV-1;31.01.2026;EUR;Müller GmbH;1;Paper;2;pcs;5,00;10,00
INV-1;31.01.2026;EUR;Müller GmbH;2;Toner;-1;pcs;3,50;-3,50
"""


# --- (a) the corpus, through both dialects ----------------------------------------------------

def _valid_sources() -> list:
    return sorted(CORPUS / p for p, e in baseline().items()
                  if e.status == "PASS" and p.split("/")[0] in ("ubl", "cii"))


VALID = _valid_sources()

# what each dialect leaves out (its mapping file says so): anything else dropped is a bug
ATTACHMENT = {"BT-125", "BT-125-1", "BT-125-2"}
FIRST_PER_LINE = {f"BT-{n}" for n in range(136, 146)} | {"BT-158", "BT-158-1", "BT-158-2", "BT-160", "BT-161"}
MAY_DROP = {"csv-lines": ATTACHMENT | FIRST_PER_LINE, "csv-records": ATTACHMENT}


@lru_cache(maxsize=None)
def _read(path: Path) -> model.Invoice:
    return read_document(path.read_bytes()).invoice


def _source(path: Path) -> model.Invoice:
    """A corpus file's model, read once per process (each dialect's test and the drop report use
    it); every caller gets its own copy."""
    return copy.deepcopy(_read(path))


@requires_corpus
def test_corpus_is_there():
    assert len(VALID) >= 80


@requires_corpus
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("path", VALID, ids=[rel(p) for p in VALID])
def test_corpus_round_trip_loses_exactly_what_is_reported(path, dialect):
    source = _source(path)
    syntax = DIALECTS[dialect]
    out = syntax.write(source)
    assert (out.media_type, out.extension, out.syntax) == ("text/csv", ".csv", dialect)

    back = syntax.read_bytes(out.data)
    assert back.findings == [], [str(f) for f in back.findings]    # no unread cell, no bad value
    before, after = terms(source), terms(back.invoice)
    dropped = {(d.term, d.path) for d in out.dropped}
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == dropped
    # only what the dialect says it leaves out; per line, only the second and later items
    assert {t for t, _ in dropped} <= MAY_DROP[dialect]
    for t, p in dropped:
        if t in FIRST_PER_LINE:
            assert not re.search(r"\.(allowances|charges|classification_identifiers|attributes)\[0\]", p), p

    assert syntax.write(back.invoice).data == out.data              # idempotent


@requires_corpus
def test_corpus_exercises_the_drop_report():
    """At least some files lose something, so the equality above is not trivially about nothing."""
    dropped = {name: set() for name in DIALECTS}
    for path in VALID:
        inv = _source(path)
        for name, syntax in DIALECTS.items():
            dropped[name] |= {d.term for d in syntax.write(inv).dropped}
    assert "BT-125" in dropped["csv-records"] and "BT-160" in dropped["csv-lines"]


@requires_corpus
def test_lines_dialect_repeats_the_header_on_every_row():
    inv = read_document((CORPUS / "ubl/cen-en16931/ubl-tc434-example2.xml").read_bytes()).invoice
    rows = table(LINES.write(inv).data, LINES)
    assert len(rows) == len(inv.lines) == 5
    for column in ("Invoice Number", "Invoice Date", "Currency", "Seller Name", "Buyer Country",
                   "Payment Means Code", "Total Amount Due"):
        assert len({r[column] for r in rows}) == 1 and all(column in r for r in rows), column
    assert [r["Line ID"] for r in rows] == [ln.identifier for ln in inv.lines]
    # the VAT breakdown is listed down the rows: row n carries breakdown n
    assert [r.get("VAT Breakdown Rate") for r in rows][:3] == ["25", "15", "0"]
    assert "VAT Breakdown Rate" not in rows[3]


def test_extra_rows_when_listed_groups_outnumber_the_lines():
    inv = build_invoice()
    for i in range(3):
        inv.notes.append(model.InvoiceNote(note=f"note {i}"))
    rows = table(LINES.write(inv).data, LINES)
    assert len(rows) == 3 and [r.get("Line ID") for r in rows] == ["1", None, None]
    assert all(r["Invoice Number"] == "INV-2024-001" and r["Seller Name"] == "Seller AG" for r in rows)
    back = LINES.read_bytes(LINES.write(inv).data)
    assert back.invoice == inv and back.findings == []


# --- (b) CSV -> UBL -> CSV --------------------------------------------------------------------

@pytest.fixture(scope="module")
def cen_ubl():
    from gateway.xml import schematron
    return schematron.cen_ubl()


@pytest.mark.parametrize("dialect, data", [("csv-lines", ERP_LINES), ("csv-records", ERP_RECORDS)])
def test_erp_csv_becomes_valid_ubl_and_comes_back(dialect, data, cen_ubl):
    syntax = DIALECTS[dialect]
    doc = syntax.read_bytes(data)
    assert doc.findings == [], [str(f) for f in doc.findings]
    assert [f for f in validate_document(doc) if f.fatal] == []
    ubl = write_document(doc.invoice, "ubl", validate=True)
    assert ubl.findings == [] and ubl.dropped == []
    assert [str(f) for f in cen_ubl.run(ubl.data) if f.fatal] == []
    again = read_document(ubl.data)
    assert again.invoice == doc.invoice
    csv_again = syntax.write(again.invoice)
    assert csv_again.dropped == []
    assert syntax.read_bytes(csv_again.data).invoice == doc.invoice
    assert csv_again.data == syntax.write(doc.invoice).data


def test_erp_lines_file_reads_what_the_erp_meant():
    inv = LINES.read_bytes(ERP_LINES).invoice
    assert (inv.number, inv.issue_date, inv.due_date) == ("RE-2026-0042", date(2026, 1, 31), date(2026, 3, 2))
    assert inv.seller.name == "Müller Bürobedarf GmbH" and inv.seller.postal_address.line1 == "Hauptstraße 5"
    assert inv.seller.electronic_address == model.Identifier("DE123456789", "9930")
    assert [(ln.quantity, ln.quantity_unit_code, ln.price.net_price) for ln in inv.lines] == \
        [(D("200"), "C62", D("5.00")), (D("1.5"), "KGM", D("24.00"))]
    assert inv.lines[1].item.name == "Kaffeebohnen „Crema“"              # cp1252 quotes
    assert [(v.rate, v.taxable_amount, v.tax_amount) for v in inv.vat_breakdown] == \
        [(D("19"), D("1000.00"), D("190.00")), (D("7"), D("36.00"), D("2.52"))]
    assert inv.payment_instructions.credit_transfers == [
        model.CreditTransfer("DE89370400440532013000", None, "COBADEFFXXX")]


def test_erp_records_file_reads_what_the_erp_meant():
    inv = RECORDS.read_bytes(ERP_RECORDS).invoice
    assert inv.number == "INV-9001" and inv.issue_date == date(2026, 2, 15)
    assert [ln.item.name for ln in inv.lines] == ["Widget, large", "Installation"]
    assert inv.lines[0].allowances == [model.LineAllowance(amount=D("25.00"), reason="Volume discount")]
    assert inv.lines[1].allowances == []
    assert inv.allowances == [model.DocumentAllowance(amount=D("15.00"), vat_category_code="S",
                                                      vat_rate=D("21"), reason="Loyalty discount")]
    assert [(v.category_code, v.taxable_amount) for v in inv.vat_breakdown] == [("S", D("450.00"))]


# --- (c) several invoices in one file ---------------------------------------------------------

TWO_INVOICES = erp("""
Invoice Number;Invoice Date;Currency;Line ID;Item Name;Line Net Amount
A-1;01.02.2026;EUR;1;Paper;10,00
A-1;01.02.2026;EUR;2;Ink;20,00
;;;3;Stapler;5,00
B-7;02.02.2026;CHF;1;Service;99,90
""")


def test_lines_file_with_several_invoices_is_split_by_invoice_number():
    docs = LINES.read_all(TWO_INVOICES)
    assert [(d.invoice.number, d.invoice.currency_code, [ln.identifier for ln in d.invoice.lines])
            for d in docs] == [("A-1", "EUR", ["1", "2", "3"]), ("B-7", "CHF", ["1"])]
    assert docs[1].source_map.lookup("number")[0] == "row 5, column 'Invoice Number'"
    with pytest.raises(InputError) as err:
        LINES.read_bytes(TWO_INVOICES)
    assert "2 invoices" in str(err.value) and "read_all" in str(err.value)


def test_records_file_with_several_invoices_is_split_at_each_header_record():
    data = ERP_RECORDS + ERP_RECORDS.split(b"\n", 1)[1].replace(b"INV-9001", b"INV-9002")
    docs = RECORDS.read_all(data)
    assert [d.invoice.number for d in docs] == ["INV-9001", "INV-9002"]
    assert docs[0].invoice == dataclasses.replace(docs[1].invoice, number="INV-9001")
    assert [f for d in docs for f in d.findings] == []


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_write_all_then_read_all(dialect):
    syntax = DIALECTS[dialect]
    a, b, c = build_invoice(), build_invoice("Z"), build_invoice("E")
    b.number, c.number = "INV-2024-002", "INV-2024-003"
    c.supporting_documents.append(model.SupportingDocument(
        reference="att", attachment=model.BinaryObject(b"%PDF-1.4", "application/pdf", "a.pdf")))
    out = syntax.write_all([a, b, c])
    assert {(d.term, d.path) for d in out.dropped} == {
        ("BT-125", "invoices[2].supporting_documents[0].attachment"),
        ("BT-125-1", "invoices[2].supporting_documents[0].attachment.mime_code"),
        ("BT-125-2", "invoices[2].supporting_documents[0].attachment.filename")}
    c.supporting_documents[0].attachment = None
    assert [d.invoice for d in syntax.read_all(out.data)] == [a, b, c]


def test_write_all_refuses_invoices_a_lines_file_could_not_tell_apart():
    a, b = build_invoice(), build_invoice()
    with pytest.raises(InputError) as err:
        LINES.write_all([a, b])
    assert "INV-2024-001" in str(err.value) and "Invoice Number" in str(err.value)
    assert len(RECORDS.read_all(RECORDS.write_all([a, b]).data)) == 2   # H records separate them


def test_rows_of_one_invoice_must_be_together():
    data = erp("""
    Invoice Number;Invoice Date;Currency;Line ID;Line Net Amount
    A-1;01.02.2026;EUR;1;10,00
    B-1;01.02.2026;EUR;1;10,00
    A-1;01.02.2026;EUR;2;10,00
    """)
    with pytest.raises(InputError) as err:
        LINES.read_all(data)
    assert err.value.location == "row 4, column 'Invoice Number'" and "not together" in str(err.value)


def test_header_only_file_holds_no_invoice():
    header = erp(MINI).split(b"\r\n")[0] + b"\r\n"
    assert LINES.read_all(header) == []
    with pytest.raises(InputError) as err:
        LINES.read_bytes(header)
    assert "no invoice" in str(err.value)


# --- (d) broken and hostile input: an InputError naming row and column ----------------------

def _refused(syntax: CsvSyntax, data: bytes) -> InputError:
    with pytest.raises(InputError) as err:
        syntax.read_all(data)
    return err.value


def _work_to_refuse(syntax: CsvSyntax, data: bytes) -> int:
    """Python lines run until ``data`` is refused (work counted, not timed: tests/support/work.py)."""
    return line_events(lambda: _refused(syntax, data))


BAD_LINES = {
    "wrong-encoding": (  # not UTF-8, and 0x81 is no character in Windows-1252 either
        erp(MINI).replace(b"Paper", b"Pap\x81er"), "row 2, column 'Item Name'", "not valid cp1252"),
    "ragged-more-fields": (
        erp(MINI).replace(b"10,00\r\n", b"10,00;surprise\r\n", 1), "row 2, column 11 (no header)", "ragged row"),
    "ragged-fewer-fields": (
        erp(MINI).replace(b";3,50;-3,50", b";3,50"), "row 3, column 'Line Net Amount'", "ragged row"),
    "missing-required-column": (
        erp(MINI.replace("Line ID", "Position")), "row 1, column 'Line ID'", "lacks the required column"),
    "duplicate-column": (
        erp(MINI.replace("Quantity", "Unit Price")), "row 1, column 'Unit Price'", "appears twice"),
    "unterminated-quote": (
        erp(MINI).replace(b";Toner;", b';"Toner;'), "row 3, column 'Item Name'", "never closed"),
    "text-after-closing-quote": (
        erp(MINI).replace(b";Toner;", b';"Toner"s;'), "row 3, column 'Item Name'", "after a closing quote"),
    "control-character": (
        erp(MINI).replace(b"Toner", b"To\x00ner"), "row 3, column 'Item Name'", "U+0000"),
    "field-too-long": (
        erp(MINI).replace(b"Toner", b"T" * 100_001), "row 3, column 'Item Name'", "longer than 100000"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_lines_input_names_row_and_column(case):
    data, where, what = BAD_LINES[case]
    err = _refused(LINES, data)
    assert err.location == where and what in str(err), str(err)
    assert where in str(err) and err.line is not None


def test_wrong_encoding_in_a_utf8_dialect():
    data = ERP_RECORDS.replace(b"Widget Works BV", "Widgét Works BV".encode("cp1252"))
    err = _refused(RECORDS, data)
    assert err.location == "row 2, column 'Buyer Name'" and "not valid utf-8" in str(err)
    assert err.line == 2


BAD_RECORDS = {
    "unknown-record-type": (ERP_RECORDS.replace(b"\nB,", b"\nX,"), "row 3, column 'Record Type'",
                            "unknown record type 'X'"),
    "line-before-header-record": (ERP_RECORDS.replace(b"\nH,", b"\nL,", 1), "row 2, column 'Record Type'",
                                  "before the first 'H'"),
    "sub-record-without-its-line": (ERP_RECORDS.replace(b"\nB,", b"\nLA,"), "row 3, column 'Record Type'",
                                    "belongs to a 'L' record"),
    "missing-record-type-column": (ERP_RECORDS.replace(b"Record Type,", b"Kind,", 1),
                                   "row 1, column 'Record Type'", "lacks the required column"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_records_input_names_row_and_column(case):
    data, where, what = BAD_RECORDS[case]
    err = _refused(RECORDS, data)
    assert err.location == where and what in str(err), str(err)


def test_trailing_delimiters_and_blank_lines_are_harmless():
    data = erp(MINI).replace(b"\r\n", b";;\r\n") + b"\r\n;;;;;;;;;;\r\n"
    assert LINES.read_bytes(data).invoice == LINES.read_bytes(erp(MINI)).invoice


def test_empty_file_is_refused():
    for data in (b"", b"\xef\xbb\xbf", b"\r\n\r\n"):
        with pytest.raises(InputError) as err:
            LINES.read_all(data)
        assert "empty" in str(err.value)


HEADER = b"Invoice Number;Invoice Date;Currency;Line ID;Item Name;Line Net Amount\r\n"


def test_100_mb_field_is_refused_quickly():
    def field(size: int) -> bytes:
        return HEADER + b"INV-1;31.01.2026;EUR;1;" + b"x" * size + b";1,00\r\n"
    err = _refused(LINES, field(100_000_000))
    assert err.location == "row 2, column 'Item Name'" and "longer than" in str(err)
    assert isinstance(err, HostileInputError)
    # quickly: refused at the field limit, so 100x the field is no more work than 1 MB of it
    ratio = _work_to_refuse(LINES, field(100_000_000)) / _work_to_refuse(LINES, field(1_000_000))
    assert ratio < 1.5, f"100x the field took {ratio:.1f}x the work"


def test_100_mb_unterminated_quote_is_refused_quickly():
    def unterminated(rows: int) -> bytes:
        return HEADER + b'INV-1;31.01.2026;EUR;1;"' + b"x;y\r\n" * rows
    err = _refused(LINES, unterminated(20_000_000))
    assert err.location == "row 2, column 'Item Name'", str(err)
    assert "quoted field opened on line 2" in str(err) and isinstance(err, HostileInputError)
    # quickly: refused at the field limit, so 100x the quoted text is no more work than 1 MB of it
    ratio = _work_to_refuse(LINES, unterminated(20_000_000)) / _work_to_refuse(LINES, unterminated(200_000))
    assert ratio < 1.5, f"100x the quoted text took {ratio:.1f}x the work"


def test_100_mb_of_rows_is_refused_at_the_row_limit():
    row = b"INV-%d;31.01.2026;EUR;1;" + b"x" * 450 + b";10,00\r\n"
    data = HEADER + b"".join(row % (i // 10) for i in range(220_000))
    assert len(data) > 100_000_000
    err = _refused(LINES, data)
    assert err.location == "row 100002" and "more than 100000 rows" in str(err)
    assert isinstance(err, HostileInputError)


# --- findings located by row and column ------------------------------------------------------

def test_unparsable_values_are_located_by_row_and_column():
    data = erp(MINI).replace(b"3,50;-3,50", b"3,5x;-3,50").replace(b"31.01.2026;EUR;M\xfcller GmbH;2",
                                                                   b"2026-01-31;EUR;M\xfcller GmbH;2")
    doc = LINES.read_bytes(data)
    found = {(f.rule, f.terms, f.location, f.line) for f in doc.findings}
    assert ("READ-VALUE", ("BT-146",), "row 3, column 'Unit Price'", 3) in found
    assert doc.invoice.lines[1].price is None
    # the date is read from row 2; row 3 disagrees and says so
    assert ("READ-CONFLICT", ("BT-2",), "row 3, column 'Invoice Date'", 3) in found
    assert doc.invoice.issue_date == date(2026, 1, 31)


def test_rule_findings_point_at_rows_and_columns():
    inv = build_invoice()
    inv.lines.append(clone(inv).lines[0])
    inv.lines[1].identifier = "2"
    data = LINES.write(inv).data
    doc = LINES.read_bytes(data)
    located = {f.rule: f.location for f in doc.locate(validate(doc.invoice))}
    # the totals no longer add up (BR-CO-10), and are pointed at the column
    assert located["BR-CO-10"] == "row 2, column 'Total Line Net'"


def test_a_missing_value_is_pointed_at_its_row_or_the_invoice_rows():
    data = erp(MINI).replace(b"2;Toner;-1;pcs;3,50;-3,50", b"2;Toner;-1;pcs;3,50;")
    doc = LINES.read_bytes(data)
    located = {f.rule: (f.location, f.line) for f in doc.locate(validate(doc.invoice))}
    assert located["BR-24"] == ("row 3", 3)                  # line 2 has no net amount
    assert located["BR-07"] == ("rows 2-3", 2)               # no buyer name anywhere in the invoice


def test_columns_no_term_reads_are_reported():
    data = erp(MINI.replace("Unit Price", "Unit Price;Kostenstelle")
               .replace(";5,00;", ";5,00;KST-100;").replace(";3,50;", ";3,50;;"))
    doc = LINES.read_bytes(data)
    unread = [(f.rule, f.severity, f.location) for f in doc.findings]
    assert unread == [("READ-UNMAPPED", "warning", "row 2, column 'Kostenstelle'")]
    assert "KST-100" in doc.findings[0].message


# --- (e) formula injection ------------------------------------------------------------------

@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_formulas_are_neutralised_and_negative_numbers_kept(dialect):
    syntax = DIALECTS[dialect]
    inv = build_invoice()
    inv.seller.name = "=HYPERLINK(\"http://evil.example\",\"click\")"
    inv.buyer.name = "@SUM(A1:A9)"
    inv.buyer_reference = "+49 30 1234"
    inv.lines[0].item.name = "-2+3"
    inv.lines[0].item.description = "'=already quoted"
    inv.payment_terms = "'plain apostrophe"
    inv.lines.append(model.InvoiceLine(
        identifier="2", quantity=D("-1"), quantity_unit_code="C62", net_amount=D("-50.00"),
        price=model.PriceDetails(net_price=D("50.00")), vat=inv.lines[0].vat,
        item=model.ItemInformation(name="Returned widget")))
    out = syntax.write(inv)
    cells = [v for row in table(out.data, syntax) for v in row.values()]
    dangerous = [v for v in cells if v[:1] in ("=", "+", "@") or (v.startswith("-") and not _number(v))]
    assert dangerous == []
    for escaped in ("'=HYPERLINK(\"http://evil.example\",\"click\")", "'@SUM(A1:A9)", "'+49 30 1234",
                    "'-2+3", "''=already quoted", "'plain apostrophe"):
        assert escaped in cells
    sep = syntax.settings.decimal_separator
    assert f"-50{sep}00" in cells and "-1" in cells                 # numbers stay numbers
    assert syntax.read_bytes(out.data).invoice == inv             # and all of it reads back


def _number(text: str) -> bool:
    return re.fullmatch(r"-?\d+([.,]\d+)?", text) is not None


def test_an_erp_file_with_an_escaped_formula_reads_the_text():
    data = erp(MINI.replace("Müller GmbH", "'=Müller GmbH"))
    assert LINES.read_bytes(data).invoice.seller.name == "=Müller GmbH"
    data = erp(MINI.replace("Müller GmbH", "'Müller GmbH"))
    assert LINES.read_bytes(data).invoice.seller.name == "'Müller GmbH"   # a plain apostrophe stays


# --- (f) number and date formats, code lists --------------------------------------------------

def test_decimal_comma_and_day_month_year_dates_round_trip():
    doc = LINES.read_bytes(erp(MINI))
    inv = doc.invoice
    assert inv.issue_date == date(2026, 1, 31)
    assert [(ln.quantity, ln.price.net_price, ln.net_amount) for ln in inv.lines] == \
        [(D("2"), D("5.00"), D("10.00")), (D("-1"), D("3.50"), D("-3.50"))]
    rows = table(LINES.write(inv).data, LINES)
    assert [(r["Invoice Date"], r["Quantity"], r["Unit Price"], r["Line Net Amount"]) for r in rows] == \
        [("31.01.2026", "2", "5,00", "10,00"), ("31.01.2026", "-1", "3,50", "-3,50")]
    assert LINES.read_bytes(LINES.write(inv).data).invoice == inv


def test_decimal_point_and_iso_dates_in_the_records_dialect():
    inv = build_invoice()
    inv.lines[0].price.net_price = D("1234.5678")
    rows = table(RECORDS.write(inv).data, RECORDS)
    header, line = rows[0], rows[1]
    assert header["Issue Date"] == "2024-03-01" and line["Net Price"] == "1234.5678"
    assert line["Record Type"] == "L" and header["Record Type"] == "H"
    assert RECORDS.read_bytes(RECORDS.write(inv).data).invoice == inv


def test_unit_code_list_both_ways():
    inv = build_invoice()
    inv.lines[0].quantity_unit_code = "KGM"
    inv.lines[0].price.base_quantity, inv.lines[0].price.base_quantity_unit_code = D("1"), "C62"
    inv.lines.append(clone(inv).lines[0])
    inv.lines[1].identifier, inv.lines[1].quantity_unit_code = "2", "XYZ"     # not in the list
    rows = table(LINES.write(inv).data, LINES)
    assert [(r["Unit"], r.get("Price Base Unit")) for r in rows] == [("kg", "pcs"), ("XYZ", "pcs")]
    back = LINES.read_bytes(LINES.write(inv).data).invoice
    assert [(ln.quantity_unit_code, ln.price.base_quantity_unit_code) for ln in back.lines] == \
        [("KGM", "C62"), ("XYZ", "C62")]
    # the records dialect has no unit list: UN/ECE codes as they are
    assert table(RECORDS.write(inv).data, RECORDS)[1]["Unit"] == "KGM"


def test_utf8_with_bom_and_cp1252_both_read():
    cp1252 = erp(MINI)
    utf8_bom = b"\xef\xbb\xbf" + MINI.strip().replace("\n", "\r\n").encode("utf-8")
    utf8 = MINI.strip().encode("utf-8")
    names = {LINES.read_bytes(d).invoice.seller.name for d in (cp1252, utf8_bom, utf8)}
    assert names == {"Müller GmbH"}
    assert LINES.write(build_invoice()).data.startswith(b"\xef\xbb\xbf")       # written with a BOM
    assert not RECORDS.write(build_invoice()).data.startswith(b"\xef\xbb\xbf")


def test_values_with_delimiters_quotes_and_line_breaks_round_trip():
    inv = build_invoice()
    inv.lines[0].item.name = 'Screws; "M4", 100 pcs'
    inv.lines[0].item.description = "two\nlines\r\nand a\rcarriage return"
    inv.notes.append(model.InvoiceNote(note="a;b,c\"d"))
    for syntax in DIALECTS.values():
        doc = syntax.read_bytes(syntax.write(inv).data)
        assert doc.invoice.lines[0].item == inv.lines[0].item and doc.invoice.notes == inv.notes


# --- detection, dialect files ------------------------------------------------------------------

def test_the_dialects_are_the_csv_mapping_files():
    assert [d.name for d in dialects()] == ["csv-lines", "csv-records"]
    assert [(d.name, d.mapping_name) for d in dialects()] == [("csv-lines", "csv-lines"), ("csv-records", "csv-records")]


def test_detect_dialect_by_header_row():
    assert detect_dialect(ERP_LINES) is LINES and LINES.sniff(ERP_LINES)
    assert detect_dialect(ERP_RECORDS) is RECORDS and not LINES.sniff(ERP_RECORDS)
    assert detect_dialect(LINES.write(build_invoice()).data) is LINES
    assert detect_dialect(RECORDS.write(build_invoice()).data) is RECORDS
    for other in (b"", b"<Invoice/>", b"UNA:+.? '", b"\x00\x01\x02", b"a;b;c\r\n1;2;3\r\n"):
        assert detect_dialect(other) is None


def test_documents_say_which_dialect_read_them():
    doc = LINES.read_bytes(erp(MINI))
    assert (doc.syntax, doc.mapping) == ("csv-lines", "csv-lines")


def _flavour(tmp_path, monkeypatch, text: str) -> CsvSyntax:
    shutil.copy(mapping.builtin_dir() / "csv-lines.yaml", tmp_path / "csv-lines.yaml")
    (tmp_path / "acme.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("EDIGATE_MAPPINGS", str(tmp_path))
    return CsvSyntax("acme")


def test_a_partner_flavour_is_a_small_file(tmp_path, monkeypatch):
    acme = _flavour(tmp_path, monkeypatch, """
name: acme
extends: csv-lines
csv: {delimiter: "\\t", encoding: cp1252, limits: {rows: 2}}
formats: {date: "%Y%m%d"}
""")
    data = erp(MINI.replace(";", "\t").replace("31.01.2026", "20260131"))
    assert acme.read_bytes(data).invoice == LINES.read_bytes(erp(MINI)).invoice
    assert acme.write(acme.read_bytes(data).invoice).data.startswith(b"Invoice Number\tInvoice Date\t")
    with pytest.raises(InputError) as err:
        acme.read_all(data + data.split(b"\r\n", 2)[2])
    assert err.value.location == "row 4" and "more than 2 rows" in str(err.value)


def test_a_value_the_target_encoding_cannot_hold_is_refused_with_its_place(tmp_path, monkeypatch):
    acme = _flavour(tmp_path, monkeypatch, "name: acme\nextends: csv-lines\ncsv: {encoding: cp1252}\n")
    inv = build_invoice()
    inv.lines[0].item.name = "Łódź pierogi"
    with pytest.raises(InputError) as err:
        acme.write(inv)
    assert err.value.location == "row 2, column 'Item Name'" and "cp1252" in str(err.value)
    inv.lines[0].item.name = "Müller"
    assert acme.write(inv).data.decode("cp1252").count("Müller") == 1


def test_large_batches_can_be_read_invoice_by_invoice():
    docs = LINES.iter_documents(TWO_INVOICES + b"C-1;03.02.2026;EUR;1;x;1,00\r\nA-1;;;;;\r\n")
    assert next(docs).invoice.number == "A-1"
    assert [d.invoice.number for d in (next(docs), next(docs))] == ["B-7", "C-1"]
    with pytest.raises(InputError) as err:                     # A-1 again, found when reached
        next(docs)
    assert err.value.location == "row 7, column 'Invoice Number'"


def test_a_term_in_a_column_the_dialect_does_not_list_is_a_mapping_error(tmp_path, monkeypatch):
    acme = _flavour(tmp_path, monkeypatch, """
name: acme
extends: csv-lines
terms:
  BT-19: {path: "row/c[@n='Kostenstelle']", broadcast: true}
""")
    with pytest.raises(MappingError) as err:
        acme.read_bytes(erp(MINI))
    assert "Kostenstelle" in str(err.value) and "acme.yaml" in str(err.value)
