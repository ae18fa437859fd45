"""The EXTENDED-CTC-FR rules (rule set ``fr-extended``, profile ``fr-extended``) on built invoices, without the corpus.

The cases of tests/support/fr_invoice.py's ``EXTENDED_CASES``: exactly the listed
fr-extended rules fire, and the EN 16931 rules the profile replaces never do;
tests/conformance/test_rules_fr_extended_vs_schematron.py has them judged by the
official stylesheets too.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.rules import RULE_SETS, get_profile, rules_by_family, validate
from gateway.rules.fr_extended import CII_IDS, NOT_IMPLEMENTED, REPLACED
from gateway.rules.fr_extended.bindings import DIFFERENCES
from tests.support.fr_invoice import EXTENDED_CASES, build_french_invoice


@pytest.mark.parametrize("name,mutate,fatal,warnings", EXTENDED_CASES, ids=[c[0] for c in EXTENDED_CASES])
def test_case(name: str, mutate, fatal: set, warnings: set) -> None:
    inv = build_french_invoice()
    mutate(inv)
    found = validate(inv, profile="fr-extended", strict=True)
    assert {f.rule for f in found if f.rule_set == "fr-extended" and f.fatal} == fatal
    assert {f.rule for f in found if f.rule_set == "fr-extended" and not f.fatal} == warnings
    assert not {f.rule for f in found if f.rule_set == "en16931"} & set(REPLACED)


def test_the_profile_replaces_en16931_rules_by_tolerant_ones() -> None:
    inv = build_french_invoice()
    inv.totals.sum_of_line_net_amounts += Decimal("0.01")
    assert "BR-CO-10" in {f.rule for f in validate(inv, profile="fr", strict=True)}
    assert [f for f in validate(inv, profile="fr-extended", strict=True) if f.fatal] == []
    uses = get_profile("fr-extended").rule_sets
    assert [u.name for u in uses] == ["en16931", "fr", "fr-extended"] and uses[0].without == frozenset(REPLACED)


def test_the_tables_name_known_rules() -> None:
    ours = set(RULE_SETS["fr-extended"])
    assert not ours & set(NOT_IMPLEMENTED)
    assert set(CII_IDS.values()) <= ours
    assert set(REPLACED) <= set(RULE_SETS["en16931"])
    assert list(rules_by_family("fr-extended")) == ["BR-FREXT-CO", "BR-CO", "BR-FREXT-VAT", "BR-FREXT", "BR-FREXT-CL"]
    for syntax, table in DIFFERENCES.items():
        assert set(table) <= ours | set(RULE_SETS["en16931"]), syntax
    for r in RULE_SETS["fr-extended"].values():
        assert " — " in r.description, r.id
