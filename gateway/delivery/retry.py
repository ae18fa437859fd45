"""One retry policy: how long to wait after a failed attempt, and when to stop trying.

Outbound exchanges (``delivery.attempts``, a partner may set its own), the
asynchronous MDNs we owe (``channels.as2``) and campaign mail (``onboarding.mailing``)
each keep a ``RetryPolicy`` of their own; the arithmetic is written once, here.

Attempts are counted from 1. After failed attempt ``n`` the next one is due
``delay(n)`` later (``steps[n - 1]``, the last step repeating), unless attempt
``n`` was the last one allowed (``exhausted(n)``: ``n >= max_attempts``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional, Sequence, Union

Step = Union[timedelta, int, float, str]


@dataclass(frozen=True)
class RetryPolicy:
    """``steps``: the waits after attempt 1, 2, … (a ``timedelta`` or seconds); ``max_attempts``:
    attempts in all, the first included."""

    steps: Sequence[Step]
    max_attempts: int

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number ``attempt`` (1-based; past the steps, the last one)."""
        step = self.steps[min(attempt - 1, len(self.steps) - 1)]
        return step if isinstance(step, timedelta) else timedelta(seconds=float(step))

    def exhausted(self, attempt: int) -> bool:
        """True when attempt number ``attempt`` was the last one allowed: give up after it."""
        return attempt >= self.max_attempts

    def next_at(self, now: datetime, attempt: int) -> Optional[datetime]:
        """When to try again after failed attempt ``attempt`` at ``now``; None: give up."""
        return None if self.exhausted(attempt) else now + self.delay(attempt)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], default: RetryPolicy) -> RetryPolicy:
        """A partner's policy: ``retry_backoff_seconds`` (a list of seconds) and ``max_attempts``
        from its options, each one it does not set (or sets empty) taken from ``default``. A step
        is converted only when it is needed (``delay``)."""
        return cls(steps=options.get("retry_backoff_seconds") or default.steps,
                   max_attempts=int(options.get("max_attempts") or default.max_attempts))
