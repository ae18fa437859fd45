"""Registration, opt-out and open links: each misuse refused with its own kind; tracking events
recorded once; the funnel (cumulative, distinct counterparties), the timeline and the CSV exports."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from gateway.config import load_settings
from gateway.db import utcnow
from gateway.runtime import Gateway
from onboarding import links, tracking
from onboarding.campaigns import add_wave, create_campaign, start_campaign
from onboarding.importer import import_csv
from onboarding.mailing import start_wave
from onboarding.models import CampaignMail, Counterparty, Invitation, TrackingEvent

from tests.support.onboarding_fixtures import counterparty_csv

SECRET = b"test-secret-key"


@pytest.fixture
def gw(tmp_path):
    g = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}))
    yield g
    g.close()


@pytest.fixture
def invited(gw):
    """Three counterparties invited by a started wave (no mail sent): the invitation ids."""
    now = utcnow()
    with gw.session() as s:
        import_csv(s, counterparty_csv(3))
        c = create_campaign(s, "Links", link_valid_days=10)
        start_campaign(s, c)
        w = add_wave(s, c, "w", now)
        w.status = "running"
        start_wave(s, w, now)
        return [i.id for i in s.scalars(sa.select(Invitation).order_by(Invitation.id))]


def test_a_valid_registration_link_reads_back_its_invitation(gw, invited):
    with gw.session() as s:
        inv = s.get(Invitation, invited[0])
        url = links.registration_url("https://edigate.test/", SECRET, inv)
        assert url.startswith("https://edigate.test/register/")
        token = url.rsplit("/", 1)[1]
        assert links.read_registration_token(s, SECRET, token).id == inv.id


def _kind(gw, token, *, now=None, secret=SECRET) -> str:
    with gw.session() as s:
        with pytest.raises(links.LinkError) as e:
            links.read_registration_token(s, secret, token, now)
        return e.value.kind


def test_forged_links_are_refused_as_forged(gw, invited):
    with gw.session() as s:
        token = links.registration_token(SECRET, s.get(Invitation, invited[0]))
    assert _kind(gw, token, secret=b"another gateway's key") == "forged"
    assert _kind(gw, token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")) == "forged"   # signature changed
    assert _kind(gw, token[:20]) == "forged"                                                   # cut when copied
    assert _kind(gw, "") == "forged" and _kind(gw, "x" * 5000) == "forged"
    # signed with our key but for another purpose (an opt-out token) is not a registration link
    with gw.session() as s:
        assert _kind(gw, links.optout_token(SECRET, s.get(Invitation, invited[0]))) == "forged"
    # signed by us over a payload we never make
    assert _kind(gw, URLSafeSerializer(SECRET, salt=links.REGISTER_SALT).dumps({"id": 1})) == "forged"


def test_expired_used_revoked_and_unknown_links_say_so(gw, invited):
    with gw.session() as s:
        inv = s.get(Invitation, invited[0])
        token = links.registration_token(SECRET, inv)
        expires = inv.expires_at
    assert _kind(gw, token, now=expires) == "expired"
    with gw.session() as s:
        assert links.read_registration_token(s, SECRET, token, expires - timedelta(seconds=1)).id == invited[0]
        s.get(Invitation, invited[0]).used_at = utcnow()
    assert _kind(gw, token) == "used"

    with gw.session() as s:
        inv = s.get(Invitation, invited[1])
        old = links.registration_token(SECRET, inv)
        links.revoke(inv)
        new = links.registration_token(SECRET, inv)
    assert _kind(gw, old) == "revoked"
    with gw.session() as s:
        assert links.read_registration_token(s, SECRET, new).id == invited[1]
        s.get(Invitation, invited[1]).status = "stopped"
    assert _kind(gw, new) == "revoked"

    with gw.session() as s:
        inv = s.get(Invitation, invited[2])
        token = links.registration_token(SECRET, inv)
        s.execute(sa.delete(Invitation).where(Invitation.id == inv.id))     # its mails go with it (cascade)
    assert _kind(gw, token) == "unknown"


def test_opting_out_stops_every_mail_and_is_recorded_once(gw, invited):
    with gw.session() as s:
        inv = s.get(Invitation, invited[0])
        token = links.optout_token(SECRET, inv)
        cp_id = inv.counterparty_id
        assert [m.status for m in inv.mails] == ["scheduled"]
    later = utcnow() + timedelta(days=400)              # opt-out links never expire
    with gw.session() as s:
        cp = tracking.record_opt_out(s, SECRET, token, later)
        assert (cp.status, cp.opted_out_at, cp.invitable) == ("opted_out", later, False)
    with gw.session() as s:
        tracking.record_opt_out(s, SECRET, token)       # twice: nothing more
        inv = s.get(Invitation, invited[0])
        assert inv.status == "opted_out"
        assert [(m.status, m.error) for m in inv.mails] == [("cancelled", "counterparty opted out")]
        kinds = [e.kind for e in tracking.timeline(s, cp_id)]
        assert kinds == ["imported", "opted_out"]
    with gw.session() as s:
        with pytest.raises(links.LinkError) as e:
            tracking.record_opt_out(s, SECRET, token + "x")
        assert e.value.kind == "forged"


def test_open_click_and_registration_start_count_once_and_fill_the_funnel(gw, invited):
    t0 = utcnow()
    with gw.session() as s:
        mails = {m.invitation_id: m for m in s.scalars(sa.select(CampaignMail))}
        for inv_id in invited[:2]:          # pretend two were sent
            m = mails[inv_id]
            m.status, m.sent_at = "sent", t0
            tracking.record_event(s, m.invitation, "sent", now=t0, mail_id=m.id)
        campaign_id = mails[invited[0]].invitation.campaign_id
        pixel = links.open_pixel_url("https://edigate.test", SECRET, mails[invited[0]].id)
        assert pixel.endswith(".gif")
        token = pixel.rsplit("/", 1)[1]
    with gw.session() as s:
        assert tracking.record_open(s, SECRET, token, t0) is not None
        assert tracking.record_open(s, SECRET, token, t0) is None           # second fetch
        assert tracking.record_open(s, SECRET, "garbage.gif", t0) is None   # not ours: nothing
        inv1 = s.get(Invitation, invited[1])
        assert tracking.record_click(s, inv1, t0) is not None              # clicked without the pixel loading
        assert tracking.record_click(s, inv1, t0) is None
        assert tracking.record_registration_started(s, inv1, t0) is not None
        assert tracking.record_registration_started(s, inv1, t0) is None
        assert (inv1.status, inv1.counterparty.status) == ("registering", "registering")
    with gw.session() as s:
        stages = {f.stage: f.count for f in tracking.funnel(s, campaign_id)}
        assert stages == {"invited": 3, "sent": 2, "opened": 2, "clicked": 1, "registration_started": 1,
                          "enrolled": 0, "bounced": 0, "opted_out": 0}
        assert [f.stage for f in tracking.funnel(s, campaign_id)] == list(tracking.STAGES + tracking.EXITS)
        inv0 = s.get(Invitation, invited[0])
        assert inv0.first_opened_at == t0
        assert [e.kind for e in tracking.timeline(s, inv1.counterparty_id)] == [
            "imported", "sent", "clicked", "registration_started"]

        rows = list(csv.DictReader(io.StringIO(tracking.funnel_csv(s, campaign_id))))
        overall = {r["stage"]: int(r["count"]) for r in rows if r["wave"] == "(all waves)"}
        per_wave = {r["stage"]: int(r["count"]) for r in rows if r["wave"] == "w"}
        assert overall == per_wave == stages
        people = list(csv.DictReader(io.StringIO(tracking.counterparties_csv(s, campaign_id))))
        assert [(p["invitation_status"], p["mails_sent"]) for p in people] == [
            ("pending", "1"), ("registering", "1"), ("pending", "0")]
        assert people[1]["registration_started_at"] and people[1]["clicked_at"]


def test_csv_export_defuses_spreadsheet_formulas(gw):
    with gw.session() as s:
        s.add(Counterparty(name="=HYPERLINK(\"http://evil\")", email="a@example.test", dedupe_key="EM:a@example.test"))
    with gw.session() as s:
        text = tracking.counterparties_csv(s)
    row = list(csv.DictReader(io.StringIO(text)))[0]
    assert row["name"] == "'=HYPERLINK(\"http://evil\")"


def test_an_event_of_an_unknown_kind_is_refused(gw, invited):
    with gw.session() as s:
        with pytest.raises(ValueError):
            tracking.record_event(s, s.get(Invitation, invited[0]), "teleported")
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(TrackingEvent)
                        .where(TrackingEvent.kind == "teleported")) == 0
