"""Channel profiles on a gateway's home: the same checks behind ``edigate partner add/set``
(on a migrated database) and the REST API's partner JSON, and a network setting checked
against the networks on record. What is accepted, normalised and refused without a home
is in tests/unit/test_channels_profiles.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.cli.partner import partner_group
from gateway.channels import ChannelSettingsError, validate_channel_settings
from gateway.db import Network, Partner, migrate, session_scope
from tests.support.web_seed import app, client, gw, people, seeded  # noqa: F401

API = "/api/v1"
ADDRESS = {"name": "Buyer SARL", "lines": ["12 rue de la Paix"], "postcode": "75002", "city": "Paris", "country": "FR"}


def test_a_network_named_must_exist_when_a_session_is_given(gw):
    with gw.session() as s:
        with pytest.raises(ChannelSettingsError, match="no network 'NOPE' is known"):
            validate_channel_settings("network", {"network": "NOPE"}, session=s)


# --- the CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    migrate(f"sqlite:///{tmp_path}/edigate.db")
    return tmp_path


@click.group()
def cli() -> None:
    """``edigate partner`` as the main command carries it."""


cli.add_command(partner_group)


def run(*args: Any):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _stored(home: Path, name: str) -> tuple[Any, Any, Any]:
    with session_scope(f"sqlite:///{home}/edigate.db") as s:
        p = s.scalar(sa.select(Partner).where(Partner.name == name))
        return (None, None, None) if p is None else (p.preferred_channel, p.channel_settings, p.contact_email)


def test_cli_sets_and_shows_channel_settings(home, tmp_path):
    body = tmp_path / "body.txt"
    body.write_text("Bonjour,\n{{ title }} {{ number }} : {{ amount }}.\n", encoding="utf-8")
    r = run("partner", "add", "Buyer SARL", "--id", "GLN:4000001000005", "--channel", "email",
            "--email-to", "AP@Buyer.example", "--email-to", "compta@buyer.example", "--attach", "facturx+ubl",
            "--email-subject", "Facture {{ number }}", "--email-body-file", body,
            "--postal-address", "Buyer SARL; 12 rue de la Paix; 75002 Paris; FR", "--contact-email", "boss@buyer.example")
    assert r.exit_code == 0, r.output
    channel, settings, contact = _stored(home, "Buyer SARL")
    assert (channel, contact) == ("email", "boss@buyer.example")
    assert settings == {"email": {"to": ["AP@buyer.example", "compta@buyer.example"], "subject": "Facture {{ number }}",
                                  "body": body.read_text(encoding="utf-8"), "attach": "facturx+ubl"},
                        "paper": {"address": ADDRESS}}
    shown = run("partner", "show", "Buyer SARL").output
    assert ("email settings:    to AP@buyer.example, compta@buyer.example; subject 'Facture {{ number }}'; "
            f"body custom ({len(body.read_text(encoding='utf-8'))} characters); attach facturx+ubl") in shown
    assert "paper settings:    address Buyer SARL, 12 rue de la Paix, 75002 Paris, FR" in shown
    assert "contact e-mail:    boss@buyer.example" in shown
    # set changes only what is given; "" clears
    r = run("partner", "set", "Buyer SARL", "--channel", "portal", "--notify", "ap@buyer.example", "--email-subject", "")
    assert r.exit_code == 0, r.output
    channel, settings, _ = _stored(home, "Buyer SARL")
    assert channel == "portal" and settings["portal"] == {"notify": ["ap@buyer.example"]}
    assert "subject" not in settings["email"] and settings["email"]["attach"] == "facturx+ubl"


@pytest.mark.parametrize("args, says", [
    (("--channel", "email"), "the email channel needs at least one address"),
    (("--channel", "email", "--email-to", "x@"), "email.to[0]: 'x@' is not an e-mail address"),
    (("--attach", "zip"), "email.attach: 'zip': expected one of facturx, ubl, cii, facturx+ubl"),
    (("--email-subject", "{{ nope }}"), "email.subject: 'nope' is undefined"),
    (("--postal-address", "Paris"), "paper.address: expected \"Name; street line;"),
    (("--channel", "network", "--via-network", "NOPE"), "network.network: no network 'NOPE' is known"),
    (("--contact-email", "not an address"), "'not an address' is not an e-mail address"),
])
def test_cli_refusals_name_the_setting_and_write_nothing(home, args, says):
    r = run("partner", "add", "Buyer SARL", *args)
    assert r.exit_code == 2, r.output
    assert says in r.output
    assert _stored(home, "Buyer SARL") == (None, None, None)


# --- the REST API ------------------------------------------------------------------------------------

def test_api_partner_json_carries_channel_settings_and_contact(gw, client, people, seeded):
    with gw.session() as s:
        partner = s.get(Partner, seeded.acme)
        s.add(Network(code="PEPPOL-X", name="Peppol X", partner=partner, formats=["ubl"]))
    body = {"name": "Initech", "preferred_channel": "email", "contact_email": "Boss@Initech.EXAMPLE",
            "channel_settings": {"email": {"to": ["ap@initech.example"], "attach": "cii"},
                                 "paper": {"address": ADDRESS}}}
    r = client.post(f"{API}/partners", json=body, headers=people.auth("olivia"))
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert created["contact_email"] == "Boss@initech.example"
    assert created["channel_settings"] == {"email": {"to": ["ap@initech.example"], "attach": "cii"},
                                           "paper": {"address": ADDRESS}}
    # a channel given replaces that channel's settings; null removes them; the others stay
    r = client.patch(f"{API}/partners/{created['id']}", headers=people.auth("olivia"), json={
        "preferred_channel": "network", "channel_settings": {"paper": None, "network": {"network": "PEPPOL-X"}}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["channel_settings"] == {"email": {"to": ["ap@initech.example"], "attach": "cii"},
                                                "network": {"network": "PEPPOL-X"}}
    with gw.session() as s:
        p = s.get(Partner, created["id"])
        assert (p.preferred_channel, p.channel_settings["network"]) == ("network", {"network": "PEPPOL-X"})
    assert client.get(f"{API}/partners/{created['id']}", headers=people.auth("sam")).get_json()["channel_settings"] \
        == r.get_json()["channel_settings"]


@pytest.mark.parametrize("body, field", [
    ({"name": "X", "channel_settings": {"email": {"to": ["ok@x.example", "bad"]}}}, "channel_settings.email.to[1]"),
    ({"name": "X", "channel_settings": {"email": {"subject": "{{ nope }}"}}}, "channel_settings.email.subject"),
    ({"name": "X", "channel_settings": {"fax": {}}}, "channel_settings.fax"),
    ({"name": "X", "channel_settings": {"paper": {"address": {"name": "X"}}}}, "channel_settings.paper.address.lines"),
    ({"name": "X", "channel_settings": []}, "channel_settings"),
    ({"name": "X", "contact_email": "nobody"}, "contact_email"),
    ({"name": "X", "preferred_channel": "email"}, "channel_settings"),
    ({"name": "X", "preferred_channel": "network", "channel_settings": {"network": {"network": "NOPE"}}},
     "channel_settings.network.network"),
])
def test_api_refusals_name_the_setting(gw, client, people, seeded, body, field):
    r = client.post(f"{API}/partners", json=body, headers=people.auth("admin"))
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["details"], r.get_json()
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Partner).where(Partner.name == "X")) == 0
