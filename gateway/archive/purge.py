"""Deletion after retention, and only then: the chain records it, the entry stays, the content goes.

A payload may be named by several entries (the same bytes as an original and as a rendering,
or received twice): it goes when every one of them is past its retention. For each such entry
a ``deletion`` entry is appended first (committed), then the file is removed: a crash between
the two leaves content the chain says is gone, which the next purge removes; never the other
way round (content gone and the chain silent), which ``verify`` would rightly call a loss.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator, Optional

import sqlalchemy as sa

from gateway.db.archive import ArchiveEntry
from gateway.model.errors import EdigateError
from .chain import NewEntry, append
from .retention import Policy, load_policy, retain_until


class RetentionNotOver(EdigateError):
    """A payload whose retention has not ended cannot be deleted."""


@dataclass
class Item:
    sha256: str
    size: int
    until: datetime                      # the latest retention end among its entries
    entries: list[tuple[int, str, str, int]] = field(default_factory=list)   # (seq, kind, what, years)
    present: bool = True


@dataclass
class Plan:
    due: list[Item] = field(default_factory=list)
    kept: int = 0
    deleted: list[Item] = field(default_factory=list)


def _groups(s, only: Optional[str]) -> Iterator[tuple[str, list[ArchiveEntry]]]:
    q = sa.select(ArchiveEntry).where(ArchiveEntry.kind != "deletion")
    if only:
        q = q.where(ArchiveEntry.sha256 == only)
    rows = s.scalars(q.order_by(ArchiveEntry.sha256, ArchiveEntry.seq).execution_options(yield_per=500))
    yield from itertools.groupby(rows, key=lambda e: e.sha256)


def plan(gw, *, now: datetime, only: Optional[str] = None, policy: Optional[Policy] = None) -> Plan:
    """What may go now (payloads whose every entry is past retention and not yet deleted)."""
    policy = policy or load_policy(gw.settings.archive_retention)
    out = Plan()
    with gw.session() as s:
        deleted = set(s.scalars(sa.select(ArchiveEntry.ref_seq).where(ArchiveEntry.kind == "deletion")))
        for sha, group in _groups(s, only):
            entries = list(group)
            item = Item(sha, entries[0].size, entries[0].at, present=gw.payloads.exists(sha))
            for e in entries:
                until, what, years = retain_until(s, e, policy)
                item.until = max(item.until, until)
                item.entries.append((e.seq, e.kind, what, years))
            if only and item.until > now:
                first = max(item.entries, key=lambda t: t[3])
                raise RetentionNotOver(
                    f"payload {sha} must be kept until {item.until.date().isoformat()} (entry #{first[0]}, "
                    f"{first[1]} of a {first[2]}: {first[3]} years); nothing deleted")
            pending = [t for t in item.entries if t[0] not in deleted]
            if item.until > now:
                out.kept += 1
            elif pending or item.present:
                item.entries = pending
                out.due.append(item)
    if only and not out.due:
        raise RetentionNotOver(f"payload {only} is not in the archive or was deleted already")
    return out


def purge(gw, *, now: Optional[datetime] = None, dry_run: bool = False, only: Optional[str] = None) -> Plan:
    """Delete every payload past its retention (``only``: that one, refused if not yet due)."""
    now = now or datetime.now(timezone.utc)
    result = plan(gw, now=now, only=only)
    if dry_run:
        return result
    for item in result.due:
        with gw.session() as s:
            owners = {e.seq: e for e in s.scalars(sa.select(ArchiveEntry).where(
                ArchiveEntry.seq.in_([t[0] for t in item.entries])))}
            append(s, [NewEntry("deletion", item.sha256, item.size, f"entry:{seq}",
                                exchange_id=owners[seq].exchange_id, document_id=owners[seq].document_id,
                                ref_seq=seq, note=f"retention of {years} years ({what}) ended "
                                                  f"{item.until.date().isoformat()}")
                       for seq, _kind, what, years in item.entries], at=now)
        gw.payloads.remove(item.sha256)
        result.deleted.append(item)
    return result
