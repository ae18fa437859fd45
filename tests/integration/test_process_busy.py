"""A database busy with another writer is no failure of the file being processed: SQLite refuses
a read transaction's upgrade to a write one at once (whatever the busy timeout), the work is rolled
back, and the exchange stays ``acknowledged``, put off: its job tries again within seconds."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import sqlalchemy as sa

from gateway.db import Exchange, Partner
from gateway.flow import process
from gateway.flow.receive import receive_file
from gateway.syntaxes import write_document
from tests.support.invoice_builder import build_invoice


def test_a_busy_database_leaves_the_exchange_for_the_sweep(make_gateway, monkeypatch) -> None:
    gw = make_gateway()
    gw.jobs.process = lambda exchange_id: None          # processed here, by hand
    with gw.session() as s:
        sender = Partner(name="Vendeur")
        s.add(sender)
        s.flush()
        sender_id = sender.id
    ex_id = receive_file(gw, write_document(build_invoice(), "ubl").data, channel="api", partner_id=sender_id,
                         filename="f.xml").id
    real = process._plan
    calls = []

    def locked_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE documents …", {}, sqlite3.OperationalError("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(process, "_plan", locked_once)
    assert process.process_exchange(gw, ex_id) == process.PUT_OFF
    with gw.session() as s:
        assert s.get(Exchange, ex_id).status == "acknowledged"
    assert process.process_exchange(gw, ex_id) == "processed"
    # another operational error is a failure on record, as before
    monkeypatch.setattr(process, "_plan", lambda *a, **k: (_ for _ in ()).throw(
        sa.exc.OperationalError("SELECT …", {}, sqlite3.OperationalError("disk I/O error"))))
    ex2 = receive_file(gw, write_document(build_invoice(), "ubl").data.replace(b"F2024", b"G2024"), channel="api",
                       partner_id=sender_id, filename="g.xml").id
    assert process.process_exchange(gw, ex2) == "failed"


def test_a_put_off_exchange_is_prompted_again_within_seconds_then_left_to_the_sweep(make_gateway,
                                                                                     monkeypatch) -> None:
    """The job of a put-off exchange schedules itself again after ``PUT_OFF_DELAYS`` (seconds, one
    after the other), then stops: the minute's sweep takes over."""
    from gateway import jobs
    gw = make_gateway(immediate_jobs=False)
    outcomes = iter([process.PUT_OFF] * len(jobs.PUT_OFF_DELAYS) + [process.PUT_OFF, "processed"])
    monkeypatch.setattr(process, "process_exchange", lambda gw, exchange_id: next(outcomes))
    task = gw.jobs._process
    delays = []
    for put_off in range(len(jobs.PUT_OFF_DELAYS) + 1):
        before = {t.id for t in gw.jobs.huey.pending()}       # a task with an eta waits in the queue
        task.call_local(41, put_off)
        new = [t for t in gw.jobs.huey.pending() if t.id not in before]
        if put_off < len(jobs.PUT_OFF_DELAYS):
            (again,) = new
            assert again.args == (41, put_off + 1)
            delays.append(round((again.eta - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds()))
        else:
            assert new == []                            # past the delays: the sweep's
    assert delays == list(jobs.PUT_OFF_DELAYS)
