"""EN 16931 business rules on the model, agreeing with the CEN schematron.

``validate(invoice)`` runs every registered rule and returns its findings;
``RULES`` maps each rule id to its ``Rule`` (id, terms, severity,
description); ``covered_rule_ids()`` names the schematron rules implemented
here, so that our verdict can be compared with the official one on exactly
those (see tests/test_rules_vs_schematron.py and COVERAGE.md).

The rules follow the UBL binding of the CEN schematron 1.3.16 where the UBL
and CII bindings differ in meaning (COVERAGE.md lists those differences).
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from gateway.model.findings import Finding

from . import calculation, codelists, core, decimals, vat  # noqa: F401 - importing registers the rules
from .registry import RULES, Rule

__all__ = ["RULES", "Rule", "validate", "covered_rule_ids", "rules_by_family"]

# families in the order findings are reported
_ORDER = ("BR", "BR-CO", "BR-DEC", "BR-CL", "BR-S", "BR-Z", "BR-E", "BR-AE", "BR-IC", "BR-G", "BR-O",
          "BR-AF", "BR-AG", "BR-B")


def _sort_key(rule_id: str) -> tuple[int, int, str]:
    r = RULES[rule_id]
    fam = _ORDER.index(r.family) if r.family in _ORDER else len(_ORDER)
    num = rule_id.rsplit("-", 1)[1]
    return fam, int(num) if (num.isascii() and num.isdigit()) else 0, rule_id


def validate(invoice: Any, *, rules: Optional[Iterable[str]] = None, strict: bool = False) -> list[Finding]:
    """All findings of the EN 16931 rules on ``invoice``.

    Never raises on a weird or partial model: a rule that cannot evaluate
    the data it meets does not apply (``strict=True`` makes it raise
    instead, for tests). ``rules`` restricts the run to some rule ids."""
    ids = sorted(RULES if rules is None else (r for r in rules if r in RULES), key=_sort_key)
    findings: list[Finding] = []
    for rule_id in ids:
        findings.extend(RULES[rule_id].run(invoice, strict=strict))
    return findings


def covered_rule_ids() -> set[str]:
    """The ids of the schematron rules this package implements."""
    return set(RULES)


def rules_by_family() -> dict[str, list[str]]:
    """Rule ids grouped by family (BR, BR-CO, BR-S ...), in rule order."""
    out: dict[str, list[str]] = {}
    for rule_id in sorted(RULES, key=_sort_key):
        out.setdefault(RULES[rule_id].family, []).append(rule_id)
    return out
