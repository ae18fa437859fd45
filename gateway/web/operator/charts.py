"""Charts the server draws as inline SVG from an indicator's ``Table``: readable without JavaScript,
nothing fetched, nothing for the pages' Content-Security-Policy to allow (SVG geometry and
``fill`` are attributes, not styles).

* ``stacked(table)``: one column per row of the table (a day, a week, a kind of wait), its
  segments the table's middle columns, the last column the total;
* ``bars(table)``: one horizontal bar per row, ``(label, value)``.

Each returns the geometry the template draws (``chart.html``), with a title per shape so
a pointer or a screen reader gets the number. ``Words`` says how a row's label, its short form
under the axis and a number read in the page's language (by default as the table has them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from gateway.db.indicators import Table

PALETTE = ("#1f5fbf", "#1a7f37", "#b42318", "#8a5a00", "#6e40c9", "#0e7490", "#be185d", "#4d7c0f", "#9a3412",
           "#475569")
WIDTH, HEIGHT = 720, 220
LEFT, BOTTOM, TOP = 44, 34, 10
LEGEND_ROW = 18
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, VALUE_WIDTH = 20, 6, 170, 70


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"


@dataclass(frozen=True)
class Chart:
    name: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]
    lines: tuple[tuple[float, float, float, float], ...]
    empty: bool


@dataclass(frozen=True)
class Words:
    label: Callable[[Any], str] = str                        # a row's label (a day, a channel) in full
    short: Callable[[Any], str] = lambda v: str(v)[5:] if len(str(v)) == 10 else str(v)   # under the axis
    number: Callable[[Any], str] = lambda v: f"{v:g}" if isinstance(v, float) else str(v)


PLAIN = Words()


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    step = 1
    while step * 10 <= value:
        step *= 10
    for m in (1, 2, 5, 10):
        if m * step >= value:
            return m * step
    return 10 * step


def stacked(table: Table, words: Words = PLAIN) -> Chart:
    series = table.columns[1:-1]
    totals = [float(r[-1] or 0) for r in table.rows]
    top = _nice_max(max(totals, default=0))
    legend_rows = (len(series) + 3) // 4
    plot_h = HEIGHT - BOTTOM - TOP
    n = max(len(table.rows), 1)
    slot = (WIDTH - LEFT - 10) / n
    bar_w = max(slot * 0.7, 1)
    rects, texts = [], []
    lines = [(LEFT, TOP + plot_h, WIDTH - 10, TOP + plot_h), (LEFT, TOP, LEFT, TOP + plot_h)]
    for frac in (0.5, 1):
        y = TOP + plot_h * (1 - frac)
        texts.append(Text(LEFT - 4, y + 4, words.number(top * frac), "end"))
    every = max(1, n // 12)                            # at most about 12 labels under the axis
    for i, row in enumerate(table.rows):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = TOP + plot_h
        for j, name in enumerate(series):
            value = float(row[j + 1] or 0)
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            rects.append(Rect(round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), PALETTE[j % len(PALETTE)],
                              f"{words.label(row[0])} · {name}: {words.number(row[j + 1])}"))
        if i % every == 0:
            texts.append(Text(round(x + bar_w / 2, 1), TOP + plot_h + 14, words.short(row[0]), "middle"))
    legend_y = HEIGHT + 4
    for j, name in enumerate(series):
        lx = LEFT + (j % 4) * 170
        ly = legend_y + (j // 4) * LEGEND_ROW
        rects.append(Rect(lx, ly, 10, 10, PALETTE[j % len(PALETTE)], name))
        texts.append(Text(lx + 14, ly + 9, str(name)[:24]))
    return Chart(table.name, WIDTH, HEIGHT + 8 + legend_rows * LEGEND_ROW, tuple(rects), tuple(texts), tuple(lines),
                 empty=not any(totals))


def bars(table: Table, words: Words = PLAIN) -> Chart:
    values = [float(r[1] or 0) for r in table.rows]
    top = _nice_max(max(values, default=0))
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    rects, texts = [], []
    for i, (row, value) in enumerate(zip(table.rows, values)):
        y = i * (BAR_HEIGHT + BAR_GAP)
        w = round(room * value / top, 1)
        texts.append(Text(LABEL_WIDTH - 8, y + BAR_HEIGHT * 0.7, words.label(row[0]), "end"))
        rects.append(Rect(LABEL_WIDTH, y, w, BAR_HEIGHT, PALETTE[0], f"{words.label(row[0])}: {words.number(row[1])}"))
        texts.append(Text(LABEL_WIDTH + w + 6, y + BAR_HEIGHT * 0.7, words.number(row[1])))
    height = max(len(table.rows), 1) * (BAR_HEIGHT + BAR_GAP)
    return Chart(table.name, WIDTH, height, tuple(rects), tuple(texts), (), empty=not any(values))


def chart_of(table: Table, words: Words = PLAIN) -> Any:
    """The chart a table asks for, or None."""
    if table.chart == "stacked":
        return stacked(table, words)
    if table.chart == "bars":
        return bars(table, words)
    return None
