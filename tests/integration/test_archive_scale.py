"""The archive at scale: ``verify`` and ``purge`` read the chain a batch at a time, so the memory
they need does not grow with its length (a memory bound, measured with tracemalloc, never a time).

One gateway in this process (SQLite under a temporary folder). The chain is written by the
archive's own ``chain.append`` (the hashes, the links), in transactions of a few thousand: 20,000
entries naming 20 payloads really in the store (1,000 entries each, as the same bytes archived
for many records), dated past their retention. The peak of each run at 5,000 entries and at
20,000 is compared: four times the entries, not four times the memory. Then a real purge of the
20,000 and a verify of what it leaves (20,000 deletion entries more). A dry-run purge of 2,000
then 8,000 payloads (one entry each, absent from the store) keeps a hundred to show and tells
each one as it goes. A changed entry, a removed one and a removed payload are named in a chain
of several batches, at a batch's edge and inside one.
"""
from __future__ import annotations

import hashlib
import tracemalloc
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from gateway.archive import batches, purge, verify
from gateway.archive.chain import NewEntry, append
from gateway.db.archive import ArchiveEntry

PAYLOADS = 20
CHUNK = 2500
OLD = datetime(2001, 3, 1, tzinfo=timezone.utc)          # past any retention of the shipped policy


def grow(gw, shas: list[str], upto: int, *, distinct: bool = False) -> None:
    """Append entries until the chain holds ``upto`` (each names a payload of ``shas`` in turn,
    or a payload of its own that is not in the store, ``distinct``)."""
    with gw.session() as s:
        have = s.scalar(sa.select(sa.func.count()).select_from(ArchiveEntry))
    while have < upto:
        n = min(CHUNK, upto - have)
        entries = []
        for i in range(have, have + n):
            sha = hashlib.sha256(b"absent %d" % i).hexdigest() if distinct else shas[i % len(shas)]
            entries.append(NewEntry("original", sha, 10, f"exchange:{i + 1}"))
        with gw.session() as s:
            append(s, entries, at=OLD)
        have += n


def peak(fn):
    """What ``fn()`` returns, and the peak of memory Python allocated while it ran (bytes)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def gw(make_gateway):
    return make_gateway()


@pytest.mark.slow
def test_verify_and_purge_hold_one_batch_whatever_the_chain_length(gw) -> None:
    shas = [gw.payloads.put(b"payload %d" % i).key for i in range(PAYLOADS)]
    grow(gw, shas, 5_000)
    verify.verify(gw)                                                   # warm: compiled statements, imports
    small, small_peak = peak(lambda: verify.verify(gw))
    assert small.ok and (small.entries, small.payloads) == (5_000, PAYLOADS), small.problems
    grow(gw, shas, 20_000)
    large, large_peak = peak(lambda: verify.verify(gw))
    assert large.ok and (large.entries, large.payloads) == (20_000, PAYLOADS), large.problems
    print(f"verify peak: {small_peak / 1e6:.2f} MB at 5,000 entries, {large_peak / 1e6:.2f} MB at 20,000")
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)     # not 4 times: bounded by the batch

    entries: list[int] = []
    plan, plan_peak = peak(lambda: purge.purge(gw, now=datetime.now(timezone.utc), dry_run=True,
                                               each=lambda item: entries.append(len(item.entries))))
    assert (plan.due_count, len(plan.due), plan.kept) == (PAYLOADS, PAYLOADS, 0)
    assert entries == [1000] * PAYLOADS                                # every entry, its payload's once
    done = purge.purge(gw, now=datetime.now(timezone.utc))
    assert done.deleted_count == PAYLOADS and not any(gw.payloads.exists(sha) for sha in shas)
    after = verify.verify(gw)
    assert after.ok and (after.entries, after.purged, after.payloads) == (40_000, PAYLOADS, 0), after.problems
    assert purge.purge(gw, now=datetime.now(timezone.utc)).due_count == 0          # nothing twice
    print(f"purge (dry run) peak at 20,000 entries: {plan_peak / 1e6:.2f} MB")


@pytest.mark.slow
def test_a_purge_of_many_payloads_keeps_a_few_to_show_and_counts_them_all(gw) -> None:
    grow(gw, [], 2_000, distinct=True)
    purge.purge(gw, now=datetime.now(timezone.utc), dry_run=True)
    small, small_peak = peak(lambda: purge.purge(gw, now=datetime.now(timezone.utc), dry_run=True))
    grow(gw, [], 8_000, distinct=True)
    told = [0, 0]                           # how many, and the sum of their entries' numbers

    def tell(item: purge.Item) -> None:
        told[0], told[1] = told[0] + 1, told[1] + item.entries[0][0]

    large, large_peak = peak(lambda: purge.purge(gw, now=datetime.now(timezone.utc), dry_run=True, each=tell))
    assert (small.due_count, large.due_count, len(large.due)) == (2_000, 8_000, purge.KEEP)
    assert told == [8_000, 8_000 * 8_001 // 2]                          # each payload told once
    print(f"purge (dry run) peak: {small_peak / 1e6:.2f} MB at 2,000 payloads, {large_peak / 1e6:.2f} MB at 8,000")
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)


@pytest.mark.slow
def test_tampering_is_found_in_a_long_chain_across_batches(gw) -> None:
    shas = [gw.payloads.put(b"payload %d" % i).key for i in range(PAYLOADS)]
    grow(gw, shas, 4 * batches.BATCH + 10)
    changed, moved_from = batches.BATCH, 2 * batches.BATCH + 500        # at a batch's edge, and inside one
    with gw.session() as s:
        s.execute(sa.update(ArchiveEntry).where(ArchiveEntry.seq == changed).values(size=11))
        s.execute(sa.delete(ArchiveEntry).where(ArchiveEntry.seq == moved_from))
    gw.payloads.remove(shas[7])
    report = verify.verify(gw)
    assert not report.ok
    assert any(p.startswith(f"entry #{changed} altered") for p in report.problems), report.problems
    assert any(p.startswith(f"entry #{moved_from} missing") for p in report.problems), report.problems
    assert any(p.startswith(f"payload {shas[7]} missing") and "and " in p for p in report.problems)
    assert len(report.problems) == 3, report.problems
