"""How pages show values: times in the reader's time zone, amounts in the invoice's precision, and a
status as the colour of its badge.

Shared by the operator pages, the portal and extensions' pages (onboarding's staff
pages), so a time or a failed status looks the same on all of them.

Times: the logged-in user's own time zone (``User.time_zone``, set on the operator pages'
preferences), else ``DEFAULT_TIME_ZONE`` (Europe/Paris: the gateway's people are in France
first); the zone's abbreviation is written after the time (``CET``, ``CEST``), so nobody
takes it for UTC. Amounts: the digits the invoice carries (the database keeps four
decimals; trailing zeros beyond the currency's minor unit are dropped, those within it
kept: ``120.0000 EUR`` → ``120.00``, ``15.5050`` → ``15.505``, ``JPY 1200.0000`` → ``1,200``).

Both are written by Babel in the page's language (``kit.language``): ``06/01/2025 10:00:00 CET``
and ``1 234,50`` in French, ``2025-01-06 10:00:00 CET`` and ``1,234.50`` in English; outside a
request, in English.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal


from ... import i18n
from .reader import DEFAULT_TIME_ZONE, current as _reader_language, zone_name  # noqa: F401 - zone_name: asked here

_TIME_PATTERNS = {"en": "yyyy-MM-dd HH:mm:ss", "fr": "dd/MM/yyyy HH:mm:ss"}
_DAY_PATTERNS = {"en": "yyyy-MM-dd", "fr": "dd/MM/yyyy"}

_OK = {"processed", "acknowledged", "sent", "delivered", "valid", "routed", "accepted", "paid", "payment_sent"}
_BAD = {"failed", "rejected", "invalid", "refused"}
_WAITING = {"received", "stored", "queued", "sending", "awaiting_mdn", "retrying", "pending",
            "awaiting_ack", "held", "duplicate", "disputed", "pending_approval"}

# ISO 4217 minor units that are not 2 (the others, and unknown codes, have 2)
_MINOR_UNITS = {"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
                "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
                "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3, "CLF": 4, "UYW": 4}


def status_class(status: Optional[str]) -> str:
    """The badge colour of a status: ok, bad, waiting or neutral."""
    if status in _OK:
        return "ok"
    if status in _BAD:
        return "bad"
    if status in _WAITING:
        return "waiting"
    return "neutral"


@lru_cache(maxsize=None)
def time_zones() -> tuple[str, ...]:
    """The IANA zones a user may choose (for the preferences form)."""
    return tuple(sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def when(value: Optional[datetime]) -> str:
    """A moment in the reader's time zone, its abbreviation after it: ``2025-01-06 10:00:00 CET``."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    local = value.astimezone(_zone(zone_name()))
    lang = _language()
    return f"{format_datetime(local, _TIME_PATTERNS[lang], locale=i18n.locale(lang))} {local.strftime('%Z')}"


def day(value: Any) -> str:
    """A date in the page's language: ``2026-03-05`` in English (as the record has it), ``05/03/2026`` in French."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str) and len(value) == 10:        # an ISO date kept as text (evidence, JSON)
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, date):
        return str(value)
    lang = _language()
    return format_date(value, _DAY_PATTERNS[lang], locale=i18n.locale(lang))


def amount(value: Any, currency: Optional[str] = None) -> str:
    """An amount with the decimals the invoice gave it (at least the currency's minor unit)."""
    if value is None:
        return "—"
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        return str(d)
    minor = _MINOR_UNITS.get((currency or "").upper(), 2)
    exponent = d.normalize().as_tuple().exponent
    places = max(minor, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return number(d, places)


def number(value: Any, places: int = 0) -> str:
    """A number in the page's language with exactly ``places`` decimals (``1 234,50`` / ``1,234.50``)."""
    if value is None:
        return "—"
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        return str(d)
    pattern = "#,##0" + ("." + "0" * places if places > 0 else "")
    return format_decimal(d, pattern, locale=i18n.locale(_language()), decimal_quantization=True)


def _language() -> str:
    return _reader_language()


def helpers() -> dict[str, Any]:
    """What every page template gets from here (and the words for the record's codes)."""
    from .words import helpers as words
    return {"status_class": status_class, "when": when, "day": day, "amount": amount, "number": number, **words()}
