"""The declarative base, column types and helpers every table module shares.

* Timestamps are timezone-aware UTC in Python everywhere (``UTCDateTime``):
  PostgreSQL stores ``timestamptz``; SQLite, which has no time zones, stores
  the UTC wall time and gets ``tzinfo=UTC`` back. Naive datetimes are refused.
* JSON is ``JSONB`` on PostgreSQL and JSON text on SQLite.
* Constraint and index names follow one convention so migrations can name
  them (and SQLite batch migrations can find them).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase

from gateway.model.errors import EdigateError

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC ``datetime`` on every engine; naive values are a bug and raise."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give timestamps a time zone (UTC)")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Amounts: exact NUMERIC on PostgreSQL. SQLite keeps them as REAL and SQLAlchemy
# rounds them back to 4 decimals: exact for the totals of any real invoice
# (under 10^11). The original document stays the authority either way.
Amount = sa.Numeric(19, 4, asdecimal=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


def one_of(column: str, values: Iterable[str], name: str) -> sa.CheckConstraint:
    """A CHECK that ``column`` is one of ``values`` (for small, stable vocabularies)."""
    allowed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def require_one_of(value: Optional[str], allowed: Iterable[str], what: str, *, nullable: bool = False) -> Optional[str]:
    """Python-side check for vocabularies that grow with the code (channels, statuses, formats)."""
    if value is None and nullable:
        return None
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of: {', '.join(allowed)}")
    return value


class StatusError(EdigateError, ValueError):
    """A status change the life cycle does not allow (e.g. leaving a final state)."""


def check_transition(transitions: Mapping[Optional[str], frozenset[str]], old: Optional[str], new: str,
                     what: str) -> None:
    allowed = transitions.get(old, frozenset())
    if new not in allowed:
        start = "a new" if old is None else f"{old!r}"
        choices = ", ".join(sorted(allowed)) or "nothing (final state)"
        raise StatusError(f"{what}: {start} -> {new!r} is not allowed; from {start} it may go to {choices}")


# Channels documents come in and go out by (transports know how; this is the vocabulary).
def require_channel(value: Optional[str], *, nullable: bool = False) -> Optional[str]:
    """A channel the gateway knows (``gateway.delivery.channel.registry``: the channels are
    declared there, not here)."""
    from gateway.delivery.channel import registry      # a leaf module; it loads channels when asked
    return require_one_of(value, registry.names(), "channel", nullable=nullable)


class StatusHistory:
    """Mixin: a current ``status`` (+ when, + why) and an append-only history of changes.

    The class provides ``TRANSITIONS`` ({old status or None: allowed next statuses}),
    ``_event(status, at, reason)`` building a history row, and a ``history`` relationship.
    History rows are ordered by (at, id); times never go backwards within one record
    (a change dated before the previous one is recorded at the previous one's time), so
    that order is the order the changes were made in.
    """

    TRANSITIONS: Mapping[Optional[str], frozenset[str]] = {}
    SENDING_STATUS: Optional[str] = None     # entering it counts an attempt

    def _event(self, status: str, at: datetime, reason: Optional[str]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def set_status(self, status: str, reason: Optional[str] = None, *, at: Optional[datetime] = None) -> None:
        current = getattr(self, "status", None)
        check_transition(self.TRANSITIONS, current, status, f"{type(self).__name__} {getattr(self, 'id', None)}")
        at = at or utcnow()
        if at.tzinfo is None:
            raise ValueError("naive datetime: give status times a time zone (UTC)")
        previous = getattr(self, "status_at", None)
        if previous is not None and at < previous:
            at = previous
        self.status = status
        self.status_at = at
        self.reason = reason
        if status == self.SENDING_STATUS:
            self.attempts = (self.attempts or 0) + 1
        self.history.append(self._event(status, at, reason))

    def note(self, reason: str, *, at: Optional[datetime] = None) -> None:
        """A history entry without a status change (e.g. a duplicate Message-ID seen again)."""
        at = max(at or utcnow(), self.status_at)
        self.history.append(self._event(self.status, at, reason))

    def retry_at(self, when: datetime, reason: str, status: str = "retrying") -> None:
        """Give up this attempt for now (with why) and come back at ``when``."""
        self.set_status(status, reason)
        self.next_attempt_at = when
