"""Waiting for a condition, bounded: the one way tests wait for another thread or process.

A test never sleeps a fixed time and then looks; it polls for the condition it needs and
fails, naming what it waited for, if the condition does not hold within a generous bound
(the bound guards against a hang, it is not a measure of speed).
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """``predicate()``'s first truthy value, polled every ``interval`` s; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
