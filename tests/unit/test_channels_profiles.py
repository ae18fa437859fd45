"""Channel profiles as data (each channel's settings in gateway/channels/): what is accepted, normalised and refused
(naming the setting), and the fallback for a recipient that chose no channel. The same checks
behind ``edigate partner add/set`` and the REST API's partner JSON, on a gateway's home, are in
tests/integration/test_channels_profiles.py."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.channels import ChannelSettingsError, PostalAddress, validate_all, validate_channel_settings
from gateway.channels.email import EmailProfile
from gateway.channels.paper import PaperProfile
from gateway.channels.portal import PortalProfile
from gateway.delivery.channel import SimpleProfile
from gateway.flow.plan import profile_for
from gateway.db import Partner
from gateway.model.invoice import Identifier
from tests.support.invoice_builder import build_invoice

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
