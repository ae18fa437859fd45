"""``archive verify``: every hash again, every link, every seal; anything altered named.

* the chain: entries numbered 1, 2, 3… without a gap; each entry's fields hash to its recorded
  hash; each names the previous one's hash. A changed field ("entry #7 altered"), a removed
  entry ("entry #7 missing"), entries swapped ("entry #7 was written as #8": its fields hash
  right at the place its previous hash points to), an inserted one (the link after it breaks);
* the payloads: each one still present hashes to its name; one missing must have been deleted
  by a ``deletion`` entry, else it was lost or removed behind the archive's back;
* the seals: each token checked in full against the trust anchor (``tsp``), over the hash
  the chain gives today for the entry it sealed.

The chain and the payloads are read a batch at a time (``batches``): what is held is one batch,
the hashes of the entries the seals cover, and the problems found.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Optional

import sqlalchemy as sa

from gateway.db.archive import ArchiveEntry, ArchiveSeal
from gateway.store import PayloadNotFound
from . import batches, tsp
from .chain import GENESIS, entry_hash
from .seal import SealError, anchors as load_anchors

CHUNK = 1024 * 1024
MOVED_WINDOW = 64


@dataclass
class Report:
    entries: int = 0
    payloads: int = 0
    purged: int = 0
    seals: int = 0
    sealed_to: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _file_hash(gw, sha: str) -> Optional[str]:
    try:
        f = gw.payloads.open(sha)
    except PayloadNotFound:
        return None
    digest = hashlib.sha256()
    with f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _written_as(row: ArchiveEntry, guess: Optional[int]) -> Optional[int]:
    """The place an intact but moved entry was written at: its fields hash right there. Tried
    after the entry its previous hash names, then within ``MOVED_WINDOW`` places around it."""
    tries = ([guess] if guess else []) + [row.seq + d for d in range(-MOVED_WINDOW, MOVED_WINDOW + 1)]
    for seq in tries:
        if seq > 0 and seq != row.seq and entry_hash(row, seq=seq) == row.entry_hash:
            return seq
    return None


def _check_chain(s, report: Report, keep: set[int]) -> dict[int, str]:
    """Walk the entries in order, a batch at a time; the hash each entry's fields give now, for
    the sequence numbers in ``keep`` (those the seals cover) and the last one."""
    computed: dict[int, str] = {}
    expected, prev_recorded, prev_moved = 1, GENESIS, False
    for row in batches.by_seq(s):
        report.entries += 1
        if row.seq != expected:
            gap = f"#{expected}" if row.seq == expected + 1 else f"#{expected} to #{row.seq - 1}"
            report.problems.append(f"entry {gap} missing: the chain jumps from #{expected - 1} to #{row.seq} "
                                   "(entries removed)")
        h = entry_hash(row)
        if row.seq in keep:
            computed[row.seq] = h
        report.last_seq = row.seq
        moved = False
        if h != row.entry_hash:
            before = 0 if row.prev_hash == GENESIS else s.scalar(
                sa.select(ArchiveEntry.seq).where(ArchiveEntry.entry_hash == row.prev_hash))
            written_as = _written_as(row, None if before is None else before + 1)
            moved = written_as is not None
            if moved:
                report.problems.append(f"entry #{row.seq} is out of place: it was written as entry #{written_as} "
                                       f"({row.kind} {row.sha256} of {row.owner}); entries reordered")
            else:
                report.problems.append(f"entry #{row.seq} altered ({row.kind} {row.sha256} of {row.owner}): its "
                                       f"fields hash to {h}, its recorded hash is {row.entry_hash}")
        elif row.seq == expected and row.prev_hash != prev_recorded and not prev_moved:     # (said already)
            report.problems.append(f"chain broken before entry #{row.seq}: it follows hash {row.prev_hash}, "
                                   f"entry #{row.seq - 1}'s is {prev_recorded} (an entry inserted or replaced)")
        expected, prev_recorded, prev_moved = row.seq + 1, row.entry_hash, moved
    return computed


PAYLOAD_COLUMNS = (ArchiveEntry.sha256, ArchiveEntry.seq, ArchiveEntry.kind, ArchiveEntry.owner, ArchiveEntry.ref_seq)


def _check_payloads(gw, report: Report) -> None:
    """Each payload once, with the entries naming it (read by payload, a batch at a time): a
    deletion entry carries the hash of the content it deleted, so a payload's deletions come
    with it."""
    rows = batches.by_payload(gw.session, PAYLOAD_COLUMNS)
    for sha, group in itertools.groupby(rows, key=lambda r: r[0]):
        entries, deleted = [], set()
        for _, seq, kind, owner, ref_seq in group:
            if kind == "deletion":
                deleted.add(ref_seq)
            else:
                entries.append((seq, kind, owner))
        if not entries:
            continue
        names = ", ".join(f"entry #{seq} {kind} of {owner}" for seq, kind, owner in entries[:5]) + \
            (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        live = [e for e in entries if e[0] not in deleted]
        actual = _file_hash(gw, sha)
        if actual is None:
            if live:
                report.problems.append(f"payload {sha} missing ({names}): deleted without a deletion entry "
                                       "in the chain")
            else:
                report.purged += 1
            continue
        report.payloads += 1
        if actual != sha:
            report.problems.append(f"payload {sha} altered ({names}): its content hashes to {actual}")
        elif not live:
            report.notes.append(f"payload {sha} is still present although the chain records its deletion "
                                "(an interrupted purge: `edigate archive purge` removes it)")


def _check_seals(gw, s, report: Report, computed: dict[int, str], seals: list[ArchiveSeal]) -> None:
    if not seals:
        if report.entries:
            report.notes.append("the chain has no seal yet" + ("" if gw.settings.archive_tsa_url else
                                                               " (EDIGATE_ARCHIVE_TSA_URL is not set)"))
        return
    trusted = load_anchors(gw.settings)          # SealError: a setup problem, said by the caller
    for seal in seals:
        report.seals += 1
        name = f"seal {seal.id} (entry #{seal.head_seq}, {seal.gen_time.isoformat()})"
        now = computed.get(seal.head_seq)
        if now is None:
            report.problems.append(f"{name} covers entry #{seal.head_seq}, which is no longer in the chain")
        elif now != seal.head_hash:
            report.problems.append(f"{name} no longer matches the chain: it sealed hash {seal.head_hash}, "
                                   f"entry #{seal.head_seq} now hashes to {now}")
        try:
            token = tsp.check_response(seal.response, bytes.fromhex(seal.head_hash), trusted)
        except tsp.TimestampError as e:
            report.problems.append(f"{name} refused: {e}")
            continue
        if token.gen_time != seal.gen_time:
            report.problems.append(f"{name}: its token says {token.gen_time.isoformat()}, the record says "
                                   f"{seal.gen_time.isoformat()}")
        report.sealed_to = max(report.sealed_to, seal.head_seq)
    tail = report.last_seq - report.sealed_to
    if tail > 0:
        report.notes.append(f"{tail} entr{'y' if tail == 1 else 'ies'} after #{report.sealed_to} not sealed yet")


def verify(gw) -> Report:
    """Check the chain, the payloads and the seals. ``SealError`` when seals exist and no trust
    anchor is configured to check them."""
    report = Report()
    with gw.session() as s:
        seals = list(s.scalars(sa.select(ArchiveSeal).order_by(ArchiveSeal.id)))
        s.expunge_all()
        computed = _check_chain(s, report, {seal.head_seq for seal in seals})
    _check_payloads(gw, report)
    with gw.session() as s:
        _check_seals(gw, s, report, computed, seals)
    return report


__all__ = ["Report", "verify", "SealError"]
