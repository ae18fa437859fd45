"""What the deposit channels share (``choruspro``, ``http``): the deposit's record on its exchange, what an uncertain attempt means, how an attempt and a follow open, findings and life-cycle moves.

A deposit travels in an outbound exchange like any file (``gateway.delivery.outbound``),
marked ``mdn_mode = "deposit"``. Its record uses the exchange's existing columns, no new
table: ``message_id`` is our deposit key (fixed and committed before the first request),
``mdn_message_id`` the platform's deposit id, ``mdn_disposition`` the platform's last
status and, after ``": "``, its own error text; the platform's raw answers are notes in
the exchange's history. ``deposit_view`` gives that to the API and the operator pages.

Never deposited twice. An attempt that certainly did not reach the platform (no
connection, no token, an HTTP error answer) is retried with the partner's backoff. One
that may have reached it (the connection broke or went silent after the request was
written) marks the exchange ``uncertain``: the next attempt first looks the deposit up by
our reference when the channel can (Chorus Pro: by invoice number; a portal: when its
profile declares a lookup) and follows what it finds. When nothing is found, a lookup the
profile declares authoritative lets us deposit again; otherwise the exchange fails as
``uncertain`` for an operator, who checks the platform and retries (then, and only then,
we deposit again) instead of the gateway re-posting blindly.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Generic, Iterable, Mapping, Optional, TypeVar, Union

import sqlalchemy as sa

from gateway.channels.settings import ChannelConfigError
from gateway.db import Delivery, DocumentRecord, Exchange, StatusError, compare_and_set
from gateway.delivery.state import set_status
from gateway.model.findings import FATAL, Finding

DEPOSIT = "deposit"                  # Exchange.mdn_mode of a deposit
UNCERTAIN = "uncertain"              # Exchange.mdn_disposition after an attempt that may have got through
HELD = "held"
FOLLOW_LEASE = timedelta(minutes=2)
MAX_NOTE = 2000




# --- the deposit's record --------------------------------------------------------------------------

def answer_text(value: Any) -> str:
    """A platform's answer as kept in the exchange's history (bounded; large texts cut)."""
    def trim(v: Any) -> Any:
        if isinstance(v, str) and len(v) > 200:
            return v[:60] + f"…({len(v)} characters)"
        if isinstance(v, dict):
            return {k: trim(x) for k, x in list(v.items())[:50]}
        if isinstance(v, list):
            return [trim(x) for x in v[:20]]
        return v
    out = json.dumps(trim(value), ensure_ascii=False, sort_keys=True, default=str)
    return out if len(out) <= MAX_NOTE else out[:MAX_NOTE] + "…"


def disposition(status: str, error: Optional[str] = None) -> str:
    """``mdn_disposition`` of a deposit: the platform's status, then its own error text."""
    value = f"{status}: {' '.join(error.split())}" if error and error.strip() else status
    return value[:500]


def deposit_view(ex: Any) -> Optional[dict[str, Any]]:
    """What the sender and operators see of a deposit: its id on the platform, the platform's last
    status, its own error text (None when the exchange is not a deposit)."""
    if ex is None or getattr(ex, "mdn_mode", None) != DEPOSIT:
        return None
    status, _, error = (ex.mdn_disposition or "").partition(": ")
    return {"id": ex.mdn_message_id, "status": status or ("deposited" if ex.mdn_message_id else None),
            "error": error or None, "reference": ex.message_id}


def deposit_key(ex: Exchange) -> str:
    """Our reference of a deposit: unique, at most 64 characters, fixed before the first request."""
    return f"edigate-{ex.id}-{os.urandom(6).hex()}"


def operator_retry(ex: Exchange) -> bool:
    """Whether this attempt is an operator's retry of a settled exchange (``failed`` → ``queued``):
    the operator decided, after looking at the platform, that it may be deposited again."""
    statuses = [e.status for e in ex.history]
    return len(statuses) >= 3 and statuses[-1] == "sending" and statuses[-2] == "queued"


T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True)
class Opened(Generic[C, T]):
    """An attempt opened: what the channel reads after the exchange's session has committed."""
    settings: Mapping[str, Any]
    connection: C                    # the channel's client or credentials
    uncertain: bool                  # the last attempt may have got through
    by_operator: bool                # an operator's retry: it may be deposited again
    data: bytes
    read: T                          # what the channel took from the record (``read`` below)


def open_deposit(gw: Any, exchange_id: int, *, settings_of: Callable[[Any], Optional[Mapping[str, Any]]],
                 connect: Callable[[Mapping[str, Any], Any], C], setting: str, peer: str,
                 read: Callable[[Any, Exchange, bytes], T]) -> Union[str, Opened[C, T]]:
    """The opening every deposit attempt shares: the partner's settings (none, or the partner
    disabled: failed), the client or credentials (unusable: failed), our deposit key fixed and
    committed before any request carries it, whether the last attempt may have got through or
    an operator retries, the payload, and what ``read`` takes from the record (the delivery, the
    document). Returns the exchange's status when the attempt ends here, else ``Opened``.
    ``setting`` names the channel's settings and ``peer`` the platform in the reasons."""
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        settings = settings_of(ex.partner)
        if settings is None or ex.partner is None or not ex.partner.active:
            set_status(ex, "failed", f"the partner has no usable {setting} settings, or is disabled")
            return ex.status
        try:
            connection = connect(settings, gw.settings.certs_dir)
        except ChannelConfigError as e:
            set_status(ex, "failed", f"cannot reach {peer}: {e}")
            return ex.status
        if ex.message_id is None:
            ex.message_id = deposit_key(ex)
        ex.mdn_mode = DEPOSIT
        uncertain, by_operator = ex.mdn_disposition == UNCERTAIN, operator_retry(ex)
        data = gw.payloads.get(ex.content_sha256)
        taken = read(s, ex, data)
    return Opened(settings, connection, uncertain, by_operator, data, taken)


@dataclass(frozen=True)
class Following(Generic[T]):
    """A deposit to follow, as it stood when read: the platform's answer is compared with it after."""
    settings: Optional[Mapping[str, Any]]
    phase: str                       # awaiting_mdn: its report; acknowledged: the invoice's later statuses
    deposit_id: str
    read: Optional[T]


FOLLOWED = ("awaiting_mdn", "acknowledged")


def open_follow(gw: Any, exchange_id: int, *, channel: str,
                settings_of: Callable[[Any], Optional[Mapping[str, Any]]], scheduled_only: bool = False,
                read: Optional[Callable[[Any, Exchange], T]] = None) -> Union[Optional[str], Following[T]]:
    """The opening every follow shares: the exchange still a deposit of ``channel`` the platform
    took (its id on record) and still followed (awaiting its report, or acknowledged and watched;
    ``scheduled_only``: with a next look planned), the partner's settings as they are now, and
    what ``read`` takes from the record. Returns the exchange's status (None: no such exchange)
    when there is nothing to follow, else ``Following``."""
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex is None or ex.channel != channel or not ex.mdn_message_id or ex.status not in FOLLOWED or \
                (scheduled_only and ex.next_attempt_at is None):
            return None if ex is None else ex.status
        return Following(settings_of(ex.partner), ex.status, ex.mdn_message_id,
                         read(s, ex) if read is not None else None)


def document_of(session: Any, ex: Exchange) -> Optional[DocumentRecord]:
    """The document an outbound deposit carries (through its delivery)."""
    delivery = session.scalar(sa.select(Delivery).where(Delivery.exchange_id == ex.id).limit(1))
    return delivery.document if delivery is not None else None


def delivery_of(session: Any, ex: Exchange) -> Optional[Delivery]:
    return session.scalar(sa.select(Delivery).where(Delivery.exchange_id == ex.id).limit(1))


def add_findings(doc: DocumentRecord, findings: Iterable[Finding]) -> int:
    """Add a platform's findings to a document (once each: same rule and message); how many were new."""
    have = {(f.get("rule"), f.get("message")) for f in doc.findings or []}
    new = [f for f in findings if (f.rule, f.message) not in have]
    if new:
        doc.findings = list(doc.findings or []) + [f.as_dict() for f in new]
        doc.fatal_count = (doc.fatal_count or 0) + sum(1 for f in new if f.severity == FATAL)
        doc.warning_count = (doc.warning_count or 0) + sum(1 for f in new if f.severity != FATAL)
    return len(new)


def move_life_cycle(session: Any, doc: DocumentRecord, status: str, *, via: Iterable[str] = (), reason: str,
                    reason_code: Optional[str] = None, by: str, cycle: Optional[str] = None,
                    public_buyer: bool = False, at: Optional[datetime] = None) -> tuple[list[str], Optional[str]]:
    """Move ``doc`` to ``status`` as a platform reported it, through ``via`` when it cannot go
    straight there; (statuses recorded, why a move was not possible or None)."""
    from gateway.delivery.state import allowed_moves, cycle_of, set_business_status

    cycle = cycle or cycle_of(doc)
    moved: list[str] = []
    session.refresh(doc, ["business_status"])
    if doc.business_status == status:
        return moved, None
    steps = [status]
    if status not in allowed_moves(doc.business_status, cycle):
        steps = [v for v in via if v != doc.business_status] + [status]
    for step in steps:
        if doc.business_status == step:
            continue
        try:
            set_business_status(session, doc, step, reason=reason[:1000], by=by, at=at, cycle=cycle,
                                reason_code=reason_code if step == status else None, public_buyer=public_buyer)
        except (StatusError, ValueError) as e:
            return moved, str(e)
        moved.append(step)
    return moved, None


def next_poll(now: datetime, since: Optional[datetime], low: timedelta, high: timedelta) -> datetime:
    """Look again sooner while the deposit is young, less often as it ages (between low and high)."""
    age = now - (since or now)
    return now + min(max(age / 4, low), high)


def claim_follows(gw: Any, channel: str, now: datetime, limit: int = 500) -> list[int]:
    """Deposits of ``channel`` whose platform status is due to be read (awaiting its report, or
    acknowledged and still followed); each claimed for ``FOLLOW_LEASE``."""
    out = []
    with gw.session() as s:
        ids = list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "out", Exchange.channel == channel,
            Exchange.status.in_(("awaiting_mdn", "acknowledged")),
            Exchange.next_attempt_at.is_not(None), Exchange.next_attempt_at <= now).limit(limit)))
        for ex_id in ids:
            if compare_and_set(s, Exchange, Exchange.id == ex_id, Exchange.next_attempt_at <= now,
                               next_attempt_at=now + FOLLOW_LEASE) == 1:
                out.append(ex_id)
    return out
