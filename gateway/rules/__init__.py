"""Business rules on the model, by rule set, applied through profiles.

``validate(invoice, profile="en16931")`` runs the rule sets of a profile
(``profiles.yaml``: ``en16931``, ``peppol``, ``fr``, ``fr-extended``) and
returns their findings, each carrying its rule set. The ``en16931`` set is the
EN 16931 business rules, agreeing with the CEN schematron; ``peppol``
(``gateway.rules.peppol``) the Peppol BIS Billing 3.0 rules, agreeing with the
Peppol schematron. ``RULES`` maps each EN 16931 rule id to its ``Rule`` (id,
terms, severity, description); ``covered_rule_ids(rule_set)`` names the
schematron rules a set implements, so that our verdict can be compared with
the official one on exactly those (see tests/conformance/test_rules_vs_schematron.py,
COVERAGE.md and PEPPOL-COVERAGE.md).

The EN 16931 rules follow the UBL binding of the CEN schematron 1.3.16; where
the CII binding means something else, a rule has a CII variant (``cii.py``),
which ``validate(..., syntax="cii")`` (or ``facturx``) runs instead, and EDIFACT
documents get the EDIFACT meaning of BR-CO-14 and BR-CO-15 (``edifact.py``).
COVERAGE.md lists the variants and the differences left (``bindings.py``).
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Optional

from gateway.model.findings import WARNING, Finding

from . import calculation, codelists, core, decimals, vat  # noqa: F401 - importing registers the rules
from . import cii, edifact  # noqa: F401,E402 - the rules' CII and EDIFACT variants (after the rules)
from .profiles import (DEFAULT_PROFILE, Profile, ProfileError, RuleSetUnavailableError, UnknownProfileError,
                       get_profile, load_rule_set, profile_names, rule_order)
from .access import memo_begin, memo_end
from .registry import DEFAULT_RULE_SET, GUARDS, RULE_SETS, RULES, Rule

__all__ = ["RULES", "RULE_SETS", "Rule", "validate", "covered_rule_ids", "rules_by_family", "DEFAULT_PROFILE",
           "Profile", "ProfileError", "UnknownProfileError", "RuleSetUnavailableError", "get_profile",
           "profile_names"]


def validate(invoice: Any, *, profile: str = DEFAULT_PROFILE, rules: Optional[Iterable[str]] = None,
             strict: bool = False, syntax: Optional[str] = None, guards: bool = True,
             rule_sets: Optional[Iterable[str]] = None) -> list[Finding]:
    """All findings of the rule sets of ``profile`` on ``invoice`` (each finding names its rule set).

    Never raises on a weird or partial model: a rule that cannot evaluate
    the data it meets does not apply (``strict=True`` makes it raise
    instead, for tests). ``rules`` restricts the run to some rule ids;
    ``syntax`` is the syntax the document was read from (``ubl``, ``cii`` ...),
    for rule sets a profile binds to some syntaxes and for the rules' binding
    variants (``registry.BINDINGS``: a ``cii``, ``facturx`` or ``edifact``
    document is judged as its binding of the CEN schematron does; no syntax,
    ``ubl`` or ``csv``: the UBL binding). An unknown profile, or one
    naming a rule set nobody registers, raises ``ProfileError`` saying so.
    ``guards=False`` runs every rule, even those a guard shows cannot fire
    (``registry``: same findings, slower; for tests). ``rule_sets`` runs only
    those of the profile's rule sets (``("peppol",)``)."""
    p = get_profile(profile)
    chosen, skipped = p.plan(syntax)
    if rule_sets is not None:
        key = (p.name, syntax, frozenset(rule_sets))
        cached = _subsets.get(key)
        if cached is None or cached[0] is not chosen:
            cached = _subsets[key] = (chosen, [r for r in chosen if r.rule_set in key[2]],
                                      [u for u in skipped if u.name in key[2]])
        chosen, skipped = cached[1], cached[2]
    if rules is not None:
        wanted = set(rules)
        chosen = [r for r in chosen if r.id in wanted]
    findings: list[Finding] = [
        Finding(rule="PROFILE-SYNTAX", severity=WARNING, rule_set=u.name,
                message=f"rule set {u.name} of profile {p.name} applies to {', '.join(u.syntaxes)} documents; "
                        f"not applied to this {syntax} document")
        for u in skipped]
    kept = memo_begin(invoice)          # facts several rules (and guards) need, computed once (access.memo)
    try:
        if guards:
            chosen = _runnable(chosen, invoice, strict, cache=rules is None)
        for r in chosen:                # Rule.run, inlined: this loop runs ~100 rules per invoice
            try:
                hits = r.check(invoice)
                if hits.__class__ is not list and hits.__class__ is not tuple:
                    hits = list(hits)   # a generator (most rules yield their hits)
            except Exception:  # noqa: BLE001 - a rule that cannot evaluate a partial model does not apply
                if strict:
                    raise
                _log.debug("rule %s/%s does not apply", r.rule_set, r.id, exc_info=True)
                continue
            if hits:
                findings.extend(r.findings(hits))
    finally:
        memo_end(kept)
    return findings


def _runnable(chosen: list[Rule], invoice: Any, strict: bool, *, cache: bool) -> list[Rule]:
    """The rules of ``chosen`` the guards let run on ``invoice``. Each guard is computed once; the
    rules to run depend only on what the guards show, so a plan keeps them by that (invoices alike
    in their VAT categories and optional groups share one list)."""
    entry = _guarded.get(id(chosen)) if cache else None
    if entry is None or entry[0] is not chosen:
        names = tuple(dict.fromkeys(r.guard[0] for r in chosen if r.guard is not None))
        entry = (chosen, names, {})
        if cache:
            if len(_guarded) >= 64:
                _guarded.clear()
            _guarded[id(chosen)] = entry
    _, names, by_shown = entry
    if not names:
        return chosen
    shown = tuple(_frozen(_guard(name, invoice, strict)) for name in names)
    todo = by_shown.get(shown)
    if todo is None:
        values = dict(zip(names, shown))
        todo = [r for r in chosen if r.guard is None or values[r.guard[0]] is None
                or r.guard[1] in values[r.guard[0]]]
        if len(by_shown) >= 256:
            by_shown.clear()
        by_shown[shown] = todo
    return todo


def _frozen(values: Any) -> Any:
    """What a guard shows, as a key: a frozenset, or None (unknown: every rule it guards runs)."""
    if values is None or values.__class__ is frozenset:
        return values
    try:
        return frozenset(values)
    except TypeError:
        return None


_log = logging.getLogger("gateway.rules.registry")      # where Rule.run logs the same
_subsets: dict[tuple, tuple[list[Rule], list[Rule], list]] = {}
# id(plan) -> (plan, guard names, {what the guards show: the rules to run})
_guarded: dict[int, tuple[list[Rule], tuple[str, ...], dict[tuple, list[Rule]]]] = {}


def _guard(name: str, invoice: Any, strict: bool) -> Any:
    """What guard ``name`` shows of the invoice; None (run the rules) when it cannot tell."""
    try:
        return GUARDS[name](invoice)
    except Exception:  # noqa: BLE001 - a partial model: let the rules themselves decide
        if strict:
            raise
        return None


def covered_rule_ids(rule_set: str = DEFAULT_RULE_SET) -> set[str]:
    """The ids of the schematron rules a rule set implements (EN 16931 by default)."""
    return set(load_rule_set(rule_set))


def rules_by_family(rule_set: str = DEFAULT_RULE_SET) -> dict[str, list[str]]:
    """Rule ids grouped by family (BR, BR-CO, BR-S ...), in rule order."""
    out: dict[str, list[str]] = {}
    rules = load_rule_set(rule_set)
    for r in sorted(rules.values(), key=rule_order):
        out.setdefault(r.family, []).append(r.id)
    return out
