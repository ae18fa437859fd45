"""Anomaly and fraud controls on each received invoice, beside the EN 16931 rules.

``screen`` is the pipeline's one call (``flow.process``, once a valid, non-duplicate document
is recorded and before its delivery): every control switched on for the invoice's
organisation (its recipient partner; ``settings``) looks at the invoice and the supplier's
history (``facts``), gives warning findings with their own ids (CTRL-…), or holds the
invoice for an operator's confirmation (the bank account changed: ``bank_account``); the
invoice's facts join the history. ``confirm`` releases what an operator confirmed, through
the same planning as a held invoice rerouted (``flow.reroute``).

The controls are one module each (``registry``), their switches and thresholds data
(``defaults.yaml`` + per-organisation overrides). A control that fails (a bug of ours) is
logged and noted as a finding, CTRL-ERROR: it does not stop the invoice.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Optional

from gateway.db import ControlHold
from gateway.model.findings import WARNING, Finding

from .base import Context
from .facts import new_facts, supplier_key
from .wording import said

log = logging.getLogger("edigate.controls")

__all__ = ["screen", "organisation_of"]


def organisation_of(plan: Any) -> Optional[int]:
    """The organisation whose settings apply: the invoice's recipient (None: not known yet)."""
    if plan is None:
        return None
    return getattr(plan, "document_recipient_id", None) or getattr(plan, "recipient_id", None)


def screen(s, rec: Any, invoice: Any, plan: Any, now: datetime) -> bool:
    """Run the controls on a recorded document (inside the pipeline's transaction); their findings
    join the document's, its facts the supplier's history. True when a control holds it (its
    status is then ``held``, the hold and its evidence on record)."""
    from .registry import CONTROLS
    from .settings import effective

    key = supplier_key(rec)
    if key is None:
        return False
    organisation_id = organisation_of(plan)
    settings = effective(s, organisation_id)
    ctx = Context(session=s, record=rec, invoice=invoice, facts=new_facts(rec, invoice, key, organisation_id),
                  now=now, organisation_id=organisation_id)
    found: list[Finding] = []
    for control in CONTROLS:
        setting = settings[control.name]
        if not setting.enabled:
            continue
        try:
            found += control.check(ctx, setting.thresholds)
        except Exception as e:          # a bug of ours: noted, logged, the invoice goes on
            log.exception("control %s failed on document %s", control.name, rec.id)
            words = said("control_failed", {"control": control.name, "error": type(e).__name__})
            found.append(Finding("CTRL-ERROR", words.pop("message"), severity=WARNING, rule_set="controls",
                                 extra=words))
    s.add(ctx.facts)
    holds = [f for f in found if f.extra.get("hold")]
    for f in holds:
        s.add(ControlHold(document_id=rec.id, control=f.rule, supplier_key=key,
                          evidence=f.extra.get("evidence") or {}, opened_at=now))
    if found:
        rec.findings = list(rec.findings or []) + [f.as_dict() for f in found]
        rec.warning_count = (rec.warning_count or 0) + len(found)
    if holds:
        rec.status = "held"
    return bool(holds)
