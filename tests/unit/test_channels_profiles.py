"""Channel profiles as data (each channel's settings in gateway/channels/): what is accepted, normalised and refused
(naming the setting), the fallback for a recipient that chose no channel, and the same checks
behind ``edigate partner add/set`` and the REST API's partner JSON."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.cli.partner import partner_group
from gateway.channels import ChannelSettingsError, PostalAddress, validate_all, validate_channel_settings
from gateway.channels.email import EmailProfile
from gateway.channels.paper import PaperProfile
from gateway.channels.portal import PortalProfile
from gateway.delivery.channel import SimpleProfile
from gateway.flow.plan import profile_for
from gateway.db import Network, Partner, migrate, session_scope
from gateway.model.invoice import Identifier
from tests.support.invoice_builder import build_invoice
from tests.support.web_seed import app, client, gw, people, seeded  # noqa: F401

API = "/api/v1"
ADDRESS = {"name": "Buyer SARL", "lines": ["12 rue de la Paix"], "postcode": "75002", "city": "Paris", "country": "FR"}


# --- validation ---------------------------------------------------------------------------------

def test_email_settings_are_normalised():
    out = validate_channel_settings("email", {
        "to": "AP@Buyer.EXAMPLE, ap@buyer.example; compta@buyer.example", "attach": "UBL+FacturX",
        "subject": "{{ title }} {{ number }} – {{ seller }}", "lang": "fr-FR"})
    assert out == {"to": ["AP@buyer.example", "ap@buyer.example", "compta@buyer.example"],
                   "subject": "{{ title }} {{ number }} – {{ seller }}", "attach": "facturx+ubl", "lang": "fr"}


def test_paper_address_in_its_text_form():
    out = validate_channel_settings("paper", {"address": "Buyer SARL; 12 rue de la Paix; Bât. B; 75002 Paris; fr"})
    assert out == {"address": {"name": "Buyer SARL", "lines": ["12 rue de la Paix", "Bât. B"], "postcode": "75002",
                               "city": "Paris", "country": "FR"}}


@pytest.mark.parametrize("channel, settings, setting, says", [
    ("email", {"to": ["ap@buyer.example", "bob@"]}, "email.to[1]", "'bob@' is not an e-mail address"),
    ("email", {"to": ["Bob <bob@x.example>"]}, "email.to[0]", "is not an e-mail address"),
    ("email", {"subject": "{{ amount_due }}"}, "email.subject", "'amount_due' is undefined; the fields are: number"),
    ("email", {"subject": "{{ number "}, "email.subject", "template error on line 1"),
    ("email", {"body": "{{ ''.__class__.__mro__ }}"}, "email.body", ""),
    ("email", {"attach": "docx"}, "email.attach", "expected one of facturx, ubl, cii, facturx+ubl"),
    ("email", {"lang": "de"}, "email.lang", "expected one of en, fr"),
    ("email", {"cc": ["a@b.example"]}, "email.cc", "unknown setting (the email channel takes: to, subject"),
    ("portal", {"notify": "nobody"}, "portal.notify[0]", "is not an e-mail address"),
    ("paper", {"address": {**ADDRESS, "city": ""}}, "paper.address.city", "non-empty text"),
    ("paper", {"address": {**ADDRESS, "country": "France"}}, "paper.address.country", "two-letter ISO 3166"),
    ("paper", {"address": {**ADDRESS, "lines": []}}, "paper.address.lines", "1 to 4 street lines"),
    ("paper", {"address": "Buyer SARL; Paris"}, "paper.address", "expected \"Name; street line;"),
    ("network", {}, "network.network", "expected the code of the network"),
    ("erp", {"url": "x"}, "erp.url", "the erp channel takes no settings"),
    ("pigeon", {}, "channel", "'pigeon' is not one of"),
])
def test_refusals_name_the_setting(channel, settings, setting, says):
    with pytest.raises(ChannelSettingsError) as e:
        validate_channel_settings(channel, settings)
    assert e.value.setting == setting
    assert says in str(e.value)


def test_a_sandboxed_template_cannot_reach_python_internals():
    with pytest.raises(ChannelSettingsError) as e:
        validate_channel_settings("email", {"body": "{{ number.__class__.__mro__[1].__subclasses__() }}"})
    assert e.value.setting == "email.body"


def test_a_network_named_must_exist_when_a_session_is_given(gw):
    with gw.session() as s:
        with pytest.raises(ChannelSettingsError, match="no network 'NOPE' is known"):
            validate_channel_settings("network", {"network": "NOPE"}, session=s)


def test_validate_all_drops_empty_channels_and_refuses_unknown_ones():
    assert validate_all({"email": {"to": ["a@b.example"]}, "erp": {}, "paper": None}) == \
        {"email": {"to": ["a@b.example"]}}
    with pytest.raises(ChannelSettingsError, match="not a channel"):
        validate_all({"fax": {}})


# --- profiles and the fallback ------------------------------------------------------------------

def _partner(channel=None, settings=None, contact=None, **kw) -> Partner:
    return Partner(name="Buyer SARL", preferred_channel=channel, channel_settings=settings or {},
                   contact_email=contact, **kw)


PAPER = SimpleNamespace(default_channel="paper")
EMAIL = SimpleNamespace(default_channel="email")


def test_a_chosen_email_channel_takes_its_settings_and_the_contact_address_as_fallback():
    p = _partner("email", {"email": {"to": ["ap@buyer.example"], "attach": "ubl"}}, contact="boss@buyer.example")
    assert profile_for(p, PAPER) == EmailProfile(addresses=("ap@buyer.example",), attach="ubl")
    p = _partner("email", {}, contact="boss@buyer.example")
    assert profile_for(p, PAPER).addresses == ("boss@buyer.example",)
    with pytest.raises(ChannelSettingsError, match="email.to: the email channel needs at least one address"):
        profile_for(_partner("email"), PAPER)


def test_portal_notifies_its_contact_when_no_list_is_given():
    assert profile_for(_partner("portal", contact="ap@buyer.example"), PAPER) == \
        PortalProfile(notify=("ap@buyer.example",))
    assert profile_for(_partner("portal"), PAPER).notify == ()


def test_no_channel_default_paper_uses_the_postal_address_setting():
    p = _partner(None, {"paper": {"address": ADDRESS}})
    prof = profile_for(p, PAPER, invoice=build_invoice())
    assert prof == PaperProfile(address=PostalAddress("Buyer SARL", ("12 rue de la Paix",), "75002", "Paris", "FR"),
                                why="no channel chosen: default paper")


@pytest.mark.parametrize("contact, bt49, expected_to, source", [
    ("boss@buyer.example", ("ap@buyer.example", "EM"), "boss@buyer.example", "its contact e-mail"),
    (None, ("AP@Buyer.example", "EM"), "AP@buyer.example", "the buyer's electronic address (BT-49, scheme EM)"),
])
def test_no_channel_default_email_goes_to_the_contact_else_to_bt49(contact, bt49, expected_to, source):
    inv = build_invoice()
    inv.buyer.electronic_address = Identifier(*bt49)
    prof = profile_for(_partner(None, contact=contact), EMAIL, invoice=inv)
    assert isinstance(prof, EmailProfile) and prof.addresses == (expected_to,)
    assert prof.why == f"no channel chosen: default e-mail to {expected_to} ({source})"


def test_no_channel_default_email_without_any_address_goes_to_paper():
    inv = build_invoice()
    inv.buyer.electronic_address = Identifier("0088", "5790000435951")      # not an e-mail scheme
    prof = profile_for(_partner(None), EMAIL, invoice=inv)
    assert isinstance(prof, PaperProfile) and prof.address is None
    assert prof.why == ("no channel chosen: default e-mail, but no address (no contact e-mail, no BT-49 with "
                        "scheme EM): paper")


def test_no_channel_but_as2_settings_on_record_keeps_as2():
    prof = profile_for(_partner(None, as2_id="BUYER", as2_url="https://as2.buyer.example/as2"), EMAIL)
    assert prof == SimpleProfile(channel="as2", why="no channel chosen; AS2 settings on record: AS2")


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
