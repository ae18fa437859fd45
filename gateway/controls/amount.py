"""CTRL-AMOUNT-01: an amount far from what this supplier usually invoices.

The method: the invoice's total (BT-112) against the *median* of the supplier's last N
invoices in the same currency; flagged above ``factor`` x the median or below the median /
``factor``, once there are at least ``min_history`` of them. Why the median and a ratio, not
a mean and a z-score: invoice amounts are skewed (many small, a few large), so one large
invoice inflates the mean and the standard deviation and blinds a z-score to the next
one, exactly the outlier it should catch; the median is not moved by it, and "12 times the
usual" is what an operator can check. Credit notes and zero amounts are not judged.
"""
from __future__ import annotations

from decimal import Decimal
from statistics import median

from .base import Context, Control, finding
from .wording import said

RULE = "CTRL-AMOUNT-01"


def check(ctx: Context, thresholds: dict) -> list:
    amount = ctx.facts.amount
    if amount is None or Decimal(amount) <= 0 or ctx.invoice.is_credit_note:
        return []
    history = [Decimal(f.amount) for f in ctx.history(thresholds["history"], currency=ctx.facts.currency,
                                                      with_amount=True) if Decimal(f.amount) > 0]
    if len(history) < thresholds["min_history"]:
        return []
    usual = median(history)
    factor = Decimal(str(thresholds["factor"]))
    amount = Decimal(amount)
    if amount > usual * factor:
        code, ratio = "amount_above", (amount / usual).quantize(Decimal("0.1"))
    elif amount * factor < usual:
        code, ratio = "amount_below", (usual / amount).quantize(Decimal("0.1"))
    else:
        return []
    params = {"amount": f"{amount:.2f}", "currency": ctx.facts.currency or "", "ratio": str(ratio),
              "median": f"{usual:.2f}", "count": len(history), "factor": thresholds["factor"]}
    return [finding(RULE, terms=("BT-112",), median=str(usual), history=len(history),
                    factor=thresholds["factor"], **said(code, params))]


control = Control("amount", check)
