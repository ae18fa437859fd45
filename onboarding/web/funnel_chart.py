"""The funnel as a chart the server draws: SVG bars, no script, nothing for the CSP to allow.

Inline ``style`` attributes would need ``'unsafe-inline'``; SVG geometry attributes
(``width``, ``x``, ``fill``) are not styles, so a bar's length can be written into
the page as data. ``bars(stages)`` gives what the template draws: each stage's
label, count, share of those invited, and its bar's width in the chart's units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..tracking import StageCount

WIDTH = 600            # the chart's drawing width (viewBox units), bars included
LABEL_WIDTH = 170
VALUE_WIDTH = 110
BAR_HEIGHT = 22
GAP = 8
COLOURS = {"enrolled": "#1a7f37", "bounced": "#b42318", "opted_out": "#8a5a00"}
DEFAULT_COLOUR = "#1f5fbf"


@dataclass(frozen=True)
class Bar:
    stage: str
    label: str
    count: int
    percent: float          # of those invited
    width: float            # bar length in viewBox units
    y: float
    colour: str
    exit: bool


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    width: int
    height: int
    bar_x: int
    bar_width: int
    bar_height: int
    value_x: int

    def bar(self, stage: str) -> Bar:
        return next(b for b in self.bars if b.stage == stage)


def bars(stages: Iterable[StageCount]) -> Chart:
    """The chart of a funnel (``onboarding.tracking.funnel``): bars scaled to those invited."""
    stages = list(stages)
    invited = next((s.count for s in stages if s.stage == "invited"), 0)
    scale = max([invited] + [s.count for s in stages]) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    out = []
    y = 0.0
    for s in stages:
        if s.exit and out and not out[-1].exit:
            y += GAP * 2                 # the exits stand apart from the stages
        out.append(Bar(stage=s.stage, label=s.label, count=s.count,
                       percent=round(100.0 * s.count / invited, 1) if invited else 0.0,
                       width=round(room * s.count / scale, 1), y=y,
                       colour=COLOURS.get(s.stage, DEFAULT_COLOUR), exit=s.exit))
        y += BAR_HEIGHT + GAP
    return Chart(bars=tuple(out), width=WIDTH, height=int(y), bar_x=LABEL_WIDTH, bar_width=room,
                 bar_height=BAR_HEIGHT, value_x=LABEL_WIDTH + room + 8)
