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

Bounded and computed in the database: a period is at most ``MAX_DAYS`` days; a volume table has
at most ``MAX_GROUPS`` columns of its own (the others summed in one); counts are grouped, and
delays summarised (count, mean, nearest-rank median and p90, max, bands) by SQL
(``indicator_sql``), so a request reads a few rows whatever the record's size, each query
starting from an index on the period's column (migration 0020); the volumes, rates and delivery
times read an index holding every column they need (migration 0021: a document's channel and a
delivery's receipt and first arrival are recorded on them once), one range scan per period.
Times are UTC; a week starts on Monday and is named by that day.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Optional

import sqlalchemy as sa

from gateway.i18n import N_
from gateway.db import indicator_sql as isql
from gateway.db import (ApprovalCase, ApprovalDecision, ControlHold, Delivery, DocumentRecord,
                        DocumentStatusEvent, Exchange, Partner)

MAX_DAYS = 366
MAX_GROUPS = 20
OTHERS = "(others)"
GRAINS = ("day", "week")
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
         N_("held: recipient unknown"), N_("disputed"), N_("(others)"))

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


def percentile(values: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile (p in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))          # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


def _rate(part: int, whole: int) -> Optional[float]:
    return round(100.0 * part / whole, 2) if whole else None


def _received(period: Period):
    return sa.and_(DocumentRecord.created_at >= period.since, DocumentRecord.created_at < period.until)


# --- volumes ------------------------------------------------------------------------------------

VOLUME_KEYS = {"channel": DocumentRecord.channel, "format": DocumentRecord.syntax,
               "partner": DocumentRecord.sender_partner_id}


def _volume_query(columns: list[Any], period: Period) -> sa.Select[Any]:
    """Read from the documents' indicator index alone (it holds every column counted here)."""
    return sa.select(*columns).select_from(DocumentRecord).where(_received(period))


def _labels(s, by: str, keys: Iterable[Any]) -> dict[Any, str]:
    """What a column is called: a sender's name (its id is what is counted), else the value itself."""
    keys = list(keys)
    if by != "partner":
        return {k: str(k) for k in keys}
    ids = [k for k in keys if k is not None]
    names = dict(s.execute(sa.select(Partner.id, Partner.name).where(Partner.id.in_(ids))).all()) if ids else {}
    return {k: names.get(k, "(unknown sender)") for k in keys}


def volumes(s, period: Period, by: str) -> Table:
    """Invoices received per day or week, one column per channel, format or sending partner (the
    ``MAX_GROUPS`` largest; the others summed in one column)."""
    if by not in VOLUME_KEYS:
        raise PeriodError(f"volumes by {by!r}: expected one of {', '.join(VOLUME_KEYS)}")
    key = VOLUME_KEYS[by]
    n = sa.func.count()
    found = s.execute(_volume_query([key, n], period).group_by(key)).all()
    label = _labels(s, by, (k for k, _ in found))
    totals: dict[str, int] = defaultdict(int)
    for k, count in found:
        totals[label[k]] += count
    largest = [k for k, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]
    others = len(largest) > MAX_GROUPS
    kept = set(largest[:MAX_GROUPS])
    day = isql.utc_day(_dialect(s), DocumentRecord.created_at)
    counts: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d, k, count in s.execute(_volume_query([day, key, n], period).group_by(day, key)):
        name = label.get(k, str(k))
        counts[period.bucket(_day(d))][name if name in kept else OTHERS] += count
    names = sorted(kept) + ([OTHERS] if others else [])
    rows = [[b.isoformat(), *[counts[b][k] for k in names], sum(counts[b].values())] for b in period.buckets()]
    note = [said(N_("documents read from what we received, by the day we received them (UTC)"))]
    if others:
        note.append(said(N_("; the %(n)s largest by count, the others together"), n=MAX_GROUPS))
    return Table.of(f"volumes-{by}", said(N_("Invoices received per %(grain)s, by %(by)s"), grain=period.grain, by=by),
                    [period.grain, *names, "total"], rows, note, chart="stacked")


# --- quality ------------------------------------------------------------------------------------

def quality(s, period: Period) -> Table:
    """Error rate and rejection rate per day or week."""
    day = isql.utc_day(_dialect(s), DocumentRecord.created_at)
    # grouped by the life-cycle status itself (a few words), refusals told apart here: the same
    # rows, and an expression PostgreSQL can match between the select and the group by
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
    ex_day = isql.utc_day(_dialect(s), Exchange.created_at)
    unreadable = (sa.select(ex_day, sa.func.count()).where(
        Exchange.status == "rejected", Exchange.direction == "in", Exchange.created_at >= period.since,
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

def _dialect(s) -> str:
    return s.get_bind().dialect.name


def _not_below_zero(value: Any) -> Any:
    return sa.case((value < 0, 0.0), else_=value)


def _delivery_seconds(s, period: Period) -> sa.Subquery:
    """(channel, seconds) per delivery of a document received in the period that reached its
    recipient: from the inbound exchange's creation to the first delivered or acknowledged, both
    recorded on the delivery (one range scan of its indicator index)."""
    seconds = _not_below_zero(isql.seconds_between(_dialect(s), Delivery.reached_at, Delivery.received_at))
    return (sa.select(Delivery.channel.label("key"), seconds.label("value"))
            .where(Delivery.received_at >= period.since, Delivery.received_at < period.until,
                   Delivery.reached_at.is_not(None))).subquery()


def _rounded(summary: list[Any]) -> list[Any]:
    count, *rest = summary
    return [count, *[None if v is None else round(v, 1) for v in rest]]


def delivery_time(s, period: Period) -> tuple[Table, Table]:
    """Receipt to delivery, per channel (minutes), and how many fell in each band."""
    seconds = _delivery_seconds(s, period)
    in_minutes = sa.select(seconds.c.key, (seconds.c.value / 60.0).label("value")).subquery()
    limits = tuple((None if limit is None else limit / 60.0, label) for limit, label in DELIVERY_BUCKETS)
    found = isql.summarise(s, in_minutes, limits, step=0.1)          # one statement; the table shows 0.1 min
    rows = [[k, *_rounded(v)] for k, v in sorted(found.by_key.items(), key=lambda kv: str(kv[0]))]
    if found.whole is not None:
        rows.append(["all channels", *_rounded(found.whole)])
    note = [said(N_("from the inbound exchange's receipt to the delivery's first delivered or acknowledged, for "
                    "documents received in the period"))]
    stats = Table.of("delivery-time", said(N_("Time from receipt to delivery (minutes)")),
                     ["channel", "deliveries", "mean", "median", "p90", "max"], rows, note, chart="none")
    spread = Table.of("delivery-bands", said(N_("Deliveries by time from receipt")), ["time to delivery", "deliveries"],
                      [[label, found.bands.get(label, 0)] for _, label in DELIVERY_BUCKETS], note)
    return stats, spread


def approval_time(s, period: Period) -> Table:
    """Approval time (hours), per approver: from when an invoice began to wait for them (their turn
    in order; the case's opening for any of) to their decision, for decisions taken in the period;
    then the whole approval, from the case's opening to its closing, for cases closed in it."""
    dialect = _dialect(s)
    hours = _not_below_zero(isql.seconds_between(dialect, ApprovalDecision.at, ApprovalDecision.waiting_since)
                            / 3600.0)
    decisions = (sa.select(ApprovalDecision.username.label("key"), hours.label("value"))
                 .where(ApprovalDecision.at >= period.since, ApprovalDecision.at < period.until)).subquery()
    rows = [[k, *_rounded(v)] for k, v in sorted(isql.summaries(s, decisions).items())]
    whole_hours = _not_below_zero(isql.seconds_between(dialect, ApprovalCase.closed_at, ApprovalCase.opened_at)
                                  / 3600.0)
    whole = (sa.select(sa.literal("whole approval").label("key"), whole_hours.label("value"))
             .where(ApprovalCase.closed_at >= period.since, ApprovalCase.closed_at < period.until)).subquery()
    rows += [["whole approval", *_rounded(v)] for v in isql.summaries(s, whole).values()]
    note = [said(N_("hours from when an invoice began to wait for the approver (their turn, or the approval's "
                    "opening when any of several may approve) to their decision (approved, refused or put on "
                    "hold), for decisions taken in the period; whole approval: from the invoice's arrival to the "
                    "approval's end, for approvals ended in the period"))]
    if not rows:
        note.append(said(N_("; no approval decision in the period: nothing to measure")))
    return Table.of("approval-time", said(N_("Approval time (hours)")),
                    ["approver", "decisions", "mean", "median", "p90", "max"], rows, note, chart="none")


# --- payment delay ------------------------------------------------------------------------------

def _paid_in(period: Period) -> sa.Subquery:
    """(document, when paid) for the documents whose life cycle reached paid in the period (paid
    is final: one such event per document; were one repeated, the first in the period counts)."""
    return (sa.select(DocumentStatusEvent.document_id.label("document_id"),
                      sa.func.min(DocumentStatusEvent.at).label("paid_at"))
            .where(DocumentStatusEvent.status == "paid", DocumentStatusEvent.at >= period.since,
                   DocumentStatusEvent.at < period.until)
            .group_by(DocumentStatusEvent.document_id)).subquery()


def payment_delay(s, period: Period) -> tuple[Table, Table]:
    """Issue → paid and due → paid in days, per recipient (the payer), for what was paid in the period."""
    dialect = _dialect(s)
    paid = _paid_in(period)
    paid_day = isql.utc_day(dialect, paid.c.paid_at)
    payer = sa.func.coalesce(Partner.name, "(unknown recipient)").label("key")

    def days(column: Any) -> sa.Subquery:
        return (sa.select(payer, isql.days_between(dialect, paid_day, column).label("value"))
                .select_from(paid).join(DocumentRecord, DocumentRecord.id == paid.c.document_id)
                .outerjoin(Partner, DocumentRecord.recipient_partner_id == Partner.id)
                .where(column.is_not(None))).subquery()

    issue_values, due_values = days(DocumentRecord.issue_date), days(DocumentRecord.due_date)
    issue, due = isql.summarise(s, issue_values), isql.summarise(s, due_values, LATE_BUCKETS)   # two statements
    nothing = [0, None, None, None, None]
    payers = sorted(set(issue.by_key) | set(due.by_key))
    rows = [[p, *_rounded(issue.by_key.get(p, nothing)), *_rounded(due.by_key.get(p, nothing))[1:]] for p in payers]
    if payers:
        rows.append(["all recipients", *_rounded(issue.whole or nothing), *_rounded(due.whole or nothing)[1:]])
    note = [said(N_("documents whose life cycle reached paid in the period; days from the issue date (BT-2) and "
                    "from the due date (BT-9, negative: paid early) to the day it was paid"))]
    stats = Table.of("payment-delay", said(N_("Payment delay (days)")),
                     ["recipient", "paid", "issue→paid mean", "issue→paid median", "issue→paid p90", "issue→paid max",
                      "due→paid mean", "due→paid median", "due→paid p90", "due→paid max"], rows, note, chart="none")
    late = Table.of("payment-lateness", said(N_("Paid invoices by lateness against their due date")),
                    ["lateness", "invoices"], [[label, due.bands.get(label, 0)] for _, label in LATE_BUCKETS], note)
    return stats, late


# --- ageing -------------------------------------------------------------------------------------

def _age_band(since: Any, now: datetime) -> Any:
    """The age bucket of ``since`` at ``now``, as a CASE on the bucket's first moment."""
    whens = [(since > now - limit, label) for limit, label in AGE_BUCKETS if limit is not None]
    return sa.case(*whens, else_=sa.literal(AGE_BUCKETS[-1][1]))


def ageing(s, now: Optional[datetime] = None) -> Table:
    """What waits now: held for a confirmation, held for an unknown recipient, disputed; by age."""
    now = now or datetime.now(timezone.utc)
    by_control = DocumentRecord.id.in_(ControlHold.open_document_ids())
    counts = {k: defaultdict(int) for k in ("held for a confirmation", "held: recipient unknown", "disputed")}
    band = _age_band(DocumentRecord.created_at, now)
    for control, label, n in s.execute(sa.select(by_control, band, sa.func.count())
                                       .where(DocumentRecord.status == "held").group_by(by_control, band)):
        counts["held for a confirmation" if control else "held: recipient unknown"][label] += n
    band = _age_band(DocumentRecord.business_status_at, now)
    for label, n in s.execute(sa.select(band, sa.func.count()).where(
            DocumentRecord.business_status == "disputed", DocumentRecord.business_status_at.is_not(None))
            .group_by(band)):
        counts["disputed"][label] += n
    labels = [label for _, label in AGE_BUCKETS]
    rows = [[kind, *[c[label] for label in labels], sum(c.values())] for kind, c in counts.items()]
    return Table.of("ageing", said(N_("Held and disputed invoices by age (now)")), ["waiting", *labels, "total"], rows,
                    [said(N_("held: since received; disputed: since the dispute; counted now, whatever the period"))],
                    chart="stacked")


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
