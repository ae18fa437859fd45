"""The PPF directory (annuaire): its local mirror, routing from it, publishing our members' lines,
the OAuth2 transport, and ``edigate annuaire``.

The annuaire here is ``tests.support.ppf_annuaire``: a **stand-in** of the PPF service built from
its published OpenAPI 1.11.0 (the real one cannot be reached from here), running on loopback.
Its answers are checked against the schemas of that OpenAPI file (read from the shared corpus by
path; those checks skip when the corpus is absent), and so are the requests our client sends it.
Real database (SQLite under tmp_path; PostgreSQL for the atomic swap), real HTTP.
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.cli import main
from gateway.config import load_settings
from gateway.db import AnnuaireLine, AnnuairePublication, Network, Partner, compare_and_set
from gateway.flow.route import resolve
from gateway.model.invoice import Identifier
from gateway.networks import annuaire
from gateway.networks.annuaire_client import AnnuaireClient
from gateway.runtime import Gateway
from gateway.transports.oauth2 import ClientCredentials, OAuth2Client, TokenError

from tests.support.corpus import CORPUS
from tests.support.invoice_builder import build_invoice
from tests.support.ppf_annuaire import BASE, OpenApi, PpfAnnuaire

OPENAPI = CORPUS / "fr" / "annuaire" / "ppf-openapi-annuaire-api-public-1.11.0-openapi.json"

SIREN = "123456782"
SIRET1, SIRET2, SIRET3, SIRET4 = "12345678200010", "12345678200028", "12345678200036", "12345678200044"
SIREN_B, SIRET_B = "401234562", "40123456200015"
SIREN_C, SIRET_C = "555666775", "55566677500013"
OURS = "0001"
T0 = datetime(2026, 9, 15, 8, 0, tzinfo=timezone.utc)
TODAY = annuaire.today_in_france()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def openapi() -> Optional[dict]:
    return json.loads(OPENAPI.read_text(encoding="utf-8")) if OPENAPI.is_file() else None


@pytest.fixture
def standin(openapi) -> Iterator[PpfAnnuaire]:
    server = PpfAnnuaire(openapi=openapi)
    yield server
    server.close()
    assert server.request_problems == [], "our requests do not match the OpenAPI"


def make(tmp_path: Path, standin: PpfAnnuaire, name: str = "home", url: Optional[str] = None, **env: str) -> Gateway:
    settings = standin.env(**{"EDIGATE_PLATFORM_ID": OURS, "EDIGATE_ANNUAIRE_PAGE_SIZE": "2", **env})
    settings["EDIGATE_HOME"] = str(tmp_path / name)
    if url is not None:
        settings["EDIGATE_DATABASE_URL"] = url
    return Gateway(load_settings(settings), immediate_jobs=True)


@pytest.fixture
def gw(tmp_path, standin) -> Iterator[Gateway]:
    g = make(tmp_path, standin)
    yield g
    g.close()


def partner(gw: Gateway, name: str, *ids: tuple[str, str], active: bool = True) -> int:
    with gw.session() as s:
        p = Partner(name=name, active=active)
        for scheme, value in ids:
            p.add_identifier(scheme, value)
        s.add(p)
        s.flush()
        return p.id


def route(gw: Gateway, scheme: str, value: str, *, today: Optional[date] = None) -> tuple[Optional[str], str]:
    inv = build_invoice()
    inv.buyer.electronic_address = Identifier(value, scheme)
    inv.buyer.identifier = inv.buyer.legal_registration_identifier = None
    inv.buyer.vat_identifier = None
    with gw.session() as s:
        r = resolve(s, inv, today=today)
        return (r.partner.name if r.partner else None), r.reason


def directory(standin: PpfAnnuaire) -> None:
    """Lines at every level for one company, some out of effect, and another company's."""
    standin.add(SIREN, "0002", platform_name="Platform B")
    standin.add(SIREN, "0003", siret=SIRET1, platform_name="Platform C")
    standin.add(SIREN, "0004", siret=SIRET1, routing_code="SERV1", platform_name="Platform D")
    standin.add(SIREN, "0003", siret=SIRET3, ends=day(-1), platform_name="Platform C")      # ended yesterday
    standin.add(SIREN, "0004", siret=SIRET4, starts=day(1), platform_name="Platform D")     # begins tomorrow
    standin.add(SIREN, "0003", siret=SIRET2, starts=day(-30), ends=day(10),
                ends_effective=day(-2))                                                     # ended early
    standin.add(SIREN, "0005", suffix="compta")
    standin.add(SIREN_B, OURS, siret=SIRET_B)
    standin.add(SIREN_C, "0099", platform_name="Platform Z")
    standin.add("999999999", "0002", masked=True)                                          # masked: not usable


def platforms(gw: Gateway) -> None:
    for matricule, name in (("0002", "Platform B"), ("0003", "Platform C"), ("0004", "Platform D"),
                            ("0005", "Platform E")):
        partner(gw, f"PA {name}", ("PA", matricule))


def lines(gw: Gateway, generation: Optional[int] = None) -> int:
    with gw.session() as s:
        q = sa.select(sa.func.count()).select_from(AnnuaireLine)
        if generation is not None:
            q = q.where(AnnuaireLine.generation == generation)
        return s.scalar(q)


# --- the stand-in against the published description ---------------------------------------------

def test_the_stand_in_answers_as_the_openapi_describes(standin, openapi, gw) -> None:
    """Every answer the client reads, validated by the OpenAPI file's own schemas; a drifted
    answer is caught (so the check can fail)."""
    if openapi is None:
        pytest.skip(f"the PPF annuaire OpenAPI is not in the shared corpus ({OPENAPI})")
    spec = OpenApi(openapi)
    directory(standin)
    client = AnnuaireClient.from_settings(gw.settings)
    search = spec.response_schema("/ligne-annuaire/recherche", "post", "200")
    answer = client._call("POST", "/ligne-annuaire/recherche", max_bytes=10 ** 6,
                          json={"filtres": {"siren": {"op": "strict", "valeur": SIREN}},
                                "tris": [{"champ": "identifiantAdressage", "ordre": "ascendant"}],
                                "limite": 50, "ignorer": 0})
    body = answer.json()
    assert answer.status == 200 and body["nombre_total_resultats"] == 7 and len(body["resultats"]) == 7
    assert spec.errors(body, search) == []
    one = client._call("GET", f"/ligne-annuaire/code:{SIREN}_{SIRET1}_SERV1", max_bytes=10 ** 6)
    assert one.status == 200 and one.json()["matriculePlateforme"] == "0004"
    assert spec.errors(one.json(), spec.response_schema("/ligne-annuaire/code:{identifiant-adressage}", "get",
                                                        "200")) == []
    created = client._call("POST", "/ligne-annuaire", max_bytes=10 ** 6, json={
        "periodeEffet": {"dateDebutEffet": day(0)},
        "informationAdressage": {"siren": SIREN_C, "siret": SIRET_C, "matriculePlateforme": OURS}})
    assert created.status == 201
    assert spec.errors(created.json(), spec.response_schema("/ligne-annuaire", "post", "201")) == []
    refused = client._call("POST", "/ligne-annuaire", max_bytes=10 ** 6, json={
        "periodeEffet": {"dateDebutEffet": day(0)},
        "informationAdressage": {"siren": SIREN_C, "siret": SIRET_C, "matriculePlateforme": OURS}})
    assert refused.status == 409 and refused.headers["Content-Type"] == "application/problem+json"
    error_schema = openapi["paths"]["/ligne-annuaire"]["post"]["responses"]["default"]["content"][
        "application/problem+json"]["schema"]
    assert spec.errors(refused.json(), error_schema) == []
    drifted = dict(body, resultats=[dict(body["resultats"][0], matriculePlateforme="42")])
    assert spec.errors(drifted, search) != []
    bad_request = client._call("POST", "/ligne-annuaire/recherche", max_bytes=10 ** 6, json={"limite": "ten"})
    assert bad_request.status == 400 and standin.request_problems
    standin.request_problems.clear()


# --- routing from the mirror ---------------------------------------------------------------------

def test_routing_takes_the_most_specific_line_in_effect(gw, standin) -> None:
    directory(standin)
    platforms(gw)
    result = annuaire.refresh(gw, T0, force=True)
    assert result.ok and result.count == 9 and result.masked == 1 and result.pages == 5, result

    name, reason = route(gw, "0225", f"{SIREN}_{SIRET1}_SERV1")
    assert name == "PA Platform D"
    assert reason == (f"annuaire: {SIREN}_{SIRET1}_SERV1 received by platform 0004 (Platform D): routed to "
                      f"PA Platform D by BT-49 0225:{SIREN}_{SIRET1}_SERV1")
    # a routing code without its own line: the SIRET's line
    name, reason = route(gw, "0225", f"{SIREN}_{SIRET1}_OTHER")
    assert name == "PA Platform C" and f"annuaire: {SIREN}_{SIRET1} received by platform 0003" in reason
    assert f"(its line 0225:{SIREN}_{SIRET1})" in reason
    assert route(gw, "0009", SIRET1)[0] == "PA Platform C"
    # an establishment without a line, and lines out of effect: the SIREN's line
    for siret in (SIRET2, SIRET3, SIRET4):
        name, reason = route(gw, "0225", f"{SIREN}_{siret}")
        assert name == "PA Platform B" and f"annuaire: {SIREN} received by platform 0002 (Platform B)" in reason
    assert route(gw, "0002", SIREN)[0] == "PA Platform B"
    assert route(gw, "0225", f"{SIREN}_compta")[0] == "PA Platform E"
    # the line that begins tomorrow answers tomorrow; the one that ended yesterday answered yesterday
    assert route(gw, "0225", f"{SIREN}_{SIRET4}", today=TODAY + timedelta(days=1))[0] == "PA Platform D"
    assert route(gw, "0225", f"{SIREN}_{SIRET3}", today=TODAY - timedelta(days=1))[0] == "PA Platform C"
    # masked lines are not in the mirror
    assert route(gw, "0002", "999999999")[0] is None


def test_the_platform_partner_gets_the_delivery_and_the_reason(gw, standin) -> None:
    """Planning takes the route as it takes a member's: the platform is the recipient."""
    from gateway.flow import plan as delivery_plan
    directory(standin)
    platforms(gw)
    assert annuaire.refresh(gw, T0, force=True).ok
    inv = build_invoice()
    inv.buyer.electronic_address = Identifier(f"{SIREN}_{SIRET1}_SERV1", "0225")
    with gw.session() as s:
        planned = delivery_plan.choose(s, gw.settings, resolve(s, inv), inv)
        recipient = s.get(Partner, planned.recipient_id).name
    assert recipient == "PA Platform D"
    assert planned.reason.startswith(f"annuaire: {SIREN}_{SIRET1}_SERV1 received by platform 0004 (Platform D)")


def test_one_line_asked_of_the_api(gw, standin) -> None:
    directory(standin)
    client = AnnuaireClient.from_settings(gw.settings)
    found = client.line(f"{SIREN}_{SIRET1}")
    assert found["matriculePlateforme"] == "0003" and found["siret"] == SIRET1
    assert client.line(f"{SIREN}_{SIRET2}_NONE") is None


def test_members_still_win_over_the_mirror(gw, standin) -> None:
    directory(standin)
    platforms(gw)
    assert annuaire.refresh(gw, T0, force=True).ok
    partner(gw, "Buyer establishment", ("0009", SIRET1))
    # the member is known by the SIRET's line: it wins over the annuaire's more specific line
    name, reason = route(gw, "0225", f"{SIREN}_{SIRET1}_SERV1")
    assert name == "Buyer establishment" and "annuaire" not in reason
    assert route(gw, "0225", f"{SIREN}_{SIRET2}")[0] == "PA Platform B"


def test_a_line_of_ours_or_of_an_unconnected_platform_holds(gw, standin) -> None:
    directory(standin)
    assert annuaire.refresh(gw, T0, force=True).ok
    name, reason = route(gw, "0225", f"{SIREN_B}_{SIRET_B}")
    assert name is None
    assert reason == (f"no partner known by BT-49 0225:{SIREN_B}_{SIRET_B}; annuaire: {SIREN_B}_{SIRET_B} received "
                      f"by platform {OURS} (ours) (by BT-49 0225:{SIREN_B}_{SIRET_B}), but no member of ours is "
                      "known by it")
    name, reason = route(gw, "0002", SIREN_C)
    assert name is None and "annuaire: 555666775 received by platform 0099 (Platform Z)" in reason
    assert "no connection to platform 0099 is configured" in reason
    # a partner on the pa channel whose settings name the platform is that platform
    pid = partner(gw, "Platform Z over XP Z12-013")
    with gw.session() as s:
        compare_and_set(s, Partner, Partner.id == pid, preferred_channel="pa",
                        channel_settings={"pa": {"flow_url": "https://pa.example", "platform_id": "0099"}})
    assert route(gw, "0002", SIREN_C)[0] == "Platform Z over XP Z12-013"
    # a disabled platform partner is no connection
    with gw.session() as s:
        compare_and_set(s, Partner, Partner.id == pid, active=False)
    assert route(gw, "0002", SIREN_C)[0] is None


def test_an_unconnected_platform_lets_a_network_directory_try(gw, standin) -> None:
    standin.add(SIREN_C, "0099")
    assert annuaire.refresh(gw, T0, force=True).ok
    ap = partner(gw, "AP of PEPPOL")
    with gw.session() as s:
        s.add(Network(code="PEPPOL", name="Peppol", partner_id=ap, formats=["ubl"]))
    from gateway.networks.directory import import_directory
    with gw.session() as s:
        nid = s.scalar(sa.select(Network.id))
    assert import_directory(gw, nid, f"scheme,value\n0002,{SIREN_C}\n".encode(), "csv", now=T0).ok
    inv = build_invoice()
    inv.buyer.electronic_address = Identifier(SIREN_C, "0002")
    with gw.session() as s:
        r = resolve(s, inv)
        assert r.network is not None and r.network.code == "PEPPOL" and r.annuaire is None


# --- the refresh -------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_refresh_replaces_the_mirror_in_one_step(request, tmp_path, standin, engine) -> None:
    """A reader during a refresh (another connection, while half the new lines are written) sees
    the old mirror whole; after it, the new one whole."""
    url = request.getfixturevalue("postgres_server").create_database() if engine == "postgresql" else None
    g = make(tmp_path, standin, url=url)
    try:
        platforms(g)
        for i in range(6):
            standin.add(SIREN, "0002", siret=f"{SIREN}{i:04d}{0}"[:14], routing_code=f"R{i}")
        standin.add(SIREN, "0002")
        assert annuaire.refresh(g, T0, force=True).count == 7
        old_generation = annuaire.state(g).generation
        for ln in standin.lines:
            ln.matricule = "0003"
        standin.pause_at = 4                    # pages of 2: two pages written, the third waits
        done: list = []
        worker = threading.Thread(target=lambda: done.append(annuaire.refresh(g, T0 + timedelta(days=1),
                                                                             force=True)))
        worker.start()
        assert standin.paused.wait(30)
        new_generation = old_generation + 1
        assert lines(g, new_generation) == 4                   # half the new mirror is in the table...
        assert route(g, "0002", SIREN)[0] == "PA Platform B"   # ...and nobody sees it
        with g.session() as s:
            seen = s.scalars(annuaire._current()).all()
            assert {ln.platform_id for ln in seen} == {"0002"} and len(seen) == 7
        standin.resume.set()
        worker.join(30)
        assert done and done[0].ok and done[0].changed, done
        assert route(g, "0002", SIREN)[0] == "PA Platform C"
        assert annuaire.state(g).generation == new_generation and lines(g) == 7    # the old lines dropped
    finally:
        standin.resume.set()
        g.close()


def test_an_unreachable_annuaire_keeps_the_mirror_and_is_tried_again(gw, standin) -> None:
    directory(standin)
    platforms(gw)
    assert annuaire.refresh(gw, T0, force=True).ok
    standin.down()
    t1 = T0 + timedelta(days=1)
    assert gw.jobs.sweep(t1)["annuaire_refreshes"] == 1
    row = annuaire.state(gw)
    assert row.refresh_error.startswith("refresh failed: ") and "cannot connect" in row.refresh_error
    assert "kept the 9 line(s) of the mirror" in row.refresh_error and row.line_count == 9
    assert row.succeeded_at == T0 and row.refreshed_at == t1
    assert route(gw, "0225", f"{SIREN}_{SIRET1}_SERV1")[0] == "PA Platform D"      # routing goes on
    # tried again within the hour, not the day
    assert annuaire.next_refresh(row, gw.settings.annuaire_refresh_seconds) == t1 + annuaire.RETRY_FAILED
    assert gw.jobs.sweep(t1 + timedelta(minutes=30)).get("annuaire_refreshes") is None
    standin.up()
    standin.lines[0].matricule = "0005"
    assert gw.jobs.sweep(t1 + timedelta(hours=1))["annuaire_refreshes"] == 1
    row = annuaire.state(gw)
    assert row.refresh_error is None and row.succeeded_at == t1 + timedelta(hours=1)
    assert route(gw, "0002", SIREN)[0] == "PA Platform E"


@pytest.mark.parametrize("fail, says", [("500", "HTTP 500: Erreur interne du serveur: stand-in told to fail"),
                                        ("malformed", "malformed JSON")])
def test_a_failing_annuaire_keeps_the_mirror(gw, standin, fail, says) -> None:
    directory(standin)
    assert annuaire.refresh(gw, T0, force=True).ok
    generation = annuaire.state(gw).generation
    standin.fail = fail
    result = annuaire.refresh(gw, T0 + timedelta(days=1), force=True)
    assert not result.ok and says in result.error
    row = annuaire.state(gw)
    assert row.generation == generation and row.line_count == 9 and says in row.refresh_error
    assert lines(gw) == 9                                       # nothing of the failed refresh is left


@pytest.mark.parametrize("fail, env, says", [
    ("endless", {"EDIGATE_ANNUAIRE_MAX_PAGES": "5"}, "more than 5 pages of 2 lines"),
    ("endless", {"EDIGATE_ANNUAIRE_MAX_LINES": "7", "EDIGATE_ANNUAIRE_MAX_PAGES": "1000"}, "more than 7 lines"),
    ("oversized", {}, "answer larger than the 1,048,576 bytes accepted"),
])
def test_bounds_stop_a_refresh_with_the_reason_on_record(tmp_path, standin, fail, env, says) -> None:
    g = make(tmp_path, standin, **env)
    try:
        standin.add(SIREN, "0002")
        assert annuaire.refresh(g, T0, force=True).count == 1
        standin.fail = fail
        result = annuaire.refresh(g, T0 + timedelta(days=1), force=True)
        assert not result.ok and says in result.error, result.error
        searches = len(standin.calls("POST", "/ligne-annuaire/recherche"))
        assert searches <= 1 + (5 if "PAGES" in str(env) else 4 if "LINES" in str(env) else 1)
        assert says in annuaire.state(g).refresh_error and lines(g) == 1
    finally:
        g.close()


def test_invalid_lines_are_skipped_and_named(gw, standin) -> None:
    directory(standin)
    standin.add(SIREN, "42")                                    # not a matricule
    standin.add(SIREN, "0002", routing_code="X")                 # a routing code needs a SIRET
    result = annuaire.refresh(gw, T0, force=True)
    assert result.ok and result.count == 9 and result.problem_count == 2
    row = annuaire.state(gw)
    assert row.refresh_error.startswith("2 invalid line(s) skipped: page ")
    assert "matriculePlateforme '42' is not 4 digits" in row.refresh_error
    assert "a routing code (X) without a SIRET" in row.refresh_error
    assert not annuaire.is_failed(row)


def test_the_sweep_refreshes_once_when_due(gw, standin) -> None:
    directory(standin)
    assert gw.jobs.sweep(T0)["annuaire_refreshes"] == 1
    searches = len(standin.calls("POST", "/ligne-annuaire/recherche"))
    assert searches == 5 and annuaire.state(gw).line_count == 9
    assert gw.jobs.sweep(T0 + timedelta(hours=23)).get("annuaire_refreshes") is None
    assert len(standin.calls("POST", "/ligne-annuaire/recherche")) == searches
    # two workers prompted together: one claims, the other does nothing
    due = T0 + timedelta(days=1)
    assert annuaire.claim_refresh(gw, due) is True
    assert annuaire.claim_refresh(gw, due) is False
    assert annuaire.refresh(gw, due) is None
    assert len(standin.calls("POST", "/ligne-annuaire/recherche")) == searches


def test_a_refresh_that_changes_the_mirror_lets_held_documents_go(gw, standin, monkeypatch) -> None:
    prompts: list = []
    monkeypatch.setattr(gw.jobs, "reroute_held", lambda partner_id=None: prompts.append(partner_id))
    standin.add(SIREN, "0002")
    assert annuaire.refresh(gw, T0, force=True).changed and prompts == [None]
    assert not annuaire.refresh(gw, T0 + timedelta(days=1), force=True).changed and prompts == [None]
    standin.lines[0].matricule = "0003"
    assert annuaire.refresh(gw, T0 + timedelta(days=2), force=True).changed and prompts == [None, None]


def test_off_without_a_url(tmp_path) -> None:
    g = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "off")}), immediate_jobs=True)
    try:
        assert "annuaire_refreshes" not in g.jobs.sweep(T0)
        assert not annuaire.refresh(g, T0, force=True).ok
        assert annuaire.state(g).refreshed_at is None
    finally:
        g.close()


# --- OAuth2 ------------------------------------------------------------------------------------

def oauth(standin: PpfAnnuaire, clock=None, secret: Optional[str] = None) -> OAuth2Client:
    creds = ClientCredentials(standin.token_url, standin.client_id, secret or standin.client_secret,
                              allow_private=True)
    return OAuth2Client(creds, clock=clock) if clock else OAuth2Client(creds)


def test_a_token_is_kept_until_shortly_before_it_expires(standin) -> None:
    now = [1000.0]
    client = oauth(standin, clock=lambda: now[0])
    health = standin.url + "/healthcheck"
    for _ in range(3):
        assert client.request("GET", health, max_bytes=1000).status == 200
    assert standin.tokens_issued == 1
    now[0] += 3600 - 61                                  # a margin of 60 s: still good
    assert client.request("GET", health, max_bytes=1000).status == 200 and standin.tokens_issued == 1
    now[0] += 2                                          # within the margin: a new one, before any 401
    assert client.request("GET", health, max_bytes=1000).status == 200 and standin.tokens_issued == 2
    assert [h.status for h in standin.hits if h.path.endswith("/healthcheck")] == [200] * 5


def test_a_token_refused_early_is_renewed_once(standin) -> None:
    client = oauth(standin)
    health = standin.url + "/healthcheck"
    assert client.request("GET", health, max_bytes=1000).status == 200
    standin.expire_tokens()
    assert client.request("GET", health, max_bytes=1000).status == 200
    assert standin.tokens_issued == 2
    assert [h.status for h in standin.hits if h.path.endswith("/healthcheck")] == [200, 401, 200]
    # tokens that never work: renewed once, then the 401 is the answer (no loop)
    standin.token_lifetime = 0
    standin.expire_tokens()
    assert client.request("GET", health, max_bytes=1000).status == 401
    assert standin.tokens_issued == 3                    # the one renewal
    assert [h.status for h in standin.hits if h.path.endswith("/healthcheck")][-2:] == [401, 401]


def test_the_secret_is_never_shown(standin, gw, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = oauth(standin, secret="wrong-" + standin.client_secret)
    with pytest.raises(TokenError) as caught:
        client.token()
    assert "HTTP 401: invalid_client (Bad client credentials)" in str(caught.value)
    standin.down()
    result = annuaire.refresh(gw, T0, force=True)
    assert not result.ok
    shown = " ".join([str(caught.value), repr(client), repr(client.credentials), repr(gw.settings),
                      repr(AnnuaireClient.from_settings(gw.settings)), result.error, caplog.text,
                      annuaire.state(gw).refresh_error])
    assert standin.client_secret not in shown and "client_secret" not in shown


def test_a_private_address_needs_the_setting(tmp_path, standin) -> None:
    settings = load_settings({"EDIGATE_HOME": str(tmp_path / "h"),
                              **standin.env(EDIGATE_ANNUAIRE_ALLOW_PRIVATE="false")})
    client = AnnuaireClient.from_settings(settings)
    with pytest.raises(Exception) as caught:
        list(client.pages(page_size=2, max_pages=2, max_lines=10))
    assert "refused" in str(caught.value) and "loopback" in str(caught.value)
    assert standin.hits == []


# --- publishing ----------------------------------------------------------------------------------

def test_publishing_twice_posts_once(gw, standin) -> None:
    a = partner(gw, "Member A", ("0225", f"{SIREN}_{SIRET1}_SERV1"), ("0009", SIRET2))
    partner(gw, "Member B", ("0002", SIREN_B))
    partner(gw, "Member C", ("0009", SIRET_C))
    partner(gw, "Platform B", ("PA", "0002"), ("0002", SIREN))          # a platform: not published
    partner(gw, "Gone", ("0002", "732829320"), active=False)
    ap = partner(gw, "AP of PEPPOL", ("0009", "73282932000074"))       # a network's access point
    with gw.session() as s:
        s.add(Network(code="PEPPOL", name="Peppol", partner_id=ap, formats=["ubl"]))
    standin.refuse[SIREN_C] = (422, "le SIRET 55566677500013 est fermé")

    first = annuaire.publish_lines(gw, now=T0)
    assert sorted(label for label, _ in first.posted) == sorted([f"{SIREN}_{SIRET1}_SERV1", f"{SIREN}_{SIRET2}",
                                                                 SIREN_B])
    assert all(isinstance(instance, int) for _, instance in first.posted)
    assert first.refused == [(f"{SIREN_C}_{SIRET_C}",
                              "HTTP 422: Erreur de validation des données: le SIRET 55566677500013 est fermé")]
    posts = standin.calls("POST", "/ligne-annuaire")
    assert len(posts) == 4
    bodies = {json.dumps(h.body["informationAdressage"], sort_keys=True) for h in posts}
    assert json.dumps({"siren": SIREN, "siret": SIRET1, "identifiantRoutage": "SERV1", "matriculePlateforme": OURS},
                      sort_keys=True) in bodies
    assert all(h.body["periodeEffet"] == {"dateDebutEffet": annuaire.today_in_france(T0).isoformat()} for h in posts)

    second = annuaire.publish_lines(gw, now=T0 + timedelta(days=1))
    assert second.posted == [] and second.already == 3 and len(second.refused) == 1
    assert len(standin.calls("POST", "/ligne-annuaire")) == 5               # only the refused line again
    with gw.session() as s:
        rows = s.scalars(sa.select(AnnuairePublication).order_by(AnnuairePublication.id)).all()
        assert [(r.address, r.platform_id, r.partner_id) for r in rows][0] == (f"{SIREN}_{SIRET1}_SERV1", OURS, a)
        assert all(r.published_at is not None and r.id_instance for r in rows) and len(rows) == 3


def test_a_publication_under_way_is_not_posted_again(gw, standin) -> None:
    pid = partner(gw, "Member B", ("0002", SIREN_B))
    with gw.session() as s:
        s.add(AnnuairePublication(partner_id=pid, address=SIREN_B, platform_id=OURS, starts_on=TODAY, claimed_at=T0))
    assert annuaire.publish_lines(gw, now=T0 + timedelta(minutes=5)).busy == 1
    assert standin.calls("POST", "/ligne-annuaire") == []
    # a claim left by a run that stopped is taken over after a while
    report = annuaire.publish_lines(gw, now=T0 + annuaire.CLAIM_TIMEOUT + timedelta(minutes=1))
    assert [label for label, _ in report.posted] == [SIREN_B]


def test_publishing_needs_our_matricule(tmp_path, standin) -> None:
    g = make(tmp_path, standin, name="nomat", EDIGATE_PLATFORM_ID="")
    try:
        partner(g, "Member B", ("0002", SIREN_B))
        report = annuaire.publish_lines(g, now=T0)
        assert not report.ok and "EDIGATE_PLATFORM_ID" in report.error and standin.hits == []
    finally:
        g.close()


# --- the command line --------------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path, standin, monkeypatch) -> Path:
    home = tmp_path / "cli"
    for name, value in {**standin.env(EDIGATE_PLATFORM_ID=OURS), "EDIGATE_HOME": str(home),
                        "EDIGATE_CERTS_DIR": str(tmp_path / "certs")}.items():
        monkeypatch.setenv(name, value)
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_PAYLOAD_DIR", "EDIGATE_JOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def test_the_command_line(cli_env, standin) -> None:
    directory(standin)
    assert "(never refreshed)" in run("annuaire", "status")
    assert "annuaire: 9 line(s) in the mirror (10 read in 1 page(s))" in run("annuaire", "refresh")
    assert "1 masked line(s) left out" in run("annuaire", "refresh")
    status = json.loads(run("annuaire", "status", "--json"))
    assert status["state"] == "ok" and status["lines"] == 9 and status["platform_id"] == OURS
    run("partner", "add", "PA Platform D", "--id", "PA:0004")
    out = run("annuaire", "lookup", f"0225:{SIREN}_{SIRET1}_SERV1")
    assert f"is answered by the line {SIREN}_{SIRET1}_SERV1 (routing code line): received by platform 0004 " \
           "(Platform D)" in out and "routed to partner PA Platform D" in out
    out = run("annuaire", "lookup", f"SIRET:{SIRET2}")
    assert f"the line {SIREN} (SIREN line, a less specific one)" in out and "no partner of ours is platform 0002" in out
    assert "that is our platform" in run("annuaire", "lookup", f"{SIREN_B}_{SIRET_B}")
    assert "no line of the annuaire's mirror answers it" in run("annuaire", "lookup", "SIREN:732829320", code=1)
    assert "fails its check digit" in run("annuaire", "lookup", "SIREN:123456789", code=2)
    run("partner", "add", "Member C", "--id", f"SIRET:{SIRET_C}")
    out = run("annuaire", "publish")
    assert f"posted {SIREN_C}_{SIRET_C} (idInstance " in out and "1 line(s) posted, 0 published before" in out
    assert "0 line(s) posted, 1 published before" in run("annuaire", "publish")
    standin.fail = "500"
    out = run("annuaire", "refresh", code=1)
    assert "refresh failed: " in out and "kept the 9 line(s) of the mirror" in out
    status = json.loads(run("annuaire", "status", "--json"))
    assert status["state"] == "refresh failed" and status["lines"] == 9


def test_the_command_line_without_the_annuaire(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path / "off"))
    for name in ("EDIGATE_ANNUAIRE_URL", "EDIGATE_DATABASE_URL", "EDIGATE_PAYLOAD_DIR", "EDIGATE_JOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    assert "not configured" in run("annuaire", "refresh", code=3)
    assert "not configured" in run("annuaire", "status")
