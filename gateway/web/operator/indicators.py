"""The indicators page (``/indicators``): the numbers of ``gateway.indicators`` as tables and as
charts the server draws in SVG (``charts``), for a period chosen in a GET form (a link one can
share), in the reader's language (``indicator_words``); each table as CSV (``/indicators/<name>.csv``
with the same period; ``dialect=fr`` — the default for a user who chose French — writes ``;`` and
decimal commas for French spreadsheets, ``dialect=en`` ``,`` and decimal points).

Its own blueprint beside the operator pages, with their kit (login, headers, error page).
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

from flask import Blueprint, Response, abort, g, render_template, request

from ...db import indicators
from ..kit.current import gateway
from ..kit.errors import OPERATOR_PAGES, page_errors
from ..kit.headers import page_headers
from ..kit.login import login_required
from . import indicator_words
from .charts import chart_of

bp = Blueprint("indicators", __name__, template_folder="templates")
bp.after_request(page_headers)
page_errors(bp, OPERATOR_PAGES)

DEFAULT_DAYS = 30
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def period_of(args: Mapping[str, str]) -> tuple[indicators.Period, dict[str, str]]:
    """The period the query string asks for (``from``, ``to``: YYYY-MM-DD; ``grain``: day or week),
    by default the last 30 days by day; what cannot be used comes back in the errors, by field."""
    today = datetime.now(timezone.utc).date()
    errors: dict[str, str] = {}
    values: dict[str, date] = {}
    for name, default in (("from", today - timedelta(days=DEFAULT_DAYS - 1)), ("to", today)):
        text = (args.get(name) or "").strip()
        try:
            values[name] = date.fromisoformat(text) if text else default
        except ValueError:
            errors[name] = "expected a date, YYYY-MM-DD"
            values[name] = default
    grain = args.get("grain") or "day"
    try:
        return indicators.Period(values["from"], values["to"], grain), errors
    except indicators.PeriodError as e:
        errors["period"] = str(e)
        return indicators.Period.last(DEFAULT_DAYS, today=today), errors


@bp.get("/indicators")
@login_required
def page():
    period, errors = period_of(request.args)
    with gateway().session() as s:
        tables = [indicator_words.worded(t) for t in indicators.compute(s, period)]
    words = indicator_words.chart_words()
    charts = {t.name: chart_of(t, words) for t in tables}
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), "grain": period.grain}
    dialect = indicator_words.csv_dialect(None, getattr(g.user, "language", None))
    html = render_template("indicators.html", tables=tables, charts=charts, period=period, errors=errors,
                           query=query, cell=indicator_words.cell, dialect=dialect)
    return html, 400 if errors else 200


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA_START) else text


@bp.get("/indicators/<name>.csv")
@login_required
def table_csv(name: str):
    if name not in indicators.NAMES:
        abort(404, f"There is no indicator {name}.")
    period, errors = period_of(request.args)
    if errors:
        abort(400, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    with gateway().session() as s:
        table = indicators.table(s, period, name)
    dialect = indicator_words.csv_dialect(request.args.get("dialect"), getattr(g.user, "language", None))
    table, separator = indicator_words.for_csv(table, dialect)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    filename = f"{name}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(out.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
