"""The ranges numbers from a URL, a query string or a body must fall in before they reach the database.

Record ids are signed 64-bit integers in SQLite and PostgreSQL alike: a larger
number cannot name a record, and handing it to the driver raises
``OverflowError`` (a 500). So every id the web app reads is checked against
``1..MAX_ID`` first, by one of two means:

* in a URL, Flask's ``int`` converter is replaced on the app (``install``) by
  ``IdConverter``, which matches ``1..MAX_ID`` only: ``/partners/<int:partner_id>``
  with a larger number is simply not a route (a 404), like ``/partners/abc``;
* in a query string or a body, the marshmallow fields of ``gateway.web.api.schemas``
  (``Id``, ``Offset``, ``Limit``, ``Amount``) refuse values out of range with a
  message naming the range (a 400 in the API, a form error on the pages).

The OpenAPI description reads its ``minimum``/``maximum`` from these same bounds.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2 ** 63 - 1           # the largest signed 64-bit integer: SQLite's INTEGER, PostgreSQL's bigint
MAX_OFFSET = MAX_ID
MAX_AMOUNT_DIGITS = 15          # amounts searched for: below 10^15 (a quadrillion), as the invoice columns hold
MAX_AMOUNT_DECIMALS = 6
MAX_AMOUNT_TEXT = 40


def _up_to(limit: int) -> str:
    """A regular expression matching the decimal numbers 1..``limit``, without leading zeros."""
    digits = str(limit)
    parts = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, ch in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(ch) > low:
            parts.append(f"{digits[:i]}[{low}-{int(ch) - 1}][0-9]{{{len(digits) - i - 1}}}")
    parts.append(digits)
    return "(?:" + "|".join(parts) + ")"


class IdConverter(IntegerConverter):
    """``<int:name>`` for record ids: ``1..MAX_ID`` in plain digits; anything else matches no
    route. The range is in the pattern itself, not only checked after a match: a number too
    large must not match a rule at all (else werkzeug would answer a PATCH to it 405, having
    seen the path match a GET rule)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
        if (self.min, self.max, self.signed, self.fixed_digits) == (1, MAX_ID, False, 0):
            self.regex = _ID_PATTERN


_ID_PATTERN = _up_to(MAX_ID)


def install(app: Flask) -> None:
    """Make ``<int:…>`` in every route of ``app`` an id in range (call before registering blueprints)."""
    app.url_map.converters["int"] = IdConverter


def record_id(text: str) -> int:
    """``text`` as a record id (plain digits, ``1..MAX_ID``); ``ValueError`` otherwise. Usable as
    werkzeug's ``request.args.get(name, type=record_id)``, which then gives the default."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise ValueError(f"{text!r} is not a record id")
    return int(text)


def offset(text: str) -> int:
    """``text`` as an offset (plain digits, ``0..MAX_OFFSET``); ``ValueError`` otherwise."""
    if not text.isascii() or not text.isdigit() or int(text) > MAX_OFFSET:
        raise ValueError(f"{text!r} is not an offset")
    return int(text)


def amount(text: str) -> Optional[Decimal]:
    """``text`` as an amount (``1250.00``, ``1 250,00``), or None when it is not one: finite, below
    10^15 in size and with at most 6 decimals. The digits and exponent are looked at before any
    arithmetic, so ``1e999999999`` is refused instead of overflowing the decimal context."""
    text = text.replace(" ", "").replace(",", ".")
    if not text or len(text) > MAX_AMOUNT_TEXT:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -MAX_AMOUNT_DECIMALS:
        return None
    if value and value.adjusted() >= MAX_AMOUNT_DIGITS:
        return None
    return value
