"""Routing (gateway.flow.route): members first, then the directories of interconnected networks,
else held with what was tried; and ``lookup_participant`` for onboarding. Real database
(SQLite under tmp_path), real directory imports (gateway.networks.directory)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.config import load_settings
from gateway.db import Network, Partner
from gateway.model.invoice import Identifier
from gateway.networks.directory import import_directory
from gateway.flow.route import lookup_participant, resolve
from gateway.runtime import Gateway

from tests.support.invoice_builder import build_invoice

GLN = "5790000435951"
SIRET = "73282932000074"
SIREN = "732829320"
VAT = "FR40303265045"
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def gw(tmp_path):
    g = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    yield g
    g.close()


def partner(gw, name, *ids, active=True) -> int:
    with gw.session() as s:
        p = Partner(name=name, active=active)
        for scheme, value in ids:
            p.add_identifier(scheme, value)
        s.add(p)
        s.flush()
        return p.id


def network(gw, code, rows: list[tuple[str, str, str]], *, active=True, ap_active=True) -> int:
    """A network reached through its own access point, its directory imported from ``rows``."""
    ap = partner(gw, f"AP of {code}", active=ap_active)
    with gw.session() as s:
        n = Network(code=code, name=f"Network {code}", partner_id=ap, formats=["ubl"], active=active)
        s.add(n)
        s.flush()
        nid = n.id
    csv = "scheme,value,name\n" + "".join(f"{sc},{v},{name}\n" for sc, v, name in rows)
    result = import_directory(gw, nid, csv.encode(), "csv", now=NOW)
    assert result.ok and not result.problems, result
    return nid


def invoice(*, bt49=None, bt46=None, bt47=None, bt48=None):
    inv = build_invoice()
    b = inv.buyer
    b.electronic_address = Identifier(*bt49) if bt49 else None
    b.identifier = Identifier(*bt46) if bt46 else None
    b.legal_registration_identifier = Identifier(*bt47) if bt47 else None
    b.vat_identifier = bt48
    return inv


def route_of(gw, inv):
    with gw.session() as s:
        r = resolve(s, inv)
        return (r.partner.name if r.partner else None, r.network.code if r.network else None,
                r.participant, r.matched, r.reason)


# --- precedence ------------------------------------------------------------------------------

def test_a_member_wins_over_a_network_listing_the_same_identifier(gw):
    network(gw, "PDP-A", [("0088", GLN, "Buyer via A")])
    partner(gw, "Buyer SARL", ("0088", GLN))
    assert route_of(gw, invoice(bt49=(GLN, "0088"))) == \
        ("Buyer SARL", None, None, f"BT-49 0088:{GLN}", f"routed to Buyer SARL by BT-49 0088:{GLN}")


def test_a_member_found_by_a_later_identifier_still_wins_over_a_directory(gw):
    """BT-49 is listed by a network, but the buyer is our member by its VAT number (BT-48)."""
    network(gw, "PDP-A", [("0088", GLN, "Buyer via A")])
    partner(gw, "Buyer SARL", ("9957", VAT))
    name, net, _, matched, _ = route_of(gw, invoice(bt49=(GLN, "0088"), bt48=VAT))
    assert (name, net, matched) == ("Buyer SARL", None, f"BT-48 VAT:{VAT}")


def test_an_inactive_member_does_not_hide_the_network(gw):
    network(gw, "PDP-A", [("0088", GLN, "Buyer via A")])
    partner(gw, "Old Buyer", ("0088", GLN), active=False)
    assert route_of(gw, invoice(bt49=(GLN, "0088")))[:3] == (None, "PDP-A", ("0088", GLN))


@pytest.mark.parametrize("listed, inv_kw, participant, matched", [
    (("GLN", GLN), dict(bt49=(GLN, "0088")), ("0088", GLN), f"BT-49 0088:{GLN}"),
    (("DUNS", "150483782"), dict(bt46=("150 483 782", "0060")), ("0060", "150483782"), "BT-46 0060:150483782"),
    (("SIREN", SIREN), dict(bt47=(SIREN, "0002")), ("0002", SIREN), f"BT-47 0002:{SIREN}"),
    (("SIRET", SIRET), dict(bt49=("732 829 320 00074", "0009")), ("0009", SIRET), f"BT-49 0009:{SIRET}"),
    (("9957", VAT), dict(bt48=VAT), ("9957", VAT), f"BT-48 VAT:{VAT}"),
    (("VAT", VAT), dict(bt48="fr 40 303265045"), ("9957", VAT), f"BT-48 VAT:{VAT}"),
    (("VAT", "BE0403019261"), dict(bt48="BE0403019261"), ("VAT", "BE0403019261"), "BT-48 VAT:BE0403019261"),
    (("EM", "Ap@Buyer.example"), dict(bt49=("ap@buyer.EXAMPLE", "EM")), ("EM", "ap@buyer.example"),
     "BT-49 EM:ap@buyer.example"),
])
def test_a_recipient_listed_in_a_directory_is_routed_to_that_network(gw, listed, inv_kw, participant, matched):
    network(gw, "PDP-A", [("0088", "4000001000005", "Someone else"), (*listed, "The Buyer")])
    name, net, got, how, reason = route_of(gw, invoice(**inv_kw))
    assert (name, net, got, how) == (None, "PDP-A", participant, matched)
    assert reason == f"reachable through network PDP-A as {participant[0]}:{participant[1]} (by {matched})"


# --- French addresses: the most specific directory line ---------------------------------------

OTHER_SIRET = "73282932000033"           # another establishment of the same SIREN (Luhn-valid)


@pytest.mark.parametrize("address, expected, line", [
    (f"{SIREN}_{SIRET}_SERV-1", "Service 1", None),                       # its own line
    (f"{SIREN}_{SIRET}_SERV-9", "Establishment", f"0225:{SIREN}_{SIRET}"),  # no such code: the SIRET's line
    (f"{SIREN}_{SIRET}", "Establishment", None),
    (f"{SIREN}_{OTHER_SIRET}", "Head office", f"0225:{SIREN}"),           # no line of its own: the SIREN's
    (f"{SIREN}_{OTHER_SIRET}_SERV-1", "Head office", f"0225:{SIREN}"),    # a code is a line of its SIRET only
    (f"{SIREN}_FACTURES", "Invoices desk", None),                         # a suffix line
    (f"{SIREN}_ACHATS", "Head office", f"0225:{SIREN}"),
    (SIREN, "Head office", None),
])
def test_a_french_address_goes_to_the_most_specific_line(gw, address, expected, line):
    """A member may hold several lines (one per establishment or service), as the annuaire lists them;
    an address is answered by its routing code's line, else its SIRET's, else its SIREN's."""
    partner(gw, "Head office", ("0225", SIREN))
    partner(gw, "Establishment", ("0225", f"{SIREN}_{SIRET}"))
    partner(gw, "Service 1", ("0225", f"{SIREN}_{SIRET}_SERV-1"))
    partner(gw, "Invoices desk", ("0225", f"{SIREN}_FACTURES"))
    name, net, _, matched, reason = route_of(gw, invoice(bt49=(address.lower(), "0225")))
    label = f"BT-49 0225:{address.upper()}"
    assert (name, net, matched) == (expected, None, label + (f" (its line {line})" if line else ""))
    assert reason == f"routed to {expected} by {matched}"


def test_a_siret_or_siren_identifier_is_the_line_of_its_level(gw):
    """A member known by its SIRET (0009) or SIREN (0002) answers the 0225 lines of that level, and a
    buyer identified by a SIRET reaches the member holding that SIRET's SIREN."""
    partner(gw, "By SIRET", ("0009", SIRET))
    partner(gw, "By SIREN", ("0002", SIREN))
    assert route_of(gw, invoice(bt49=(f"{SIREN}_{SIRET}_X", "0225")))[:1] == ("By SIRET",)
    assert route_of(gw, invoice(bt49=(f"{SIREN}_{OTHER_SIRET}", "0225")))[:1] == ("By SIREN",)
    assert route_of(gw, invoice(bt46=(OTHER_SIRET, "0009")))[3] == f"BT-46 0009:{OTHER_SIRET} (its line 0225:{SIREN})"


def test_a_more_specific_line_does_not_catch_a_less_specific_address(gw):
    partner(gw, "Service 1", ("0225", f"{SIREN}_{SIRET}_SERV-1"))
    name, _, _, _, reason = route_of(gw, invoice(bt49=(f"{SIREN}_{SIRET}", "0225")))
    assert name is None and reason == f"no partner known by BT-49 0225:{SIREN}_{SIRET}"


def test_a_network_directory_answers_a_french_address_by_its_lines_too(gw):
    network(gw, "PDP-A", [("0225", SIREN, "The buyer's head office")])
    name, net, participant, matched, _ = route_of(gw, invoice(bt49=(f"{SIREN}_{SIRET}_SERV-1", "0225")))
    assert (name, net, participant) == (None, "PDP-A", ("0225", SIREN))
    assert matched == f"BT-49 0225:{SIREN}_{SIRET}_SERV-1 (its line 0225:{SIREN})"


def test_identifiers_are_tried_in_order_across_networks(gw):
    """BT-49 listed by the newer network beats BT-48 listed by the older one: identifier order first."""
    network(gw, "OLD", [("9957", VAT, "Buyer")])
    network(gw, "NEW", [("0088", GLN, "Buyer")])
    assert route_of(gw, invoice(bt49=(GLN, "0088"), bt48=VAT))[1:4] == ("NEW", ("0088", GLN), f"BT-49 0088:{GLN}")


def test_several_networks_listing_it_the_oldest_is_chosen_and_the_reason_says_so(gw):
    first = network(gw, "PDP-B", [("0088", GLN, "Buyer")])
    network(gw, "PDP-A", [("0088", GLN, "Buyer")])
    network(gw, "PDP-C", [("0088", GLN, "Buyer")])
    with gw.session() as s:
        r = resolve(s, invoice(bt49=(GLN, "0088")))
        assert r.network.id == first and r.also_listed_by == ["PDP-A", "PDP-C"]
        assert r.reason == (f"reachable through network PDP-B as 0088:{GLN} (by BT-49 0088:{GLN}); also listed "
                            "by PDP-A, PDP-C: PDP-B chosen as the oldest interconnection")


@pytest.mark.parametrize("what", ["network disabled", "access point disabled"])
def test_a_disabled_network_or_access_point_is_not_routed_through(gw, what):
    network(gw, "PDP-OFF", [("0088", GLN, "Buyer")],
            active=what != "network disabled", ap_active=what != "access point disabled")
    live = network(gw, "PDP-ON", [("0088", "4000001000005", "Other")])
    name, net, _, _, reason = route_of(gw, invoice(bt49=(GLN, "0088"), bt48=VAT))
    assert (name, net) == (None, None)
    assert reason == (f"no partner known by BT-49 0088:{GLN}, BT-48 VAT:{VAT}; not listed in the directory "
                      "of any of the 1 interconnected network(s)")
    assert live


def test_unknown_everywhere_is_held_with_everything_tried(gw):
    network(gw, "PDP-A", [("0088", "4000001000005", "Other")])
    name, net, participant, matched, reason = route_of(
        gw, invoice(bt49=(GLN, "0088"), bt46=("B-1", "0088"), bt47=(SIREN, "0002"), bt48=VAT))
    assert (name, net, participant, matched) == (None, None, None, None)
    assert reason == (f"no partner known by BT-49 0088:{GLN}, BT-46 0088:B-1, BT-47 0002:{SIREN}, "
                      f"BT-48 VAT:{VAT}; not listed in the directory of any of the 1 interconnected network(s)")


def test_without_networks_the_held_reason_is_unchanged(gw):
    assert route_of(gw, invoice(bt49=(GLN, "0088")))[4] == f"no partner known by BT-49 0088:{GLN}"
    assert route_of(gw, invoice())[4] == \
        "no buyer identifier with a scheme (BT-49, BT-46, BT-47, BT-48) to route by"


def test_a_participant_dropped_by_a_refresh_is_no_longer_routed_to(gw):
    nid = network(gw, "PDP-A", [("0088", GLN, "Buyer"), ("0088", "4000001000005", "Other")])
    assert route_of(gw, invoice(bt49=(GLN, "0088")))[1] == "PDP-A"
    assert import_directory(gw, nid, b"scheme,value\n0088,4000001000005\n", "csv", now=NOW).removed == 1
    assert route_of(gw, invoice(bt49=(GLN, "0088")))[1] is None


# --- lookup_participant (onboarding) -----------------------------------------------------------

@pytest.mark.parametrize("scheme, value, expected", [
    ("0088", GLN, ("0088", GLN)),
    ("GLN", GLN, ("0088", GLN)),
    ("gln", f" {GLN[:6]} {GLN[6:]} ", ("0088", GLN)),
    ("SIRET", "732 829 320 00074", ("0009", SIRET)),
    ("0009", SIRET, ("0009", SIRET)),
    ("SIREN", SIREN, ("0002", SIREN)),
    ("VAT", "fr40303265045", ("9957", VAT)),
    ("9957", VAT, ("9957", VAT)),
    ("9930", VAT, ("9957", VAT)),          # a VAT number is looked for under every VAT scheme
    ("VAT", "BE0403019261", ("VAT", "BE0403019261")),
    ("EM", "AP@Buyer.example", ("EM", "ap@buyer.example")),
    ("e-mail", "ap@buyer.example", ("EM", "ap@buyer.example")),
])
def test_lookup_participant_by_every_identifier_kind(gw, scheme, value, expected):
    network(gw, "PDP-A", [("GLN", GLN, "Gln Co"), ("SIRET", SIRET, "Siret Co"), ("SIREN", SIREN, "Siren Co"),
                          ("VAT", VAT, "Vat Co"), ("VAT", "BE0403019261", "Be Co"),
                          ("EM", "ap@buyer.example", "Mail Co")])
    with gw.session() as s:
        found = lookup_participant(s, scheme, value)
        assert found is not None and (found.scheme, found.value) == expected
        assert found.network.code == "PDP-A"


@pytest.mark.parametrize("scheme, value", [
    ("0088", "4000001000005"),          # listed nowhere
    ("0009", GLN),                      # the value under another scheme
    ("NOPE", GLN),                      # a scheme nobody knows
    ("0088", "   "),                    # no value
])
def test_lookup_participant_finds_nothing_for_what_is_not_listed(gw, scheme, value):
    network(gw, "PDP-A", [("0088", GLN, "Gln Co")])
    with gw.session() as s:
        assert lookup_participant(s, scheme, value) is None


def test_lookup_participant_ignores_disabled_networks_and_prefers_the_oldest(gw):
    network(gw, "OFF", [("0088", GLN, "Gln Co")], active=False)
    network(gw, "FIRST", [("0088", GLN, "Gln Co")])
    network(gw, "SECOND", [("0088", GLN, "Gln Co")])
    with gw.session() as s:
        assert lookup_participant(s, "GLN", GLN).network.code == "FIRST"
