"""XP Z12-013 webhooks: a member's ERP is called back when one of its flows is new or changes.

A webhook (``gateway.db.FlowWebhook``) is a partner's callback URL and filters (flow types,
direction, acknowledgement status). When a flow of that partner becomes available (an In
flow) or its acknowledgement changes (``Flow.version``), ``queue`` records one
``WebhookEvent`` per matching webhook, in the caller's transaction, with the Flow JSON it
will send; the unique (webhook, flow, version) makes a second queueing of the same change
a no-op. ``deliver`` (a job, prompted after the commit) claims the event by
compare-and-set, POSTs the body and records the attempt: a 2xx ends it (``delivered``, never
sent again), anything else is retried with ``RETRY``'s backoff up to its bound, then
``failed`` with the reason; a worker that died mid-attempt leaves a ``sending`` event the
sweep (``due``) sends again after ``LEASE``.

The signature, as the specification's ``createWebhook`` describes it: a SHA-256 fingerprint
of the body exactly as sent, ``@`` and the epoch time in seconds; an HMAC-SHA-256 of that
fingerprint with the webhook's signing key; base64. The description leaves two things open;
we chose, and say so to members: the fingerprint is hashed as its lowercase hexadecimal
text (the way the specification writes every other SHA-256 fingerprint, ``FlowInfo.sha256``),
and the key is the signing key's bytes (``signingKey`` is ``format: byte``, base64 of 32
random bytes), not its base64 text. Headers: ``Afnor-Signature`` and
``Afnor-Signature-Timestamp`` (the same seconds).

The callback URL is someone else's choice: public addresses only (``safe_http``: checked at
subscription and at each attempt, and where the socket connects), unless the partner's
``flow_api`` channel setting ``callback_private`` allows loopback and private networks
(an operator's switch, like AS2's ``mdn_url_private``). The signing key is never logged.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.db import Flow, FlowWebhook, Partner, WebhookAttempt, WebhookEvent, compare_and_set, utcnow
from gateway.delivery.retry import RetryPolicy
from gateway.transports.safe_http import ForbiddenAddress, forbidden_cause, guarded_session, url_problem

log = logging.getLogger("edigate.flow_api")

TASK = "xp_webhook"
RETRY = RetryPolicy(steps=(10, 60, 300, 1800, 3600), max_attempts=6)
LEASE = timedelta(minutes=5)             # a "sending" event older than this lost its worker
TIMEOUT = (5, 20)                        # connect, read (seconds)
KEY_BYTES = 32                           # 256 bits from the OS's secure generator
CHANNEL = "flow_api"                     # whose settings say whether private callback URLs are allowed
MAX_ERROR = 1000


# --- keys and signatures --------------------------------------------------------------------

def new_signing_key() -> str:
    """A new signing key: base64 of 32 random bytes (the specification's ``format: byte``)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def signature(signing_key: str, body: bytes, timestamp: int) -> str:
    """``Afnor-Signature`` of ``body`` sent at ``timestamp`` (see the module docstring)."""
    fingerprint = hashlib.sha256(body + b"@" + str(int(timestamp)).encode("ascii")).hexdigest()
    mac = hmac.new(base64.b64decode(signing_key), fingerprint.encode("ascii"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


# --- where callbacks may go ----------------------------------------------------------------------

def private_allowed(partner: Optional[Partner]) -> bool:
    """The partner's ``flow_api`` setting ``callback_private`` (an operator's switch)."""
    settings = ((partner.channel_settings or {}) if partner is not None else {}).get(CHANNEL) or {}
    return settings.get("callback_private") is True


def callback_problem(url: str, partner: Optional[Partner]) -> Optional[str]:
    """Why ``url`` may not be called back for ``partner`` (None: it may)."""
    if len(url) > 2000:
        return "a callback URL is at most 2000 characters"
    return url_problem(url, allow_private=private_allowed(partner))


# --- events ----------------------------------------------------------------------------------------

def queue(s, flow: Flow, body: str, now: Optional[datetime] = None) -> list[int]:
    """One event per webhook of ``flow``'s partner that wants this flow in its current state (in
    the caller's transaction); the ids to prompt once it commits. Queueing the same change
    (the same ``flow.version``) twice records nothing more."""
    now = now or utcnow()
    ids = []
    hooks = s.scalars(sa.select(FlowWebhook).where(FlowWebhook.partner_id == flow.partner_id,
                                                    FlowWebhook.deleted_at.is_(None)).order_by(FlowWebhook.id))
    for hook in hooks:
        if not hook.matches(flow):
            continue
        seen = s.scalar(sa.select(WebhookEvent.id).where(WebhookEvent.webhook_id == hook.id,
                                                         WebhookEvent.flow_id == flow.id,
                                                         WebhookEvent.version == flow.version))
        if seen is not None:
            continue
        event = WebhookEvent(webhook_id=hook.id, flow_id=flow.id, version=flow.version, body=body,
                             status="pending", status_at=now, next_attempt_at=now, created_at=now)
        try:
            with s.begin_nested():
                s.add(event)
        except IntegrityError:           # queued meanwhile by another worker: theirs stands
            continue
        ids.append(event.id)
    return ids


def prompt(gw, event_ids: list[int], at: Optional[datetime] = None) -> None:
    for event_id in event_ids:
        try:
            gw.jobs.prompt(TASK, event_id, at=at)
        except KeyError:                 # a gateway whose jobs do not know the task (no channel): the sweep
            log.warning("webhook event %s: no %s task to prompt; the sweep will send it", event_id, TASK)


class _Sessions(threading.local):
    open = None


_sessions = _Sessions()


def _http(allow_private: bool):
    """A requests session: ``guarded_session`` (public addresses only) unless private ones are
    allowed; never proxies from the environment, no automatic retries, no redirects followed."""
    if not allow_private:
        return guarded_session()
    if _sessions.open is None:
        import requests
        from requests.adapters import HTTPAdapter
        s = requests.Session()
        s.trust_env = False
        s.mount("http://", HTTPAdapter(max_retries=0))
        s.mount("https://", HTTPAdapter(max_retries=0))
        _sessions.open = s
    return _sessions.open


def _claim(gw, event_id: int, now: datetime) -> bool:
    with gw.session() as s:
        return compare_and_set(s, WebhookEvent, WebhookEvent.id == event_id, WebhookEvent.status == "pending",
                               sa.or_(WebhookEvent.next_attempt_at.is_(None), WebhookEvent.next_attempt_at <= now),
                               status="sending", status_at=now, attempts=WebhookEvent.attempts + 1) == 1


def deliver(gw, event_id: int) -> Optional[str]:
    """One attempt at a callback; its status afterwards (None: not ours now: delivered, taken by
    another worker, or not due yet)."""
    now = utcnow()
    if not _claim(gw, event_id, now):
        return None
    with gw.session() as s:
        event = s.get(WebhookEvent, event_id)
        hook = event.webhook
        url, key, body, attempt = hook.callback_url, hook.signing_key, event.body.encode("utf-8"), event.attempts
        problem = "the webhook was deleted" if hook.deleted_at is not None else callback_problem(url, hook.partner)
        allow_private = private_allowed(hook.partner)
    timestamp = int(time.time())
    code, error, final = None, None, False
    if problem:
        error, final = f"not sent: {problem}", True
    else:
        try:
            response = _http(allow_private).post(
                url, data=body, timeout=TIMEOUT, allow_redirects=False, stream=True,
                headers={"Content-Type": "application/json", "User-Agent": "edigate flow-api webhook",
                         "Afnor-Signature": signature(key, body, timestamp),
                         "Afnor-Signature-Timestamp": str(timestamp)})
            code = response.status_code
            response.close()
        except Exception as e:          # network, TLS, refused address: on record
            refused = forbidden_cause(e) or (e if isinstance(e, ForbiddenAddress) else None)
            error, final = (f"refused: {refused}", True) if refused else (f"{type(e).__name__}: {e}", False)
    return _settle(gw, event_id, attempt, timestamp, code, error, final)


def _settle(gw, event_id: int, attempt: int, timestamp: int, code: Optional[int], error: Optional[str],
            final: bool) -> str:
    now = utcnow()
    retry_at = None
    with gw.session() as s:
        event = s.get(WebhookEvent, event_id)
        event.history.append(WebhookAttempt(at=now, timestamp=timestamp, status_code=code,
                                            error=(error or None) and error[:MAX_ERROR]))
        if code is not None and 200 <= code < 300:
            event.status, event.reason, event.delivered_at = "delivered", f"HTTP {code} at attempt {attempt}", now
        else:
            why = error or f"HTTP {code}"
            if not final and not RETRY.exhausted(attempt):
                retry_at = now + RETRY.delay(attempt)
                event.status, event.next_attempt_at = "pending", retry_at
                event.reason = f"attempt {attempt} of {RETRY.max_attempts}: {why}; next at {retry_at:%Y-%m-%d %H:%M:%S}Z"
            else:
                event.status = "failed"
                event.reason = f"{why} ({'not retryable' if final else f'after {attempt} attempts'})"
        event.status_at = now
        status = event.status
    if retry_at is not None:
        prompt(gw, [event_id], at=retry_at)
    log.info("webhook event %s: %s", event_id, status)
    return status


def due(gw, now: datetime) -> int:
    """Events due now (and those whose worker died mid-attempt): prompted; how many."""
    with gw.session() as s:
        compare_and_set(s, WebhookEvent, WebhookEvent.status == "sending", WebhookEvent.status_at < now - LEASE,
                        status="pending", next_attempt_at=now, reason="the sending worker stopped; sending again")
        ids = list(s.scalars(sa.select(WebhookEvent.id).where(
            WebhookEvent.status == "pending", WebhookEvent.next_attempt_at <= now)
            .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id).limit(500)))
    prompt(gw, ids)
    return len(ids)


def describe(hook: FlowWebhook, *, with_key: bool = False) -> dict[str, Any]:
    """The webhook as the specification writes it (``Webhook``; the signing key only at creation)."""
    out: dict[str, Any] = {"webhookId": hook.uid, "createdAt": iso(hook.created_at), "callbackUrl": hook.callback_url}
    if with_key:
        out["signingKey"] = hook.signing_key
    if hook.flow_types:
        out["flowTypes"] = list(hook.flow_types)
    if hook.flow_direction:
        out["flowDirection"] = hook.flow_direction
    if hook.ack_status:
        out["ackStatus"] = hook.ack_status
    return out


def iso(when: datetime) -> str:
    """An RFC 3339 date-time in UTC (``Z``), to the microsecond."""
    from datetime import timezone
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
