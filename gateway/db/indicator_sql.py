"""SQL the indicators need that SQLite and PostgreSQL spell differently, and the summary of a
set of values (count, mean, nearest-rank median and p90, max) computed in the database.

The indicators group and summarise in SQL so a request reads its answer, not the record: the
values come from a subquery (``key``, ``value``). ``summaries`` ranks them per key by window
functions (``ROW_NUMBER`` and ``COUNT`` over the key's partition, both engines have them), fine
for a few; ``summarise`` (the delays at scale) counts them per key and value and reads the
percentiles from running counts over those rows, with the bands, in one statement.

Times: SQLite keeps a timestamp as its UTC text and a date as ``YYYY-MM-DD`` (``julianday``
reads both); PostgreSQL subtracts them (``EXTRACT(EPOCH …)`` of an interval, a whole number of
days between dates), its days taken in UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa

Summary = list[Any]           # count, mean, median, p90, max


def seconds_between(dialect: str, later: Any, earlier: Any) -> sa.ColumnElement[float]:
    """``later - earlier`` in seconds (two timestamps)."""
    if dialect == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0
    return sa.extract("epoch", later - earlier)


def utc_day(dialect: str, moment: Any) -> sa.ColumnElement[Any]:
    """The UTC day of a timestamp (a ``date`` on PostgreSQL, its ISO text on SQLite)."""
    if dialect == "sqlite":
        return sa.func.date(moment)
    return sa.cast(sa.func.timezone("UTC", moment), sa.Date)


def days_between(dialect: str, later_day: Any, earlier_day: Any) -> sa.ColumnElement[float]:
    """Whole days from ``earlier_day`` to ``later_day`` (two days: dates, or what ``utc_day`` gives)."""
    if dialect == "sqlite":
        return sa.func.round(sa.func.julianday(later_day) - sa.func.julianday(earlier_day))
    return later_day - earlier_day


def _rank(p: int, n: Any) -> Any:
    """Nearest rank of percentile ``p`` among ``n`` values: ceil(n * p / 100), at least 1."""
    return (n * p + 99) // 100


def summaries(s, values: sa.Subquery, *, by_key: bool = True) -> dict[Optional[str], Summary]:
    """Per key (or for all rows: key None), [count, mean, median, p90, max] of ``values.c.value``
    (raw, not rounded), read from one grouped query over the ranked values."""
    key = values.c.key if by_key else sa.literal(None, sa.String).label("key")
    partition = [values.c.key] if by_key else None
    ranked = sa.select(key.label("key"), values.c.value.label("value"),
                       sa.func.row_number().over(partition_by=partition, order_by=values.c.value).label("rn"),
                       sa.func.count().over(partition_by=partition).label("n")).subquery()
    pick = lambda p: sa.func.max(sa.case((ranked.c.rn == _rank(p, ranked.c.n), ranked.c.value)))   # noqa: E731
    q = (sa.select(ranked.c.key, sa.func.count(), sa.func.avg(ranked.c.value), pick(50), pick(90),
                   sa.func.max(ranked.c.value)).group_by(ranked.c.key))
    return {k: [int(n), float(mean), float(p50), float(p90), float(top)]
            for k, n, mean, p50, p90, top in s.execute(q)}


def band_counts(s, values: sa.Subquery, limits: tuple[tuple[Optional[float], str], ...]) -> dict[str, int]:
    """How many of ``values.c.value`` fall below each limit (the first that holds; None: the rest)."""
    whens = [(values.c.value < limit, label) for limit, label in limits if limit is not None]
    rest = next(label for limit, label in limits if limit is None)
    band = sa.case(*whens, else_=rest).label("band")
    return {b: int(n) for b, n in s.execute(sa.select(band, sa.func.count()).group_by(band))}


@dataclass
class Summarised:
    by_key: dict[Optional[str], Summary]      # per key, as ``summaries`` gives
    whole: Optional[Summary]                   # all the values together (None: there are none)
    bands: dict[str, int]                      # as ``band_counts`` gives (empty without limits)


def summarise(s, values: Any, limits: tuple[tuple[Optional[float], str], ...] = (), *,
              step: Optional[float] = None) -> Summarised:
    """``summaries`` per key and for all, and ``band_counts``, from one statement that sorts no
    value list: the values are counted per key and value (``step``: per value to the nearest
    step, the precision a table shows), and the nearest-rank median and p90 are read from the
    running counts over those few rows. Exact: the k-th value in order is the same before and
    after rounding to a step (rounding keeps the order), so a percentile is the raw one rounded;
    the mean and the max come from the raw values."""
    # each value worked out once (its expression is used four times below)
    values = sa.select(values.c.key, values.c.value).cte("summarised").prefix_with("MATERIALIZED")
    value = values.c.value
    binned = value if step is None else sa.func.round(value / step) * step
    whens = [(value < limit, label) for limit, label in limits if limit is not None]
    band = sa.case(*whens, else_=next(label for limit, label in limits if limit is None)) if limits \
        else sa.literal("", sa.String)
    counted = (sa.select(values.c.key.label("key"), binned.label("b"), band.label("band"), sa.func.count().label("c"),
                         sa.func.sum(sa.cast(value, sa.Float)).label("total"), sa.func.max(value).label("top"))
               .group_by(values.c.key, binned, band).cte("counted").prefix_with("MATERIALIZED"))
    h = counted.c

    def running(keys: list[Any]) -> sa.Subquery:
        """Per bin (within ``keys``): its count, the count up to it, and the count of all."""
        merged = (sa.select(*keys, h.b, sa.func.sum(h.c).label("c"), sa.func.sum(h.total).label("total"),
                            sa.func.max(h.top).label("top")).group_by(*keys, h.b).subquery())
        partition = [merged.c.key] if keys else None
        return sa.select(*([merged.c.key] if keys else []), merged.c.b, merged.c.c, merged.c.total, merged.c.top,
                         sa.cast(sa.func.sum(merged.c.c).over(partition_by=partition, order_by=merged.c.b),
                                 sa.BigInteger).label("cum"),
                         sa.cast(sa.func.sum(merged.c.c).over(partition_by=partition), sa.BigInteger).label("n")
                         ).subquery()

    def stats(r: sa.Subquery) -> list[Any]:
        pick = lambda p: sa.func.min(sa.case((r.c.cum >= _rank(p, r.c.n), r.c.b)))   # noqa: E731
        return [sa.func.sum(r.c.c), sa.func.sum(r.c.total) / sa.func.sum(r.c.c), pick(50), pick(90),
                sa.func.max(r.c.top)]

    per_key, everything = running([h.key]), running([])
    nothing = sa.cast(sa.null(), sa.Float)
    parts = [sa.select(sa.literal("key", sa.String).label("part"), per_key.c.key, *stats(per_key))
             .group_by(per_key.c.key),
             sa.select(sa.literal("all", sa.String), sa.cast(sa.null(), sa.String), *stats(everything))]
    if limits:
        parts.append(sa.select(sa.literal("band", sa.String), h.band, sa.func.sum(h.c), nothing, nothing, nothing,
                               nothing).group_by(h.band))
    out = Summarised({}, None, {})
    for part, key, n, mean, p50, p90, top in s.execute(sa.union_all(*parts)):
        if part == "band":
            out.bands[key] = int(n)
        elif n:
            summary = [int(n), float(mean), float(p50), float(p90), float(top)]
            if part == "key":
                out.by_key[key] = summary
            else:
                out.whole = summary
    return out
