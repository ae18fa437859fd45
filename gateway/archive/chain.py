"""The chain: each entry's canonical text, its hash, and appending.

An entry is one line of tab-separated fields (``FIELDS``), ``-`` for an empty one, printable
ASCII only; its hash is the SHA-256 of that text (UTF-8, no newline). The text carries the
previous entry's hash, so changing, removing, inserting or reordering an entry breaks every
hash after it. The same line, followed by a tab and the entry's hash, is the export's
manifest: an auditor recomputes it with ``printf '%s' "$line" | sha256sum``, nothing else.

Entries are appended by one transaction at a time: the next sequence number is the primary
key, so two writers racing for it make one fail (``IntegrityError``) and try again later.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db.archive import ArchiveEntry

GENESIS = "0" * 64
FIELDS = ("seq", "at", "kind", "sha256", "size", "owner", "exchange", "document", "ref", "note", "prev")
# What an entry says its payload is (``deletion``: the content of entry ``ref`` went after its retention).
KINDS = ("original", "message", "rendering", "receipt", "status", "sent", "deletion")
_UNSAFE = re.compile(r"[^\x20-\x7e]|\t")


def timestamp(at: datetime) -> str:
    """``2026-12-14T09:30:00.123456Z``: UTC, microseconds, always the same width."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: archive times are UTC")
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clean_note(text: Optional[str]) -> Optional[str]:
    """A note as the canonical text can carry it: printable ASCII, no tab, at most 500."""
    text = _UNSAFE.sub("?", text or "").strip()[:500]
    return None if not text else ("(-)" if text == "-" else text)


def _field(value: object) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    if _UNSAFE.search(text) or text == "-":
        raise ValueError(f"archive field {text!r} is not printable ASCII without tabs")
    return text


def canonical(entry: ArchiveEntry, *, seq: Optional[int] = None) -> str:
    """The entry's text (``seq``: as if it stood at that place, to tell a moved entry)."""
    values = (entry.seq if seq is None else seq, timestamp(entry.at), entry.kind, entry.sha256, entry.size,
              entry.owner, entry.exchange_id, entry.document_id, entry.ref_seq, entry.note, entry.prev_hash)
    return "\t".join(_field(v) for v in values)


def entry_hash(entry: ArchiveEntry, *, seq: Optional[int] = None) -> str:
    return hashlib.sha256(canonical(entry, seq=seq).encode("ascii")).hexdigest()


def manifest_line(entry: ArchiveEntry) -> str:
    """The export's line: the canonical text, a tab, the recorded hash."""
    return f"{canonical(entry)}\t{entry.entry_hash}"


@dataclass(frozen=True)
class NewEntry:
    kind: str
    sha256: str
    size: int
    owner: str
    exchange_id: Optional[int] = None
    document_id: Optional[int] = None
    ref_seq: Optional[int] = None
    note: Optional[str] = None


def head(s: Session) -> Optional[ArchiveEntry]:
    return s.scalar(sa.select(ArchiveEntry).order_by(ArchiveEntry.seq.desc()).limit(1))


def append(s: Session, entries: Iterable[NewEntry], *, at: datetime) -> list[ArchiveEntry]:
    """Add ``entries`` after the head, in order, in the caller's transaction (flushed, not
    committed). A concurrent writer makes the flush or the commit raise ``IntegrityError``."""
    last = head(s)
    seq, prev = (last.seq, last.entry_hash) if last is not None else (0, GENESIS)
    added = []
    for new in entries:
        if new.kind not in KINDS:
            raise ValueError(f"archive kind {new.kind!r} is not one of {', '.join(KINDS)}")
        seq += 1
        row = ArchiveEntry(seq=seq, at=at, kind=new.kind, sha256=new.sha256, size=new.size, owner=new.owner,
                           exchange_id=new.exchange_id, document_id=new.document_id, ref_seq=new.ref_seq,
                           note=clean_note(new.note), prev_hash=prev, entry_hash="")
        row.entry_hash = prev = entry_hash(row)
        s.add(row)
        added.append(row)
    s.flush()
    return added
