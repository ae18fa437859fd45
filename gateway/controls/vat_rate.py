"""CTRL-VAT-01: a VAT rate (BT-119) this supplier has not used in any of its last N invoices
(once there are ``min_history`` of them): a wrong rate is a common error, and an unusual one a
sign that the invoice is not the supplier's."""
from __future__ import annotations

from .base import Context, Control, finding
from .wording import said

RULE = "CTRL-VAT-01"


def check(ctx: Context, thresholds: dict) -> list:
    rates = list(ctx.facts.vat_rates or ())
    if not rates:
        return []
    history = ctx.history(thresholds["history"], with_rates=True)
    if len(history) < thresholds["min_history"]:
        return []
    usual = sorted({r for f in history for r in f.vat_rates}, key=float)
    unusual = [r for r in rates if r not in usual]
    if not unusual:
        return []
    params = {"unusual": unusual, "usual": usual, "count": len(history)}
    return [finding(RULE, terms=("BT-119",), unusual=unusual, usual=usual, **said("vat_rate_unusual", params))]


control = Control("vat_rate", check)
