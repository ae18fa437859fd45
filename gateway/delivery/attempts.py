"""Attempts: an outbound exchange is a durable job that ends acknowledged, or failed with its reason.

``send_exchange`` claims a due exchange (compare-and-set ``queued``/``retrying`` →
``sending``, so two workers never send it at once) and hands it to its channel's
``send`` (the registry's: ``gateway.delivery.channel``). A channel reports a failed
attempt with ``settle_failure``: failures that may pass (network, 5xx, no MDN in
time) are retried with the partner's backoff up to a bound; the rest fail at once.
A channel keeps the exchange's Message-ID from its first attempt, so a receiver
that has it answers "duplicate". A worker that dies mid-send leaves a ``sending``
row whose lease expires (``due_sends``): sent again, unless its channel says a
second send could deliver twice (e-mail handed to the SMTP server).

The retry policy is ``RETRY`` unless the partner's options (``Partner.as2_options``)
say otherwise: ``retry_backoff_seconds`` (list) and ``max_attempts``.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa

from gateway.db import Delivery, Exchange, Partner, compare_and_set, utcnow
from gateway.delivery.channel import registry
from gateway.delivery.retry import RetryPolicy
from gateway.delivery.state import set_status

log = logging.getLogger("edigate.attempts")

RETRY = RetryPolicy(steps=(60, 300, 900, 3600, 14400), max_attempts=6)     # seconds; a partner may set its own
SENDING_LEASE = timedelta(minutes=15)      # a "sending" row older than this lost its worker


def options(partner: Optional[Partner]) -> dict:
    """A partner's delivery options (retry policy, and the channels' own switches)."""
    return dict(partner.as2_options or {}) if partner is not None else {}


def retry_policy(partner: Optional[Partner]) -> RetryPolicy:
    """The partner's retry policy: ``RETRY`` with its ``retry_backoff_seconds`` and ``max_attempts``."""
    return RetryPolicy.from_options(options(partner), RETRY)


def claim(gw, exchange_id: int, *, now: Optional[datetime] = None) -> bool:
    """Compare-and-set a due outbound exchange to ``sending``; False if someone else has it or
    it is not due yet (a prompt that comes early sends nothing)."""
    now = now or utcnow()
    with gw.session() as s:
        n = compare_and_set(s, Exchange,
                            Exchange.id == exchange_id, Exchange.direction == "out",
                            Exchange.status.in_(("queued", "retrying")),
                            sa.or_(Exchange.next_attempt_at.is_(None), Exchange.next_attempt_at <= now),
                            status="sending", status_at=now, attempts=Exchange.attempts + 1, reason=None)
        if n != 1:
            return False
        ex = s.get(Exchange, exchange_id)
        ex.history.append(ex._event("sending", now, f"attempt {ex.attempts}"))
        for d in s.scalars(sa.select(Delivery).where(Delivery.exchange_id == ex.id)):
            if "sending" in d.TRANSITIONS.get(d.status, ()):
                d.set_status("sending", f"attempt {ex.attempts}", at=now)
    return True


def send_exchange(gw, exchange_id: int, *, now: Optional[datetime] = None) -> Optional[str]:
    """One attempt at an outbound exchange; returns its status afterwards (None: not ours to send:
    taken by another worker, settled, or not due ``now``). Its channel decides how."""
    if not claim(gw, exchange_id, now=now):
        return None
    with gw.session() as s:
        name = s.get(Exchange, exchange_id).channel
    channel = registry.get(name)
    if channel is not None:
        try:
            return channel.send(gw, exchange_id)
        except NotImplementedError:
            pass
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        set_status(ex, "failed", f"channel {name} has no sender")
        return ex.status


def settle_failure(gw, exchange_id: int, message: str, *, retryable: bool) -> str:
    """After a failed attempt: ``retrying`` with the partner's backoff while attempts remain and
    the failure may pass, else ``failed`` with the reason. Schedules the next attempt."""
    now = utcnow()
    retry_at = None
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        attempts, policy = ex.attempts, retry_policy(ex.partner)
        if retryable and not policy.exhausted(attempts):
            retry_at = now + policy.delay(attempts)
            ex.next_attempt_at = retry_at
            set_status(ex, "retrying", f"attempt {attempts} of {policy.max_attempts}: {message}; "
                                       f"next at {retry_at:%Y-%m-%d %H:%M:%S}Z", at=now)
        else:
            why = "not retryable" if not retryable else f"after {attempts} attempts"
            set_status(ex, "failed", f"{message} ({why})", at=now)
        status = ex.status
    if retry_at is not None:
        gw.jobs.send(exchange_id, at=retry_at)
    return status


def due_sends(gw, *, now: datetime) -> list[int]:
    """Outbound exchanges due now, plus those whose sender died mid-send (lease expired)."""
    with gw.session() as s:
        stale = s.scalars(sa.select(Exchange).where(
            Exchange.direction == "out", Exchange.status == "sending",
            Exchange.status_at < now - SENDING_LEASE)).all()
        for ex in stale:
            channel = registry.get(ex.channel)
            why = channel.lease_expired(s, ex) if channel is not None else None
            if why:
                set_status(ex, "failed", why, at=now)
                continue
            ex.next_attempt_at = now
            set_status(ex, "retrying", "the sending worker stopped mid-send; sending again (same Message-ID)", at=now)
        return list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "out", Exchange.status.in_(("queued", "retrying")),
            Exchange.next_attempt_at <= now)))
