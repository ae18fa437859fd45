"""How values are written for people and programs alike: the API's JSON (``schemas``), the
pages, the portal's CSV exports.

Every datetime is ISO 8601 in UTC (``2025-01-06T09:00:00Z``), dates are ``YYYY-MM-DD``
and amounts are strings (``"1250.0000"``), so no client reads an amount through a float.
The shapes of the API's records are ``schemas``'s, not this module's.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ...db import Exchange

EXPIRY_WARNING = timedelta(days=30)


def iso(value: Any) -> Any:
    """datetime → ISO 8601 UTC with ``Z``; date → ``YYYY-MM-DD``; Decimal → str; else as is."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def retryable(ex: Exchange) -> bool:
    """What ``Gateway.retry_exchange`` accepts (``Exchange.retryable``)."""
    return ex.retryable
