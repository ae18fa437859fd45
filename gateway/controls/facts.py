"""What the controls know of an invoice and of its supplier's history.

The supplier is named as the duplicate rule names it (``gateway.db.summarise``): its VAT
identifier, else its legal identifier, else its electronic address, else its name. Its history
is its last ``ControlFacts`` rows: one indexed query (supplier key, id), limited.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Optional

import sqlalchemy as sa

from gateway.db import ControlFacts
from gateway.db.controls import SUPPLIER_KEY_LENGTH

MAX_HISTORY = 200            # no threshold can ask for more rows than this


def supplier_key(rec: Any) -> Optional[str]:
    """The supplier as the duplicate key sees it, from a document record's columns."""
    if rec.seller_vat_id:
        key = rec.seller_vat_id
    elif rec.seller_id:
        key = f"{rec.seller_id_scheme or ''}:{rec.seller_id}"
    elif rec.seller_endpoint_id:
        key = f"{rec.seller_endpoint_scheme or ''}:{rec.seller_endpoint_id}"
    else:
        key = rec.seller_name or ""
    key = key.strip().upper()
    return key[:SUPPLIER_KEY_LENGTH] or None


def normalise_account(value: Optional[str]) -> Optional[str]:
    """An account identifier (an IBAN, usually) compared without blanks, dashes or case."""
    if not value:
        return None
    text = re.sub(r"[\s\-.]", "", value).upper()
    return text[:64] or None


def accounts_of(invoice: Any) -> list[str]:
    """The accounts the invoice asks to be paid to (BT-84 of each credit transfer), in order."""
    instructions = getattr(invoice, "payment_instructions", None)
    out: list[str] = []
    for transfer in getattr(instructions, "credit_transfers", None) or ():
        account = normalise_account(transfer.account_identifier)
        if account and account not in out:
            out.append(account)
    return out


def rate_text(rate: Decimal) -> str:
    """``Decimal('20.00')`` -> ``"20"``, ``Decimal('5.50')`` -> ``"5.5"``."""
    text = format(rate.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def vat_rates_of(invoice: Any) -> list[str]:
    """The VAT rates of the invoice's breakdown (BT-119), as text, in order."""
    out: list[str] = []
    for b in getattr(invoice, "vat_breakdown", None) or ():
        if b.rate is not None:
            text = rate_text(Decimal(b.rate))
            if text not in out:
                out.append(text)
    return out


def mask(account: str) -> str:
    """Only the last four characters shown: enough to tell accounts apart, not to pay into one."""
    return "****" + account[-4:]


def new_facts(rec: Any, invoice: Any, key: str, organisation_id: Optional[int]) -> ControlFacts:
    amount = rec.total_with_vat if rec.total_with_vat is not None else rec.amount_due
    return ControlFacts(document_id=rec.id, supplier_key=key, organisation_id=organisation_id, number=rec.number,
                        issue_date=rec.issue_date, currency=rec.currency, amount=amount,
                        accounts=accounts_of(invoice), vat_rates=vat_rates_of(invoice))


# what the checks read of a past invoice: plain rows (attribute access like the records), read
# without building an ORM object per row (up to MAX_HISTORY rows, inside the recording transaction)
ROW = (ControlFacts.id, ControlFacts.document_id, ControlFacts.number, ControlFacts.issue_date,
       ControlFacts.currency, ControlFacts.amount, ControlFacts.vat_rates)


_HISTORY: dict[tuple[bool, bool, int], Any] = {}


def _history_statement(by_currency: bool, with_amount: bool, limit: int):
    """Built once per shape and limit (a handful), then only bound: no statement built per invoice."""
    shape = (by_currency, with_amount, limit)
    if shape not in _HISTORY:
        q = sa.select(*ROW).where(ControlFacts.supplier_key == sa.bindparam("key"))
        if by_currency:
            q = q.where(ControlFacts.currency == sa.bindparam("currency"))
        if with_amount:
            q = q.where(ControlFacts.amount.is_not(None))
        _HISTORY[shape] = q.order_by(ControlFacts.id.desc()).limit(limit)
    return _HISTORY[shape]


def history(s, key: str, limit: int, *, currency: Optional[str] = None,
            with_amount: bool = False, with_rates: bool = False) -> list[Any]:
    """The supplier's last ``limit`` invoices (newest first), at most ``MAX_HISTORY``, as rows
    with the columns of ``ROW``."""
    q = _history_statement(currency is not None, with_amount, max(1, min(int(limit), MAX_HISTORY)))
    params = {"key": key} if currency is None else {"key": key, "currency": currency}
    rows = s.execute(q, params).all()
    return [r for r in rows if r.vat_rates] if with_rates else list(rows)
