"""The French rules (rule sets ``fr`` and ``fr-warning``) on built invoices, without the corpus.

Each case of tests/support/fr_invoice.py breaks (or keeps) one thing of a
French invoice that passes every rule: exactly the listed BR-FR rules fire.
The same cases are judged by the official stylesheets in
tests/conformance/test_rules_fr_vs_schematron.py.
"""
from __future__ import annotations

import pytest

from gateway.rules import RULE_SETS, get_profile, rules_by_family, validate
from gateway.rules.fr import FATAL_IN_WARNING_VERSION, NOT_IMPLEMENTED, WARNING_SET
from gateway.rules.fr.bindings import CII_IDS, DIFFERENCES, UBL_ONLY
from gateway.rules.fr.common import lexical, valid_id
from tests.support.fr_invoice import CASES, build_french_invoice


def fr_fatal(inv) -> set[str]:
    return {f.rule for f in validate(inv, profile="fr", strict=True) if f.rule_set == "fr" and f.fatal}


def test_the_french_invoice_passes_the_whole_fr_profile() -> None:
    assert [f for f in validate(build_french_invoice(), profile="fr", strict=True) if f.fatal] == []


@pytest.mark.parametrize("name,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_case(name: str, mutate, expected: set) -> None:
    inv = build_french_invoice()
    mutate(inv)
    assert fr_fatal(inv) == expected


def test_findings_name_rule_set_terms_and_place() -> None:
    inv = build_french_invoice()
    inv.buyer.legal_registration_identifier = None
    (f,) = [f for f in validate(inv, profile="fr") if f.rule_set == "fr"]
    assert (f.rule, f.severity, f.path) == ("BR-FR-11_BT-47", "fatal", "buyer.legal_registration_identifier")
    assert "BT-47" in f.terms and "SIREN de l'acheteur" in f.message


def test_every_rule_says_what_it_means_in_english_and_french() -> None:
    for r in RULE_SETS["fr"].values():
        assert r.terms and all(t.startswith(("BT-", "BG-")) for t in r.terms), r.id
        assert " — " in r.description, f"{r.id}: the description gives the stylesheet's French wording"
        assert r.severity == "fatal", r.id


def test_families_and_their_order() -> None:
    assert list(rules_by_family("fr")) == ["BR-FR", "BR-FR-CO", "BR-FR-DEC", "BR-FR-MV", "BR-FR-BD"]


def test_the_warning_version_is_the_same_rules_as_warnings_but_26() -> None:
    fr, warn = RULE_SETS["fr"], RULE_SETS[WARNING_SET]
    assert set(fr) == set(warn)
    for rule_id, r in warn.items():
        assert r.check is fr[rule_id].check
        assert r.severity == ("fatal" if rule_id in FATAL_IN_WARNING_VERSION else "warning"), rule_id
    assert len(FATAL_IN_WARNING_VERSION) == 26
    inv = build_french_invoice()
    inv.buyer.legal_registration_identifier = None
    found = [f for f in validate(inv, profile="fr-warning", strict=True) if f.rule_set == WARNING_SET]
    assert [(f.rule, f.severity) for f in found] == [("BR-FR-11_BT-47", "warning")]
    assert get_profile("fr-warning").set_names() == ("en16931", "fr-warning")


def test_the_tables_name_known_rules() -> None:
    fr = set(RULE_SETS["fr"])
    assert not fr & set(NOT_IMPLEMENTED)
    assert set(CII_IDS.values()) <= fr | set(NOT_IMPLEMENTED)
    assert set(UBL_ONLY) <= fr | set(NOT_IMPLEMENTED)
    for syntax, table in DIFFERENCES.items():
        assert set(table) <= fr, syntax


@pytest.mark.parametrize("value,ok", [("FA-2026/001_A+", True), ("FA 1", False), ("FA.1", False), ("", False),
                                      ("FA#1", False), ("é1", False)])
def test_invoice_number_format(value: str, ok: bool) -> None:
    assert valid_id(value) is ok


def test_numbers_are_read_as_written() -> None:
    from decimal import Decimal
    assert [lexical(Decimal(x)) for x in ("100.00", "0.0000001", "-0.50", "1E+2")] == \
        ["100.00", "0.0000001", "-0.50", "100"]
