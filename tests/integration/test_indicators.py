"""Indicators against numbers the test works out itself from the records it created, the CSV export,
and the page in headless Chromium (Playwright) showing the server-drawn SVG charts.

The records come from real files through the real pipeline on a Gateway (UBL over the API, EDIFACT
over SFTP, a file nobody can read, an invoice breaking an EN 16931 rule, one for an unknown buyer,
one whose bank account changed); life-cycle moves go through ``set_business_status``, as the API's
do. The page is served by a werkzeug server thread on a loopback port."""
from __future__ import annotations

import csv
import io
import math
import threading
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from gateway.db import indicators
from gateway.config import load_settings
from gateway.db import (ControlHold, Delivery, DeliveryEvent, DocumentRecord, DocumentStatusEvent, Exchange,
                        Partner)
from gateway.delivery.state import set_business_status
from gateway.flow.receive import receive_file
from gateway.runtime import Gateway
from gateway.syntaxes import write_document
from gateway.web import create_app

from tests.support.controls_seed import IBAN_B, invoice, send
from tests.support.portal_seed import PASSWORD, seed_partners
from tests.support.ports import free_port

UTC = timezone.utc
TODAY = datetime.now(UTC).date()


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def world(gw):
    """A known mix of outcomes; returns the seeded partners and the documents by number."""
    seeded = seed_partners(gw)
    globex, acme = seeded.partners["globex"], seeded.partners["acme"]
    docs = {}
    for i in range(5):
        docs[f"G-{i}"] = send(gw, globex, invoice(f"G-{i}", TODAY - timedelta(days=40 + 9 * i), f"{100 + 37 * i}.00",
                                                  due=TODAY - timedelta(days=10 + 3 * i)))
    docs["O-1"] = send(gw, globex, invoice("O-1", TODAY - timedelta(days=3), "250.00", to="other"))
    docs["N-1"] = send(gw, globex, invoice("N-1", TODAY - timedelta(days=2), "90.00", to="nobody"))
    docs["E-1"] = send(gw, acme, invoice("E-1", TODAY - timedelta(days=5), "75.00", iban=None), syntax="edifact-d96a",
                       channel="sftp")
    docs["B-1"] = send(gw, globex, invoice("B-1", TODAY - timedelta(days=1), "130.00", iban=IBAN_B))
    broken = invoice("X-1", TODAY - timedelta(days=4), "60.00")
    broken.totals.total_with_vat = Decimal("1.00")                  # breaks the totals' arithmetic (BR-CO-15)
    docs["X-1"] = send(gw, globex, broken, outcome="rejected")
    receive_file(gw, b"this is not an invoice at all", channel="api", partner_id=globex, filename="junk.txt")
    with gw.session() as s:
        now = datetime.now(UTC)
        for n, number in enumerate(("G-0", "G-1", "G-2")):
            doc = s.get(DocumentRecord, docs[number].id)
            set_business_status(s, doc, "accepted", by="test", at=now)
            set_business_status(s, doc, "paid", by="test", at=now)
        refused = s.get(DocumentRecord, docs["G-3"].id)
        set_business_status(s, refused, "refused", reason="wrong order", reason_code="CMD_ERR", by="test", at=now)
        disputed = s.get(DocumentRecord, docs["G-4"].id)
        set_business_status(s, disputed, "disputed", reason="amount", reason_code="MONTANTTOTAL_ERR", by="test", at=now)
    return seeded, docs


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * p / 100)) - 1]


def test_indicators_agree_with_the_records(gw, world) -> None:
    seeded, docs = world
    period = indicators.Period(TODAY - timedelta(days=6), TODAY)
    with gw.session() as s:
        tables = {t.name: t for t in indicators.compute(s, period)}
        records = s.execute(sa.select(DocumentRecord, Exchange.channel, Partner.name)
                            .join(Exchange, DocumentRecord.exchange_id == Exchange.id)
                            .outerjoin(Partner, DocumentRecord.sender_partner_id == Partner.id)).all()
        # volumes: all received today, by channel, format and sender
        today = TODAY.isoformat()
        for by, key in (("channel", lambda r: r[1]), ("format", lambda r: r[0].syntax), ("partner", lambda r: r[2])):
            expected = Counter(key(r) for r in records)
            t = tables[f"volumes-{by}"]
            row = next(r for r in t.rows if r[0] == today)
            assert dict(zip(t.columns[1:-1], row[1:-1])) == dict(expected), by
            assert row[-1] == len(records) == 10
            assert all(r[-1] == 0 for r in t.rows if r[0] != today)
        assert Counter(r[1] for r in records) == {"api": 9, "sftp": 1}

        # error and rejection rates
        invalid = sum(1 for r in records if not r[0].valid)
        unreadable = sum(1 for ex in s.scalars(sa.select(Exchange).where(Exchange.direction == "in",
                                                                         Exchange.status == "rejected"))
                         if not ex.documents)
        valid = sum(1 for r in records if r[0].valid)
        refused = sum(1 for r in records if r[0].valid and r[0].business_status in ("refused", "rejected"))
        assert (invalid, unreadable, refused) == (1, 1, 1)
        q = tables["quality"]
        row = dict(zip(q.columns, next(r for r in q.rows if r[0] == today)))
        assert row["received"] == 10 and row["invalid"] == invalid and row["unreadable files"] == unreadable
        assert row["error rate %"] == round(100 * (invalid + unreadable) / (10 + unreadable), 2)
        assert row["rejection rate %"] == round(100 * refused / valid, 2)

        # receipt to delivery, per channel, from the delivery events themselves
        minutes = defaultdict(list)
        for d in s.scalars(sa.select(Delivery)):
            reached = [e.at for e in d.history if e.status in ("delivered", "acknowledged")]
            if reached:
                minutes[d.channel].append((min(reached) - d.document.exchange.created_at).total_seconds() / 60)
        t = tables["delivery-time"]
        got = {r[0]: r for r in t.rows}
        assert set(got) == set(minutes) | {"all channels"}
        for channel, values in minutes.items():
            assert got[channel][1] == len(values)
            assert got[channel][3] == round(nearest_rank(values, 50), 1)
            assert got[channel][5] == round(max(values), 1)
        everything = [v for vs in minutes.values() for v in vs]
        assert got["all channels"][1] == len(everything) == sum(r[1] for r in tables["delivery-bands"].rows)

        # payment delay: the paid documents' own dates against their paid event
        paid = {e.document_id: e.at.date() for e in s.scalars(sa.select(DocumentStatusEvent)
                                                                  .where(DocumentStatusEvent.status == "paid"))}
        assert set(paid) == {docs[n].id for n in ("G-0", "G-1", "G-2")}
        issue_days = [(paid[i] - s.get(DocumentRecord, i).issue_date).days for i in paid]
        due_days = [(paid[i] - s.get(DocumentRecord, i).due_date).days for i in paid]
        p = {r[0]: r for r in tables["payment-delay"].rows}
        assert p["Buyer SARL"][1] == 3
        assert p["Buyer SARL"][2] == round(sum(issue_days) / 3, 1) and p["Buyer SARL"][3] == nearest_rank(issue_days, 50)
        assert p["Buyer SARL"][6] == round(sum(due_days) / 3, 1) and p["Buyer SARL"][9] == max(due_days)
        late = dict(tables["payment-lateness"].rows)
        assert late["8-30 days late"] == sum(1 for d in due_days if 8 <= d <= 30) == 3

        # ageing: held for a confirmation, held for an unknown buyer, disputed
        held_control = s.scalar(sa.select(sa.func.count()).select_from(ControlHold)
                                .where(ControlHold.released_at.is_(None)))
        held_all = s.scalar(sa.select(sa.func.count()).select_from(DocumentRecord)
                            .where(DocumentRecord.status == "held"))
        a = {r[0]: r for r in tables["ageing"].rows}
        assert a["held for a confirmation"][-1] == held_control == 1
        assert a["held: recipient unknown"][-1] == held_all - held_control == 1
        assert a["disputed"][1] == a["disputed"][-1] == 1                   # "< 1 day"

        assert tables["approval-time"].rows == [] and "no approval decision" in tables["approval-time"].note


def test_weeks_start_on_monday_and_periods_are_bounded() -> None:
    p = indicators.Period(date(2026, 3, 4), date(2026, 3, 17), "week")          # a Wednesday to a Tuesday
    assert p.buckets() == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    with pytest.raises(indicators.PeriodError):
        indicators.Period(date(2025, 1, 1), date(2026, 6, 1))
    with pytest.raises(indicators.PeriodError):
        indicators.Period(date(2026, 1, 2), date(2026, 1, 1))


@pytest.fixture
def live(gw, world):
    app = create_app(gw)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield world, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_csv_export_of_each_table(gw, world) -> None:
    seeded, docs = world
    app = create_app(gw, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    assert client.get("/indicators/quality.csv").status_code == 302                 # to the login
    client.post("/login", data={"username": "sam", "password": PASSWORD}, follow_redirects=False)
    for name in indicators.NAMES:
        r = client.get(f"/indicators/{name}.csv?from={TODAY - timedelta(days=6)}&to={TODAY}")
        assert r.status_code == 200 and r.mimetype == "text/csv", name
        rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
        with gw.session() as s:
            expected = indicators.table(s, indicators.Period(TODAY - timedelta(days=6), TODAY), name)
        assert rows[0] == expected.columns
        assert len(rows) - 1 == len(expected.rows)
    assert client.get("/indicators/nothing.csv").status_code == 404
    assert client.get("/indicators/quality.csv?from=yesterday").status_code == 400


def test_the_indicators_page_draws_its_charts_in_svg(live, page, tmp_path) -> None:
    (seeded, docs), base = live
    page.goto(f"{base}/indicators")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/indicators")
    assert page.locator("header nav a.current").inner_text() == "Indicators"
    charts = page.locator("svg.chart")
    assert charts.count() >= 4
    volumes = page.locator("#volumes-channel svg.chart")
    bars = volumes.locator("rect title").all_text_contents()
    assert f"{TODAY.isoformat()} · api: 9" in bars and f"{TODAY.isoformat()} · sftp: 1" in bars
    ageing = page.locator("#ageing svg.chart rect title").all_text_contents()
    assert "held for a confirmation · < 1 day: 1" in ageing and "disputed · < 1 day: 1" in ageing
    box = volumes.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    page.select_option("select[name=grain]", "week")
    page.click("form.filters button[type=submit]")
    assert "grain=week" in page.url
    assert page.locator("#volumes-channel table thead th").first.inner_text() == "week"
    page.screenshot(path=str(tmp_path / "indicators.png"), full_page=True)
    assert (tmp_path / "indicators.png").stat().st_size > 10_000
