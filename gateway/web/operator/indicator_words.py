"""The indicators in the reader's language: titles, notes, column headers and row labels from the
catalogue, numbers and days as the reader's locale writes them (Babel), for the page and its charts.

``gateway.db.indicators`` computes in English (what the tests and the default CSV read) and marks
its words; a table keeps its title and note as messages with their values, so they are worded
again here whole. A row label that is not ours (a channel's, a format's, a partner's name) is data
and reads as it is. The CSV export for French spreadsheets (``csv_dialect``) writes ``;`` between
cells and decimal commas, headers and labels in French.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Iterable

from ... import i18n
from ...db.indicators import Said, Table
from ..kit import display
from ..kit.reader import current
from .charts import Words

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _word(text: Any, lang: str) -> Any:
    return i18n.gettext(lang, text) if isinstance(text, str) and text and not _ISO_DAY.match(text) else text


def _said(parts: Iterable[Said], lang: str) -> str:
    out = []
    for message, values in parts:
        values = {k: _word(v, lang) for k, v in values.items()}
        out.append(i18n.gettext(lang, message, **values) if values else i18n.gettext(lang, message))
    return "".join(out)


def worded(table: Table, lang: str | None = None) -> Table:
    """``table`` with its words in ``lang`` (the reader's by default); the numbers and days untouched."""
    lang = lang or current()
    if lang == i18n.SOURCE:
        return table
    title = _said([table.title_said], lang) if table.title_said else _word(table.title, lang)
    note = _said(table.note_said, lang) if table.note_said else _word(table.note, lang)
    rows = [[_word(row[0], lang), *row[1:]] if row else row for row in table.rows]
    return replace(table, title=title, note=note, columns=[_word(c, lang) for c in table.columns], rows=rows)


def places(value: float) -> int:
    """The decimals a computed figure has (rates to 0.01, times to 0.1)."""
    text = repr(value)
    return min(len(text.split(".")[1]), 2) if "." in text and not text.endswith(".0") else 0


def cell(value: Any) -> str:
    """A cell as the page shows it: a day, a count or a figure in the reader's locale, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, str) and _ISO_DAY.match(value):
        return display.day(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return display.number(value)
    if isinstance(value, float):
        return display.number(value, places(value))
    return str(value)


def short_day(value: Any) -> str:
    """A day under a chart's axis: ``03-05`` in English (as before), ``05/03`` in French."""
    if isinstance(value, str) and _ISO_DAY.match(value):
        if current() == i18n.SOURCE:
            return value[5:]
        return display.day(value)[:5]
    return str(value)


def chart_words() -> Words:
    return Words(label=cell, short=short_day, number=cell)


# --- CSV -------------------------------------------------------------------------------------

DIALECTS = ("en", "fr")          # en: "," and decimal points, English words; fr: ";" and decimal commas, French


def csv_dialect(asked: str | None, preference: str | None) -> str:
    """The CSV's dialect: the query's ``dialect`` when it names one, else French for a user who chose
    French, else the plain one (scripts)."""
    if asked in DIALECTS:
        return asked
    return "fr" if preference == "fr" else "en"


def csv_cell(value: Any, dialect: str) -> Any:
    """A figure with a decimal comma for French spreadsheets; anything else as it is."""
    if dialect == "fr" and isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return value


def for_csv(table: Table, dialect: str) -> tuple[Table, str]:
    """The table as the dialect writes it, and its cell separator."""
    if dialect == "fr":
        shown = worded(table, "fr")
        return replace(shown, rows=[[csv_cell(v, "fr") for v in row] for row in shown.rows]), ";"
    return table, ","


__all__ = ["worded", "cell", "short_day", "chart_words", "csv_dialect", "for_csv", "DIALECTS"]
