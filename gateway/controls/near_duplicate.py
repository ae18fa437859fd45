"""CTRL-NEARDUP-01: the same supplier, the same amount and currency, issue dates a few days apart,
under another number: the same invoice sent twice with a new number, beside the exact duplicate
rule (same seller, number and year: ``flow.process``). One indexed query on (supplier, issue
date), limited, read as plain rows."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from gateway.db import ControlFacts

from .base import Context, Control, finding
from .wording import said

RULE = "CTRL-NEARDUP-01"
MAX_CANDIDATES = 200
# what it compares: no JSON column (up to MAX_CANDIDATES rows per invoice, each decoded otherwise)
COLUMNS = (ControlFacts.document_id, ControlFacts.number, ControlFacts.issue_date, ControlFacts.currency,
           ControlFacts.amount)
_CANDIDATES = (sa.select(*COLUMNS)
               .where(ControlFacts.supplier_key == sa.bindparam("key"),
                      ControlFacts.issue_date.between(sa.bindparam("first"), sa.bindparam("last")))
               .order_by(ControlFacts.id.desc()).limit(MAX_CANDIDATES))


def check(ctx: Context, thresholds: dict) -> list:
    f = ctx.facts
    if f.issue_date is None or f.amount is None:
        return []
    window = timedelta(days=int(thresholds["window_days"]))
    rows = ctx.session.execute(_CANDIDATES, {"key": f.supplier_key, "first": f.issue_date - window,
                                             "last": f.issue_date + window}).all()
    amount = Decimal(f.amount).quantize(Decimal("0.01"))
    same = [r for r in rows if r.amount is not None and Decimal(r.amount).quantize(Decimal("0.01")) == amount
            and r.currency == f.currency and (r.number or "") != (f.number or "")]
    if not same:
        return []
    first = same[0]
    params = {"amount": str(amount), "currency": f.currency or "", "number": first.number,
              "document": first.document_id, "issued": first.issue_date.isoformat()}
    return [finding(RULE, terms=("BT-1", "BT-2", "BT-112"), documents=[r.document_id for r in same[:10]],
                    numbers=[r.number for r in same[:10]], **said("near_duplicate", params))]


control = Control("near_duplicate", check)
