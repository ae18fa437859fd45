"""A partner's status syntax through the REST API: set, shown, refused when unknown, cleared."""
from __future__ import annotations

from tests.support.web_seed import app, client, gw, people  # noqa: F401 - fixtures

API = "/api/v1"


def test_the_api_sets_and_shows_a_partners_status_syntax(gw, client, people) -> None:  # noqa: F811
    r = client.post(f"{API}/partners", json={"name": "Vendeur SA", "status_syntax": "xml"},
                    headers=people.auth("olivia"))
    assert r.status_code == 422 and "status_syntax" in r.get_json()["details"], r.get_json()
    r = client.post(f"{API}/partners", json={"name": "Vendeur SA", "status_syntax": "cdar"},
                    headers=people.auth("olivia"))
    assert r.status_code == 201, r.get_json()
    partner = r.get_json()
    assert partner["status_syntax"] == "cdar"
    r = client.get(f"{API}/partners/{partner['id']}", headers=people.auth("olivia"))
    assert r.get_json()["status_syntax"] == "cdar"
    r = client.patch(f"{API}/partners/{partner['id']}", json={"status_syntax": None}, headers=people.auth("olivia"))
    assert r.status_code == 200 and r.get_json()["status_syntax"] is None
