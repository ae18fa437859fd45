"""Mutation agreement for the Peppol rules: corpus invoices broken one place at a time.

Each base file is mutated as tests/conformance/test_rules_fuzz.py does (an element
deleted, a value changed, an attribute dropped or spoiled; the same kinds the
model cannot carry are left out, plus the Peppol ones below), and also moved
to the countries the national rules are about: the seller's (and the
buyer's) country code and the seller's VAT prefix set to NO, DK, IT, SE, GR,
IS, NL or DE, so the national rule sets run on documents they were not
written for. For every mutant the ``peppol`` rule set on the model read from
it must agree with OpenPeppol's schematron on the mutant itself (same
comparison as tests/conformance/test_peppol_rules_vs_schematron.py).

By default a deterministic sample runs (a few bases, ``BUDGET`` mutants each
plus the country moves); ``EDIGATE_PEPPOL_FUZZ=<mutants per file>`` (``all``
for every mutant) runs every corpus invoice.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Iterator, Optional

import pytest
from lxml import etree

from tests.support.corpus import rel
from tests.conformance.test_peppol_rules_vs_schematron import (FILES, KNOWN, compare, ours,  # noqa: F401 - fixtures
                                                       payload, peppol_official, peppol_schematron)
from tests.conformance.test_rules_fuzz import _excluded as _excluded_en16931
from tests.conformance.test_rules_fuzz import mutate as mutate_en16931
from tests.conformance.test_rules_fuzz import mutations as mutations_en16931

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
COUNTRIES = ("NO", "DK", "IT", "SE", "GR", "IS", "NL", "DE")
BUDGET = 12
_SHOWN = int(os.environ.get("EDIGATE_PEPPOL_FUZZ_SHOW", "40"))       # disagreements shown per file

_SAMPLE = ["ubl/peppol-bis3/base-example.xml", "ubl/peppol-bis3/GR-base-example-correct.xml",
           "ubl/peppol-bis3/Norwegian-example-1.xml", "ubl/peppol-bis3/vat-category-E.xml",
           "ubl/cen-en16931-testfiles/BIS_Billing_30-DataIT.xml", "ubl/zugferd-corpus/EN16931_Einfach.ubl.xml",
           "ubl/cen-en16931/ubl-tc434-example4.xml", "ubl/cen-en16931/guide-example1.xml"]


def _excluded(el: etree._Element, kind: str, attr: Optional[str]) -> Optional[str]:
    """Why a mutation is not generated: the EN 16931 reasons, and the Peppol rules left to the schematron."""
    why = _excluded_en16931(el, kind, attr)
    if why:
        return why
    tag = etree.QName(el).localname
    if tag == "ChargeIndicator":
        return "PEPPOL-EN16931-R043 (the indicator's spelling) is not implemented: the model holds allowances and " \
               "charges apart"
    if tag in ("DocumentTypeCode", "DocumentReference"):
        return "PEPPOL-EN16931-R080/R100/R101 (document reference types and counts) are not implemented"
    if tag == "TaxCurrencyCode":
        return "the reader finds BT-111 by the tax currency code (BT-6): a tax total in another currency is not " \
               "read, so R054 cannot count it"
    if kind == "del" and tag == "ID" and etree.QName(el.getparent()).localname == "OrderReference" \
            and el.getparent().find(f"{{{CBC}}}SalesOrderID") is not None:
        return "XSD-mandatory: an order reference without its ID; the model's sales order reference (BT-14) " \
               "counts as the order reference (UBL writes it with 'NA')"
    ac = next((a for a in [el, *el.iterancestors()] if etree.QName(a).localname == "AllowanceCharge"), None)
    if ac is not None and (ac.findtext(f"{{{CBC}}}ChargeIndicator") or "").strip() not in ("true", "false"):
        return "an allowance/charge whose indicator is written 1/0 (or blank-padded): the reader takes it, the " \
               "stylesheet's allowance and charge rules do not (R043, not implemented, fires on it)"
    if kind == "del" and tag == "Amount" and ac is not None and etree.QName(ac.getparent()).localname == "Price":
        return "a price allowance without its amount: the reader reads a price discount of 0 and none alike (BT-147)"
    return None


def mutations(root: etree._Element) -> Iterator[tuple]:
    """The EN 16931 mutations not excluded here, then the country moves."""
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for m in mutations_en16931(root):
        kind, i, attr, _ = m
        if not _excluded(elements[i], {"del": "del", "text": "text"}.get(kind, "attr"), attr):
            yield m
    for country in COUNTRIES:
        yield "country", -1, "seller", country
        yield "country", -1, "both", country


def _move(root: etree._Element, who: str, country: str) -> None:
    parties = ["AccountingSupplierParty"] + (["AccountingCustomerParty"] if who == "both" else [])
    for name in parties:
        party = root.find(f"{{{CAC}}}{name}/{{{CAC}}}Party")
        if party is None:
            continue
        for code in party.iterfind(f"{{{CAC}}}PostalAddress/{{{CAC}}}Country/{{{CBC}}}IdentificationCode"):
            code.text = country
        for scheme in party.iterfind(f"{{{CAC}}}PartyTaxScheme"):
            vat = scheme.find(f"{{{CBC}}}CompanyID")
            if vat is not None and (scheme.findtext(f"{{{CAC}}}TaxScheme/{{{CBC}}}ID") or "").strip() == "VAT":
                vat.text = ("EL" if country == "GR" else country) + (vat.text or "")[2:]


def mutate(data: bytes, m: tuple) -> tuple[bytes, str]:
    kind, _, who, country = m
    if kind != "country":
        return mutate_en16931(data, m)
    root = etree.fromstring(data)
    _move(root, who, country)
    return etree.tostring(root), f"{'seller' if who == 'seller' else 'seller and buyer'} moved to {country}"


def _budget() -> Optional[int]:
    raw = os.environ.get("EDIGATE_PEPPOL_FUZZ", "")
    if raw == "all":
        return None
    return int(raw) if raw.isdigit() else BUDGET


def _bases() -> list[Path]:
    if os.environ.get("EDIGATE_PEPPOL_FUZZ"):
        # XRechnung sub-lines are not EN 16931 (not read), yet the stylesheet checks their categories
        return [p for p in FILES if b"SubInvoiceLine" not in p.read_bytes()]
    return [p for p in FILES if rel(p) in _SAMPLE]


@pytest.mark.parametrize("path", _bases(), ids=[rel(p) for p in _bases()])
def test_mutants_agree_with_the_peppol_schematron(path: Path, peppol_official) -> None:
    data = payload(path)
    todo = list(mutations(etree.fromstring(data)))
    moves = [m for m in todo if m[0] == "country"]
    others = [m for m in todo if m[0] != "country"]
    budget = _budget()
    if budget is not None and len(others) > budget:
        others = random.Random(rel(path)).sample(others, budget)
    failures, checked = [], 0
    for m in others + moves:
        mutant, what = mutate(data, m)
        try:
            official = peppol_official(mutant)
        except Exception:  # noqa: BLE001 - the schematron itself stops on some invalid values
            continue
        try:
            mine = ours(mutant)
        except Exception as exc:  # noqa: BLE001 - reader refusals are the reader's tests' business
            from gateway.model.errors import InputError
            if isinstance(exc, (InputError, ArithmeticError)):
                continue
            raise
        checked += 1
        problems = compare(mine, official, KNOWN.get(rel(path)), must_differ=False)
        if problems:
            failures.append(f"{what}: " + "; ".join(problems))
    print(f"{rel(path)}: {len(others) + len(moves)} mutants, {checked} checked")   # shown with -rP
    assert checked, "no mutant could be checked"
    assert not failures, f"{rel(path)}: {len(failures)} of {checked} mutants disagree:\n  " + "\n  ".join(failures[:_SHOWN])
