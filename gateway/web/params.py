"""Search filters and paging read from a query string, shared by the API and the pages.

Each parser turns ``request.args`` into the keyword arguments of
``Exchange.search`` / ``DocumentRecord.search``, or raises ``BadParameters``
naming every parameter it could not use (the API answers 400 with them, the
pages show them above the list). Empty values count as absent, so a search
form submitted with blank fields means "no filter".

Times: ``since``/``until`` take an ISO 8601 date or date-time; a time without a
zone is UTC; a bare date as ``until`` means "until the end of that day".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping, Optional

from ..db import CHANNELS, DIRECTIONS, DOCUMENT_STATUSES
from ..db.exchanges import STATUSES as EXCHANGE_STATUSES

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class BadParameters(ValueError):
    """Query parameters that cannot be used: ``details`` maps each to what is wrong."""

    def __init__(self, details: dict[str, str]):
        super().__init__("invalid query parameters: " + ", ".join(sorted(details)))
        self.details = details


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


class _Reader:
    """Collects every problem before raising, so one answer names them all."""

    def __init__(self, args: Mapping[str, str]):
        self.args, self.errors = args, {}

    def text(self, name: str) -> Optional[str]:
        value = self.args.get(name)
        value = value.strip() if isinstance(value, str) else value
        return value or None

    def choice(self, name: str, choices: Iterable[str]) -> Optional[str]:
        value, choices = self.text(name), tuple(choices)
        if value is not None and value not in choices:
            self.errors[name] = f"{value!r} is not one of: {', '.join(choices)}"
            return None
        return value

    def integer(self, name: str, *, default: Optional[int] = None, minimum: int = 0,
                maximum: Optional[int] = None) -> Optional[int]:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.errors[name] = f"{value!r} is not a whole number"
            return default
        if number < minimum or (maximum is not None and number > maximum):
            allowed = f"{minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
            self.errors[name] = f"{number} is out of range: give {allowed}"
            return default
        return number

    def boolean(self, name: str) -> Optional[bool]:
        value = self.text(name)
        if value is None:
            return None
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        self.errors[name] = f"{value!r} is not true or false"
        return None

    def day(self, name: str) -> Optional[date]:
        value = self.text(name)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.errors[name] = f"{value!r} is not a date (YYYY-MM-DD)"
            return None

    def moment(self, name: str, *, end_of_day: bool = False) -> Optional[datetime]:
        value = self.text(name)
        if value is None:
            return None
        try:
            if len(value) == 10:
                d = date.fromisoformat(value)
                if end_of_day:
                    d += timedelta(days=1)
                return datetime.combine(d, time(), tzinfo=timezone.utc)
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.errors[name] = f"{value!r} is not an ISO 8601 date or date-time"
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)

    def done(self, values: dict[str, Any]) -> dict[str, Any]:
        if self.errors:
            raise BadParameters(self.errors)
        return {k: v for k, v in values.items() if v is not None}


def _page(r: _Reader) -> Page:
    limit = r.integer("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = r.integer("offset", default=0, minimum=0)
    return Page(limit=limit if limit is not None else DEFAULT_LIMIT, offset=offset or 0)


def page(args: Mapping[str, str]) -> Page:
    """``limit`` (1…500, default 50) and ``offset`` (0 or more)."""
    r = _Reader(args)
    result = _page(r)
    r.done({})
    return result


def exchange_search(args: Mapping[str, str]) -> tuple[dict[str, Any], Page]:
    """Keyword arguments for ``Exchange.search``, and the page wanted."""
    r = _Reader(args)
    p = _page(r)
    return r.done({
        "partner_id": r.integer("partner", minimum=1),
        "status": r.choice("status", EXCHANGE_STATUSES),
        "direction": r.choice("direction", DIRECTIONS),
        "channel": r.choice("channel", CHANNELS),
        "message_id": r.text("message_id"),
        "since": r.moment("since"),
        "until": r.moment("until", end_of_day=True),
    }), p


def document_search(args: Mapping[str, str]) -> tuple[dict[str, Any], Page]:
    """Keyword arguments for ``DocumentRecord.search``, and the page wanted."""
    r = _Reader(args)
    p = _page(r)
    return r.done({
        "number": r.text("number"),
        "partner_id": r.integer("partner", minimum=1),
        "status": r.choice("status", DOCUMENT_STATUSES),
        "issued_from": r.day("issued_from"),
        "issued_to": r.day("issued_to"),
        "since": r.moment("since"),
        "until": r.moment("until", end_of_day=True),
        "valid": r.boolean("valid"),
    }), p
