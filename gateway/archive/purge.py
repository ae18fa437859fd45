"""Deletion after retention, and only then: the chain records it, the entry stays, the content goes.

A payload may be named by several entries (the same bytes as an original and as a rendering,
or received twice): it goes when every one of them is past its retention. For each such entry
a ``deletion`` entry is appended first (committed), then the file is removed: a crash between
the two leaves content the chain says is gone, which the next purge removes; never the other
way round (content gone and the chain silent), which ``verify`` would rightly call a loss.

The chain is read by payload a batch at a time (``batches.by_payload``) and each payload dealt
with as it comes: whatever the chain's length, one batch is held, not the chain.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Optional

import sqlalchemy as sa

from gateway.db.archive import ArchiveEntry
from gateway.model.errors import EdigateError
from . import batches
from .chain import NewEntry, append
from .retention import Policy, load_policy, retain_until


class RetentionNotOver(EdigateError):
    """A payload whose retention has not ended cannot be deleted."""


KEEP = 100         # the items a Plan keeps to show; its counts are whole (``each`` sees every one)


@dataclass
class Item:
    sha256: str
    size: int
    until: datetime                      # the latest retention end among its entries
    entries: list[tuple[int, str, str, int]] = field(default_factory=list)   # (seq, kind, what, years)
    present: bool = True


@dataclass
class Plan:
    due: list[Item] = field(default_factory=list)          # the first KEEP of them
    kept: int = 0
    deleted: list[Item] = field(default_factory=list)      # the first KEEP of them
    due_count: int = 0
    deleted_count: int = 0


ROW_COLUMNS = (ArchiveEntry.sha256, ArchiveEntry.seq, ArchiveEntry.kind, ArchiveEntry.size, ArchiveEntry.at,
               ArchiveEntry.ref_seq, ArchiveEntry.exchange_id, ArchiveEntry.document_id)


def _retention(policy: Policy) -> Callable[[Any, Any], tuple]:
    """A row with its retention (computed in the batch's session): (row, until, what, years)."""
    def each(s, row: Any) -> tuple:
        if row.kind == "deletion":
            return row, None, "", 0
        return (row, *retain_until(s, row, policy))
    return each


def _items(gw, policy: Policy, only: Optional[str]) -> Iterator[tuple[Item, set[int]]]:
    """Each payload with its entries' retention, and the entries already deleted (its deletion
    entries carry its hash), a batch of rows at a time."""
    rows = batches.by_payload(gw.session, ROW_COLUMNS, only=only, each=_retention(policy))
    for sha, group in itertools.groupby(rows, key=lambda r: r[0].sha256):
        item: Optional[Item] = None
        deleted: set[int] = set()
        for row, until, what, years in group:
            if row.kind == "deletion":
                deleted.add(row.ref_seq)
                continue
            if item is None:
                item = Item(sha, row.size, row.at)
            item.until = max(item.until, until)
            item.entries.append((row.seq, row.kind, what, years))
        if item is not None:
            yield item, deleted


def _note(items: list[Item], item: Item) -> None:
    if len(items) < KEEP:
        items.append(item)


def _delete(gw, item: Item, now: datetime) -> None:
    """The deletion entries first (committed), then the content."""
    with gw.session() as s:
        owners = {e.seq: e for e in s.scalars(sa.select(ArchiveEntry).where(
            ArchiveEntry.seq.in_([t[0] for t in item.entries])))}
        append(s, [NewEntry("deletion", item.sha256, item.size, f"entry:{seq}",
                            exchange_id=owners[seq].exchange_id, document_id=owners[seq].document_id,
                            ref_seq=seq, note=f"retention of {years} years ({what}) ended "
                                              f"{item.until.date().isoformat()}")
                   for seq, _kind, what, years in item.entries], at=now)
    gw.payloads.remove(item.sha256)


def purge(gw, *, now: Optional[datetime] = None, dry_run: bool = False, only: Optional[str] = None,
          policy: Optional[Policy] = None, each: Optional[Callable[[Item], None]] = None) -> Plan:
    """Delete every payload past its retention (``only``: that one, refused if not yet due), or
    only say which (``dry_run``); ``each`` is told of every item due (deleted, unless a dry run)
    as it goes. The chain is read a batch at a time; the Plan keeps the first ``KEEP`` items."""
    now = now or datetime.now(timezone.utc)
    policy = policy or load_policy(gw.settings.archive_retention)
    out = Plan()
    for item, deleted in _items(gw, policy, only):
        if only and item.until > now:
            first = max(item.entries, key=lambda t: t[3])
            raise RetentionNotOver(
                f"payload {item.sha256} must be kept until {item.until.date().isoformat()} (entry #{first[0]}, "
                f"{first[1]} of a {first[2]}: {first[3]} years); nothing deleted")
        if item.until > now:
            out.kept += 1
            continue
        item.present = gw.payloads.exists(item.sha256)
        pending = [t for t in item.entries if t[0] not in deleted]
        if not pending and not item.present:
            continue
        item.entries = pending
        out.due_count += 1
        _note(out.due, item)
        if not dry_run:
            _delete(gw, item, now)
            out.deleted_count += 1
            _note(out.deleted, item)
        if each is not None:
            each(item)
    if only and not out.due_count:
        raise RetentionNotOver(f"payload {only} is not in the archive or was deleted already")
    return out


def plan(gw, *, now: datetime, only: Optional[str] = None, policy: Optional[Policy] = None) -> Plan:
    """What may go now (payloads whose every entry is past retention and not yet deleted)."""
    return purge(gw, now=now, dry_run=True, only=only, policy=policy)
