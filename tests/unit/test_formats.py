"""Detection and rejection at the public entry point, read_document."""
from __future__ import annotations

import pytest

from gateway.model.errors import HostileInputError, InputError, UnknownFormatError
from gateway.syntaxes import detect, read_document, write_document
from tests.support.corpus import CORPUS, requires_corpus

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>&x;</ID></Invoice>"""

LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">""" + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
) + b"""]><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol9;</Invoice>"""


@pytest.mark.parametrize("data", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_entity_attacks_are_rejected_before_expansion_without_leaking(data):
    with pytest.raises(HostileInputError) as err:
        read_document(data)
    assert "DOCTYPE" in str(err.value)             # refused at the DOCTYPE: nothing was expanded
    assert "root:" not in str(err.value)          # nothing of /etc/passwd


def test_malformed_xml_names_line_and_column():
    with pytest.raises(InputError) as err:
        read_document(b'<?xml version="1.0"?>\n<Invoice>\n  <ID>1</Invoice>')
    assert err.value.line == 3 and err.value.column is not None


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x00\x01binary", "not a document"),
    (b"<Order xmlns='urn:x'/>", "unknown XML document root"),
    (b"<rsm:CrossIndustryDocument xmlns:rsm='urn:ferd:CrossIndustryDocument:invoice:1p0'/>", "ZUGFeRD 1.0"),
])
def test_unknown_or_unsupported_input_gets_a_clear_error(data, message):
    with pytest.raises(UnknownFormatError) as err:
        read_document(data)
    assert message in str(err.value)


@requires_corpus
def test_detect_names_the_syntax():
    assert detect((CORPUS / "ubl/cen-en16931/ubl-tc434-example1.xml").read_bytes()) == "ubl"
    assert detect((CORPUS / "cii/cen-en16931/CII_example1.xml").read_bytes()) == "cii"
    pdf = next(CORPUS.glob("facturx/**/*.pdf"))
    assert detect(pdf.read_bytes()) == "pdf"


@requires_corpus
def test_credit_note_is_written_with_the_credit_note_root():
    self_billed = read_document((CORPUS / "cii/zugferd-corpus/EN16931_Gutschrift.cii.xml").read_bytes())
    assert self_billed.invoice.type_code == "389"          # self-billed invoice: stays an Invoice
    assert write_document(self_billed.invoice, "ubl").mapping == "ubl-invoice"
    cn = read_document((CORPUS / "ubl/cen-en16931-testfiles/CreditNote-Min_content_with_VAT.xml").read_bytes())
    assert cn.invoice.is_credit_note and cn.mapping == "ubl-creditnote"
    out = write_document(cn.invoice, "ubl", validate=True)
    assert out.mapping == "ubl-creditnote" and b"<CreditNote " in out.data and out.findings == []
    assert b"CreditNoteLine" in out.data and b"CreditedQuantity" in out.data


def test_unknown_target_syntax_is_refused():
    from gateway.model.invoice import Invoice
    with pytest.raises(ValueError) as err:
        write_document(Invoice(), "pdf")
    assert "ubl, cii" in str(err.value)


def test_truncated_edifact_is_refused_with_the_reason():
    with pytest.raises(InputError) as err:
        read_document(b"UNA:+.? 'UNB+UNOC:3+A+B+200101:1200+1'")
    assert "no UNZ" in str(err.value) and "segment" in str(err.value)


@requires_corpus
def test_edifact_envelope_errors_are_fatal_findings_not_silence():
    """The CEN examples close with a UNZ reference that does not match their UNB (code 28)."""
    doc = read_document((CORPUS / "edifact/cen-en16931/EDIFACT_EXAMPLE1.TXT").read_bytes())
    assert doc.invoice.number == "12115118"
    envelope = [f for f in doc.findings if f.rule == "EDIFACT-28"]
    assert envelope and envelope[0].fatal and "UNZ" in envelope[0].location


# --- locations stay linear in the number of same-name siblings ------------------------------

def _steps(work, setup=lambda: None) -> int:
    """How many Python lines ``work(setup())`` executes (``sys.settrace`` line events, every
    frame; a loop counts each turn): a measure of work that, unlike seconds, is the same on
    every run and every machine. ``setup`` is not counted."""
    import sys
    given = setup()
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        work(given)
    finally:
        sys.settrace(None)
    return count


def _cii_with_line_taxes(n: int) -> bytes:
    """A CII invoice whose line carries its ApplicableTradeTax n times (one read, n - 1 reported unread)."""
    from tests.support.invoice_builder import build_invoice
    data = write_document(build_invoice(), "cii").data
    start = data.index(b"<ram:ApplicableTradeTax>")
    end = data.index(b"</ram:ApplicableTradeTax>", start) + len(b"</ram:ApplicableTradeTax>")
    return data[:start] + data[start:end] * n + data[end:]


def test_many_same_name_siblings_are_located_in_linear_time():
    """Each unread sibling is reported with its position; finding that position must not rescan
    the siblings every time (3,000 taxes in one line took seconds)."""
    n = 150
    small, large = _cii_with_line_taxes(n), _cii_with_line_taxes(4 * n)
    doc = read_document(large)
    unread = [f for f in doc.findings if f.rule == "READ-UNMAPPED"]
    assert len(unread) == 2 * (4 * n - 1)            # category code and rate of every tax but the first
    assert unread[-1].location.endswith(f"/ram:ApplicableTradeTax[{4 * n}]/ram:RateApplicablePercent")
    ratio = _steps(lambda _: read_document(large)) / _steps(lambda _: read_document(small))
    assert ratio < 6, f"reading 4x the siblings took {ratio:.1f}x the work (linear: ~4, quadratic: ~16)"


def test_findings_on_many_invoice_lines_are_located_in_linear_time():
    """A finding on each of thousands of lines: each located at its line, in linear time
    (locating alone is measured: reading and checking are linear and would hide it)."""
    import copy
    from gateway.rules import validate
    from tests.support.invoice_builder import build_invoice

    def ubl(n: int) -> bytes:
        inv = build_invoice()
        line = inv.lines[0]
        line.item.name = None                          # BR-25 on every line
        inv.lines = [copy.deepcopy(line) for _ in range(n)]
        for i, ln in enumerate(inv.lines, 1):
            ln.identifier = str(i)
        return write_document(inv, "ubl").data

    def checked(data: bytes):
        doc = read_document(data)
        return doc, [f for f in validate(doc.invoice) if f.rule == "BR-25"]

    def locate(given) -> None:
        doc, findings = given
        doc.locate(findings)

    n = 150
    small, large = ubl(n), ubl(4 * n)
    doc, findings = checked(large)
    doc.locate(findings)
    assert len(findings) == 4 * n
    assert findings[-1].location == f"/Invoice/cac:InvoiceLine[{4 * n}]/cac:Item"
    ratio = _steps(locate, lambda: checked(large)) / _steps(locate, lambda: checked(small))
    assert ratio < 6, f"4x the lines took {ratio:.1f}x the work (linear: ~4, quadratic: ~16)"


# --- a price base quantity without a price -------------------------------------------------

@pytest.mark.parametrize("syntax", ["cii", "facturx", "ubl"])
@pytest.mark.parametrize("base_quantity", [None, "1"])
def test_price_base_quantity_without_a_price_is_dropped_not_a_crash(syntax, base_quantity):
    """BT-149/BT-150 live in the net or gross price: a line without either has no place for them.
    They are reported as dropped, and the output has no XSD error the invoice without them lacks."""
    from decimal import Decimal
    from gateway.model.invoice import PriceDetails
    from tests.support.invoice_builder import build_invoice

    def written(price):
        inv = build_invoice()
        inv.lines[0].price = price
        r = write_document(inv, syntax, validate=True)
        return r, sorted(str(f) for f in r.findings if f.fatal)

    qty = Decimal(base_quantity) if base_quantity else None
    rendering, errors = written(PriceDetails(base_quantity=qty, base_quantity_unit_code="C62"))
    dropped = {(d.term, d.path) for d in rendering.dropped}
    assert ("BT-150", "lines[0].price.base_quantity_unit_code") in dropped
    assert (("BT-149", "lines[0].price.base_quantity") in dropped) == (qty is not None)
    assert errors == written(None)[1]                   # whatever the missing net price (BR-26) costs
    assert b"BasisQuantity" not in rendering.data and b"BaseQuantity" not in rendering.data

    # with its price, the base quantity is carried and read back; its unit alone has no element
    rendering, errors = written(PriceDetails(net_price=Decimal("50"), base_quantity=qty,
                                             base_quantity_unit_code="C62"))
    assert not errors
    assert {d.term for d in rendering.dropped} & {"BT-149", "BT-150"} == (set() if qty else {"BT-150"})
    price = read_document(rendering.data).invoice.lines[0].price
    assert (price.base_quantity, price.base_quantity_unit_code) == ((qty, "C62") if qty else (None, None))
