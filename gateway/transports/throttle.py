"""A rate limit shared by a process's threads: at most so many sends a minute per key.

The SMTP ``Mailer`` uses one for its own rate; onboarding's campaign sender one
keyed by campaign.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


class Throttle:
    """At most ``rate`` sends a minute per key (a campaign), shared by a process's threads: each
    caller gets the next free slot and sleeps until it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._next: dict[Any, float] = {}
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self, key: Any, rate_per_minute: int) -> None:
        self.sleep(self.reserve(key, rate_per_minute))

    def reserve(self, key: Any, rate_per_minute: int) -> float:
        """Take the next free slot; the seconds to wait for it (``sleep`` them before sending)."""
        interval = 60.0 / rate_per_minute
        with self._lock:
            now = self._clock()
            at = max(now, self._next.get(key, now))
            self._next[key] = at + interval
        return at - now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)
