"""Crash safety: ``edigate serve`` killed with SIGKILL in the middle of a burst of 500 AS2 messages.

A partner sends 500 signed, encrypted, compressed invoices from 4 threads, each
message built once (one Message-ID) and sent again, byte for byte, until it
gets a signed MDN proving our MIC — as a real AS2 sender retries what got no
MDN. Once about a third are acknowledged, the server is killed (no shutdown,
requests in flight) and started again. Afterwards every message the partner
holds an MDN for is stored exactly once with its exact content, none twice,
all 500 are stored, and each is processed exactly once (one document each).
"""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from gateway import certs
from gateway.db import DocumentRecord, Exchange
from gateway.syntaxes import write_document
from gateway.model.invoice import Identifier
from gateway.transports.as2 import As2Identity, As2Partner, As2SendError, build, send

from tests.support.burst import Message, Outcome, RetryingSender, kill_mid_burst
from tests.support.gateway_process import GatewayProcess, setup_records
from tests.support.waiting import wait_for
from tests.support.invoice_builder import build_invoice

TOTAL = 500
KILL_AFTER = 160
SENDERS = 4


def _payload(i: int) -> bytes:
    inv = build_invoice()
    inv.number = f"BURST-{i:04d}"
    inv.buyer.electronic_address = Identifier("0000000000000", "0088")    # nobody: held
    return write_document(inv, "ubl").data


def _send(out) -> Outcome:
    result = send(out, timeout=(2, 30))
    return Outcome(result.delivered, result.duplicate, f"{result.status} {result.error}")


@pytest.fixture
def burst_setup(tmp_path):
    keys_dir = tmp_path / "keys"
    ours = certs.ensure_dev_keypair(keys_dir, "edigate")
    theirs = certs.ensure_dev_keypair(keys_dir, "burst-partner")
    server = GatewayProcess(tmp_path / "gateway", processes=None)     # serve as it runs: worker processes
    gw = server.gateway()
    rec = setup_records(gw, identity="EDIGATE", our_key=ours.key_path, partners=[
        dict(name="Burst partner", as2_id="BURST", cert_pem=theirs.cert_pem)])
    gw.close()
    server.token = rec.token
    identity = As2Identity("BURST", "burst.test", theirs)
    partner = As2Partner("EDIGATE", [ours.cert_pem], url=server.as2_url)
    yield server, identity, partner
    server.stop()


def test_sigkill_mid_burst_loses_nothing_and_stores_nothing_twice(burst_setup):
    server, identity, partner = burst_setup
    messages = []
    for i in range(TOTAL):
        payload = _payload(i)
        out = build(payload, f"burst-{i}.xml", "application/xml", identity=identity, partner=partner)
        messages.append(Message(out.message_id, payload, out))
    sender = RetryingSender(messages, _send, (As2SendError,))
    server.start()
    acked_at_kill = kill_mid_burst(server, sender, threads=SENDERS, kill_after=KILL_AFTER, timeout=600)
    assert not sender.bad, sender.bad[:5]
    assert KILL_AFTER <= acked_at_kill < TOTAL, "the kill did not land mid-burst"
    assert sender.connection_errors > 0, "no request was cut by the kill"
    assert len(sender.acked) == TOTAL

    gw = server.gateway()
    with gw.session() as s:
        rows = s.execute(sa.select(Exchange.message_id, Exchange.content_sha256, Exchange.id)
                         .where(Exchange.direction == "in", Exchange.as2_from == "BURST")).all()
        # None twice: one row per Message-ID, and no other row carries the same content.
        assert len(rows) == TOTAL
        assert {r.message_id for r in rows} == set(sender.acked)
        by_id = {r.message_id: r for r in rows}
        contents = [r.content_sha256 for r in rows]
        assert len(set(contents)) == TOTAL
    # Each message acknowledged is stored with exactly the content the partner sent.
    for mid, payload in sender.acked.items():
        key = by_id[mid].content_sha256
        assert key == hashlib.sha256(payload).hexdigest()
        gw.payloads.verify(key)

    # Each is processed exactly once: one document per exchange, none left behind.
    def settled():
        with gw.session() as s:
            left = s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(
                Exchange.direction == "in", Exchange.as2_from == "BURST", Exchange.status != "processed"))
            return left == 0
    wait_for(settled, 180, "every exchange to be processed", interval=0.5)
    with gw.session() as s:
        per_exchange = s.execute(sa.select(DocumentRecord.exchange_id, sa.func.count())
                                 .group_by(DocumentRecord.exchange_id)).all()
        assert len(per_exchange) == TOTAL and {n for _, n in per_exchange} == {1}
        numbers = s.scalars(sa.select(DocumentRecord.number)).all()
        assert sorted(numbers) == [f"BURST-{i:04d}" for i in range(TOTAL)]
        assert set(s.scalars(sa.select(DocumentRecord.status))) == {"held"}
    gw.close()
