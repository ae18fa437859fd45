"""The rule registry: every EN 16931 business rule, known by its id.

A rule is a small function over the model that yields one ``Hit`` per
offending group or value (the schematron fires once per offending element,
and so do we, so counts can be compared). The ``@rule`` decorator registers
it with the business terms it concerns; ``Rule.run`` turns hits into
``Finding``s carrying the rule id, severity and terms.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Optional

from gateway.model.findings import FATAL, WARNING, Finding

log = logging.getLogger(__name__)

__all__ = ["FATAL", "WARNING", "Hit", "Rule", "RULES", "rule", "register"]


class Hit(NamedTuple):
    """One violation found by a rule: where (model path) and what."""
    path: Optional[str]
    message: str
    terms: Optional[tuple[str, ...]] = None  # narrower than the rule's, when useful


Check = Callable[[Any], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    terms: tuple[str, ...]
    severity: str
    description: str
    family: str
    check: Check

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
            log.debug("rule %s does not apply", self.id, exc_info=True)
            return []
        return [Finding(rule=self.id, message=f"{self.id}: {h.message}", severity=self.severity,
                        terms=h.terms or self.terms, path=h.path) for h in hits]


RULES: dict[str, Rule] = {}


def first_paragraph(doc: Optional[str]) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join((doc or "").strip().split("\n\n", 1)[0].split())


def family_of(rule_id: str) -> str:
    """'BR-CO-10' -> 'BR-CO', 'BR-01' -> 'BR'."""
    head, _, tail = rule_id.rpartition("-")
    return head if (tail.isascii() and tail.isdigit()) else rule_id


def register(rule_id: str, check: Check, *, terms: Iterable[str], description: str,
             severity: str = FATAL) -> Rule:
    if rule_id in RULES:
        raise ValueError(f"rule {rule_id} registered twice")
    r = Rule(rule_id, tuple(terms), severity, description, family_of(rule_id), check)
    RULES[rule_id] = r
    return r


def rule(rule_id: str, *, terms: Iterable[str], severity: str = FATAL,
         description: Optional[str] = None) -> Callable[[Check], Check]:
    """Register the decorated function as business rule ``rule_id``.

    The description defaults to the first paragraph of the function's docstring."""
    def deco(fn: Check) -> Check:
        desc = description or first_paragraph(fn.__doc__) or rule_id
        register(rule_id, fn, terms=terms, description=desc, severity=severity)
        return fn
    return deco
