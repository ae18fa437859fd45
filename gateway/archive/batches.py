"""The chain read a batch at a time (keyset pagination), so checking or purging a chain of any
length holds one batch in memory, not the chain.

``by_seq``: the entries in chain order, ``BATCH`` at a time, each batch read after the last
sequence number seen (the primary key), the session emptied between batches. ``by_payload``:
rows of chosen columns ordered by payload hash then sequence number, each batch read after the
last (hash, number) seen; a payload's entries may straddle two batches, ``itertools.groupby``
over the stream joins them. Neither holds a cursor open across batches: whoever reads may write
in between (the purge appends its deletion entries between two batches).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import sqlalchemy as sa

from gateway.db.archive import ArchiveEntry

BATCH = 1000


def by_seq(s, *, batch: int = BATCH) -> Iterator[ArchiveEntry]:
    """Every entry in chain order, read ``batch`` at a time in ``s``; each batch is let go (expunged)
    before the next is read, so keep nothing of an entry but plain values."""
    last = 0
    while True:
        rows = list(s.scalars(sa.select(ArchiveEntry).where(ArchiveEntry.seq > last)
                              .order_by(ArchiveEntry.seq).limit(batch)))
        if not rows:
            return
        last = rows[-1].seq
        yield from rows
        s.expunge_all()
        if len(rows) < batch:
            return


def by_payload(open_session: Callable[[], Any], columns: tuple[Any, ...], *, only: Optional[str] = None,
               batch: int = BATCH, each: Optional[Callable[[Any, Any], Any]] = None) -> Iterator[Any]:
    """Rows of ``columns`` (``ArchiveEntry.sha256`` and ``ArchiveEntry.seq`` first) ordered by
    payload then sequence number, ``batch`` at a time, each batch in a session of its own
    (``open_session()``, a context manager); ``each(session, row)`` (optional) turns a row into
    what is yielded while that session is open; ``only``: one payload's rows."""
    last: Optional[tuple[str, int]] = None
    while True:
        q = sa.select(*columns)
        if only is not None:
            q = q.where(ArchiveEntry.sha256 == only)
        if last is not None:
            q = q.where(sa.or_(ArchiveEntry.sha256 > last[0],
                               sa.and_(ArchiveEntry.sha256 == last[0], ArchiveEntry.seq > last[1])))
        with open_session() as s:
            rows = s.execute(q.order_by(ArchiveEntry.sha256, ArchiveEntry.seq).limit(batch)).all()
            out = [each(s, r) for r in rows] if each is not None else rows
        if not rows:
            return
        last = (rows[-1][0], rows[-1][1])
        yield from out
        if len(rows) < batch:
            return
