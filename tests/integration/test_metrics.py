"""``/metrics`` read by the Prometheus text parser (``prometheus_client.parser``) and checked against the
records: real invoices through the real pipeline (delivered, held by a control, held for an unknown
buyer, one whose delivery fails on its recipient's unusable channel settings, an unreadable file),
a second scrape after more traffic growing the counters by exactly what happened, and the door:
no token 401, a staff token 403."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import load_settings
from gateway.db import (ControlHold, Delivery, DeliveryEvent, DocumentRecord, Exchange, ExchangeEvent, Partner,
                        User, issue_token)
from gateway.flow.receive import receive_file
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.support.controls_seed import IBAN_B, invoice, send
from tests.support.portal_seed import RECIPIENTS, seed_partners

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def world(gw):
    seeded = seed_partners(gw)
    with gw.session() as s:
        # a recipient whose e-mail settings cannot be used: its deliveries fail at once, with the reason
        broken = Partner(name="Broken Mail SA", preferred_channel="email",
                         channel_settings={"email": {"no_such_setting": True}})
        broken.add_identifier("9957", "FR55555555555")
        admin = User.create("ada", "correct horse battery", "admin")
        s.add_all([broken, admin])
        s.flush()
        seeded.tokens["ada"] = issue_token(s, admin, "metrics")[1]
    RECIPIENTS["broken"] = ("Broken Mail SA", "FR55555555555")
    globex = seeded.partners["globex"]
    send(gw, globex, invoice("M-1", TODAY - timedelta(days=30)))
    send(gw, globex, invoice("M-2", TODAY - timedelta(days=20), "120.00", iban=IBAN_B))       # held: control
    send(gw, globex, invoice("M-3", TODAY - timedelta(days=10), "130.00", to="nobody"))       # held: unknown
    send(gw, globex, invoice("M-4", TODAY - timedelta(days=5), "140.00", to="broken"))        # delivery fails
    receive_file(gw, b"garbage", channel="api", partner_id=globex, filename="junk.bin")
    yield seeded
    RECIPIENTS.pop("broken", None)


def scrape(client, token: str) -> dict:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.data
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            out[(sample.name, key)] = sample.value
    return out


def samples(metrics: dict, name: str) -> dict:
    return {k: v for (n, k), v in metrics.items() if n == name}


def lab(**labels) -> tuple:
    return tuple(sorted(labels.items()))


def test_metrics_agree_with_the_records(gw, world) -> None:
    client = create_app(gw, testing=True).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=world.auth("sam")).status_code == 403
    m = scrape(client, world.tokens["olivia"])
    with gw.session() as s:
        exchanges = s.scalars(sa.select(Exchange)).all()
        current = Counter((e.direction, e.channel, e.status) for e in exchanges)
        assert samples(m, "edigate_exchanges") == {lab(direction=d, channel=c, status=st): n
                                                   for (d, c, st), n in current.items()}
        events = Counter((e.exchange.direction, e.exchange.channel, e.status)
                         for e in s.scalars(sa.select(ExchangeEvent)))
        assert samples(m, "edigate_exchange_events_total") == {lab(direction=d, channel=c, status=st): n
                                                               for (d, c, st), n in events.items()}
        failed = Counter(e.delivery.channel for e in s.scalars(sa.select(DeliveryEvent)
                                                                 .where(DeliveryEvent.status == "failed")))
        assert failed == {"email": 1}
        assert samples(m, "edigate_delivery_failures_total") == {lab(channel="email"): 1}
        deliveries = Counter((d.channel, d.status) for d in s.scalars(sa.select(Delivery)))
        assert samples(m, "edigate_deliveries") == {lab(channel=c, status=st): n for (c, st), n in deliveries.items()}
        by_control = s.scalar(sa.select(sa.func.count()).select_from(ControlHold).where(ControlHold.released_at.is_(None)))
        held = s.scalar(sa.select(sa.func.count()).select_from(DocumentRecord).where(DocumentRecord.status == "held"))
        assert m[("edigate_documents_held", lab(reason="control"))] == by_control == 1
        assert m[("edigate_documents_held", lab(reason="recipient_unknown"))] == held - by_control == 1
        # process latency: every inbound exchange that ended processed or rejected, from its receipt
        latencies = [(ev.at - ev.exchange.created_at).total_seconds() for ev in s.scalars(sa.select(ExchangeEvent))
                     if ev.exchange.direction == "in" and ev.status in ("processed", "rejected")]
    assert len(latencies) == 5
    assert m[("edigate_job_latency_seconds_count", lab(job="process"))] == len(latencies)
    assert m[("edigate_job_latency_seconds_sum", lab(job="process"))] == pytest.approx(sum(latencies), abs=1e-3)
    assert m[("edigate_job_latency_seconds_bucket", lab(job="process", le="+Inf"))] == len(latencies)
    assert m[("edigate_job_latency_seconds_bucket", lab(job="process", le="60.0"))] == \
        sum(1 for v in latencies if v <= 60)
    assert m[("edigate_queue_depth", lab(queue="process"))] == 0
    assert ("edigate_queue_depth", lab(queue="jobs")) in m

    # more traffic: the counters grow by exactly its events, the gauges follow the state
    before_events = sum(samples(m, "edigate_exchange_events_total").values())
    send(gw, world.partners["globex"], invoice("M-5", TODAY - timedelta(days=2), "150.00"))
    again = scrape(client, world.tokens["ada"])                    # an admin's token too
    with gw.session() as s:
        total_events = s.scalar(sa.select(sa.func.count()).select_from(ExchangeEvent))
    assert sum(samples(again, "edigate_exchange_events_total").values()) == total_events > before_events
    assert again[("edigate_job_latency_seconds_count", lab(job="process"))] == 6
    assert again[("edigate_delivery_failures_total", lab(channel="email"))] == 1
