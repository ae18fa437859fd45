"""The registration form offers the registry's self-service channels, a plug-in's too.

``CarrierPigeon`` below is a channel only these tests register (as tests/integration/test_channel_plugin.py
does): self-service, with two settings and its own checks. Nothing in onboarding names it, yet the
form offers it (its label, one input per setting), reads its settings, has the channel check them
(a refusal next to its input, naming the setting) and enrols a partner receiving over it.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import pytest
import sqlalchemy as sa

from gateway.db import Partner, utcnow
from gateway.delivery.channel import Channel, ChannelSettingsError, registry
from onboarding.enrol import Enrolment, enrol
from onboarding.models import Registration
from onboarding.web import messages
from tests.support.onboarding_web_seed import SIRET, company_form, csrf_of, field_error, input_value, invite, text
from tests.support.web_seed import app, client, gw  # noqa: F401


class CarrierPigeon(Channel):
    """Carries invoices to a loft; a ring number (digits) and, with it, the loft's name."""

    name, label = "pigeon", "Carrier pigeon"
    self_service = True
    settings_keys = ("ring", "loft")

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        ring, loft = settings.get("ring"), settings.get("loft")
        if ring is not None and (not isinstance(ring, str) or not ring.isdigit()):
            raise ChannelSettingsError("pigeon.ring", "a ring number is digits")
        if loft and not ring:
            raise ChannelSettingsError("pigeon", "a loft needs a ring number")
        return {k: v for k, v in (("ring", ring), ("loft", loft)) if v}


@pytest.fixture
def pigeon():
    channel = registry.register(CarrierPigeon())
    yield channel
    registry.unregister(channel.name)


def radios(response) -> list[tuple[str, str]]:
    """The ways of receiving the page offers: (value, label), in order."""
    found = re.findall(r'<input type="radio" name="channel" value="([^"]+)"[^>]*>\s*([^<]+?)\s*</label>',
                       response.get_data(as_text=True))
    return [(value, label) for value, label in found]


def submit(client, link, form: dict):
    page = client.get(link.url)
    assert page.status_code == 200, text(page)
    return client.post(link.url, data=dict(form, csrf_token=csrf_of(page)))


def partners(gw) -> list[Partner]:
    with gw.session() as s:
        return list(s.scalars(sa.select(Partner).order_by(Partner.id)))


def test_the_form_offers_the_self_service_channels_and_a_plug_in_one_after_them(gw, client, pigeon) -> None:
    link = invite(gw, client.application.secret_key)
    page = client.get(link.url)
    assert radios(page) == [("email", "By e-mail"), ("portal", "On our web portal"), ("as2", "AS2 (your AS2 server)"),
                            ("sftp", "SFTP (you fetch them from our server)"),
                            ("network", "Through a network you already belong to"), ("pigeon", "Carrier pigeon")]
    body = page.get_data(as_text=True)
    assert '<label for="f-pigeon-ring">ring</label>' in body and '<label for="f-pigeon-loft">loft</label>' in body
    assert input_value(page, "pigeon-ring") == "" and "<script" not in body


def test_a_catalogue_names_a_plug_in_channel_and_its_settings_when_it_has_them(gw, client, pigeon,
                                                                                monkeypatch) -> None:
    from gateway import i18n
    assert messages.channel_labels("en")["pigeon"] == "Carrier pigeon"       # no message: the channel's label
    # a plug-in's messages: their keys and English, their French in the catalogue
    monkeypatch.setitem(messages.MESSAGES, "ch_pigeon", "By carrier pigeon")
    monkeypatch.setitem(messages.MESSAGES, "ch_pigeon_ring", "Ring number")
    monkeypatch.setitem(i18n.translations("fr")._catalog, "By carrier pigeon", "Par pigeon voyageur")
    monkeypatch.setitem(i18n.translations("fr")._catalog, "Ring number", "Numéro de bague")
    link = invite(gw, client.application.secret_key, language="fr")
    page = client.get(link.url)
    assert radios(page)[-1] == ("pigeon", "Par pigeon voyageur")
    assert '<label for="f-pigeon-ring">Numéro de bague</label>' in page.get_data(as_text=True)
    assert messages.channel_labels("en")["pigeon"] == "By carrier pigeon"


def test_registering_with_a_plug_in_channel_enrols_a_partner_with_its_checked_settings(gw, client, pigeon) -> None:
    link = invite(gw, client.application.secret_key)
    r = submit(client, link, company_form(channel="pigeon", **{"pigeon-ring": " 4217 ", "pigeon-loft": ""}))
    assert r.status_code == 303, text(r)[:1500]
    [p] = partners(gw)
    assert p.active and p.name == "Dupont Fournitures SARL"
    assert (p.preferred_channel, p.preferred_format, p.channel_settings) == ("pigeon", None,
                                                                             {"pigeon": {"ring": "4217"}})
    with gw.session() as s:
        reg = s.scalar(sa.select(Registration).where(Registration.partner_id == p.id))
        assert reg.data["channel"] == "pigeon" and reg.data["channel_settings"] == {"pigeon": {"ring": "4217"}}
    done = text(client.get(r.headers["Location"]))
    assert "Dupont Fournitures SARL is registered" in done and "Carrier pigeon" in done and "4217" in done


def test_a_plug_in_channels_refusals_are_shown_at_its_fields_naming_the_setting(gw, client, pigeon) -> None:
    link = invite(gw, client.application.secret_key)
    r = submit(client, link, company_form(channel="pigeon", **{"pigeon-ring": "four", "pigeon-loft": "North"}))
    assert r.status_code == 422
    assert field_error(r, "pigeon-ring") == "pigeon.ring: a ring number is digits"
    assert field_error(r, "pigeon-loft") is None and field_error(r, "channel") is None
    assert input_value(r, "pigeon-ring") == "four" and input_value(r, "pigeon-loft") == "North"    # input kept
    # a refusal of no one setting goes next to the choice of channel, still naming what refused
    r = submit(client, link, company_form(channel="pigeon", **{"pigeon-ring": "", "pigeon-loft": "North"}))
    assert r.status_code == 422 and field_error(r, "channel") == "pigeon: a loft needs a ring number"
    assert partners(gw) == []


def test_only_self_service_channels_are_offered_and_accepted(gw, client) -> None:
    """Without the plug-in registered, or for a channel that is not self-service (paper, api), the
    form offers nothing of it and refuses the choice; enrolment refuses it too."""
    assert "pigeon" not in registry.names() and registry.get("paper") is not None
    link = invite(gw, client.application.secret_key)
    offered = [value for value, _ in radios(client.get(link.url))]
    assert offered == ["email", "portal", "as2", "sftp", "network"]
    for channel in ("pigeon", "paper", "api"):
        r = submit(client, link, company_form(channel=channel, **{f"{channel}-ring": "4217"}))
        assert r.status_code == 422
        assert field_error(r, "channel") == "choose how you want to receive your invoices", channel
    with gw.session() as s, pytest.raises(ValueError, match="'paper' is not one a counterparty may choose"):
        enrol(s, link.invitation_id, Enrolment(name="X", identifiers=(("0009", SIRET),), company_email="a@x.example",
                                               contact_name="A", contact_email="a@x.example", channel="paper"),
              now=utcnow())
    assert partners(gw) == []
