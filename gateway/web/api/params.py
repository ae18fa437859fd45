"""Search filters and paging read from a query string, shared by the API and the operator pages.

The fields are ``schemas``' (``ExchangeArgs``, ``DocumentArgs``, ``PageArgs``): the
API validates its query strings with them before a view runs, and the pages read
their search forms with the same ones, so both accept and refuse the same values
with the same words. A form submitted with blank fields means "no filter", so the
pages drop blank values first (``form=True``); the API takes the query string as
sent (``limit=`` is not a number). ``BadParameters`` names every parameter that
could not be used: the API answers 400 with them, the pages show them above the list.

Times: ``since``/``until`` take an ISO 8601 date or date-time; a time without a
zone is UTC; a bare date as ``until`` means "until the end of that day".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from marshmallow import Schema, ValidationError

from . import schemas
from .schemas import DEFAULT_LIMIT, MAX_LIMIT  # noqa: F401  (the pages' defaults are the API's)


class BadParameters(ValueError):
    """Query parameters that cannot be used: ``details`` maps each to what is wrong."""

    def __init__(self, details: dict[str, str]):
        super().__init__("invalid query parameters: " + ", ".join(sorted(details)))
        self.details = details


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def read(schema: type[Schema], args: Mapping[str, str], *, form: bool = False) -> dict[str, Any]:
    """``args`` (a query string or a form) loaded by ``schema``; ``BadParameters`` otherwise.
    With ``form``, blank values count as absent."""
    data = {k: v for k, v in args.items() if not (form and isinstance(v, str) and not v.strip())}
    try:
        return schema().load(data)
    except ValidationError as e:
        raise BadParameters(schemas.flatten(e.messages)) from None


def search(values: Mapping[str, Any]) -> tuple[dict[str, Any], Page]:
    """Loaded search arguments as the keyword arguments of ``Exchange.search`` /
    ``DocumentRecord.search`` (``partner`` → ``partner_id``), and the page wanted."""
    filters = {("partner_id" if k == "partner" else k): v for k, v in values.items()
               if k not in ("limit", "offset") and v is not None}
    return filters, Page(limit=values["limit"], offset=values["offset"])


def page(args: Mapping[str, str], *, form: bool = True) -> Page:
    """``limit`` (1…500, default 50) and ``offset`` (0 or more)."""
    return search(read(schemas.PageArgs, args, form=form))[1]


def exchange_search(args: Mapping[str, str], *, form: bool = True) -> tuple[dict[str, Any], Page]:
    """Keyword arguments for ``Exchange.search``, and the page wanted."""
    return search(read(schemas.ExchangeArgs, args, form=form))


def document_search(args: Mapping[str, str], *, form: bool = True) -> tuple[dict[str, Any], Page]:
    """Keyword arguments for ``DocumentRecord.search``, and the page wanted."""
    return search(read(schemas.DocumentArgs, args, form=form))
