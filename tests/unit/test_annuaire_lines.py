"""The PPF annuaire's pure parts: a search result read as a directory line (the OpenAPI 1.11.0
field names: ``historisation.dateDebutEffet``, ``idInstance``, ``masque``, ``plateforme``…),
the API's refusals in its own words, the settings, and the reasons routing gives."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.config import ConfigError, load_settings
from gateway.flow.route import AnnuaireAnswer
from gateway.networks.annuaire_client import DirectoryLine, line_of, refusal
from gateway.transports.oauth2 import Answer

SIREN, SIRET = "123456782", "12345678200010"


def result(**fields) -> dict:
    base = {"siren": SIREN, "matriculePlateforme": "0042", "identifiantAdressage": SIREN,
            "historisation": {"dateDebutEffet": "2026-09-01", "idInstance": 77, "masque": False}}
    base.update(fields)
    return base


def test_a_line_at_each_level() -> None:
    line = line_of(result(siret=SIRET, identifiantRoutage="serv-1",
                          plateforme={"matriculePlateforme": "0042", "nomCommercialPlateforme": "Platform B",
                                      "raisonSocialePlateforme": "B SAS", "typePlateforme": "PDP"}))
    assert line == DirectoryLine(siren=SIREN, platform_id="0042", siret=SIRET, routing_code="serv-1",
                                 platform_name="Platform B", platform_type="PDP", starts_on=date(2026, 9, 1),
                                 id_instance=77, addressing_id=SIREN)
    assert line.label == f"{SIREN}_{SIRET}_serv-1" and line.address == f"{SIREN}_{SIRET}_SERV-1"
    assert line_of(result(siret=SIRET)).label == f"{SIREN}_{SIRET}"
    assert line_of(result(suffixeAdressage="compta.fr")).address == f"{SIREN}_COMPTA.FR"
    assert line_of(result()).label == SIREN
    # the routing code may come in the included codeRoutage, the matricule in plateforme only
    line = line_of({"siren": SIREN, "siret": SIRET, "codeRoutage": {"identifiantRoutage": "A1"},
                    "plateforme": {"matriculePlateforme": "0007"}})
    assert (line.routing_code, line.platform_id, line.starts_on, line.id_instance) == ("A1", "0007", None, None)


def test_its_end_is_the_earlier_of_the_planned_and_the_effective_end() -> None:
    assert line_of(result(dateFinEffet="2027-01-31")).ends_on == date(2027, 1, 31)
    assert line_of(result(dateFinEffet="2027-01-31", dateFinEffective="2026-12-01")).ends_on == date(2026, 12, 1)
    assert line_of(result(dateFinEffective="2026-12-01")).ends_on == date(2026, 12, 1)
    assert line_of(result()).ends_on is None


def test_a_masked_line_is_left_out() -> None:
    assert line_of(result(historisation={"masque": True, "idInstance": 1})) is None


@pytest.mark.parametrize("fields, says", [
    ({"siren": "12345678"}, "not a SIREN of 9 digits"),
    ({"siren": None}, "no siren"),
    ({"siret": "98765432100011"}, "does not start with its SIREN"),
    ({"identifiantRoutage": "X"}, "a routing code (X) without a SIRET"),
    ({"siret": SIRET, "identifiantRoutage": "a b"}, "identifiantRoutage 'a b' is not 1 to 100 of"),
    ({"suffixeAdressage": "a/b"}, "suffixeAdressage 'a/b' is not 1 to 100 of"),
    ({"siren": "1234 5678"}, "siren '1234 5678' is not a SIREN of 9 digits"),
    ({"siret": "1234567820001"}, "siret '1234567820001' is not a SIRET of 14 digits"),
    ({"siret": SIRET, "suffixeAdressage": "s"}, "both a SIRET and a suffix"),
    ({"matriculePlateforme": "42"}, "matriculePlateforme '42' is not 4 digits"),
    ({"matriculePlateforme": None}, "no matriculePlateforme"),
    ({"dateFinEffet": "31/01/2027"}, "dateFinEffet '31/01/2027' is not a date"),
    ({"historisation": {"idInstance": "12"}}, "idInstance '12' is not a whole number"),
    ({"siren": 123456782}, "siren '123456782' is not text"),
])
def test_a_wrong_line_says_what_is_wrong(fields, says) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        line_of(result(**fields))
    with pytest.raises(ValueError, match="is an object"):
        line_of(["not", "a", "line"])


def test_a_refusal_in_the_apis_words() -> None:
    problem = b'{"type": "about:blank", "titre": "Conflit", "statut": 409, "detail": "la ligne existe d\xc3\xa9j\xc3\xa0"}'
    assert str(refusal(Answer(409, {}, problem))) == "HTTP 409: Conflit: la ligne existe déjà"
    assert str(refusal(Answer(502, {}, b"<html>Bad gateway</html>"))) == "HTTP 502: <html>Bad gateway</html>"
    assert str(refusal(Answer(500, {}, b""))) == "HTTP 500: (no explanation given)"
    assert Answer(200, {}, b"[" * 100_000).excerpt(10) == "[" * 10 + "…"
    with pytest.raises(ValueError, match="nested too deeply|malformed"):
        Answer(200, {}, b"[" * 100_000).json()


def test_the_settings() -> None:
    off = load_settings({})
    assert off.annuaire_url is None and off.platform_id is None and off.annuaire_refresh_seconds == 86400
    env = {"EDIGATE_ANNUAIRE_URL": "https://aife.example/ppf/annuaire-public/v1/",
           "EDIGATE_ANNUAIRE_TOKEN_URL": "https://oauth.example/api/oauth/token",
           "EDIGATE_ANNUAIRE_CLIENT_ID": "edigate", "EDIGATE_ANNUAIRE_CLIENT_SECRET": "very-secret",
           "EDIGATE_ANNUAIRE_REFRESH": "12h", "EDIGATE_PLATFORM_ID": "0042"}
    on = load_settings(env)
    assert on.annuaire_url == "https://aife.example/ppf/annuaire-public/v1"
    assert on.annuaire_refresh_seconds == 43200 and on.platform_id == "0042" and not on.annuaire_allow_private
    assert "very-secret" not in repr(on)
    for bad, says in (({"EDIGATE_ANNUAIRE_CLIENT_SECRET": ""}, "EDIGATE_ANNUAIRE_CLIENT_SECRET not"),
                      ({"EDIGATE_ANNUAIRE_TOKEN_URL": "oauth.example"}, "EDIGATE_ANNUAIRE_TOKEN_URL"),
                      ({"EDIGATE_ANNUAIRE_REFRESH": "10s"}, "at least a minute"),
                      ({"EDIGATE_PLATFORM_ID": "42"}, "4 digits"),
                      ({"EDIGATE_ANNUAIRE_ALLOW_PRIVATE": "maybe"}, "true or false")):
        with pytest.raises(ConfigError, match=says):
            load_settings({**env, **bad})


def test_the_reasons_routing_gives() -> None:
    answer = AnnuaireAnswer(f"{SIREN}_{SIRET}_SERV1", "0042", "Platform B", "BT-49 0225:X")
    assert answer.text == f"annuaire: {SIREN}_{SIRET}_SERV1 received by platform 0042 (Platform B)"
    assert "no connection to platform 0042 is configured" in answer.held and "PA:0042" in answer.held
    ours = AnnuaireAnswer(SIREN, "0001", None, "BT-49 0002:X", ours=True)
    assert ours.text == f"annuaire: {SIREN} received by platform 0001 (ours)"
    assert ours.held == "but no member of ours is known by it"
