"""Crash safety over AS4: ``edigate serve`` killed with SIGKILL in the middle of a burst of 300 Peppol
AS4 user messages.

Another access point (our outbound AS4 code, with its AP certificate on record at the
gateway) sends 300 invoices in SBDHs, each signed and AES-128-GCM encrypted once (one
MessageId) and posted again, byte for byte, from 4 threads until it gets a Receipt it
verifies (signed by the gateway's AP certificate, naming our MessageId and the digests we
signed), as a Peppol access point retries what got no Receipt. Once about a third are
acknowledged, the server is killed (no shutdown, requests in flight) and started again.
Afterwards every MessageId the sender holds a Receipt for is stored once, with the exact
document it sent (content hash), none twice, none lost, and each is processed exactly once
(one document each).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.db import DocumentRecord, Exchange
from gateway.transports import as4

from tests.support.as4_gateway import Peppol4World
from tests.support.burst import Message, Outcome, RetryingSender, kill_mid_burst
from tests.support.waiting import wait_for

TOTAL = 300
KILL_AFTER = 100
SENDERS = 4


def _send(out: as4.OutboundMessage) -> Outcome:
    result = as4.send(out, timeout=(2, 30))
    return Outcome(result.delivered, problem=result.summary)


@pytest.fixture
def world(tmp_path):
    w = Peppol4World.create(tmp_path)
    yield w
    w.server.stop()


def test_sigkill_mid_as4_burst_loses_nothing_and_stores_nothing_twice(world):
    sent = [world.message(i, prefix="CRASH4") for i in range(TOTAL)]
    expected = {m.message_id: m.document_sha256 for m in sent}
    sender = RetryingSender([Message(m.message_id, m.document, m.outbound) for m in sent], _send,
                            (as4.As4SendError,))
    world.server.start()
    acked_at_kill = kill_mid_burst(world.server, sender, threads=SENDERS, kill_after=KILL_AFTER, timeout=120)
    assert not sender.bad, sender.bad[:5]
    assert KILL_AFTER <= acked_at_kill < TOTAL, "the kill did not land mid-burst"
    assert sender.connection_errors > 0, "no request was cut by the kill"
    assert set(sender.acked) == set(expected)

    gw = world.server.gateway()
    try:
        with gw.session() as s:
            rows = s.execute(sa.select(Exchange.message_id, Exchange.content_sha256, Exchange.status)
                             .where(Exchange.direction == "in", Exchange.channel == "peppol",
                                    Exchange.refused.is_(False))).all()
        # None twice, none lost: one row per MessageId, each with the document sent under it.
        assert len(rows) == TOTAL
        assert {r.message_id: r.content_sha256 for r in rows} == expected
        assert len({r.content_sha256 for r in rows}) == TOTAL
        for key in expected.values():
            gw.payloads.verify(key)

        def settled():
            with gw.session() as s:
                return s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(
                    Exchange.direction == "in", Exchange.channel == "peppol", Exchange.refused.is_(False),
                    Exchange.status != "processed")) == 0
        wait_for(settled, 120, "every exchange to be processed", interval=0.5)
        with gw.session() as s:
            per_exchange = s.execute(sa.select(DocumentRecord.exchange_id, sa.func.count())
                                     .group_by(DocumentRecord.exchange_id)).all()
            assert len(per_exchange) == TOTAL and {n for _, n in per_exchange} == {1}
            numbers = s.scalars(sa.select(DocumentRecord.number)).all()
            assert sorted(numbers) == [f"CRASH4-{i:05d}" for i in range(TOTAL)]
    finally:
        gw.close()
