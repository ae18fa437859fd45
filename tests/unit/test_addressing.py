"""French directory addresses (scheme 0225): their shapes, their checks, and the lines that answer them
(``gateway.model.addressing``; routing by them is tested in tests/integration/test_routing.py)."""
from __future__ import annotations

import pytest

from gateway.model.addressing import FrenchAddress, french_address, routing_levels
from gateway.model.identifiers import check, scheme_code

SIREN, SIRET = "732829320", "73282932000074"


@pytest.mark.parametrize("text, expected", [
    (SIREN, FrenchAddress(SIREN)),
    (f"{SIREN}_{SIRET}", FrenchAddress(SIREN, siret=SIRET)),
    (f"{SIREN}_{SIRET}_SERV-1", FrenchAddress(SIREN, siret=SIRET, routing_code="SERV-1")),
    (f"{SIREN}_{SIRET}_a_b/c@d", FrenchAddress(SIREN, siret=SIRET, routing_code="a_b/c@d")),   # the code's own _
    (f"{SIREN}_FACTURES", FrenchAddress(SIREN, suffix="FACTURES")),
    (f"{SIREN}_compta_achats.2", FrenchAddress(SIREN, suffix="compta_achats.2")),
    (f" {SIREN}_{SIRET} ", FrenchAddress(SIREN, siret=SIRET)),
])
def test_the_shapes_of_an_address(text, expected):
    assert french_address(text) == expected
    assert expected.value == "".join(text.split())


@pytest.mark.parametrize("text, why", [
    ("73282932", "SIREN of 9 digits"),
    ("", "SIREN of 9 digits"),
    (f"{SIREN}_", "a SIRET of 14 digits or a suffix"),
    (f"{SIREN}_12345678900011", "does not start with its SIREN"),
    (f"{SIREN}_{SIRET}_", "routing code"),
    (f"{SIREN}_{SIRET}_é", "routing code"),
    (f"{SIREN}_a#b", "suffix"),
    (f"{SIREN}_{'x' * 101}", "suffix"),
])
def test_what_is_not_an_address_is_said(text, why):
    with pytest.raises(ValueError, match=why):
        french_address(text)


def test_the_lines_of_an_address_most_specific_first():
    assert routing_levels("0225", f"{SIREN}_{SIRET}_S1") == [
        (("0225", f"{SIREN}_{SIRET}_S1"),),
        (("0225", f"{SIREN}_{SIRET}"), ("0009", SIRET)),
        (("0225", SIREN), ("0002", SIREN))]
    assert routing_levels("0225", f"{SIREN}_DESK") == [(("0225", f"{SIREN}_DESK"),), (("0225", SIREN), ("0002", SIREN))]
    assert routing_levels("0009", SIRET) == [(("0225", f"{SIREN}_{SIRET}"), ("0009", SIRET)),
                                             (("0225", SIREN), ("0002", SIREN))]
    assert routing_levels("0002", SIREN) == [(("0225", SIREN), ("0002", SIREN))]
    # anything else, or a French identifier of the wrong shape, is itself only
    assert routing_levels("0088", "5790000435951") == [(("0088", "5790000435951"),)]
    assert routing_levels("0009", "123") == [(("0009", "123"),)]
    assert routing_levels("0225", "not-an-address") == [(("0225", "not-an-address"),)]


def test_operators_typing_an_address_get_its_numbers_checked():
    assert scheme_code("French directory address") == "0225"
    assert check("0225", f"{SIREN}_{SIRET}_SERV-1") is None
    assert "Luhn" in check("0225", "732829321")
    assert "SIRET 73282932000075 fails" in check("0225", f"{SIREN}_73282932000075")
    assert "suffix" in check("0225", f"{SIREN}_a#b")
