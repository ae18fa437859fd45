"""Mutation agreement: break corpus files one element at a time, compare with the official rules.

The corpus files are mostly valid, so on their own they exercise few rules.
Here each base file is mutated in one place (an element deleted, a value
changed, a VAT category or rate replaced, an attribute dropped or spoiled),
and for every mutant our rules on the model read from it must agree with
the official CEN schematron on the mutant itself (same comparison as
tests/conformance/test_rules_vs_schematron.py).

Mutations whose effect the model cannot carry are not generated; each kind
is listed in ``_excluded`` with the reason (they are reader/syntax matters,
reported to the reader's owner, not rule disagreements).

By default a small deterministic sample runs (a few seconds); set
``EDIGATE_RULES_FUZZ=<mutations per file>`` (``all`` for every mutation) to
run the corpus-wide exploration (minutes).
"""
from __future__ import annotations

import os
import random
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterator, Optional

import pytest
from lxml import etree

from gateway.rules import validate

from tests.conformance.test_rules_vs_schematron import FILES, cen, compare, rel  # noqa: F401 - cen is a fixture

NUM = re.compile(r"^-?\d+(\.\d+)?$")
DATE = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")
CATEGORIES = ("S", "Z", "E", "AE", "K", "G", "O", "L", "M", "B")

# Deleting these leaves an XSD-invalid document whose totals/seller context the schematron then
# skips, while our rules treat BG-22 and the seller as always there.
_MANDATORY = re.compile(r"(LegalMonetaryTotal|AccountingSupplierParty|AccountingCustomerParty|"
                        r"SupplyChainTradeTransaction|ApplicableHeaderTradeAgreement|ApplicableHeaderTradeSettlement|"
                        r"SpecifiedTradeSettlementHeaderMonetarySummation|SellerTradeParty|BuyerTradeParty|"
                        r"ExchangedDocument|ExchangedDocumentContext|Party)$")


def _excluded(el: etree._Element, kind: str, attr: Optional[str]) -> Optional[str]:
    """Why a mutation of ``el`` is not generated (None: it is)."""
    path = el.getroottree().getpath(el)
    tag = etree.QName(el).localname
    ancestors = [etree.QName(a).localname for a in el.iterancestors()]
    if "TaxScheme" in ancestors or tag == "TaxScheme" or (tag == "TypeCode" and (el.text or "").strip() == "VAT"):
        return "the model has no tax scheme: the reader takes every tax category as VAT"
    if "RegistrationAddress" in ancestors:
        return "not an EN 16931 term (UBL checks every cac:Country, read or not)"
    if kind == "del" and tag == "ID" and el.getparent() is not None \
            and etree.QName(el.getparent()).localname in ("TaxCategory", "ClassifiedTaxCategory"):
        return "a tax category left with only its tax scheme is nothing the model can hold"
    if re.search(r"(PaymentMeans|SpecifiedTradeSettlementPaymentMeans)\[\d+\]", path):
        return "the model has one payment means (BG-16): a document with several cannot be told apart"
    if tag in ("DocumentCurrencyCode", "InvoiceCurrencyCode") or attr in ("currencyID", "format"):
        return "the reader identifies BT-110 and the VAT breakdown by currency; currencyID/format are syntax"
    if kind == "del" and (_MANDATORY.search(tag) or tag in ("TaxAmount", "TaxTotalAmount")):
        return "XSD-mandatory structure"
    if kind == "del" and len([c for c in el.getparent() if isinstance(c.tag, str)]) == 1 \
            and not (el.getparent().text or "").strip():
        return "the parent group would be left empty, which the model cannot tell from absent"
    if tag == "AdditionalDocumentReference" or "AdditionalDocumentReference" in ancestors \
            or "AdditionalReferencedDocument" in ancestors:
        return "UBL/CII use the same element for supporting documents and object identifiers (BR-52)"
    if tag == "BasisQuantity" and "NetPriceProductTradePrice" in ancestors:
        return "CII repeats the base quantity in net and gross price; the model holds one"
    if tag in ("InvoiceTypeCode", "CreditNoteTypeCode"):
        return "UBL accepts different type codes on Invoice and CreditNote roots; the model has no root"
    return None


def mutations(root: etree._Element) -> Iterator[tuple[str, int, Optional[str], Optional[str]]]:
    """(kind, element index, attribute, new value) for every mutation of a document."""
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for i, el in enumerate(elements):
        if el is not root and not _excluded(el, "del", None):
            yield "del", i, None, None
        if len(el) == 0 and not _excluded(el, "text", None):
            text = (el.text or "").strip()
            tag = etree.QName(el).localname
            parent = etree.QName(el.getparent()).localname if el.getparent() is not None else ""
            if tag == "CategoryCode" or (tag == "ID" and "TaxCategory" in parent):
                yield from (("text", i, None, c) for c in CATEGORIES if c != text)
            if tag in ("Percent", "RateApplicablePercent"):
                yield from (("text", i, None, v) for v in ("0", "7", "25", "0.4"))
            if DATE.match(text) or text in ("true", "false"):
                continue
            if NUM.match(text):
                d = Decimal(text)
                for v in (d + 1, d * 10, -d, text + ("0" if "." in text else ".000"), d + Decimal("0.004")):
                    yield "text", i, None, str(v)
            elif text:
                yield "text", i, None, "ZZZ"
        for attr in el.attrib:
            if not _excluded(el, "attr", attr):
                yield "delattr", i, attr, None
                yield "attr", i, attr, "ZZZ"


def mutate(data: bytes, m: tuple[str, int, Optional[str], Optional[str]]) -> tuple[bytes, str]:
    root = etree.fromstring(data)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    kind, i, attr, value = m
    el = elements[i]
    where = root.getroottree().getpath(el)
    if kind == "del":
        el.getparent().remove(el)
    elif kind == "text":
        el.text = value
    elif kind == "delattr":
        del el.attrib[attr]
    else:
        el.set(attr, value)
    return etree.tostring(root), f"{kind} {where}{'/@' + attr if attr else ''}{' = ' + value if value else ''}"


def _budget() -> Optional[int]:
    raw = os.environ.get("EDIGATE_RULES_FUZZ", "")
    if raw == "all":
        return None
    return int(raw) if raw.isdigit() else 12


_SAMPLE = ["ubl/cen-en16931/ubl-tc434-example2.xml", "ubl/peppol-bis3/Vat-category-S.xml",
           "ubl/cen-en16931-testfiles/BIS_Billing_30-DataIT.xml", "cii/cen-en16931/CII_example4.xml",
           "cii/cen-en16931/CII_business_example_01.xml", "cii/xrechnung-testsuite/01.04a-INVOICE_uncefact.xml"]


def _bases() -> list[Path]:
    if os.environ.get("EDIGATE_RULES_FUZZ"):
        # XRechnung sub-lines are not EN 16931 (not read), yet the schematron counts their categories
        return [p for p in FILES if b"SubInvoiceLine" not in p.read_bytes()]
    return [p for p in FILES if rel(p) in _SAMPLE]


@pytest.mark.parametrize("path", _bases(), ids=[rel(p) for p in _bases()])
def test_mutants_agree_with_the_official_schematron(path: Path, cen) -> None:
    from gateway.syntaxes import read_document
    syntax = "UBL" if rel(path).startswith("ubl/") else "CII"
    data = path.read_bytes()
    todo = list(mutations(etree.fromstring(data)))
    budget = _budget()
    if budget is not None and len(todo) > budget:
        todo = random.Random(rel(path)).sample(todo, budget)
    failures = []
    for m in todo:
        mutant, what = mutate(data, m)
        try:
            official = Counter(f.rule for f in cen[syntax].run(mutant) if f.fatal)
        except Exception:  # noqa: BLE001 - the schematron itself stops on some invalid values
            continue
        try:
            inv = read_document(mutant).invoice
        except (InvalidOperation, Exception):  # noqa: BLE001 - reader refusals are the reader's tests' business
            continue
        ours = Counter(f.rule for f in validate(inv, strict=True, syntax=syntax.lower()) if f.fatal)
        problems = compare(syntax, ours, official)
        if problems:
            failures.append(f"{what}: " + "; ".join(problems))
    assert not failures, f"{rel(path)}: {len(failures)} of {len(todo)} mutants disagree:\n  " + "\n  ".join(failures[:30])
