"""Translations where the target syntax's binding asks more of an invoice than the source's did.

Built invoices (``tests/support/invoice_builder.py``), written in one syntax and
translated to another, each judged by the official artefacts of both ends (XSD
and CEN schematron; the CEN EDIFACT schematron for D14B):

* an invoice not subject to VAT (every line of category O) may leave out the
  invoice total VAT amount (BT-110) in CII and EDIFACT; UBL needs it (the XSD's
  ``cac:TaxTotal/cbc:TaxAmount``, BR-CO-15's one tax total in the document
  currency): the UBL writer adds it, 0.00 (the sum of the VAT breakdown, BR-CO-14),
  and reports it as added (``WRITE-ADDED``); CII and EDIFACT add nothing;
* several payment instructions (BG-17 accounts under one BG-16): each UBL
  ``cac:PaymentMeans`` carries the code (BT-81) and its own account, and the
  payment means text (BT-82) is written once, in the first (UBL-SR-46), as is a
  credit note's due date (BT-9, UBL-SR-45);
* a VAT total in accounting currency (BT-111) needs its currency (BT-6) in UBL and CII:
  without it, it is dropped and reported, never written with an empty currency;
* what the French samples showed (tests/conformance/test_french_samples.py): a credit note's
  project reference (BT-11) is, in UBL, a document reference of type 50 (a CreditNote has no
  ``cac:ProjectReference``); UBL cannot tell a zero price discount (BT-147) from none, so it is
  reported dropped; EDIFACT reads FTX AAB, DOC and AGM as other terms, so a note with one of
  those subject codes (or GEN, read as none) goes without it, reported; several exempt VAT
  breakdowns keep their own exemption reasons (header FTX AGM, matched by VATEX code).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.mapping.engine import ADDED
from gateway.model.invoice import (CreditTransfer, InvoiceLine, InvoiceNote, ItemInformation, LineVatInformation,
                                   PaymentInstructions, PriceDetails, SupportingDocument, VatBreakdown)
from gateway.rules import validate
from gateway.syntaxes import read_document, validate_document, write_document
from gateway.syntaxes.edifact import invoic
from gateway.xml import schematron
from tests.support.corpus import CORPUS, requires_corpus
from tests.support.invoice_builder import _refresh_totals, build_invoice

D = Decimal
UBL_NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
          "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
CII_NS = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
CEN_EDIFACT = CORPUS / "schematron" / "EN16931-EDIFACT-validation.xslt"

pytestmark = requires_corpus        # the CEN schematrons judge every output


@pytest.fixture(scope="module")
def cen():
    return {"ubl": schematron.cen_ubl(), "cii": schematron.cen_cii()}


@pytest.fixture(scope="module")
def cen_edifact():
    if not CEN_EDIFACT.is_file():
        pytest.skip("CEN EDIFACT schematron not in the corpus")
    return schematron.load_schematron(CEN_EDIFACT, ruleset="CEN EN 16931 EDIFACT (2017)")


def _fatal(findings) -> list[str]:
    return [str(f) for f in findings if f.fatal]


# --- an invoice not subject to VAT, without BT-110 ------------------------------------------------

def not_subject_to_vat(type_code: str = "380"):
    """Two lines of category O, their O breakdown (tax 0.00), and no invoice total VAT amount."""
    inv = build_invoice("O")
    inv.type_code = type_code
    inv.payment_terms = "30 days net"
    inv.lines.append(InvoiceLine(identifier="2", quantity=D("1"), quantity_unit_code="C62", net_amount=D("40.00"),
                                 price=PriceDetails(net_price=D("40.00")), vat=LineVatInformation(category_code="O"),
                                 item=ItemInformation(name="Advice")))
    _refresh_totals(inv)
    inv.totals.total_vat = None
    return inv


@pytest.mark.parametrize("source", ["cii", "edifact-d14b"])
def test_the_sources_without_total_vat_are_valid_in_their_own_syntax(source, cen, cen_edifact):
    """What the UBL tests below start from: CII and EDIFACT allow an invoice without BT-110."""
    out = write_document(not_subject_to_vat(), source, validate=True)
    assert _fatal(out.findings) == []
    assert not [f for f in out.findings if f.rule == ADDED]          # nothing added: these may leave it out
    if source == "cii":
        root = etree.fromstring(out.data)
        assert root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:TaxTotalAmount",
                         CII_NS) is None
        assert _fatal(cen["cii"].run(out.data)) == []
    else:
        assert b"MOA+176:" not in out.data                            # no invoice total VAT amount
        tree = invoic.tree_of(invoic.write_message(not_subject_to_vat(), source), source)
        assert _fatal(cen_edifact.run(tree)) == []
    assert read_document(out.data).invoice.totals.total_vat is None


@pytest.mark.parametrize("type_code", ["380", "381"], ids=["invoice", "credit-note"])
@pytest.mark.parametrize("source", ["cii", "edifact-d14b", "edifact-d96a", "edifact-d01b"])
def test_an_invoice_without_total_vat_becomes_valid_ubl_with_the_value_reported(source, type_code, cen):
    doc = read_document(write_document(not_subject_to_vat(type_code), source).data)
    assert doc.invoice.totals.total_vat is None
    out = write_document(doc.invoice, "ubl", validate=True)
    assert _fatal(out.findings) == []                                 # the UBL XSD
    assert _fatal(cen["ubl"].run(out.data)) == []                     # BR-CO-14, BR-CO-15, BR-O-*: all hold
    root = etree.fromstring(out.data)
    totals = root.findall("cac:TaxTotal/cbc:TaxAmount", UBL_NS)
    assert [(D(t.text), t.get("currencyID")) for t in totals] == [(D(0), "EUR")]   # EDIFACT's 0 is CII's 0.00
    [added] = [f for f in out.findings if f.rule == ADDED]
    assert (added.severity, added.terms, added.path) == ("warning", ("BT-110",), "totals.total_vat")
    assert f"written as {totals[0].text} (the sum of BT-117)" in added.message
    back = read_document(out.data).invoice
    assert back.totals.total_vat == D(0)
    assert _fatal(validate(back)) == []


def test_a_total_vat_the_invoice_has_is_written_as_it_is_and_nothing_is_reported():
    inv = not_subject_to_vat()
    inv.totals.total_vat = D("0.00")
    out = write_document(inv, "ubl", validate=True)
    assert out.findings == []
    standard = write_document(build_invoice("S"), "ubl", validate=True)
    assert standard.findings == []
    assert etree.fromstring(standard.data).findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=UBL_NS) == "19.00"


@pytest.mark.parametrize("source", ["cii", "facturx", "edifact-d14b", "edifact-d96a", "edifact-d01b"])
def test_the_sources_without_total_vat_pass_our_rules_of_their_syntax(source):
    """``validate_document`` judges a document as its syntax's binding of the CEN schematron does: the
    CII (and Factur-X) and EDIFACT bindings let an invoice not subject to VAT leave BT-110 out."""
    doc = read_document(write_document(not_subject_to_vat(), source).data)
    assert doc.invoice.totals.total_vat is None
    assert _fatal(validate_document(doc)) == []


def test_the_same_model_judged_as_ubl_still_needs_bt_110():
    inv = not_subject_to_vat()
    for syntax in (None, "ubl", "csv"):
        assert {f.rule for f in validate(inv, syntax=syntax) if f.fatal} == {"BR-CO-14", "BR-CO-15"}
    doc = read_document(write_document(inv, "cii").data)
    doc.syntax = "ubl"                                   # the model of a UBL document without BT-110
    assert "BR-CO-15" in {f.rule for f in validate_document(doc) if f.fatal}


@pytest.mark.parametrize("source,name", [("cii", "o.xml"), ("facturx", "o.pdf"), ("edifact-d14b", "o.edi")])
def test_the_cli_accepts_them(source, name, tmp_path):
    src = tmp_path / name
    src.write_bytes(write_document(not_subject_to_vat(), source).data)
    result = CliRunner().invoke(main, ["validate", str(src)])
    assert result.exit_code == 0, result.output + result.stderr
    result = CliRunner().invoke(main, ["translate", str(src), "--to", "ubl", "-o", str(tmp_path / "o-ubl.xml")])
    assert result.exit_code == 0, result.stderr
    assert "the source breaks" not in result.stderr


def test_translate_says_what_it_added(tmp_path):
    src = tmp_path / "o.xml"
    src.write_bytes(write_document(not_subject_to_vat(), "cii").data)
    result = CliRunner().invoke(main, ["translate", str(src), "--to", "ubl", "-o", str(tmp_path / "o-ubl.xml")])
    assert "ubl output: [warning] WRITE-ADDED (BT-110)" in result.stderr
    assert "output fails" not in result.stderr


# --- a VAT total in accounting currency (BT-111) without its currency (BT-6) ------------------------

@pytest.mark.parametrize("target", ["ubl", "cii", "facturx"])
def test_bt_111_without_bt_6_is_dropped_and_reported_not_written_without_a_currency(target, cen):
    """BT-111's currency is BT-6 in both XML bindings (``currencyID``); a model holding BT-111
    without BT-6 (a CSV row, a partial reader) used to get ``currencyID=""``, which the CEN
    schematron refuses (BR-CL-03). Without BT-6 the value cannot be written: it is dropped and
    reported; with BT-6 it is written in that currency."""
    inv = build_invoice("S")
    inv.totals.total_vat_in_accounting_currency = D("21.50")
    inv.vat_accounting_currency_code = None
    out = write_document(inv, target, validate=True)
    assert _fatal(out.findings) == []
    assert [(d.term, d.path) for d in out.dropped] == [("BT-111", "totals.total_vat_in_accounting_currency")]
    xml = getattr(out, "xml", None) or out.data
    assert b'currencyID=""' not in xml
    assert _fatal(cen["ubl" if target == "ubl" else "cii"].run(xml)) == []
    assert read_document(out.data).invoice.totals.total_vat_in_accounting_currency is None

    inv.vat_accounting_currency_code = "SEK"
    out = write_document(inv, target, validate=True)
    assert out.dropped == [] and _fatal(out.findings) == []
    back = read_document(out.data).invoice
    assert (back.totals.total_vat_in_accounting_currency, back.vat_accounting_currency_code) == (D("21.50"), "SEK")


# --- UBL's two roots: which type codes are credit notes --------------------------------------------

def _cen_credit_note_codes() -> set[str]:
    """The codes the CEN UBL schematron accepts in cbc:CreditNoteTypeCode (BR-CL-01), read from it."""
    import re
    text = (CORPUS / "schematron" / "EN16931-UBL-validation.xslt").read_text(encoding="utf-8")
    [codes] = set(re.findall(r"self::cbc:CreditNoteTypeCode and \(\(not\(contains\(normalize-space\(\.\), ' '\)\)"
                             r" and contains\(' ([0-9 ]+) '", text))
    return set(codes.split())


def test_the_credit_note_codes_are_the_cen_ubl_schematrons():
    from gateway import mapping
    from gateway.model.invoice import CREDIT_NOTE_TYPE_CODES
    assert CREDIT_NOTE_TYPE_CODES == _cen_credit_note_codes()
    assert set(mapping.load("ubl-creditnote").select["BT-3"]) == CREDIT_NOTE_TYPE_CODES    # the root it selects


@pytest.mark.parametrize("type_code", ["502", "503"])
def test_a_french_credit_note_code_is_written_as_a_ubl_credit_note(type_code, cen):
    inv = build_invoice("S")
    inv.type_code = type_code
    out = write_document(inv, "ubl", validate=True)
    assert _fatal(out.findings) == []
    root = etree.fromstring(out.data)
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=UBL_NS) == type_code
    assert _fatal(cen["ubl"].run(out.data)) == []
    assert read_document(out.data).invoice.type_code == type_code


# --- several payment instructions --------------------------------------------------------------

IBANS = ["DE89370400440532013000", "DE02120300000000202051", "FR7630006000011234567890189"]


def paid_into(n: int, type_code: str = "380"):
    inv = build_invoice("S")
    inv.type_code = type_code
    inv.due_date = date(2024, 3, 31)        # a credit note carries it in cac:PaymentMeans
    inv.payment_instructions = PaymentInstructions(
        means_type_code="58", means_text="SEPA credit transfer", remittance_information="INV-2024-001",
        credit_transfers=[CreditTransfer(IBANS[i], f"Seller account {i + 1}", "COBADEFFXXX") for i in range(n)])
    return inv


def _payment_means(ubl: bytes) -> list[tuple]:
    root = etree.fromstring(ubl)
    return [(pm.findtext("cbc:PaymentMeansCode", namespaces=UBL_NS),
             pm.find("cbc:PaymentMeansCode", UBL_NS).get("name"),
             pm.findtext("cbc:PaymentDueDate", namespaces=UBL_NS),
             pm.findtext("cac:PayeeFinancialAccount/cbc:ID", namespaces=UBL_NS))
            for pm in root.findall("cac:PaymentMeans", UBL_NS)]


def _one_text_then_codes_and_own_accounts(n: int, type_code: str) -> list[tuple]:
    """The code in each, the text (and a credit note's due date) in the first only, each its account."""
    due = "2024-03-31" if type_code == "381" else None          # an invoice has cbc:DueDate instead
    return [("58", "SEPA credit transfer" if i == 0 else None, due if i == 0 else None, IBANS[i])
            for i in range(n)]


KINDS = pytest.mark.parametrize("type_code", ["380", "381"], ids=["invoice", "credit-note"])


@KINDS
@pytest.mark.parametrize("n", [2, 3])
def test_several_payment_instructions_from_cii_make_valid_ubl(n, type_code, cen):
    cii = write_document(paid_into(n, type_code), "cii", validate=True)
    assert _fatal(cii.findings) == [] and _fatal(cen["cii"].run(cii.data)) == []
    assert len(etree.fromstring(cii.data).findall(".//ram:SpecifiedTradeSettlementPaymentMeans", CII_NS)) == n
    doc = read_document(cii.data)
    out = write_document(doc.invoice, "ubl", validate=True)
    assert out.findings == []
    fatal = [f for f in cen["ubl"].run(out.data) if f.fatal]
    assert [str(f) for f in fatal] == []                             # no UBL-SR-45/46 among them
    assert _payment_means(out.data) == _one_text_then_codes_and_own_accounts(n, type_code)
    assert read_document(out.data).invoice.payment_instructions == doc.invoice.payment_instructions


@KINDS
@pytest.mark.parametrize("n", [2, 3])
def test_several_payment_instructions_go_from_ubl_to_cii_and_back(n, type_code, cen):
    ubl = write_document(paid_into(n, type_code), "ubl", validate=True)
    assert _fatal(cen["ubl"].run(ubl.data)) == []
    assert _payment_means(ubl.data) == _one_text_then_codes_and_own_accounts(n, type_code)
    cii = write_document(read_document(ubl.data).invoice, "cii", validate=True)
    assert _fatal(cii.findings) == [] and _fatal(cen["cii"].run(cii.data)) == []
    again = write_document(read_document(cii.data).invoice, "ubl", validate=True)
    assert again.findings == [] and _fatal(cen["ubl"].run(again.data)) == []
    assert _payment_means(again.data) == _one_text_then_codes_and_own_accounts(n, type_code)
    assert read_document(again.data).invoice == read_document(ubl.data).invoice


# --- what the French samples showed ------------------------------------------------------------------

EDIFACT_BASES = ["edifact-d14b", "edifact-d96a", "edifact-d01b"]      # the others extend these three


@pytest.mark.parametrize("type_code", ["380", "381"], ids=["invoice", "credit-note"])
def test_a_project_reference_is_written_where_each_ubl_root_has_it(type_code, cen):
    """UBL CreditNote has no cac:ProjectReference: the CEN binding puts BT-11 in a document reference of
    type 50 there (the CEN schematron's UBL-CR-665 allows no other type code), beside the supporting
    documents (BG-24), which are read without it."""
    inv = build_invoice("S")
    inv.type_code = type_code
    inv.project_reference = "PROJ-2547"
    inv.supporting_documents = [SupportingDocument(reference="TS-1", description="Timesheet")]
    out = write_document(inv, "ubl", validate=True)
    assert _fatal(out.findings) == [] and out.dropped == []
    assert _fatal(cen["ubl"].run(out.data)) == []
    root = etree.fromstring(out.data)
    if type_code == "381":
        assert root.find("cac:ProjectReference", UBL_NS) is None
        assert root.xpath("cac:AdditionalDocumentReference[cbc:DocumentTypeCode='50']/cbc:ID/text()",
                          namespaces=UBL_NS) == ["PROJ-2547"]
    else:
        assert root.findtext("cac:ProjectReference/cbc:ID", namespaces=UBL_NS) == "PROJ-2547"
    back = read_document(out.data).invoice
    assert (back.project_reference, back.supporting_documents) == ("PROJ-2547", inv.supporting_documents)


def test_a_zero_price_discount_is_reported_dropped_by_ubl():
    """UBL needs the discount amount beside a gross price and writes 0 when there is none, so it reads 0
    as no discount: a zero BT-147 (a Factur-X EN 16931 line's allowance of 0.0000) cannot be told apart
    from none and is reported dropped, never silently lost; a discount is written."""
    inv = build_invoice("S")
    inv.lines[0].price = PriceDetails(net_price=D("50.00"), price_discount=D("0.0000"), gross_price=D("50.00"))
    out = write_document(inv, "ubl", validate=True)
    assert _fatal(out.findings) == []
    assert [(d.term, d.path) for d in out.dropped] == [("BT-147", "lines[0].price.price_discount")]
    price = read_document(out.data).invoice.lines[0].price
    assert (price.price_discount, price.gross_price) == (None, D("50.00"))
    inv.lines[0].price = PriceDetails(net_price=D("45.00"), price_discount=D("5.00"), gross_price=D("50.00"))
    out = write_document(inv, "ubl", validate=True)
    assert out.dropped == [] and read_document(out.data).invoice.lines[0].price == inv.lines[0].price


@pytest.mark.parametrize("flavour", EDIFACT_BASES)
def test_edifact_notes_keep_out_of_the_qualifiers_read_as_other_terms(flavour):
    """FTX AAB is the payment terms (BT-20), DOC the process control (BG-2), AGM an exemption reason, GEN a
    note without subject code: a note with one of those subject codes (the French AAB note on discount
    terms) goes as a GEN note, its subject code reported dropped; the others keep theirs."""
    inv = build_invoice("S")
    inv.seller.electronic_address = None                               # EDIFACT has no place for it
    inv.payment_terms = None
    inv.notes = [InvoiceNote("PMT", "Recovery costs 40 EUR."), InvoiceNote("AAB", "No early payment discount."),
                 InvoiceNote("DOC", "Doc."), InvoiceNote("AGM", "Agm."), InvoiceNote("GEN", "General.")]
    out = write_document(inv, flavour)
    assert sorted((d.term, d.path) for d in out.dropped) == [("BT-21", f"notes[{i}].subject_code") for i in (1, 2, 3, 4)]
    back = read_document(out.data).invoice
    assert back.notes == [InvoiceNote("PMT", "Recovery costs 40 EUR."), InvoiceNote(None, "No early payment discount."),
                          InvoiceNote(None, "Doc."), InvoiceNote(None, "Agm."), InvoiceNote(None, "General.")]
    assert back.payment_terms is None and back.process_control == inv.process_control


@pytest.mark.parametrize("flavour", EDIFACT_BASES)
def test_edifact_exemption_reasons_stay_with_their_breakdowns(flavour):
    """No FTX in EDIFACT's VAT breakdown group: each exempt breakdown's reason is a header FTX AGM, which
    names no breakdown. Written one per breakdown, they are read back by VATEX code (-IC is K's, any
    other E's); a reason without code goes to the breakdowns without a coded one, so a second such
    reason cannot be told apart: it is reported dropped. A single AGM still goes to every exempt
    breakdown, as before."""
    inv = build_invoice("S")
    inv.seller.electronic_address = None                               # EDIFACT has no place for it
    inv.vat_breakdown += [
        VatBreakdown(D("60.00"), D("0.00"), "E", D("0"), "REMBOURSEMENT", "VATEX-EU-79-C"),
        VatBreakdown(D("9.00"), D("0.90"), "S", D("10.00")),
        VatBreakdown(D("2.00"), D("0.00"), "K", D("0"), "LIVRAISON INTRACOMMUNAUTAIRE", "VATEX-EU-IC"),
        VatBreakdown(D("3.00"), D("0.00"), "G", D("0"), "Export outside the EU", None),
    ]
    out = write_document(inv, flavour)
    assert out.dropped == []
    assert read_document(out.data).invoice.vat_breakdown == inv.vat_breakdown

    def reasons(breakdowns):
        return [(b.category_code, b.exemption_reason, b.exemption_reason_code) for b in breakdowns]
    inv.vat_breakdown[1].exemption_reason_code = None                  # the E reason without its code,
    inv.vat_breakdown[3].exemption_reason = None                       # K's code alone
    out = write_document(inv, flavour)
    assert [(d.term, d.path) for d in out.dropped] == [("BT-120", "vat_breakdown[4].exemption_reason")]
    assert reasons(read_document(out.data).invoice.vat_breakdown) == [
        ("S", None, None), ("E", "REMBOURSEMENT", None), ("S", None, None), ("K", None, "VATEX-EU-IC"),
        ("G", "REMBOURSEMENT", None)]                                  # G's own reason: reported dropped
    inv.vat_breakdown = inv.vat_breakdown[:2] + [VatBreakdown(D("3.00"), D("0.00"), "G", D("0"))]
    out = write_document(inv, flavour)
    assert out.dropped == []
    assert reasons(read_document(out.data).invoice.vat_breakdown) == [
        ("S", None, None), ("E", "REMBOURSEMENT", None), ("G", "REMBOURSEMENT", None)]
