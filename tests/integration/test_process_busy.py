"""A database busy with another writer is no failure of the file being processed: SQLite refuses
a read transaction's upgrade to a write one at once (whatever the busy timeout), the work is rolled
back, and the exchange stays ``acknowledged`` for the sweep, which processes it the next time."""
from __future__ import annotations

import sqlite3

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
