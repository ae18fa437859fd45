"""Every EN 16931-valid UBL and CII sample of the corpus, through our mappings.

Judged by independent artefacts: the official XSDs and the CEN EN 16931
schematron (saxonche). Three claims per file:

* same syntax: reading our output again gives an *equal* model;
* other syntax: the output passes XSD and schematron with zero fatal errors,
  and reading it again gives the source model except for the terms the write
  reported as dropped (loss is never silent);
* reading leaves no business content behind unseen: whatever the mapping does
  not read is reported as a READ-UNMAPPED warning, and for the CEN examples
  (written by the standard's own authors) there is none at all.
"""
from __future__ import annotations

import pytest

from gateway.model import invoice as model
from gateway.syntaxes import read_document, write_document
from gateway.xml import schematron
from tests.support.corpus import CORPUS, baseline, rel, requires_corpus

pytestmark = requires_corpus


def _valid_sources() -> list:
    """Corpus UBL/CII files the official schematron passes (VALIDATION_BASELINE.txt)."""
    return sorted(CORPUS / p for p, e in baseline().items()
                  if e.status == "PASS" and p.split("/")[0] in ("ubl", "cii"))


VALID = _valid_sources()
IDS = [rel(p) for p in VALID]


@pytest.fixture(scope="module")
def cen():
    return {"ubl": schematron.cen_ubl(), "cii": schematron.cen_cii()}


def _terms(invoice: model.Invoice) -> dict:
    return {(t, p): v for t, p, v in model.iter_terms(invoice)}


def test_corpus_has_both_syntaxes():
    syntaxes = {p.parts[len(CORPUS.parts)] for p in VALID}
    assert syntaxes == {"ubl", "cii"}
    assert len(VALID) >= 80


@pytest.mark.parametrize("path", VALID, ids=IDS)
def test_same_syntax_round_trip_preserves_the_model(path):
    doc = read_document(path.read_bytes())
    assert not [f for f in doc.findings if f.rule == "READ-VALUE"], doc.findings
    out = write_document(doc.invoice, doc.syntax, validate=True)
    assert out.findings == [], [str(f) for f in out.findings]
    assert out.dropped == []
    again = read_document(out.data)
    assert again.invoice == doc.invoice, {
        k: (v, _terms(again.invoice).get(k)) for k, v in _terms(doc.invoice).items()
        if _terms(again.invoice).get(k) != v}
    # the model is not trivially empty: the mandatory terms are there
    assert doc.invoice.number and doc.invoice.issue_date and doc.invoice.lines


@pytest.mark.parametrize("path", VALID, ids=IDS)
def test_translation_passes_xsd_and_official_schematron(path, cen):
    doc = read_document(path.read_bytes())
    target = "cii" if doc.syntax == "ubl" else "ubl"
    out = write_document(doc.invoice, target, validate=True)
    assert out.findings == [], [str(f) for f in out.findings]
    fatal = [f for f in cen[target].run(out.data) if f.fatal]
    assert fatal == [], [str(f) for f in fatal]
    # nothing lost silently: every difference is a term the writer reported as dropped
    before, after = _terms(doc.invoice), _terms(read_document(out.data).invoice)
    dropped = {(d.term, d.path) for d in out.dropped}
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == dropped


@pytest.mark.parametrize("path", [p for p in VALID if "cen-en16931/" in rel(p)],
                         ids=[i for i in IDS if "cen-en16931/" in i])
def test_cen_examples_are_read_completely(path):
    doc = read_document(path.read_bytes())
    unmapped = [str(f) for f in doc.findings if f.rule == "READ-UNMAPPED"]
    assert unmapped == []


def test_unmapped_content_is_reported_with_its_place():
    """A value the mapping has no term for (XRechnung sub-invoice lines) is a warning, not silence."""
    path = CORPUS / "ubl/xrechnung-testsuite/04.02a-INVOICE_ubl.xml"
    doc = read_document(path.read_bytes())
    unmapped = [f for f in doc.findings if f.rule == "READ-UNMAPPED"]
    assert any("SubInvoiceLine" in f.location for f in unmapped)
    assert all(f.severity == "warning" and f.line for f in unmapped)


def test_boolean_indicator_written_as_0_is_read():
    """xsd:boolean allows 0/1: an allowance flagged ChargeIndicator=0 must not vanish."""
    path = CORPUS / "ubl/cen-en16931/ubl-tc434-example2.xml"
    assert b"<cbc:ChargeIndicator>0</cbc:ChargeIndicator>" in path.read_bytes()
    doc = read_document(path.read_bytes())
    assert [a.reason for a in doc.invoice.allowances] == ["Promotion discount"]
    assert sum(a.amount for a in doc.invoice.allowances) == doc.invoice.totals.sum_of_allowances


def test_invoicing_period_is_read_without_a_delivery_element():
    """UBL keeps BG-14 at document level; the model has it under BG-13."""
    path = CORPUS / "ubl/cen-en16931-testfiles/BIS_Billing_30-Inkopskort.xml"
    assert b"<cac:Delivery>" not in path.read_bytes()
    doc = read_document(path.read_bytes())
    period = doc.invoice.delivery.invoicing_period
    assert (period.start_date.isoformat(), period.end_date.isoformat()) == ("2017-10-05", "2017-11-06")


def test_same_invoice_in_ubl_and_cii_reads_into_the_same_model():
    """KoSIT authored the XRechnung cases independently in both syntaxes."""
    pairs = [(CORPUS / f"ubl/xrechnung-testsuite/{n}-INVOICE_ubl.xml",
              CORPUS / f"cii/xrechnung-testsuite/{n}-INVOICE_uncefact.xml")
             for n in ("01.01a", "01.04a", "01.05a", "01.06a", "01.13a", "01.14a")]
    for ubl_path, cii_path in pairs:
        u = _terms(read_document(ubl_path.read_bytes()).invoice)
        c = _terms(read_document(cii_path.read_bytes()).invoice)
        # core terms every one of these cases carries must agree exactly
        for term in ("BT-1", "BT-2", "BT-3", "BT-5", "BT-10", "BT-27", "BT-44", "BT-106", "BT-109",
                     "BT-110", "BT-112", "BT-115"):
            uv = {v for (t, _), v in u.items() if t == term}
            cv = {v for (t, _), v in c.items() if t == term}
            assert uv == cv, (ubl_path.name, term, uv, cv)
        assert sorted(v for (t, _), v in u.items() if t == "BT-131") == \
            sorted(v for (t, _), v in c.items() if t == "BT-131")


@pytest.mark.parametrize("name, currency", [
    ("ubl/cen-en16931/ubl-tc434-example2.xml", b"<cbc:DocumentCurrencyCode>NOK</cbc:DocumentCurrencyCode>"),
    ("cii/cen-en16931/CII_example2.xml", b"<ram:InvoiceCurrencyCode>NOK</ram:InvoiceCurrencyCode>"),
])
def test_vat_breakdown_is_read_even_without_a_document_currency(name, currency):
    """An invalid document (no BT-5) must still show its VAT figures, so the rules judge what is there."""
    data = (CORPUS / name).read_bytes()
    assert currency in data
    full = read_document(data).invoice
    broken = read_document(data.replace(currency, b"")).invoice
    assert broken.currency_code is None
    assert broken.vat_breakdown == full.vat_breakdown and len(full.vat_breakdown) >= 2
    assert broken.totals.total_vat == full.totals.total_vat
