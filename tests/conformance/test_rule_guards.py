"""Rule guards skip only rules that cannot fire: the findings are the same with and without them.

A guarded rule (``guard=("vat_categories", "S")``, a rule about an optional group
``("groups", "allowances")``, the national Peppol rules' ``("peppol_country", "DK")``)
is skipped when the invoice does not show the value; ``validate(..., guards=False)``
runs every rule. On every corpus invoice (EN 16931 on UBL and CII, CII also with
the rules' CII variants, Peppol on UBL, each UBL invoice also moved to every country
of the national rules) and on the hand-built cases of tests/unit/test_rules.py
both must give exactly the same findings.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.rules import RULES, validate
from gateway.rules.registry import GUARDS
from tests.support.corpus import CORPUS, rel
from tests.support.invoice_builder import build_invoice

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def _same(inv, profile: str, syntax=None) -> None:
    fast = [(f.rule, f.rule_set, f.path, f.message)
            for f in validate(inv, profile=profile, strict=True, syntax=syntax)]
    slow = [(f.rule, f.rule_set, f.path, f.message)
            for f in validate(inv, profile=profile, strict=True, guards=False, syntax=syntax)]
    assert fast == slow


def _en16931_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for top in ("ubl", "cii") for p in (CORPUS / top).rglob("*")
                  if p.is_file() and p.suffix.lower() == ".xml")


@pytest.mark.parametrize("path", _en16931_files(), ids=[rel(p) for p in _en16931_files()])
def test_en16931_guards_change_nothing(path: Path) -> None:
    from gateway.syntaxes import read_document, syntax_of
    try:
        doc = read_document(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - the reader's tests' business
        pytest.skip(f"not readable: {exc}")
    _same(doc.invoice, "en16931")
    _same(doc.invoice, "en16931", syntax_of(doc.syntax))       # the variants of its syntax's binding (CII)


def test_peppol_guards_change_nothing_in_any_country() -> None:
    from gateway.syntaxes import read_document
    from tests.conformance.test_peppol_rules_fuzz import COUNTRIES, _move
    from tests.conformance.test_peppol_rules_vs_schematron import FILES, payload
    checked = 0
    for path in FILES:
        data = payload(path)
        variants = [data]
        for country in COUNTRIES:
            for who in ("seller", "both"):
                root = etree.fromstring(data)
                _move(root, who, country)
                variants.append(etree.tostring(root))
        for variant in variants:
            _same(read_document(variant).invoice, "peppol")
            checked += 1
    assert checked > 500


def test_a_wrong_guard_would_be_seen(monkeypatch) -> None:
    """The comparison can fail: a guard that hides a category the invoice uses skips that category's
    rules, and the findings then differ from an unguarded run."""
    inv = build_invoice()
    inv.lines[0].vat.category_code = "Z"          # the line now uses Z, the breakdown still S
    monkeypatch.setitem(GUARDS, "vat_categories", lambda inv: {"S"})
    guarded = {f.rule for f in validate(inv, strict=True)}
    everything = {f.rule for f in validate(inv, strict=True, guards=False)}
    assert "BR-Z-01" in everything - guarded


def test_vat_category_guard_on_a_built_invoice() -> None:
    inv = build_invoice()
    from gateway.rules.vat import vat_categories
    assert vat_categories(inv) == {"S"}
    assert RULES["BR-Z-01"].guard == ("vat_categories", "Z") and RULES["BR-S-08"].guard == ("vat_categories", "S")
    inv.lines[0].vat.category_code = "Z"          # the line now uses Z, the breakdown still S
    found = {f.rule for f in validate(inv, strict=True)}
    assert "BR-Z-01" in found and found == {f.rule for f in validate(inv, strict=True, guards=False)}


def _builder_cases() -> list:
    import tests.unit.test_rules as cases
    from tests.support.invoice_builder import add_allowance, add_charge
    out = [(name, build_invoice, mutate) for name, mutate, _ in cases.CORE_CASES + cases.CO_CASES + cases.CL_CASES]
    out += [(name, lambda: add_charge(add_allowance(build_invoice())), mutate)
            for name, mutate, _ in cases.AC_CASES + cases.CO_AC_CASES]
    return out


@pytest.mark.parametrize("syntax", [None, "cii", "edifact"])
def test_guards_change_nothing_on_the_hand_built_cases(syntax) -> None:
    """The cases of tests/unit/test_rules.py break one thing each, often in an optional group (the guard
    ``groups``: allowances, payee, periods ...): with and without guards, the same findings."""
    checked = 0
    for name, build, mutate in _builder_cases():
        inv = build()
        mutate(inv)
        fast = [(f.rule, f.path, f.message) for f in validate(inv, strict=True, syntax=syntax)]
        slow = [(f.rule, f.path, f.message) for f in validate(inv, strict=True, syntax=syntax, guards=False)]
        assert fast == slow, name
        checked += 1
    assert checked > 100


def test_the_groups_guard_names_what_the_invoice_has() -> None:
    from gateway.model.invoice import DocumentAllowance, LineCharge, Payee
    inv = build_invoice()
    assert GUARDS["groups"](inv) == set()
    inv.allowances.append(DocumentAllowance())
    inv.lines[0].charges.append(LineCharge())
    inv.payee = Payee(name="P")
    assert GUARDS["groups"](inv) == {"allowances", "line_charges", "payee", "any_allowances", "any_charges"}
    assert "BR-31" in {f.rule for f in validate(inv, strict=True)}       # an allowance without amount
    assert RULES["BR-31"].guard == ("groups", "allowances")
