"""The recipient portal's search: a query string read into criteria, criteria into a query.

Always scoped to one partner's received documents (``recipient_partner_id``);
nothing a visitor types widens that. Filters (all optional, empty = absent):
``number`` (part of the invoice number, any case), ``issued_from``/``issued_to``
(issue date, inclusive), ``sender`` (part of the seller's name, any case),
``amount_min``/``amount_max`` (total with VAT, inclusive), ``status`` (the
life-cycle status; ``none`` for documents without one). Sort: ``sort`` one of
``date`` (issue date, the default), ``amount``, ``number``, ``received``; ``order``
``desc`` (default) or ``asc``; ties broken by id, missing values last. Paging:
``limit`` (1-200, default 25) and ``offset``. Unusable values raise
``params.BadParameters`` naming each.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Mapping, Optional

import sqlalchemy as sa

from ..db import BUSINESS_STATUSES, DocumentRecord
from . import params

SORTS = {
    "date": DocumentRecord.issue_date,
    "amount": DocumentRecord.total_with_vat,
    "number": DocumentRecord.number,
    "received": DocumentRecord.created_at,
}
ORDERS = ("desc", "asc")
STATUS_FILTERS = BUSINESS_STATUSES + ("none",)
DEFAULT_LIMIT, MAX_LIMIT = 25, 200
# what the search form sends: kept on links (paging, sorting) and on the export form
FIELDS = ("number", "issued_from", "issued_to", "sender", "amount_min", "amount_max", "status", "sort", "order",
          "limit")


@dataclass(frozen=True)
class Criteria:
    number: Optional[str] = None
    issued_from: Optional[date] = None
    issued_to: Optional[date] = None
    sender: Optional[str] = None
    amount_min: Optional[Decimal] = None
    amount_max: Optional[Decimal] = None
    status: Optional[str] = None
    sort: str = "date"
    order: str = "desc"
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def _amount(r: params._Reader, name: str) -> Optional[Decimal]:
    value = r.text(name)
    if value is None:
        return None
    try:
        amount = Decimal(value.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or abs(amount) >= Decimal("1e15"):
        r.errors[name] = f"{value!r} is not an amount (e.g. 1250.00)"
        return None
    return amount


def parse(args: Mapping[str, str]) -> Criteria:
    """The criteria in a query string (see the module docstring)."""
    r = params._Reader(args)
    text_limit = 200
    number, sender = r.text("number"), r.text("sender")
    for name, value in (("number", number), ("sender", sender)):
        if value is not None and len(value) > text_limit:
            r.errors[name] = f"at most {text_limit} characters"
    values = dict(
        number=number, sender=sender,
        issued_from=r.day("issued_from"), issued_to=r.day("issued_to"),
        amount_min=_amount(r, "amount_min"), amount_max=_amount(r, "amount_max"),
        status=r.choice("status", STATUS_FILTERS),
        sort=r.choice("sort", SORTS) or "date", order=r.choice("order", ORDERS) or "desc",
        limit=r.integer("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT) or DEFAULT_LIMIT,
        offset=r.integer("offset", default=0, minimum=0) or 0,
    )
    if values["issued_from"] and values["issued_to"] and values["issued_from"] > values["issued_to"]:
        r.errors["issued_to"] = "is before issued_from"
    if values["amount_min"] is not None and values["amount_max"] is not None \
            and values["amount_min"] > values["amount_max"]:
        r.errors["amount_max"] = "is below amount_min"
    return Criteria(**r.done(values))


def _contains(column, text: str):
    """``column`` contains ``text``, any case, with ``%`` and ``_`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(column).like(f"%{escaped.lower()}%", escape="\\")


def query(partner_id: int, c: Criteria) -> sa.Select:
    """The partner's received documents matching ``c``, sorted (without paging)."""
    q = sa.select(DocumentRecord).where(DocumentRecord.recipient_partner_id == partner_id)
    if c.number:
        q = q.where(_contains(DocumentRecord.number, c.number))
    if c.sender:
        q = q.where(_contains(DocumentRecord.seller_name, c.sender))
    if c.issued_from:
        q = q.where(DocumentRecord.issue_date >= c.issued_from)
    if c.issued_to:
        q = q.where(DocumentRecord.issue_date <= c.issued_to)
    if c.amount_min is not None:
        q = q.where(DocumentRecord.total_with_vat >= c.amount_min)
    if c.amount_max is not None:
        q = q.where(DocumentRecord.total_with_vat <= c.amount_max)
    if c.status == "none":
        q = q.where(DocumentRecord.business_status.is_(None))
    elif c.status:
        q = q.where(DocumentRecord.business_status == c.status)
    column = SORTS[c.sort]
    first = column.asc() if c.order == "asc" else column.desc()
    tie = DocumentRecord.id.asc() if c.order == "asc" else DocumentRecord.id.desc()
    return q.order_by(first.nulls_last(), tie)


def senders(session, partner_id: int) -> list[str]:
    """The seller names on the partner's documents (for the search form's suggestions)."""
    return [n for n in session.scalars(
        sa.select(DocumentRecord.seller_name).where(DocumentRecord.recipient_partner_id == partner_id,
                                                    DocumentRecord.seller_name.is_not(None))
        .distinct().order_by(DocumentRecord.seller_name).limit(200))]
