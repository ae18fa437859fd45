"""The indicators a shared-service centre is judged by, computed from the record (no page, no chart here).

Each indicator is a ``Table`` (columns, rows, a note saying how it is counted), so the operator
page draws it, the CSV export writes it and a test checks it, all from the same numbers:

* ``volumes(by=channel|format|partner)``: invoices received per day or week (documents, by
  when we received them; channel: the inbound exchange's; format: the syntax read; partner:
  the sender);
* ``quality``: error rate (invalid documents and unreadable files, of all received) and
  rejection rate (valid documents their recipient refused or rejected, of the valid ones);
* ``delivery_time``: receipt (the inbound exchange's creation) to the delivery's first
  ``delivered`` or ``acknowledged``, per channel;
* ``approval_time``: hours from an invoice's turn with an approver to their decision, per approver,
  and the whole approval (opened → closed), from the approval workflow's records
  (``gateway.approvals``);
* ``payment_delay``: issue date (BT-2) → paid, and due date (BT-9) → paid, in days, for the
  documents whose life cycle reached ``paid`` in the period, per recipient (the payer);
* ``ageing``: what is held now (for a control's confirmation, or for an unknown recipient) and
  what is disputed now, by age.

Words: every title, note, column and row label is English marked for the catalogue (``N_``); a
table keeps its title and note as messages with their values (``said``), so a page words them
in its reader's language (``gateway.web.operator.indicator_words``) while the CSV export and the
tests read the English.

Bounded: a period is at most ``MAX_DAYS`` days; counts are grouped in the database; the
delay tables read at most ``MAX_ROWS`` rows each (their note says when that cut them).
Times are UTC; a week starts on Monday and is named by that day.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Optional

import sqlalchemy as sa

from gateway.i18n import N_
from gateway.db import (ApprovalCase, ApprovalDecision, ControlHold, Delivery, DeliveryEvent, DocumentRecord,
                        DocumentStatusEvent, Exchange, Partner)

MAX_DAYS = 366
MAX_ROWS = 50_000
GRAINS = ("day", "week")
REACHED = ("delivered", "acknowledged")
REFUSALS = ("refused", "rejected")
AGE_BUCKETS = ((timedelta(days=1), N_("< 1 day")), (timedelta(days=7), N_("1-7 days")),
               (timedelta(days=30), N_("7-30 days")), (None, N_("> 30 days")))
DELIVERY_BUCKETS = ((60, N_("< 1 min")), (300, N_("1-5 min")), (3600, N_("5-60 min")), (86400, N_("1-24 h")),
                    (None, N_("> 1 day")))
LATE_BUCKETS = ((1, N_("early or on time")), (8, N_("1-7 days late")), (31, N_("8-30 days late")),
                (61, N_("31-60 days late")), (None, N_("> 60 days late")))   # days after the due date, below each limit
# the words tables use that are ours, not the record's (a channel's or a partner's name is data)
WORDS = (N_("day"), N_("week"), N_("channel"), N_("format"), N_("partner"), N_("total"), N_("received"),
         N_("invalid"), N_("unreadable files"), N_("error rate %"), N_("valid"), N_("refused by recipient"),
         N_("rejection rate %"), N_("deliveries"), N_("mean"), N_("median"), N_("p90"), N_("max"),
         N_("time to delivery"), N_("approver"), N_("decisions"), N_("recipient"), N_("paid"),
         N_("issue→paid mean"), N_("issue→paid median"), N_("issue→paid p90"), N_("issue→paid max"),
         N_("due→paid mean"), N_("due→paid median"), N_("due→paid p90"), N_("due→paid max"), N_("lateness"),
         N_("invoices"), N_("waiting"), N_("all channels"), N_("whole approval"), N_("all recipients"),
         N_("(unknown recipient)"), N_("(unknown sender)"), N_("held for a confirmation"),
         N_("held: recipient unknown"), N_("disputed"))

Said = tuple[str, dict[str, Any]]           # a message (English, marked) and the values of its placeholders


def said(message: str, **values: Any) -> Said:
    return message, values


def english(parts: Iterable[Said]) -> str:
    """Messages with their values, in English, one after the other."""
    return "".join(m % v if v else m for m, v in parts)


class PeriodError(ValueError):
    """A period that cannot be used; the message says why."""


@dataclass(frozen=True)
class Period:
    start: date                  # first day, inclusive
    end: date                    # last day, inclusive
    grain: str = "day"

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise PeriodError(f"grain {self.grain!r}: expected day or week")
        if self.end < self.start:
            raise PeriodError("the period ends before it starts")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise PeriodError(f"a period is at most {MAX_DAYS} days")

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.utc)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.utc)

    def bucket(self, day: date) -> date:
        return day - timedelta(days=day.weekday()) if self.grain == "week" else day

    def buckets(self) -> list[date]:
        out, day = [], self.start
        while day <= self.end:
            b = self.bucket(day)
            if not out or out[-1] != b:
                out.append(b)
            day += timedelta(days=1)
        return out

    @classmethod
    def last(cls, days: int, *, today: Optional[date] = None, grain: str = "day") -> "Period":
        today = today or datetime.now(timezone.utc).date()
        return cls(today - timedelta(days=days - 1), today, grain)


@dataclass
class Table:
    name: str                    # for the CSV file and the page's anchors
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""
    chart: str = "bars"          # how a page may draw it: stacked (first column = x), bars (label, value), none
    title_said: Optional[Said] = None               # the title as a message and its values (for other languages)
    note_said: list[Said] = field(default_factory=list)

    @classmethod
    def of(cls, name: str, title: Said, columns: list[str], rows: list[list[Any]], note: list[Said],
           chart: str = "bars") -> "Table":
        """A table whose title and note are messages: their English now, the messages kept."""
        return cls(name, english([title]), columns, rows, english(note), chart, title, list(note))

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


# --- helpers ----------------------------------------------------------------------------------

def _day(value: Any) -> date:
    """What ``date(created_at)`` gives back: a date (PostgreSQL) or its ISO text (SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def percentile(values: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile (p in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))          # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


def _rate(part: int, whole: int) -> Optional[float]:
    return round(100.0 * part / whole, 2) if whole else None


def _bucket_label(value: float, buckets: Iterable[tuple[Optional[float], str]]) -> str:
    for limit, label in buckets:
        if limit is None or value < limit:
            return label
    raise AssertionError("the last bucket has no limit")


def _stats(values: list[float]) -> list[Any]:
    """count, mean, median, p90, max (rounded to 0.1)."""
    if not values:
        return [0, None, None, None, None]
    r = lambda v: round(v, 1)    # noqa: E731
    return [len(values), r(sum(values) / len(values)), r(percentile(values, 50)), r(percentile(values, 90)),
            r(max(values))]


def _received(period: Period):
    return sa.and_(DocumentRecord.created_at >= period.since, DocumentRecord.created_at < period.until)


# --- volumes ------------------------------------------------------------------------------------

VOLUME_KEYS = {"channel": Exchange.channel, "format": DocumentRecord.syntax,
               "partner": sa.func.coalesce(Partner.name, "(unknown sender)")}


def volumes(s, period: Period, by: str) -> Table:
    """Invoices received per day or week, one column per channel, format or sending partner."""
    if by not in VOLUME_KEYS:
        raise PeriodError(f"volumes by {by!r}: expected one of {', '.join(VOLUME_KEYS)}")
    day = sa.func.date(DocumentRecord.created_at)
    key = VOLUME_KEYS[by]
    q = (sa.select(day, key, sa.func.count()).select_from(DocumentRecord)
         .join(Exchange, DocumentRecord.exchange_id == Exchange.id)
         .outerjoin(Partner, DocumentRecord.sender_partner_id == Partner.id)
         .where(_received(period)).group_by(day, key))
    counts: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    keys: set[str] = set()
    for d, k, n in s.execute(q):
        counts[period.bucket(_day(d))][str(k)] += n
        keys.add(str(k))
    names = sorted(keys)
    rows = [[b.isoformat(), *[counts[b][k] for k in names], sum(counts[b].values())] for b in period.buckets()]
    return Table.of(f"volumes-{by}", said(N_("Invoices received per %(grain)s, by %(by)s"), grain=period.grain, by=by),
                    [period.grain, *names, "total"], rows,
                    [said(N_("documents read from what we received, by the day we received them (UTC)"))],
                    chart="stacked")


# --- quality ------------------------------------------------------------------------------------

def quality(s, period: Period) -> Table:
    """Error rate and rejection rate per day or week."""
    day = sa.func.date(DocumentRecord.created_at)
    q = (sa.select(day, DocumentRecord.valid, DocumentRecord.business_status, sa.func.count())
         .where(_received(period)).group_by(day, DocumentRecord.valid, DocumentRecord.business_status))
    got: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d, valid, business, n in s.execute(q):
        row = got[period.bucket(_day(d))]
        row["received"] += n
        row["valid" if valid else "invalid"] += n
        if valid and business in REFUSALS:
            row["refused"] += n
    # files we could not read at all: inbound exchanges rejected without a document
    ex_day = sa.func.date(Exchange.created_at)
    unreadable = (sa.select(ex_day, sa.func.count()).where(
        Exchange.direction == "in", Exchange.status == "rejected", Exchange.created_at >= period.since,
        Exchange.created_at < period.until,
        ~sa.exists().where(DocumentRecord.exchange_id == Exchange.id)).group_by(ex_day))
    for d, n in s.execute(unreadable):
        got[period.bucket(_day(d))]["unreadable"] += n
    rows = []
    for b in period.buckets():
        r = got[b]
        errors, seen = r["invalid"] + r["unreadable"], r["received"] + r["unreadable"]
        rows.append([b.isoformat(), r["received"], r["invalid"], r["unreadable"], _rate(errors, seen),
                     r["valid"], r["refused"], _rate(r["refused"], r["valid"])])
    return Table.of("quality", said(N_("Error and rejection rates per %(grain)s"), grain=period.grain),
                    [period.grain, "received", "invalid", "unreadable files", "error rate %", "valid",
                     "refused by recipient", "rejection rate %"], rows,
                    [said(N_("error rate: invalid documents and unreadable files, of all received; rejection rate: "
                             "valid documents their recipient refused or rejected (life cycle), of the valid ones"))],
                    chart="none")


# --- delivery time ------------------------------------------------------------------------------

def _delivery_seconds(s, period: Period) -> tuple[list[tuple[str, float]], bool]:
    reached = sa.func.min(DeliveryEvent.at)
    q = (sa.select(Delivery.id, Delivery.channel, Exchange.created_at, reached)
         .select_from(Delivery).join(DocumentRecord, Delivery.document_id == DocumentRecord.id)
         .join(Exchange, DocumentRecord.exchange_id == Exchange.id)
         .join(DeliveryEvent, DeliveryEvent.delivery_id == Delivery.id)
         .where(_received(period), DeliveryEvent.status.in_(REACHED))
         .group_by(Delivery.id, Delivery.channel, Exchange.created_at)
         .order_by(Delivery.id.desc()).limit(MAX_ROWS + 1))
    rows = s.execute(q).all()
    out = [(channel, max(0.0, (_utc(_parse(at)) - _utc(received)).total_seconds()))
           for _, channel, received, at in rows[:MAX_ROWS]]
    return out, len(rows) > MAX_ROWS


def _parse(value: Any) -> datetime:
    """``min(at)`` comes back as a datetime (PostgreSQL) or as its text (SQLite: no type on an aggregate)."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def delivery_time(s, period: Period) -> tuple[Table, Table]:
    """Receipt to delivery, per channel (minutes), and how many fell in each band."""
    values, cut = _delivery_seconds(s, period)
    by_channel: dict[str, list[float]] = defaultdict(list)
    for channel, seconds in values:
        by_channel[channel].append(seconds / 60)
    rows = [[c, *_stats(v)] for c, v in sorted(by_channel.items())]
    if values:
        rows.append(["all channels", *_stats([v / 60 for _, v in values])])
    note = [said(N_("from the inbound exchange's receipt to the delivery's first delivered or acknowledged, for "
                    "documents received in the period"))]
    if cut:
        note.append(said(N_(" (the latest %(n)s deliveries only)"), n=MAX_ROWS))
    stats = Table.of("delivery-time", said(N_("Time from receipt to delivery (minutes)")),
                     ["channel", "deliveries", "mean", "median", "p90", "max"], rows, note, chart="none")
    bands = defaultdict(int)
    for _, seconds in values:
        bands[_bucket_label(seconds, DELIVERY_BUCKETS)] += 1
    spread = Table.of("delivery-bands", said(N_("Deliveries by time from receipt")), ["time to delivery", "deliveries"],
                      [[label, bands[label]] for _, label in DELIVERY_BUCKETS], note)
    return stats, spread


def approval_time(s, period: Period) -> Table:
    """Approval time (hours), per approver: from when an invoice began to wait for them (their turn
    in order; the case's opening for any of) to their decision, for decisions taken in the period;
    then the whole approval, from the case's opening to its closing, for cases closed in it."""
    q = (sa.select(ApprovalDecision.username, ApprovalDecision.waiting_since, ApprovalDecision.at)
         .where(ApprovalDecision.at >= period.since, ApprovalDecision.at < period.until)
         .order_by(ApprovalDecision.id.desc()).limit(MAX_ROWS + 1))
    found = s.execute(q).all()
    by_approver: dict[str, list[float]] = defaultdict(list)
    for name, since, at in found[:MAX_ROWS]:
        by_approver[name].append(max(0.0, (_utc(at) - _utc(since)).total_seconds() / 3600))
    rows = [[name, *_stats(values)] for name, values in sorted(by_approver.items())]
    whole = s.execute(sa.select(ApprovalCase.opened_at, ApprovalCase.closed_at).where(
        ApprovalCase.closed_at >= period.since, ApprovalCase.closed_at < period.until)
        .order_by(ApprovalCase.id.desc()).limit(MAX_ROWS)).all()
    if whole:
        rows.append(["whole approval", *_stats([max(0.0, (_utc(c) - _utc(o)).total_seconds() / 3600)
                                                for o, c in whole])])
    note = [said(N_("hours from when an invoice began to wait for the approver (their turn, or the approval's "
                    "opening when any of several may approve) to their decision (approved, refused or put on "
                    "hold), for decisions taken in the period; whole approval: from the invoice's arrival to the "
                    "approval's end, for approvals ended in the period"))]
    if not rows:
        note.append(said(N_("; no approval decision in the period: nothing to measure")))
    if len(found) > MAX_ROWS:
        note.append(said(N_(" (the latest %(n)s decisions only)"), n=MAX_ROWS))
    return Table.of("approval-time", said(N_("Approval time (hours)")),
                    ["approver", "decisions", "mean", "median", "p90", "max"], rows, note, chart="none")


# --- payment delay ------------------------------------------------------------------------------

def payment_delay(s, period: Period) -> tuple[Table, Table]:
    """Issue → paid and due → paid in days, per recipient (the payer), for what was paid in the period."""
    paid_at = sa.func.min(DocumentStatusEvent.at)
    q = (sa.select(DocumentRecord.id, DocumentRecord.issue_date, DocumentRecord.due_date,
                   sa.func.coalesce(Partner.name, "(unknown recipient)"), paid_at)
         .select_from(DocumentStatusEvent).join(DocumentRecord, DocumentStatusEvent.document_id == DocumentRecord.id)
         .outerjoin(Partner, DocumentRecord.recipient_partner_id == Partner.id)
         .where(DocumentStatusEvent.status == "paid")
         .group_by(DocumentRecord.id, DocumentRecord.issue_date, DocumentRecord.due_date, Partner.name)
         .having(sa.and_(paid_at >= period.since, paid_at < period.until))
         .order_by(DocumentRecord.id.desc()).limit(MAX_ROWS + 1))
    found = s.execute(q).all()
    issue: dict[str, list[float]] = defaultdict(list)
    due: dict[str, list[float]] = defaultdict(list)
    bands = defaultdict(int)
    for _, issued, due_date, payer, at in found[:MAX_ROWS]:
        paid = _utc(_parse(at)).date()
        if issued is not None:
            issue[payer].append(float((paid - issued).days))
        if due_date is not None:
            late = (paid - due_date).days
            due[payer].append(float(late))
            bands[_bucket_label(late, LATE_BUCKETS)] += 1
    payers = sorted(set(issue) | set(due))
    rows = [[p, *_stats(issue.get(p, [])), *_stats(due.get(p, []))[1:]] for p in payers]
    if payers:
        rows.append(["all recipients", *_stats([v for p in payers for v in issue.get(p, [])]),
                     *_stats([v for p in payers for v in due.get(p, [])])[1:]])
    note = [said(N_("documents whose life cycle reached paid in the period; days from the issue date (BT-2) and "
                    "from the due date (BT-9, negative: paid early) to the day it was paid"))]
    if len(found) > MAX_ROWS:
        note.append(said(N_(" (the latest %(n)s only)"), n=MAX_ROWS))
    stats = Table.of("payment-delay", said(N_("Payment delay (days)")),
                     ["recipient", "paid", "issue→paid mean", "issue→paid median", "issue→paid p90", "issue→paid max",
                      "due→paid mean", "due→paid median", "due→paid p90", "due→paid max"], rows, note, chart="none")
    late = Table.of("payment-lateness", said(N_("Paid invoices by lateness against their due date")),
                    ["lateness", "invoices"], [[label, bands[label]] for _, label in LATE_BUCKETS], note)
    return stats, late


# --- ageing -------------------------------------------------------------------------------------

def ageing(s, now: Optional[datetime] = None) -> Table:
    """What waits now: held for a confirmation, held for an unknown recipient, disputed; by age."""
    now = now or datetime.now(timezone.utc)
    open_holds = ControlHold.open_document_ids()
    held = s.execute(sa.select(DocumentRecord.created_at, DocumentRecord.id.in_(open_holds))
                     .where(DocumentRecord.status == "held").limit(MAX_ROWS)).all()
    disputed = s.execute(sa.select(DocumentRecord.business_status_at)
                         .where(DocumentRecord.business_status == "disputed").limit(MAX_ROWS)).all()
    counts = {k: defaultdict(int) for k in ("held for a confirmation", "held: recipient unknown", "disputed")}
    for since, by_control in held:
        kind = "held for a confirmation" if by_control else "held: recipient unknown"
        counts[kind][_bucket_label((now - _utc(since)).total_seconds(), _AGE_SECONDS)] += 1
    for (since,) in disputed:
        if since is not None:
            counts["disputed"][_bucket_label((now - _utc(since)).total_seconds(), _AGE_SECONDS)] += 1
    labels = [label for _, label in AGE_BUCKETS]
    rows = [[kind, *[c[label] for label in labels], sum(c.values())] for kind, c in counts.items()]
    return Table.of("ageing", said(N_("Held and disputed invoices by age (now)")), ["waiting", *labels, "total"], rows,
                    [said(N_("held: since received; disputed: since the dispute; counted now, whatever the period"))],
                    chart="stacked")


_AGE_SECONDS = tuple((limit.total_seconds() if limit is not None else None, label) for limit, label in AGE_BUCKETS)


# --- all of them --------------------------------------------------------------------------------

def compute(s, period: Period, *, now: Optional[datetime] = None) -> list[Table]:
    """Every indicator for ``period``, in the order a page shows them."""
    delivery, bands = delivery_time(s, period)
    payment, lateness = payment_delay(s, period)
    return [volumes(s, period, "channel"), volumes(s, period, "format"), volumes(s, period, "partner"),
            quality(s, period), delivery, bands, approval_time(s, period), payment, lateness, ageing(s, now)]


_ONE = {"volumes-channel": lambda s, p, now: volumes(s, p, "channel"),
        "volumes-format": lambda s, p, now: volumes(s, p, "format"),
        "volumes-partner": lambda s, p, now: volumes(s, p, "partner"),
        "quality": lambda s, p, now: quality(s, p),
        "delivery-time": lambda s, p, now: delivery_time(s, p)[0],
        "delivery-bands": lambda s, p, now: delivery_time(s, p)[1],
        "approval-time": lambda s, p, now: approval_time(s, p),
        "payment-delay": lambda s, p, now: payment_delay(s, p)[0],
        "payment-lateness": lambda s, p, now: payment_delay(s, p)[1],
        "ageing": lambda s, p, now: ageing(s, now)}
NAMES = tuple(_ONE)


def table(s, period: Period, name: str, *, now: Optional[datetime] = None) -> Table:
    """One indicator by name (for its CSV)."""
    if name not in _ONE:
        raise PeriodError(f"no indicator {name!r}")
    return _ONE[name](s, period, now)
