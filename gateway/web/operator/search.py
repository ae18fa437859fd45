"""The operator pages' search on documents and exchanges: what the portal's search does
(``portal.search``: part of the number or a name, any case; amount range; dates), over every
document, plus channel, status and life-cycle status.

Read with the API's fields (``api.schemas``: the same dates, ids and bounded amounts; text at
most ``TEXT_LIMIT`` characters), blank fields absent; unusable values raise
``params.BadParameters`` naming each. Queries are bounded by the page (``MAX_LIMIT``);
filters on a document's exchange (channel) or on an exchange's documents (number, names,
amounts) are correlated ``EXISTS``/joins on indexed keys (``documents.exchange_id`` is the
unique (exchange, position) index's first column). A part-of-a-word match cannot use a B-tree
index: it scans the rows the other filters leave, within the page's bound.

Documents: ``number``, ``seller``, ``buyer`` (part of, any case), ``amount_min``/``amount_max``
(total with VAT), ``issued_from``/``issued_to``, ``since``/``until`` (received), ``channel``
(the channel it came in by), ``status``, ``lifecycle`` (its life-cycle status; ``none``: none
yet), ``partner``, ``valid``. Exchanges: ``partner``, ``direction``, ``status``, ``channel``,
``message_id``, ``since``/``until``, and ``number``, ``seller``, ``buyer``, ``amount_*`` on the
documents read from it.
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa
from marshmallow import EXCLUDE, Schema

from ... import channels
from ...db import BUSINESS_STATUSES, DIRECTIONS, DOCUMENT_STATUSES, DocumentRecord, Exchange
from ...db.exchanges import STATUSES as EXCHANGE_STATUSES
from ..api import params, schemas
from ..portal.search import contains

TEXT_LIMIT = 200
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
LIFECYCLE_FILTERS = BUSINESS_STATUSES + ("none",)


class _Common(Schema):
    class Meta:
        unknown = EXCLUDE

    number = schemas.Text(TEXT_LIMIT)
    seller = schemas.Text(TEXT_LIMIT)
    buyer = schemas.Text(TEXT_LIMIT)
    amount_min = schemas.Amount()
    amount_max = schemas.Amount()
    partner = schemas.Id()
    channel = schemas.Choice(channels.names())
    since = schemas.Moment()
    until = schemas.Moment(end_of_day=True)
    limit = schemas.Limit(DEFAULT_LIMIT, MAX_LIMIT)
    offset = schemas.Offset()


class DocumentSearch(_Common):
    status = schemas.Choice(DOCUMENT_STATUSES)
    lifecycle = schemas.Choice(LIFECYCLE_FILTERS)
    issued_from = schemas.Day()
    issued_to = schemas.Day()
    valid = schemas.StrictBoolean()


class ExchangeSearch(_Common):
    status = schemas.Choice(EXCHANGE_STATUSES)
    direction = schemas.Choice(DIRECTIONS)
    message_id = schemas.Text(998)


def _read(schema: type[Schema], args: Mapping[str, str]) -> tuple[dict[str, Any], params.Page]:
    values = params.read(schema, args, form=True)
    errors: dict[str, str] = {}
    if values.get("amount_min") is not None and values.get("amount_max") is not None \
            and values["amount_min"] > values["amount_max"]:
        errors["amount_max"] = "is below amount_min"
    if values.get("issued_from") and values.get("issued_to") and values["issued_from"] > values["issued_to"]:
        errors["issued_to"] = "is before issued_from"
    if errors:
        raise params.BadParameters(errors)
    page = params.Page(values.pop("limit"), values.pop("offset"))
    return {k: v for k, v in values.items() if v is not None}, page


def _document_filters(c: Mapping[str, Any]) -> list[Any]:
    """What ``c`` asks of a document's own columns."""
    out: list[Any] = []
    if c.get("number"):
        out.append(contains(DocumentRecord.number, c["number"]))
    if c.get("seller"):
        out.append(contains(DocumentRecord.seller_name, c["seller"]))
    if c.get("buyer"):
        out.append(contains(DocumentRecord.buyer_name, c["buyer"]))
    if c.get("amount_min") is not None:
        out.append(DocumentRecord.total_with_vat >= c["amount_min"])
    if c.get("amount_max") is not None:
        out.append(DocumentRecord.total_with_vat <= c["amount_max"])
    return out


def documents(args: Mapping[str, str]) -> tuple[sa.Select, params.Page]:
    """Documents matching the form, newest received first (without paging), and the page wanted."""
    c, page = _read(DocumentSearch, args)
    q = sa.select(DocumentRecord).where(*_document_filters(c))
    if "partner" in c:
        q = q.where(sa.or_(DocumentRecord.sender_partner_id == c["partner"],
                           DocumentRecord.recipient_partner_id == c["partner"]))
    if "status" in c:
        q = q.where(DocumentRecord.status == c["status"])
    if c.get("lifecycle") == "none":
        q = q.where(DocumentRecord.business_status.is_(None))
    elif "lifecycle" in c:
        q = q.where(DocumentRecord.business_status == c["lifecycle"])
    if "issued_from" in c:
        q = q.where(DocumentRecord.issue_date >= c["issued_from"])
    if "issued_to" in c:
        q = q.where(DocumentRecord.issue_date <= c["issued_to"])
    if "since" in c:
        q = q.where(DocumentRecord.created_at >= c["since"])
    if "until" in c:
        q = q.where(DocumentRecord.created_at < c["until"])
    if "valid" in c:
        q = q.where(DocumentRecord.valid.is_(c["valid"]))
    if "channel" in c:
        q = q.join(Exchange, DocumentRecord.exchange_id == Exchange.id).where(Exchange.channel == c["channel"])
    return q.order_by(DocumentRecord.created_at.desc(), DocumentRecord.id.desc()), page


def exchanges(args: Mapping[str, str]) -> tuple[sa.Select, params.Page]:
    """Exchanges matching the form, newest first (without paging), and the page wanted."""
    c, page = _read(ExchangeSearch, args)
    q = sa.select(Exchange)
    for key in ("partner", "status", "direction", "channel"):
        if key in c:
            q = q.where(getattr(Exchange, "partner_id" if key == "partner" else key) == c[key])
    if "message_id" in c:
        q = q.where(Exchange.message_id == c["message_id"])
    if "since" in c:
        q = q.where(Exchange.created_at >= c["since"])
    if "until" in c:
        q = q.where(Exchange.created_at < c["until"])
    of_documents = _document_filters(c)
    if of_documents:
        q = q.where(sa.exists().where(DocumentRecord.exchange_id == Exchange.id, *of_documents))
    return q.order_by(Exchange.created_at.desc(), Exchange.id.desc()), page
