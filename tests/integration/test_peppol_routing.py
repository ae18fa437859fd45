"""Routing to Peppol: a buyer no member, directory line or interconnected network answers is sent
to the partner standing for the Peppol network when its electronic address (BT-49) is under an
ISO 6523 scheme, the address as its participant id; a member still wins, an address under
another scheme (an e-mail) or no network partner leaves the invoice held, saying what was tried.
"""
from __future__ import annotations

import pytest

from gateway.channels import ChannelSettingsError, validate_channel_settings
from gateway.db import Partner
from gateway.flow.route import resolve
from gateway.model.invoice import Identifier
from tests.support.invoice_builder import build_invoice


def _invoice(scheme: str, value: str):
    invoice = build_invoice()
    invoice.buyer.electronic_address = Identifier(value, scheme)
    return invoice


@pytest.fixture
def gw(make_gateway):
    gw = make_gateway()
    with gw.session() as s:
        s.add_all([Partner(name="Réseau Peppol", preferred_channel="peppol",
                           channel_settings={"peppol": {"network": True}}),
                   Partner(name="Ancien réseau", preferred_channel="peppol", active=False,
                           channel_settings={"peppol": {"network": True}})])
    return gw


def test_a_buyer_found_nowhere_else_goes_through_the_peppol_network(gw) -> None:
    with gw.session() as s:
        route = resolve(s, _invoice("0208", "0123 456 789"))
        assert route.partner.name == "Réseau Peppol"
        assert route.peppol == "iso6523-actorid-upis::0208:0123456789"
        assert route.reason.startswith("Peppol participant iso6523-actorid-upis::0208:0123456789 (by BT-49 "
                                       "0208:0123456789), reached through Réseau Peppol")


def test_a_member_wins_and_other_schemes_or_no_network_leave_the_invoice_held(gw) -> None:
    with gw.session() as s:
        member = Partner(name="Membre", preferred_channel="api")
        member.add_identifier("0208", "0123456789")
        s.add(member)
        s.flush()
        assert resolve(s, _invoice("0208", "0123456789")).partner.name == "Membre"
        held = resolve(s, _invoice("EM", "achats@example.com"))
        assert held.partner is None and held.peppol is None
        assert held.reason.startswith("no partner known by BT-49 EM:achats@example.com")
        for p in s.query(Partner).filter(Partner.preferred_channel == "peppol"):
            p.active = False
        s.flush()
        assert resolve(s, _invoice("0208", "999999999")).partner is None


def test_the_network_setting_is_checked() -> None:
    assert validate_channel_settings("peppol", {"network": True}) == {"network": True}
    with pytest.raises(ChannelSettingsError, match="peppol.network"):
        validate_channel_settings("peppol", {"network": "yes"})
    with pytest.raises(ChannelSettingsError, match="peppol.network"):
        validate_channel_settings("peppol", {"network": True, "participant": "0208:0123456789"})
