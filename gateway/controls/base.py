"""What a control is: a name (its entry in ``defaults.yaml``) and a check of one invoice in its context.

A check returns findings (``Finding``, severity warning, the rule ids of ``defaults.yaml``);
a finding whose ``extra`` says ``hold`` holds the invoice until an operator confirms, with
``extra["evidence"]`` shown to them. Checks read the supplier's history through
``Context.history`` (bounded, indexed) and nothing else of the record, except the bank
account control, which keeps the accounts on record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from gateway.db import ControlFacts
from gateway.model.findings import WARNING, Finding

from . import facts as _facts


@dataclass
class Context:
    session: Any
    record: Any                              # the DocumentRecord (flushed: it has its id)
    invoice: Any                             # the EN 16931 model it was read as
    facts: ControlFacts                      # this invoice's facts (not yet in the history)
    now: datetime
    organisation_id: Optional[int] = None    # the recipient partner whose settings apply
    _history: dict = field(default_factory=dict)

    @property
    def supplier_key(self) -> str:
        return self.facts.supplier_key

    def history(self, limit: int, **kw: Any) -> list[Any]:
        """The supplier's last invoices as rows (``facts.ROW``), read once per set of arguments."""
        key = (int(limit), tuple(sorted(kw.items())))
        if key not in self._history:
            self._history[key] = _facts.history(self.session, self.supplier_key, int(limit), **kw)
        return self._history[key]


Check = Callable[[Context, dict], list[Finding]]


@dataclass(frozen=True)
class Control:
    name: str                                # its key in defaults.yaml
    check: Check


def finding(rule: str, message: str, *, terms: tuple[str, ...], hold: bool = False, **extra: Any) -> Finding:
    """A control's finding: a warning (the invoice goes on) unless ``hold``."""
    data = {"control": rule, **extra}
    if hold:
        data["hold"] = True
    return Finding(rule, message, severity=WARNING, terms=terms, extra=data, rule_set="controls")
