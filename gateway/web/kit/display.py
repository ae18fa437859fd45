"""How pages show values: times in UTC, and a status as the colour of its badge.

Shared by the operator pages, the portal and extensions' pages (onboarding's staff
pages), so a time or a failed status looks the same on all of them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

_OK = {"processed", "acknowledged", "sent", "delivered", "valid", "routed"}
_BAD = {"failed", "rejected", "invalid"}
_WAITING = {"received", "stored", "queued", "sending", "awaiting_mdn", "retrying", "pending",
            "awaiting_ack", "held"}


def status_class(status: Optional[str]) -> str:
    """The badge colour of a status: ok, bad, waiting or neutral."""
    if status in _OK:
        return "ok"
    if status in _BAD:
        return "bad"
    if status in _WAITING:
        return "waiting"
    return "neutral"


def when(value: Optional[datetime]) -> str:
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
