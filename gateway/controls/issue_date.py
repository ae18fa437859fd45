"""CTRL-DATE-01 / -02: an issue date (BT-2) in the future, or long past, counted in days from the
day the invoice is received (UTC). A day of tolerance by default for the future: a supplier a
few time zones ahead dates its invoice tomorrow."""
from __future__ import annotations

from datetime import timedelta

from .base import Context, Control, finding
from .wording import said

FUTURE, PAST = "CTRL-DATE-01", "CTRL-DATE-02"


def check(ctx: Context, thresholds: dict) -> list:
    issued = ctx.facts.issue_date
    if issued is None:
        return []
    today = ctx.now.date()
    ahead = (issued - today).days
    if ahead > thresholds["future_days"]:
        params = {"issued": issued.isoformat(), "days": ahead, "received": today.isoformat(),
                  "limit": thresholds["future_days"]}
        return [finding(FUTURE, terms=("BT-2",), days=ahead, **said("issue_date_future", params))]
    behind = (today - issued).days
    if behind > thresholds["past_days"]:
        params = {"issued": issued.isoformat(), "days": behind, "received": today.isoformat(),
                  "limit": thresholds["past_days"]}
        return [finding(PAST, terms=("BT-2",), days=-behind, **said("issue_date_past", params))]
    return []


control = Control("issue_date", check)
