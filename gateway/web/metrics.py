"""``/metrics``: what an operator alerts on, in the Prometheus text format (``prometheus_client``).

Protected: a bearer token (``Authorization: Bearer edg_…``, as for the API) of an admin or
operator; Prometheus sends one with ``authorization: {credentials_file: …}``. No separate
metrics secret: a token is issued, expires and is revoked like any other (``edigate token``).

Read from the database, the truth shared by every web process and worker (a process's own
counters would only know what it did itself):

* gauges of the current state: ``edigate_exchanges`` (direction, channel, status),
  ``edigate_deliveries`` (channel, status), ``edigate_documents_held`` (reason: control or
  recipient unknown), ``edigate_queue_depth`` (what waits: inbound to process, outbound sends
  and deliveries due, the job queue's own pending count) and ``edigate_oldest_waiting_seconds``;
* counters from the append-only histories: ``edigate_exchange_events_total`` (direction,
  channel, status: every status an exchange entered), ``edigate_delivery_failures_total``
  (channel);
* the histogram ``edigate_job_latency_seconds`` (job: process, from receipt to processed or
  rejected; send, from queued to sent, awaiting its MDN or acknowledged).

Counters and the histogram are kept per web process and brought up to date at each scrape
from the rows added since the last one (an id watermark, at most ``BATCH`` rows a scrape), so
a scrape costs what happened since the last, and they only ever grow, as Prometheus expects.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterator

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g
from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from ..db import ControlHold, Delivery, DeliveryEvent, DocumentRecord, Exchange, ExchangeEvent
from .kit.current import gateway
from .kit.errors import error
from .kit.tokens import require_token

bp = Blueprint("metrics", __name__)

ROLES = ("admin", "operator")
BATCH = 20_000                          # history rows read per scrape at most (the rest at the next)
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)
DONE = {"in": ("processed", "rejected"), "out": ("sent", "awaiting_mdn", "acknowledged")}
JOB = {"in": "process", "out": "send"}
STATE = "edigate.metrics"
# the classic text format (0.0.4), which every Prometheus reads; our names need none of 1.0.0's escaping
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


class History:
    """The counters and the latency histogram, brought up to date from the histories' new rows."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchange_upto = 0
        self.delivery_upto = 0
        self.events: dict[tuple[str, str, str], int] = defaultdict(int)
        self.failures: dict[str, int] = defaultdict(int)
        self.latency: dict[str, list[int]] = {j: [0] * len(LATENCY_BUCKETS) for j in JOB.values()}
        self.latency_count: dict[str, int] = defaultdict(int)
        self.latency_sum: dict[str, float] = defaultdict(float)

    def update(self, s) -> None:
        with self.lock:
            rows = s.execute(sa.select(ExchangeEvent.id, ExchangeEvent.exchange_id, ExchangeEvent.status,
                                       ExchangeEvent.at, Exchange.direction, Exchange.channel, Exchange.created_at)
                             .join(Exchange, ExchangeEvent.exchange_id == Exchange.id)
                             .where(ExchangeEvent.id > self.exchange_upto)
                             .order_by(ExchangeEvent.id).limit(BATCH)).all()
            # an acknowledgement after awaiting the MDN is the same send's second step: timed once
            acknowledged = {r.exchange_id for r in rows if r.direction == "out" and r.status == "acknowledged"}
            waited = set(s.scalars(sa.select(ExchangeEvent.exchange_id).where(
                ExchangeEvent.exchange_id.in_(acknowledged), ExchangeEvent.status == "awaiting_mdn"))) \
                if acknowledged else set()
            for event_id, exchange_id, status, at, direction, channel, created in rows:
                self.events[(direction, channel, status)] += 1
                if status in DONE.get(direction, ()) and not (status == "acknowledged" and exchange_id in waited):
                    self._observe(JOB[direction], (_utc(at) - _utc(created)).total_seconds())
                self.exchange_upto = event_id
            failed = s.execute(sa.select(DeliveryEvent.id, Delivery.channel)
                               .join(Delivery, DeliveryEvent.delivery_id == Delivery.id)
                               .where(DeliveryEvent.id > self.delivery_upto, DeliveryEvent.status == "failed")
                               .order_by(DeliveryEvent.id).limit(BATCH)).all()
            for event_id, channel in failed:
                self.failures[channel] += 1
                self.delivery_upto = event_id
            if len(failed) < BATCH:              # nothing failed beyond: skip the rest next time
                self.delivery_upto = max(self.delivery_upto, s.scalar(
                    sa.select(sa.func.coalesce(sa.func.max(DeliveryEvent.id), 0))) or 0)

    def _observe(self, job: str, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        for i, limit in enumerate(LATENCY_BUCKETS):
            if seconds <= limit:
                self.latency[job][i] += 1
        self.latency_count[job] += 1
        self.latency_sum[job] += seconds

    def families(self) -> Iterator[Any]:
        with self.lock:
            events = CounterMetricFamily("edigate_exchange_events", "Status changes of exchanges (every status "
                                         "an exchange entered)", labels=["direction", "channel", "status"])
            for (direction, channel, status), n in sorted(self.events.items()):
                events.add_metric([direction, channel, status], n)
            yield events
            failures = CounterMetricFamily("edigate_delivery_failures", "Deliveries that failed (each time)",
                                           labels=["channel"])
            for channel, n in sorted(self.failures.items()):
                failures.add_metric([channel], n)
            yield failures
            latency = HistogramMetricFamily("edigate_job_latency_seconds",
                                            "From receipt to processed or rejected (process), from queued to sent "
                                            "(send)", labels=["job"])
            for job in JOB.values():
                buckets = [(floatToGoString(b), n) for b, n in zip(LATENCY_BUCKETS, self.latency[job])]
                buckets.append(("+Inf", self.latency_count[job]))
                latency.add_metric([job], buckets, self.latency_sum[job])
            yield latency


class Collector:
    """One scrape: the current state from grouped counts, the histories from ``History``."""

    def __init__(self, gw, history: History):
        self.gw, self.history = gw, history

    def collect(self) -> Iterator[Any]:
        now = datetime.now(timezone.utc)
        with self.gw.session() as s:
            exchanges = GaugeMetricFamily("edigate_exchanges", "Exchanges by their current status",
                                          labels=["direction", "channel", "status"])
            for direction, channel, status, n in s.execute(
                    sa.select(Exchange.direction, Exchange.channel, Exchange.status, sa.func.count())
                    .group_by(Exchange.direction, Exchange.channel, Exchange.status)
                    .order_by(Exchange.direction, Exchange.channel, Exchange.status)):
                exchanges.add_metric([direction, channel, status], n)
            yield exchanges
            deliveries = GaugeMetricFamily("edigate_deliveries", "Deliveries by their current status",
                                           labels=["channel", "status"])
            for channel, status, n in s.execute(
                    sa.select(Delivery.channel, Delivery.status, sa.func.count())
                    .group_by(Delivery.channel, Delivery.status).order_by(Delivery.channel, Delivery.status)):
                deliveries.add_metric([channel, status], n)
            yield deliveries
            yield self._held(s)
            yield from self._queues(s, now)
            self.history.update(s)
        yield from self.history.families()

    def _held(self, s) -> GaugeMetricFamily:
        by_control = DocumentRecord.id.in_(ControlHold.open_document_ids())
        held = GaugeMetricFamily("edigate_documents_held", "Documents held now, by why",
                                 labels=["reason"])
        counts = dict(s.execute(sa.select(by_control, sa.func.count()).where(DocumentRecord.status == "held")
                                .group_by(by_control)).all())
        held.add_metric(["control"], counts.get(True, 0))
        held.add_metric(["recipient_unknown"], counts.get(False, 0))
        return held

    def _queues(self, s, now: datetime) -> Iterator[Any]:
        waiting = {
            # found by status (few wait), not by direction (``|| ''`` keeps the planner off the
            # direction index, which would visit every inbound exchange ever received)
            "process": (sa.select(sa.func.count(), sa.func.min(Exchange.status_at))
                        .where(Exchange.direction + "" == "in", Exchange.status == "acknowledged")),
            "send": (sa.select(sa.func.count(), sa.func.min(Exchange.next_attempt_at))
                     .where(Exchange.direction == "out", Exchange.status.in_(("queued", "retrying")),
                            Exchange.next_attempt_at <= now)),
            "deliver": (sa.select(sa.func.count(), sa.func.min(Delivery.next_attempt_at))
                        .where(Delivery.status.in_(("pending", "retrying")), Delivery.next_attempt_at <= now)),
        }
        depth = GaugeMetricFamily("edigate_queue_depth", "Work waiting now (process: inbound to read; send: "
                                  "outbound due; deliver: deliveries due; jobs: the job queue's pending jobs)",
                                  labels=["queue"])
        oldest = GaugeMetricFamily("edigate_oldest_waiting_seconds", "Age of the oldest work waiting",
                                   labels=["queue"])
        for name, q in waiting.items():
            n, since = s.execute(q).one()
            depth.add_metric([name], n)
            oldest.add_metric([name], max((now - _utc(_as_datetime(since))).total_seconds(), 0) if since else 0)
        try:
            depth.add_metric(["jobs"], self.gw.jobs.huey.pending_count())
        except Exception:              # the queue unreachable: the others still say enough
            pass
        yield depth
        yield oldest


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def exposition(gw, history: History) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(gw, history))
    return generate_latest(registry)


@bp.get("/metrics")
@require_token
def metrics() -> Response:
    if g.user.role not in ROLES:
        return error(403, "the metrics are for an admin's or operator's token")
    history = current_app.extensions.setdefault(STATE, History())
    return Response(exposition(gateway(), history), content_type=TEXT_FORMAT,
                    headers={"Cache-Control": "no-store"})
