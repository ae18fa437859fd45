"""What a platform has for us, found by searching its Flow Service, not only by its webhooks.

A webhook call can be lost (our server down at that moment, the platform giving up after its
retries, a partner we never subscribed to): the flow would then never be fetched and a status
never applied. So each ``pa`` partner's Flow Service is also searched on the sweep for the In
flows acknowledged ``Ok`` updated since the last search (``updatedAfter``, in the platform's own
clock: its ``updatedAt`` values, as the specification asks consumers to use its times), and
each is taken as a webhook call would take it (``pa.take_flow``: fetched and received once per
``flowId``, so what a webhook already brought is not taken twice). The channel hands its own
parts in (``Parts``: a partner's settings, its client, how a flow is taken), so this module
does not import the channel's.

The watermark (the latest ``updatedAt`` seen, less ``OVERLAP`` for flows the platform commits
late) is kept per partner in a small file under the gateway's home (``pa/partner-<id>.json``),
written whole then renamed. Without one, the search starts ``FIRST_LOOK_BACK`` before the
partner was created. Searches run every ``EVERY_WITH_WEBHOOK`` when we have a webhook there,
every ``EVERY_WITHOUT`` otherwise (the search is then how flows reach us), bounded in pages.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import sqlalchemy as sa

from gateway.db import Partner
from gateway.transports.xp_z12013 import FlowServiceError, acknowledgement, check_id

log = logging.getLogger("edigate.pa")

EVERY_WITH_WEBHOOK = timedelta(minutes=10)
EVERY_WITHOUT = timedelta(minutes=1)
OVERLAP = timedelta(minutes=5)
FIRST_LOOK_BACK = timedelta(days=1)
PAGE, MAX_PAGES = 100, 20                # at most 2,000 flows a search (the rest: next time)


def _path(gw: Any, partner_id: int) -> Path:
    return Path(gw.settings.home) / "pa" / f"partner-{partner_id}.json"


def _read(gw: Any, partner_id: int) -> dict[str, Any]:
    try:
        state = json.loads(_path(gw, partner_id).read_text(encoding="utf-8"))
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(gw: Any, partner_id: int, state: dict[str, Any]) -> None:
    path = _path(gw, partner_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def _when(text: Any) -> Optional[datetime]:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Parts:
    """What the channel lends the search: ``settings(partner)`` (its validated pa settings or
    None), ``client(settings, certs_dir)``, ``take(gw, partner_id, settings, flow)`` (an answer
    with ``status`` and ``body``), and the errors that mean "not now" besides the API's."""
    settings: Callable[[Any], Optional[dict[str, Any]]]
    client: Callable[[Any, Path], Any]
    take: Callable[[Any, int, Any, Any], Any]
    config_errors: tuple[type[Exception], ...] = ()


def due_catch_ups(gw: Any, parts: Parts, *, now: datetime) -> list[int]:
    """The active ``pa`` partners whose Flow Service is due to be searched at ``now``."""
    partner_settings = parts.settings
    aware = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    out = []
    with gw.session() as s:
        for partner in s.scalars(sa.select(Partner).where(Partner.active.is_(True)).order_by(Partner.id)):
            settings = partner_settings(partner)
            if not settings or not settings.get("flow_url"):
                continue
            last = _when(_read(gw, partner.id).get("checked_at"))
            every = EVERY_WITH_WEBHOOK if settings.get("webhook_secret") else EVERY_WITHOUT
            if last is None or last + every <= aware:
                out.append(partner.id)
    return out


def catch_up(gw: Any, parts: Parts, partner_id: int, now: Optional[datetime] = None) -> dict[str, int]:
    """Search one partner's Flow Service for the In flows we may have missed and take them;
    ``{"found": n, "taken": m}`` (taken: received now; the others we had)."""
    partner_settings, client_for, take_flow = parts.settings, parts.client, parts.take
    now = now or datetime.now(timezone.utc)
    with gw.session() as s:
        partner = s.get(Partner, partner_id)
        settings = partner_settings(partner) if partner is not None and partner.active else None
        created = partner.created_at if partner is not None else None
    if not settings or not settings.get("flow_url"):
        return {"found": 0, "taken": 0}
    state = _read(gw, partner_id)
    since = _when(state.get("updated_after"))
    if since is None:
        base = created.replace(tzinfo=timezone.utc) if created is not None and created.tzinfo is None else created
        since = (base or now) - FIRST_LOOK_BACK
    found = taken = 0
    latest = since
    try:
        client = client_for(settings, gw.settings.certs_dir)
        for flow in client.search_flows(updated_after=_stamp(since), flow_direction=["In"], ack_status="Ok",
                                        limit=PAGE, max_pages=MAX_PAGES):
            try:
                check_id(flow.get("flowId"))
            except FlowServiceError:
                continue
            if acknowledgement(flow)[0] != "Ok" or flow.get("flowDirection") not in (None, "In"):
                continue
            found += 1
            answer = take_flow(gw, partner_id, settings, flow)
            if answer.status != 200:            # not fetched now: the watermark stays before it
                log.warning("pa catch-up for partner %s: flow %s not taken: %s", partner_id, flow["flowId"],
                            answer.body)
                raise _Stop()
            if str(answer.body.get("taken", "")).startswith("received"):
                taken += 1
            updated = _when(flow.get("updatedAt"))
            if updated is not None and updated > latest:
                latest = updated
    except _Stop:                           # what was taken is kept; the next search starts where this one did
        _write(gw, partner_id, {**state, "checked_at": _stamp(now)})
        return {"found": found, "taken": taken}
    except (FlowServiceError, *parts.config_errors) as e:
        log.warning("pa catch-up for partner %s failed: %s", partner_id, e)
        _write(gw, partner_id, {**state, "checked_at": _stamp(now), "error": str(e)[:500]})
        return {"found": found, "taken": taken}
    _write(gw, partner_id, {"updated_after": _stamp(max(since, latest - OVERLAP)), "checked_at": _stamp(now)})
    if taken:
        log.info("pa catch-up for partner %s: %d flow(s) found, %d received that no webhook brought",
                 partner_id, found, taken)
    return {"found": found, "taken": taken}


class _Stop(Exception):
    """A flow that could not be taken now: stop here, the next search starts before it."""
