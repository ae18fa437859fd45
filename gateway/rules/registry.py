"""The rule registry: business rules known by rule set and id.

A rule is a small function over the model that yields one ``Hit`` per
offending group or value (the schematron fires once per offending element,
and so do we, so counts can be compared). The ``@rule`` decorator registers
it in its **rule set** (``en16931`` unless told: the CEN rules; ``peppol``:
Peppol BIS Billing 3.0; national sets such as ``fr``) with the business terms
it concerns; ``Rule.run`` turns hits into ``Finding``s carrying the rule id,
its rule set, severity and terms.

Rule ids are unique within a set; two sets may use the same id (a national
set redefining a rule). ``RULES`` is the ``en16931`` set, as before; which
sets a validation applies is a *profile*'s business (``profiles.py``).

A rule may name a *guard*: ``guard=("vat_categories", "S")`` says it can only
fire when "S" is among the values the guard function ``vat_categories``
(``register_guard``) finds in the invoice; ``("groups", "allowances")`` that it
is about an optional group the invoice must have (``access.groups``). ``validate`` computes each guard
once per invoice and skips the rules it rules out; it is an optimisation
only (``validate(..., guards=False)`` runs every rule, and the tests check
both give the same findings).

A rule may have **binding variants**. The rules follow the UBL binding of the
CEN schematron; where the binding of another syntax means something else for
the same rule id (``bindings.py``), ``register_variant`` (or ``@variant``)
registers, for that id, the check of that binding: ``validate(inv,
syntax="cii")`` then runs the CII variant instead of the UBL rule. Which
binding a syntax has is ``BINDINGS`` (``cii`` and ``facturx``: the CII binding;
``edifact``: the CEN EDIFACT binding; ``ubl``, ``csv`` and no syntax at all:
the UBL binding, the rules themselves).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Optional

from gateway.model.findings import FATAL, WARNING, Finding

log = logging.getLogger(__name__)

__all__ = ["FATAL", "WARNING", "Hit", "Rule", "RULES", "RULE_SETS", "DEFAULT_RULE_SET", "GUARDS", "rule", "register",
           "register_guard", "rules_of", "UBL", "CII", "EDIFACT", "BINDINGS", "VARIANTS", "binding_of",
           "register_variant", "variant", "variants_of", "NEVER"]

DEFAULT_RULE_SET = "en16931"

# the bindings of the CEN schematron; the rules themselves follow UBL
UBL, CII, EDIFACT = "ubl", "cii", "edifact"
# syntax a document was read from -> the binding whose meaning its rules take
BINDINGS: dict[str, str] = {"ubl": UBL, "csv": UBL, "cii": CII, "facturx": CII, "edifact": EDIFACT}


class Hit(NamedTuple):
    """One violation found by a rule: where (model path) and what."""
    path: Optional[str]
    message: str
    terms: Optional[tuple[str, ...]] = None  # narrower than the rule's, when useful


# a rule's check yields its hits, or returns them (a list or tuple, which ``validate`` takes as it is)
Check = Callable[[Any], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    terms: tuple[str, ...]
    severity: str
    description: str
    family: str
    check: Check
    rule_set: str = DEFAULT_RULE_SET
    guard: Optional[tuple[str, str]] = None     # (guard name, value the invoice must show), see above
    binding: Optional[str] = None               # None: the rule itself; else the binding this variant is for

    def run(self, invoice: Any, *, strict: bool = False) -> list[Finding]:
        """The findings of this rule on one invoice.

        A rule that trips over data it did not expect (a weird or partial
        model) does not apply: it yields nothing rather than raising, unless
        ``strict`` (used by the tests, so such bugs do not hide)."""
        try:
            hits = list(self.check(invoice))
        except Exception:  # noqa: BLE001 - see docstring
            if strict:
                raise
            log.debug("rule %s/%s does not apply", self.rule_set, self.id, exc_info=True)
            return []
        return self.findings(hits) if hits else []

    def findings(self, hits: Iterable[Hit]) -> list[Finding]:
        """The findings of this rule's hits."""
        return [Finding(rule=self.id, message=f"{self.id}: {h.message}", severity=self.severity,
                        terms=h.terms or self.terms, path=h.path, rule_set=self.rule_set) for h in hits]


# guard name -> function giving the values an invoice shows (a set); None or an error: unknown, run the rules
GUARDS: dict[str, Callable[[Any], Any]] = {}


def register_guard(name: str, fn: Callable[[Any], Any]) -> None:
    """``fn(invoice)``: the set of values rules guarded by ``name`` test (see the module docstring)."""
    GUARDS[name] = fn


# the guard of a rule that never fires (its assert is ``true()``): no invoice shows its value
NEVER = ("never", "fires")
register_guard("never", lambda inv: frozenset())


# rule set name -> {rule id -> Rule}, in registration order
RULE_SETS: dict[str, dict[str, Rule]] = {DEFAULT_RULE_SET: {}}
RULES: dict[str, Rule] = RULE_SETS[DEFAULT_RULE_SET]


def rules_of(rule_set: str) -> dict[str, Rule]:
    """The rules registered in ``rule_set`` so far (empty when none is)."""
    return RULE_SETS.get(rule_set, {})


# (rule set, rule id) -> {binding -> the rule's variant for that binding}
VARIANTS: dict[tuple[str, str], dict[str, Rule]] = {}
# how many variants were registered, ever: with ``len(VARIANTS)``, what a cached plan depends on
_variants_registered = [0]


def variants_version() -> tuple[int, int]:
    """Changes whenever a variant is registered (or a rule's variants removed, as tests do)."""
    return len(VARIANTS), _variants_registered[0]


def binding_of(syntax: Optional[str]) -> str:
    """The binding whose meaning rules take on a document of ``syntax`` (UBL for None or an unknown one);
    a flavour's name (``cii-en16931``, ``edifact-d14b``) stands for its syntax."""
    if not syntax:
        return UBL
    name = syntax.lower()
    found = BINDINGS.get(name)
    return found if found is not None else BINDINGS.get(name.split("-", 1)[0], UBL)


def variants_of(rule_id: str, rule_set: str = DEFAULT_RULE_SET) -> dict[str, Rule]:
    """The binding variants registered for a rule, by binding (empty: it means the same in every binding)."""
    return dict(VARIANTS.get((rule_set, rule_id), {}))


def first_paragraph(doc: Optional[str]) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join((doc or "").strip().split("\n\n", 1)[0].split())


def family_of(rule_id: str) -> str:
    """'BR-CO-10' -> 'BR-CO', 'BR-01' -> 'BR'."""
    head, _, tail = rule_id.rpartition("-")
    return head if (tail.isascii() and tail.isdigit()) else rule_id


def register(rule_id: str, check: Check, *, terms: Iterable[str], description: str,
             severity: str = FATAL, rule_set: str = DEFAULT_RULE_SET, family: Optional[str] = None,
             guard: Optional[tuple[str, str]] = None) -> Rule:
    """Register ``check`` as rule ``rule_id`` of ``rule_set``; ``family`` defaults to the id's
    prefix (``BR-CO`` for ``BR-CO-10``)."""
    if severity not in (FATAL, WARNING):
        raise ValueError(f"rule {rule_id}: severity must be {FATAL!r} or {WARNING!r}, not {severity!r}")
    rules = RULE_SETS.setdefault(rule_set, {})
    if rule_id in rules:
        raise ValueError(f"rule {rule_id} registered twice in rule set {rule_set}")
    r = Rule(rule_id, tuple(terms), severity, description, family or family_of(rule_id), check, rule_set, guard)
    rules[rule_id] = r
    return r


_SAME = object()


def register_variant(rule_id: str, binding: str, check: Check, *, rule_set: str = DEFAULT_RULE_SET,
                     severity: Optional[str] = None, description: Optional[str] = None,
                     guard: Any = _SAME) -> Rule:
    """Register ``check`` as what rule ``rule_id`` of ``rule_set`` (registered before) means in
    ``binding`` (``CII``, ``EDIFACT``): same id, terms and family; severity, description and guard
    are the rule's unless given (``guard=None``: unguarded)."""
    if binding not in (CII, EDIFACT):
        raise ValueError(f"rule {rule_id}: a variant is for the {CII!r} or {EDIFACT!r} binding, not {binding!r}")
    base = RULE_SETS.get(rule_set, {}).get(rule_id)
    if base is None:
        raise ValueError(f"rule {rule_id}: register the rule in rule set {rule_set} before its variants")
    severity = base.severity if severity is None else severity
    if severity not in (FATAL, WARNING):
        raise ValueError(f"rule {rule_id}: severity must be {FATAL!r} or {WARNING!r}, not {severity!r}")
    variants = VARIANTS.setdefault((rule_set, rule_id), {})
    if binding in variants:
        raise ValueError(f"rule {rule_id} of rule set {rule_set} has a {binding} variant already")
    v = Rule(rule_id, base.terms, severity, description or base.description, base.family, check, rule_set,
             base.guard if guard is _SAME else guard, binding)
    variants[binding] = v
    _variants_registered[0] += 1
    return v


def variant(rule_id: str, binding: str, *, rule_set: str = DEFAULT_RULE_SET, severity: Optional[str] = None,
            guard: Any = _SAME) -> Callable[[Check], Check]:
    """Register the decorated function as the ``binding`` variant of rule ``rule_id`` (``register_variant``)."""
    def deco(fn: Check) -> Check:
        register_variant(rule_id, binding, fn, rule_set=rule_set, severity=severity, guard=guard)
        return fn
    return deco


def rule(rule_id: str, *, terms: Iterable[str], severity: str = FATAL, description: Optional[str] = None,
         rule_set: str = DEFAULT_RULE_SET, family: Optional[str] = None,
         guard: Optional[tuple[str, str]] = None) -> Callable[[Check], Check]:
    """Register the decorated function as business rule ``rule_id`` of ``rule_set``.

    The description defaults to the first paragraph of the function's docstring."""
    def deco(fn: Check) -> Check:
        desc = description or first_paragraph(fn.__doc__) or rule_id
        register(rule_id, fn, terms=terms, description=desc, severity=severity, rule_set=rule_set,
                 family=family, guard=guard)
        return fn
    return deco
