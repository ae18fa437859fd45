"""RFC 8058 one-click unsubscribe: a mail provider POSTs ``List-Unsubscribe=One-Click`` to the
opt-out URL with no cookie and no CSRF token; the signed token alone opts the counterparty out."""
from __future__ import annotations

import sqlalchemy as sa

from gateway.db import utcnow
from onboarding import links
from onboarding.models import CampaignMail, Counterparty, Invitation, TrackingEvent
from tests.support.onboarding_web_seed import invite
from tests.support.web_seed import app, client, gw  # noqa: F401

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _opted_out_events(gw, counterparty_id: int) -> int:
    with gw.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(TrackingEvent).where(
            TrackingEvent.counterparty_id == counterparty_id, TrackingEvent.kind == "opted_out"))


def test_a_providers_one_click_post_opts_out_once_and_stops_reminders(gw, app) -> None:
    link = invite(gw, app.secret_key)
    with gw.session() as s:
        inv = s.get(Invitation, link.invitation_id)
        s.add(CampaignMail(invitation_id=inv.id, step="reminder-1", status="scheduled", due_at=utcnow()))
        token = links.optout_token(app.secret_key, inv)
    provider = app.test_client(use_cookies=False)            # no session, no CSRF token, as a mailbox provider
    first = provider.post(f"/optout/{token}", data=ONE_CLICK)
    assert first.status_code == 200
    again = provider.post(f"/optout/{token}", data=ONE_CLICK)   # providers retry: still fine, recorded once
    assert again.status_code == 200
    with gw.session() as s:
        cp = s.get(Counterparty, link.counterparty_id)
        assert cp.opted_out_at is not None and cp.status == "opted_out"
        assert s.scalar(sa.select(CampaignMail.status).where(CampaignMail.invitation_id == link.invitation_id)) \
            == "cancelled"
    assert _opted_out_events(gw, link.counterparty_id) == 1


def test_a_forged_token_is_refused_even_in_one_click(gw, app) -> None:
    link = invite(gw, app.secret_key)
    with gw.session() as s:
        token = links.optout_token(app.secret_key, s.get(Invitation, link.invitation_id))
    provider = app.test_client(use_cookies=False)
    assert provider.post(f"/optout/{token[:-2]}xx", data=ONE_CLICK).status_code == 404
    assert provider.post(f"/optout/{token}", data={"List-Unsubscribe": "yes"}).status_code == 400  # not one-click: CSRF
    with gw.session() as s:
        assert s.get(Counterparty, link.counterparty_id).opted_out_at is None
    assert _opted_out_events(gw, link.counterparty_id) == 0
