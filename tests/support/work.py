"""Work counted, not time: how many Python lines a call runs.

A test about speed asserts how the work grows (4x the input, about 4x the lines for a linear
algorithm, 16x for a quadratic one) or that work is not repeated, never how many seconds it
took: the count is the same on a loaded machine, under parallel workers or a debugger.
"""
from __future__ import annotations

import sys
from typing import Any, Callable


def line_events(call: Callable[[], Any]) -> int:
    """The number of Python lines ``call()`` runs (C code, like lxml's or zlib's, counts nothing)."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count
