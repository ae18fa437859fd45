"""The indicators and /metrics on a large record: every query they run starts from an index
(EXPLAIN QUERY PLAN: no full scan of a table that grows with the traffic), the numbers agree
with the test's own count of the same rows, and a request cannot ask for more than its bounds.

The record is written in bulk (tests/support/indicator_bulk.py) into a database the real
migrations made; a few thousand documents are enough for SQLite's plans (they do not depend
on the row count without ANALYZE) while the numbers still cover many days, partners and
channels. The timing at 200,000 documents is bench/indicators.py's, not a test's."""
from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import (Delivery, DeliveryEvent, DocumentRecord, DocumentStatusEvent, Exchange, Partner,
                        indicators)
from gateway.runtime import Gateway
from gateway.web.metrics import Collector, History

from tests.support.indicator_bulk import fill

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 30)
GROWING = ("documents", "exchanges", "deliveries", "delivery_events", "document_status_events", "exchange_events",
           "approval_cases", "approval_decisions")
TABLE = re.compile(rf"({'|'.join(GROWING)})(_\d+)?$")          # a table, or its alias (documents_1)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path_factory.mktemp("big"))}),
                 immediate_jobs=True)
    filled = fill(gw, 3000, today=TODAY, days=90, partners=30)
    yield gw, filled
    gw.close()


def statements(gw, run) -> list[tuple[str, object]]:
    """The SELECTs ``run`` sends to the database."""
    seen: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, params))

    sa.event.listen(gw.engine, "before_cursor_execute", grab)
    try:
        run()
    finally:
        sa.event.remove(gw.engine, "before_cursor_execute", grab)
    return seen


def full_scans(gw, seen) -> list[str]:
    """Plan lines reading a whole growing table (``SCAN t`` without an index; the scan of a
    subquery's few rows is not one)."""
    out = []
    with gw.engine.connect() as conn:
        for statement, params in seen:
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params):
                line = row[-1]
                words = line.split()
                if words[:1] == ["SCAN"] and len(words) > 1 and TABLE.match(words[1]) and "INDEX" not in line:
                    out.append(f"{line}  <-  {statement[:120]}")
    return out


def test_every_indicator_query_starts_from_an_index(big) -> None:
    gw, _ = big
    period = indicators.Period(TODAY - timedelta(days=29), TODAY)
    with gw.session() as s:
        seen = statements(gw, lambda: indicators.compute(s, period, now=datetime(2026, 12, 1, tzinfo=timezone.utc)))
    assert len(seen) >= 10
    assert full_scans(gw, seen) == []
    with gw.engine.connect() as conn:
        plans = " | ".join(r[-1] for st, p in seen for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + st, p))
    for index in ("ix_document_status_events_status_at", "ix_approval_cases_closed_at",
                  # volumes, rates and delivery times: the index holds all they read (no row visited)
                  "COVERING INDEX ix_documents_indicators", "COVERING INDEX ix_deliveries_indicators"):
        assert index in plans, index
    assert "delivery_events" not in " ".join(st for st, _ in seen)


def test_metrics_read_indexes_not_tables(big) -> None:
    gw, _ = big
    seen = statements(gw, lambda: list(Collector(gw, History()).collect()))
    assert full_scans(gw, seen) == []
    with gw.engine.connect() as conn:
        plans = " | ".join(r[-1] for st, p in seen for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + st, p))
    assert "COVERING INDEX ix_exchanges_direction_channel_status" in plans
    assert "COVERING INDEX ix_deliveries_channel_status" in plans


def nearest(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * p / 100)) - 1]


def close(got, expected) -> bool:
    """Equal to the rounding the table applies (0.1), whatever the engine's float arithmetic."""
    return abs(got - expected) <= 0.051


def test_the_numbers_agree_with_an_independent_count(big) -> None:
    gw, filled = big
    period = indicators.Period(TODAY - timedelta(days=29), TODAY, "week")
    with gw.session() as s:
        tables = {t.name: t for t in indicators.compute(s, period)}
        since, until = period.since, period.until
        docs = s.execute(sa.select(DocumentRecord, Exchange.channel, Exchange.created_at, Partner.name)
                         .join(Exchange, DocumentRecord.exchange_id == Exchange.id)
                         .outerjoin(Partner, DocumentRecord.sender_partner_id == Partner.id)).all()
        in_period = [d for d in docs if since <= d[0].created_at < until]
        # volumes by week and channel
        expected = Counter((period.bucket(d[0].created_at.date()).isoformat(), d[1]) for d in in_period)
        t = tables["volumes-channel"]
        got = {(r[0], c): n for r in t.rows for c, n in zip(t.columns[1:-1], r[1:-1]) if n}
        assert got == dict(expected)
        assert sum(r[-1] for r in t.rows) == len(in_period) > 500
        # by partner: 30 senders, the 20 largest and the others together
        t = tables["volumes-partner"]
        assert len(t.columns) == 1 + indicators.MAX_GROUPS + 1 + 1 and t.columns[-2] == indicators.OTHERS
        by_sender = Counter(d[3] for d in in_period)
        top = sorted(by_sender.items(), key=lambda kv: (-kv[1], kv[0]))[:indicators.MAX_GROUPS]
        assert sorted(t.columns[1:-2]) == sorted(k for k, _ in top)
        totals = {c: sum(r[i] for r in t.rows) for i, c in enumerate(t.columns) if i}
        assert totals[indicators.OTHERS] == len(in_period) - sum(n for _, n in top)
        # quality over the whole period
        q = tables["quality"]
        col = {c: sum(r[i] or 0 for r in q.rows) for i, c in enumerate(q.columns) if c in ("received", "invalid",
                                                                                             "unreadable files",
                                                                                             "refused by recipient")}
        unreadable = s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(
            Exchange.status == "rejected", Exchange.created_at >= since, Exchange.created_at < until))
        assert col == {"received": len(in_period), "invalid": sum(1 for d in in_period if not d[0].valid),
                       "unreadable files": unreadable,
                       "refused by recipient": sum(1 for d in in_period if d[0].valid
                                                   and d[0].business_status in ("refused", "rejected"))}
        # receipt to delivery per channel, from the events themselves
        minutes = defaultdict(list)
        created = {d[0].id: d[2] for d in in_period}
        for delivery_id, document_id, channel in s.execute(sa.select(Delivery.id, Delivery.document_id,
                                                                     Delivery.channel)):
            if document_id in created:
                reached = s.scalar(sa.select(sa.func.min(DeliveryEvent.at)).where(
                    DeliveryEvent.delivery_id == delivery_id, DeliveryEvent.status == "delivered"))
                minutes[channel].append((reached - created[document_id]).total_seconds() / 60)
        rows = {r[0]: r for r in tables["delivery-time"].rows}
        everything = [v for vs in minutes.values() for v in vs]
        for channel, values in [*minutes.items(), ("all channels", everything)]:
            n, mean, p50, p90, top_value = rows[channel][1:]
            assert n == len(values), channel
            assert close(mean, statistics.fmean(values)) and close(p50, nearest(values, 50))
            assert close(p90, nearest(values, 90)) and close(top_value, max(values))
        bands = dict(tables["delivery-bands"].rows)
        assert sum(bands.values()) == len(everything)
        assert bands["< 1 min"] == sum(1 for v in everything if v < 1)
        assert bands["1-24 h"] == sum(1 for v in everything if 60 <= v < 1440)
        # payment delay: paid in the period, per payer
        paid = {e.document_id: e.at for e in s.scalars(sa.select(DocumentStatusEvent).where(
            DocumentStatusEvent.status == "paid", DocumentStatusEvent.at >= since, DocumentStatusEvent.at < until))}
        assert len(paid) > 100
        payer = dict(s.execute(sa.select(DocumentRecord.id, Partner.name)
                               .join(Partner, DocumentRecord.recipient_partner_id == Partner.id)
                               .where(DocumentRecord.id.in_(list(paid)))).all())
        due = defaultdict(list)
        issue = defaultdict(list)
        for doc_id, at in paid.items():
            doc = s.get(DocumentRecord, doc_id)
            issue[payer[doc_id]].append((at.date() - doc.issue_date).days)
            due[payer[doc_id]].append((at.date() - doc.due_date).days)
        rows = {r[0]: r for r in tables["payment-delay"].rows}
        for name, values in issue.items():
            assert rows[name][1] == len(values), name
            assert close(rows[name][2], statistics.fmean(values)) and rows[name][3] == nearest(values, 50)
            assert rows[name][9] == max(due[name])
        all_due = [v for vs in due.values() for v in vs]
        late = dict(tables["payment-lateness"].rows)
        assert sum(late.values()) == len(all_due) == rows["all recipients"][1]
        assert late["early or on time"] == sum(1 for v in all_due if v < 1)
        assert late["8-30 days late"] == sum(1 for v in all_due if 8 <= v < 31)


def test_a_request_is_bounded() -> None:
    with pytest.raises(indicators.PeriodError):
        indicators.Period(date(2025, 1, 1), date(2026, 1, 2))               # more than MAX_DAYS
    with pytest.raises(indicators.PeriodError):
        indicators.Period(date(2026, 1, 1), date(2026, 1, 2), "hour")


def test_the_migration_fills_the_recorded_columns_from_the_record(tmp_path) -> None:
    """Migration 0021 on a record written before it: a document's channel is its exchange's, a
    delivery's receipt its exchange's creation, its arrival its first delivered or acknowledged
    event (none: still on its way); the same values the pipeline records as it goes."""
    from alembic import command
    from gateway.db import alembic_config, migrate

    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    fill(gw, 300, today=TODAY, days=10, partners=5)
    url = gw.settings.database_url
    with gw.session() as s:
        first, second = s.scalars(sa.select(Delivery.id).order_by(Delivery.id).limit(2)).all()
        s.execute(sa.delete(DeliveryEvent).where(DeliveryEvent.delivery_id == first,
                                                 DeliveryEvent.status == "delivered"))
        reached = s.scalar(sa.select(Delivery.reached_at).where(Delivery.id == second))
        s.add(DeliveryEvent(delivery_id=second, status="acknowledged", at=reached + timedelta(minutes=5)))
    read = lambda s: (sorted(s.execute(sa.select(DocumentRecord.id, DocumentRecord.channel)).all()),   # noqa: E731
                      sorted(s.execute(sa.select(Delivery.id, Delivery.received_at, Delivery.reached_at)).all()))
    with gw.session() as s:
        documents, deliveries = read(s)
        expected = {d.id: d.created_at for d in s.scalars(sa.select(Exchange))}
        exchange_of = dict(s.execute(sa.select(DocumentRecord.id, DocumentRecord.exchange_id)).all())
    gw.close()
    command.downgrade(alembic_config(url), "0020")
    migrate(url)
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    try:
        with gw.session() as s:
            documents_after, deliveries_after = read(s)
            channel_of = dict(s.execute(sa.select(DocumentRecord.id, Exchange.channel)
                                        .join(Exchange, DocumentRecord.exchange_id == Exchange.id)).all())
            document_of = dict(s.execute(sa.select(Delivery.id, Delivery.document_id)).all())
    finally:
        gw.close()
    assert len(documents_after) == 300 and all(channel == channel_of[d] for d, channel in documents_after)
    assert documents_after == documents
    by_id = {d: (received, at) for d, received, at in deliveries_after}
    assert by_id[first][1] is None
    assert by_id[second][1] == dict((d, at) for d, _, at in deliveries)[second]
    assert all(received == expected[exchange_of[document_of[d]]] for d, (received, _) in by_id.items())
    assert [r for r in deliveries_after if r[0] != first] == [r for r in deliveries if r[0] != first]


def test_postgresql_gives_the_same_numbers(big, postgres_server) -> None:
    """The same record on PostgreSQL (its own spelling of days and seconds, its CTEs and window
    functions, its stricter GROUP BY): every table of the page equal to SQLite's, to the
    rounding the tables apply."""
    gw, _ = big
    url = postgres_server.create_database()
    pg = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_DATABASE_URL": url,
                                "EDIGATE_HOME": str(gw.settings.home) + "-pg"}), immediate_jobs=True)
    try:
        fill(pg, 3000, today=TODAY, days=90, partners=30)
        period = indicators.Period(TODAY - timedelta(days=29), TODAY, "week")
        now = datetime(2026, 12, 1, tzinfo=timezone.utc)
        with gw.session() as s:
            expected = {t.name: t for t in indicators.compute(s, period, now=now)}
        with pg.session() as s:
            got = {t.name: t for t in indicators.compute(s, period, now=now)}
    finally:
        pg.close()
    assert got.keys() == expected.keys()
    for name, table in expected.items():
        assert got[name].columns == table.columns, name
        assert len(got[name].rows) == len(table.rows), name
        for mine, theirs in zip(got[name].rows, table.rows):
            assert len(mine) == len(theirs)
            for a, b in zip(mine, theirs):       # SQLite's julianday is a float, PostgreSQL's epoch exact:
                # a value on a rounding boundary may round either way (one step of 0.1 apart)
                assert (abs(a - b) <= 0.1001 if isinstance(b, float) and a is not None else a == b), \
                    (name, mine, theirs)
    assert sum(r[1] for r in got["delivery-bands"].rows) > 500


def test_a_delivery_records_its_receipt_and_first_arrival_once(tmp_path) -> None:
    """What the pipeline records for the indicators: a new delivery (planned, rerouted) takes its
    document's receipt; through a failure and an operator's redelivery, its arrival is the first
    delivered, not changed by the acknowledgement after; the indicator counts it from those."""
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    try:
        fill(gw, 40, today=TODAY, days=3, partners=3)
        period = indicators.Period(TODAY - timedelta(days=2), TODAY)
        with gw.session() as s:
            before = {r[0]: r[1] for r in indicators.delivery_time(s, period)[0].rows}
            doc = s.scalar(sa.select(DocumentRecord).join(Delivery).order_by(DocumentRecord.id).limit(1))
            partner = Partner(name="Second recipient", active=True)
            s.add(partner)
            t0 = doc.exchange.created_at + timedelta(minutes=1)
            d = Delivery.new(doc, partner, format="ubl", channel="as2", at=t0)
            s.add(d)
            assert d.received_at == doc.exchange.created_at and d.reached_at is None
            for minutes, status in ((2, "sending"), (3, "failed"), (10, "pending"), (11, "sending"),
                                    (12, "delivered"), (30, "acknowledged")):
                d.set_status(status, at=t0 + timedelta(minutes=minutes))
            assert d.reached_at == t0 + timedelta(minutes=12)
            s.flush()
            first = s.scalar(sa.select(sa.func.min(DeliveryEvent.at)).where(
                DeliveryEvent.delivery_id == d.id, DeliveryEvent.status.in_(("delivered", "acknowledged"))))
            assert first == d.reached_at
            after = {r[0]: r[1] for r in indicators.delivery_time(s, period)[0].rows}
        assert after["as2"] == before.get("as2", 0) + 1
        assert after["all channels"] == before["all channels"] + 1
    finally:
        gw.close()
