"""The recipient portal's search: a query string read into criteria, criteria into a query.

Always scoped to one partner's received documents (``recipient_partner_id``);
nothing a visitor types widens that. Filters (all optional, empty = absent):
``number`` (part of the invoice number, any case), ``issued_from``/``issued_to``
(issue date, inclusive), ``sender`` (part of the seller's name, any case),
``amount_min``/``amount_max`` (total with VAT, inclusive), ``status`` (the
life-cycle status; ``none`` for documents without one). Sort: ``sort`` one of
``date`` (issue date, the default), ``amount``, ``number``, ``received``; ``order``
``desc`` (default) or ``asc``; ties broken by id, missing values last. Paging:
``limit`` (1-200, default 25) and ``offset`` (0 to 2^63-1). Amounts are finite, below
10^15, with at most 6 decimals. Unusable values raise ``params.BadParameters`` naming each.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping, Optional

import sqlalchemy as sa
from marshmallow import EXCLUDE, Schema

from ...db import BUSINESS_STATUSES, DocumentRecord
from ..api import params, schemas

SORTS = {
    "date": DocumentRecord.issue_date,
    "amount": DocumentRecord.total_with_vat,
    "number": DocumentRecord.number,
    "received": DocumentRecord.created_at,
}
ORDERS = ("desc", "asc")
STATUS_FILTERS = BUSINESS_STATUSES + ("none",)
DEFAULT_LIMIT, MAX_LIMIT = 25, 200
TEXT_LIMIT = 200
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


class PortalSearch(Schema):
    """The search form, read with the API's fields (``schemas``): the same ids, offsets, dates and
    bounded amounts (``1e999999999`` is a form error, not an overflow)."""

    class Meta:
        unknown = EXCLUDE

    number = schemas.Text(TEXT_LIMIT)
    sender = schemas.Text(TEXT_LIMIT)
    issued_from = schemas.Day()
    issued_to = schemas.Day()
    amount_min = schemas.Amount()
    amount_max = schemas.Amount()
    status = schemas.Choice(STATUS_FILTERS)
    sort = schemas.Choice(SORTS, load_default="date")
    order = schemas.Choice(ORDERS, load_default="desc")
    limit = schemas.Limit(DEFAULT_LIMIT, MAX_LIMIT)
    offset = schemas.Offset()


def parse(args: Mapping[str, str]) -> Criteria:
    """The criteria in a query string or form (see the module docstring); blank fields are absent."""
    values = params.read(PortalSearch, args, form=True)
    errors: dict[str, str] = {}
    if values.get("issued_from") and values.get("issued_to") and values["issued_from"] > values["issued_to"]:
        errors["issued_to"] = "is before issued_from"
    if values.get("amount_min") is not None and values.get("amount_max") is not None \
            and values["amount_min"] > values["amount_max"]:
        errors["amount_max"] = "is below amount_min"
    if errors:
        raise params.BadParameters(errors)
    return Criteria(**{k: v for k, v in values.items() if v is not None})


def contains(column, text: str):
    """``column`` contains ``text``, any case, with ``%`` and ``_`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(column).like(f"%{escaped.lower()}%", escape="\\")


def query(partner_id: int, c: Criteria) -> sa.Select:
    """The partner's received documents matching ``c``, sorted (without paging)."""
    q = sa.select(DocumentRecord).where(DocumentRecord.recipient_partner_id == partner_id)
    if c.number:
        q = q.where(contains(DocumentRecord.number, c.number))
    if c.sender:
        q = q.where(contains(DocumentRecord.seller_name, c.sender))
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
