"""CTRL-BANK-01: the supplier asks to be paid into an account that is not the one on record for it.

The classic payment-redirection fraud: a message "from the supplier" with new bank details.
The account on record is learned from the supplier's first invoice that names one (nothing
to compare it with yet), or confirmed or set by an operator (``controls.confirm``). An
invoice naming any other account is held, never silently accepted, until an operator
confirms the new account (after checking it with the supplier by a known channel); the
evidence shows the previous account masked but for its last four characters, the new one,
and since when the previous one is on record. An invoice naming no account is not judged.
"""
from __future__ import annotations

import sqlalchemy as sa

from gateway.db import SupplierAccount

from .base import Context, Control, finding
from .facts import mask
from .wording import said

RULE = "CTRL-BANK-01"


def on_record(s, key: str) -> list[SupplierAccount]:
    return list(s.scalars(sa.select(SupplierAccount).where(
        SupplierAccount.supplier_key == key, SupplierAccount.retired_at.is_(None)).order_by(SupplierAccount.id)))


def check(ctx: Context, thresholds: dict) -> list:
    accounts = list(ctx.facts.accounts or ())
    if not accounts:
        return []
    known = on_record(ctx.session, ctx.supplier_key)
    if not known:                      # the first account we see for this supplier: learned
        ctx.session.add_all(SupplierAccount(supplier_key=ctx.supplier_key, account=a, source="learned",
                                            since=ctx.now, document_id=ctx.record.id) for a in accounts)
        return []
    known_accounts = {k.account for k in known}
    new = [a for a in accounts if a not in known_accounts]
    if not new:
        return []
    previous = [{"account": mask(k.account), "since": k.since.isoformat(), "source": k.source} for k in known]
    evidence = {"supplier": ctx.supplier_key, "new_accounts": new, "previous": previous}
    first = previous[0]
    params = {"account": new[0], "previous": first["account"], "since": first["since"][:10]}
    return [finding(RULE, terms=("BT-84",), hold=True, evidence=evidence, **said("bank_account_changed", params))]


control = Control("bank_account", check)
