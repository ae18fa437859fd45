"""Received files recorded by a group commit (``gateway.flow.receive.GroupCommit``), on SQLite.

Receptions that arrive while a commit is under way are recorded together by the
next one: here the commit lock is held (as a commit in progress holds it) while
five threads receive a file each, then let go; one transaction records all
five, and each thread returns its own exchange, committed, with its history.
A repeated idempotency key in such a group is refused alone: the others of its
group are recorded all the same.
"""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from gateway.db import Exchange, ExchangeEvent, Partner
from gateway.flow.receive import DuplicateUpload, _group_commit, receive_stored

from tests.support.waiting import wait_for


def _receive_together(gw, items: list[tuple[bytes, str]], partner_id=None) -> list:
    """Receive ``items`` (content, idempotency key) from one thread each while a commit is held
    back; returns each thread's outcome (its exchange id, or the exception), in order."""
    group = _group_commit(gw)
    outcomes: list = [None] * len(items)

    def receive(i: int, data: bytes, key: str) -> None:
        try:
            ref = gw.payloads.put(data)
            outcomes[i] = receive_stored(gw, ref, channel="api", partner_id=partner_id, filename=f"f{i}.xml",
                                         message_id=key).id
        except Exception as e:
            outcomes[i] = e

    threads = [threading.Thread(target=receive, args=(i, data, key)) for i, (data, key) in enumerate(items)]
    with group._commit_lock:                       # a commit under way
        for t in threads:
            t.start()
        # each reception waits for the commit, or has its answer already (a repeat found before it)
        wait_for(lambda: len(group._queue) + sum(o is not None for o in outcomes) == len(items), 30,
                 "every reception to wait for the commit")
    for t in threads:
        t.join(30)
    return outcomes


def _partner(gw) -> int:
    with gw.session() as s:
        partner = Partner(name="Sender")
        s.add(partner)
        s.flush()
        return partner.id


def test_receptions_arriving_during_a_commit_are_recorded_by_one(make_gateway) -> None:
    gw = make_gateway()
    gw.jobs.process = lambda exchange_id: None
    partner_id = _partner(gw)
    commits, inserts = [], []
    sa.event.listen(gw.engine, "commit", lambda conn: commits.append(1))
    sa.event.listen(gw.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: inserts.append(statement.startswith("INSERT INTO exchanges ")))
    outcomes = _receive_together(gw, [(f"<Invoice>{i}</Invoice>".encode(), f"key-{i}") for i in range(5)],
                                 partner_id)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    assert len(set(outcomes)) == 5
    assert len(commits) == 1                       # one transaction, one fsync, for the five
    assert sum(inserts) == 5                       # (on SQLite, a row per statement: its RETURNING has no order)
    with gw.session() as s:
        rows = s.execute(sa.select(Exchange.id, Exchange.status, Exchange.message_id, Exchange.content_size)
                         .where(Exchange.id.in_(outcomes))).all()
        assert {(r.status, r.message_id) for r in rows} == {("acknowledged", f"key-{i}") for i in range(5)}
        history = s.execute(sa.select(ExchangeEvent.exchange_id, ExchangeEvent.status, ExchangeEvent.reason)
                            .order_by(ExchangeEvent.id)).all()
    for ex_id in outcomes:
        assert [(h.status, h.reason) for h in history if h.exchange_id == ex_id] == [
            ("received", None), ("stored", None), ("acknowledged", "accepted over api")]


@pytest.mark.parametrize("with_partner", [True, False], ids=["partner", "no-partner"])
def test_a_repeat_in_a_group_is_refused_alone(make_gateway, with_partner) -> None:
    gw = make_gateway()
    gw.jobs.process = lambda exchange_id: None
    partner_id = _partner(gw) if with_partner else None
    first = receive_stored(gw, gw.payloads.put(b"<Invoice>A</Invoice>"), channel="api", partner_id=partner_id,
                           message_id="key-A").id
    outcomes = _receive_together(gw, [(b"<Invoice>B</Invoice>", "key-B"), (b"<Invoice>A</Invoice>", "key-A"),
                                      (b"<Invoice>C</Invoice>", "key-C")], partner_id)
    assert isinstance(outcomes[1], DuplicateUpload) and outcomes[1].exchange_id == first
    assert isinstance(outcomes[0], int) and isinstance(outcomes[2], int)
    with gw.session() as s:
        keys = sorted(s.scalars(sa.select(Exchange.message_id)))
    assert keys == ["key-A", "key-B", "key-C"]
