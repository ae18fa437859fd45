"""The REST API on a real Gateway (SQLite + payload store under tmp_path): authentication,
partners, exchanges, documents, downloads, uploads, retries, and the OpenAPI description."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gateway.db import (INBOUND_STATUSES, OUTBOUND_STATUSES, ApiToken, Exchange, Partner, PartnerIdentifier,
                        StatusError, User, issue_token)
from gateway.web.api import serialise
from tests.support.web_seed import (CONTENT_IN, MDN_IN, RAW_IN, RENDERING_CII, Prompts, app, client, gw,  # noqa: F401
                            people, seeded)

API = "/api/v1"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


# --- OpenAPI --------------------------------------------------------------------------------

def _flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule[len(API):])
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def _resolve(doc: dict, obj: dict) -> dict:
    if "$ref" in obj:
        node = doc
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return node
    return obj


def test_openapi_is_generated_and_describes_exactly_the_routes(app, client) -> None:
    """The document is generated from the routes and their schemas (no hand-written copy left to
    drift): every route is in it, with its path parameters, its token, its error shape."""
    from pathlib import Path

    import gateway.web
    assert not list(Path(gateway.web.__file__).parent.rglob("openapi.y*ml"))
    r = client.get(f"{API}/openapi.json")                 # public: no token
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": API}]
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An edigate API token (edg_…)"}
    assert set(doc["components"]["schemas"]["Error"]["required"]) == {"error", "details"}
    described = {(path, method) for path, item in doc["paths"].items() for method in item if method != "parameters"}
    assert described == _flask_routes(app)
    assert len(described) == 35          # 16 + ERP pull (4) + document status (2) + redeliver + controls (4) + approvals (8)

    for path, item in doc["paths"].items():
        declared_at_path = [_resolve(doc, p) for p in item.get("parameters", [])]
        for method, op in item.items():
            if method == "parameters":
                continue
            params = declared_at_path + [_resolve(doc, p) for p in op.get("parameters", [])]
            in_path = {p["name"]: p["schema"] for p in params if p["in"] == "path"}
            assert set(in_path) == set(re.findall(r"{(\w+)}", path)), (path, method)
            assert all(s == {"type": "integer", "minimum": 1, "maximum": 2 ** 63 - 1}      # ids; names are listed
                       for name, s in in_path.items() if name != "name"), (path, in_path)
            assert all(s.get("type") == "string" and s.get("enum") for name, s in in_path.items() if name == "name")
            codes = set(op["responses"])
            if path == "/openapi.json":
                assert op["security"] == []
            else:
                assert "security" not in op and {"401", "403"} <= codes, (path, method)   # the global bearer
                assert "WWW-Authenticate" in _resolve(doc, op["responses"]["401"])["headers"]
            assert codes & {"200", "201", "202"}, (path, method)
            for code in codes - {"200", "201", "202"}:
                content = _resolve(doc, op["responses"][code])["content"]
                assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            assert op["operationId"] and op["summary"], (path, method)


def test_downloads_list_every_media_type_they_answer_with(client) -> None:
    from gateway.web.downloads import MEDIA_TYPES, served_type

    doc = client.get(f"{API}/openapi.json").get_json()
    for path in ("/exchanges/{exchange_id}/raw", "/exchanges/{exchange_id}/content", "/exchanges/{exchange_id}/mdn",
                 "/documents/{document_id}/original", "/documents/{document_id}/renderings/{rendering_id}",
                 "/erp/invoices/{document_id}/content"):
        assert set(doc["paths"][path]["get"]["responses"]["200"]["content"]) == set(MEDIA_TYPES), path
    assert served_type("application/EDIFACT") == "application/edifact"
    assert served_type("text/csv; charset=utf-8") == "text/csv"
    assert served_type("application/pkcs7-mime") == served_type("text/html") == "application/octet-stream"


# --- authentication -------------------------------------------------------------------------

def test_every_route_but_the_description_wants_a_token(app, client) -> None:
    for path, method in sorted(_flask_routes(app)):
        if path == "/openapi.json":
            continue
        url = API + path.replace("{partner_id}", "1").replace("{exchange_id}", "1") \
            .replace("{document_id}", "1").replace("{rendering_id}", "1").replace("{delivery_id}", "1") \
            .replace("{name}", "amount").replace("{delegation_id}", "1")
        r = client.open(url, method=method.upper())
        assert r.status_code == 401, (method, url)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="edigate"'
        assert r.get_json()["error"].startswith("authentication required")


def test_bad_revoked_expired_and_disabled_tokens_are_refused(gw, client, people) -> None:
    assert client.get(f"{API}/partners", headers=people.auth("sam")).status_code == 200   # the control

    with gw.session() as s:
        sam = s.get(User, people.ids["sam"])
        _, revoked = issue_token(s, sam, "revoked")
        s.scalar(sa.select(ApiToken).where(ApiToken.name == "revoked")).revoke()
        _, expired = issue_token(s, sam, "expired", expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
        _, alive = issue_token(s, sam, "alive", expires_at=datetime.now(timezone.utc) + timedelta(days=1))
    forged = "edg_" + "A" * 43
    for header in (f"Bearer {forged}", f"Bearer {revoked}", f"Bearer {expired}", f"Basic {people.tokens['sam']}",
                   "Bearer ", f"Bearer {people.tokens['sam']}x", f"Bearer {people.tokens['sam'][4:]}"):
        r = client.get(f"{API}/partners", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.get_json()["details"] is None
        assert r.headers["WWW-Authenticate"].startswith('Bearer realm="edigate"')
    assert client.get(f"{API}/partners", headers={"Authorization": f"Bearer {revoked}"}) \
        .headers["WWW-Authenticate"].endswith('error="invalid_token"')
    assert client.get(f"{API}/partners", headers={"Authorization": f"bearer {alive}"}).status_code == 200

    with gw.session() as s:                                # a disabled user's tokens stop at once
        s.get(User, people.ids["sam"]).active = False
    assert client.get(f"{API}/partners", headers={"Authorization": f"Bearer {alive}"}).status_code == 401


def test_token_use_is_recorded_and_only_its_hash_is_stored(gw, client, people) -> None:
    client.get(f"{API}/partners", headers=people.auth("olivia"))
    with gw.session() as s:
        token = s.scalar(sa.select(ApiToken).where(ApiToken.user_id == people.ids["olivia"]))
        assert token.last_used_at is not None
        assert token.token_sha256 == hashlib.sha256(people.tokens["olivia"].encode()).hexdigest()
        assert people.tokens["olivia"].startswith(token.prefix) and len(token.prefix) < 16
    files = [p for p in gw.settings.home.iterdir() if p.name.startswith("edigate.db")]    # + WAL
    assert files and not any(t.encode() in f.read_bytes() for f in files for t in people.tokens.values())
    assert any(token.token_sha256.encode() in f.read_bytes() for f in files)            # the check can fail


# --- partners -------------------------------------------------------------------------------

def test_partners_list_and_detail(client, people, seeded) -> None:
    r = client.get(f"{API}/partners", headers=people.auth("sam"))
    body = r.get_json()
    assert [p["name"] for p in body["items"]] == ["ACME Supplies", "Globex"] and body["total"] == 2
    acme = body["items"][0]
    assert acme["identifiers"] == [
        {"scheme": "0009", "label": "SIRET", "value": "12345678900011"},
        {"scheme": "9957", "label": "VAT (FR)", "value": "FR12345678901"}]
    assert acme["as2"]["id"] == "acme-as2" and acme["as2"]["signing_algorithm"] == "sha256"

    detail = client.get(f"{API}/partners/{seeded.acme}", headers=people.auth("sam")).get_json()
    soon, later = detail["certificates"]
    assert (soon["usage"], soon["expires_soon"], soon["valid_now"]) == ("signing", True, True)
    assert (later["usage"], later["expires_soon"]) == ("encryption", False)
    assert soon["not_after"].endswith("Z")
    r = client.get(f"{API}/partners/999", headers=people.auth("sam"))
    assert r.status_code == 404 and r.get_json() == {"error": "no partner 999", "details": None}


def test_create_partner(gw, client, people, seeded) -> None:
    body = {"name": "Initech", "preferred_format": "edifact-d96a", "preferred_channel": "as2",
            "identifiers": [{"scheme": "0088", "value": " 4000001000005 "}, {"scheme": "em", "value": "AP@Initech.example"}],
            "as2": {"id": "initech", "url": "https://as2.initech.example/in", "signing_algorithm": "SHA-512",
                    "mdn_mode": "async", "require_encrypted": False, "options": {"http_timeout": 30}}}
    r = client.post(f"{API}/partners", json=body, headers=people.auth("olivia"))
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert r.headers["Location"] == f"{API}/partners/{created['id']}"
    assert created["as2"]["signing_algorithm"] == "sha512" and created["as2"]["mdn_mode"] == "async"
    with gw.session() as s:
        p = s.get(Partner, created["id"])
        assert [(i.scheme, i.value) for i in p.identifiers] == [("0088", "4000001000005"), ("EM", "ap@initech.example")]
        assert (p.preferred_format, p.as2_require_encrypted, p.as2_options) == ("edifact-d96a", False, {"http_timeout": 30})
        assert p.as2_encryption_algorithm == "aes_256_cbc"                   # untouched: the secure default


@pytest.mark.parametrize("body, status, field", [
    ({"name": "ACME Supplies"}, 409, "name"),
    ({"name": "Other", "identifiers": [{"scheme": "0009", "value": "12345678900011"}]}, 409, "identifiers"),
    ({"name": "Other", "as2": {"id": "globex-as2"}}, 409, "as2.id"),
    ({"name": "Other", "as2": {"signing_algorithm": "sha1"}}, 422, "as2.signing_algorithm"),
    ({"name": "Other", "as2": {"encryption_algorithm": "3des"}}, 422, "as2.encryption_algorithm"),
    ({"name": "Other", "as2": {"url": "ftp://x"}}, 422, "as2.url"),
    ({"name": "Other", "preferred_format": "docx"}, 422, "preferred_format"),
    ({"name": "Other", "preferred_channel": "pigeon"}, 422, "preferred_channel"),
    ({"name": "Other", "colour": "blue"}, 422, "colour"),
    ({"name": ""}, 422, "name"),
    ({"preferred_format": "ubl"}, 422, "name"),
    ({"name": "Other", "identifiers": [{"scheme": "0088"}]}, 422, "identifiers[0]"),
    ({"name": "Other", "active": "yes"}, 422, "active"),
])
def test_create_partner_refusals(gw, client, people, seeded, body, status, field) -> None:
    r = client.post(f"{API}/partners", json=body, headers=people.auth("admin"))
    assert r.status_code == status, r.get_json()
    error = r.get_json()
    if status == 422:
        assert field in error["details"], error
    else:
        assert error["details"]["field"] == field
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Partner)) == 2


def test_create_partner_needs_json_and_the_role(client, people) -> None:
    r = client.post(f"{API}/partners", data="name=x", headers=people.auth("admin"))
    assert r.status_code == 400 and "JSON" in r.get_json()["error"]
    r = client.post(f"{API}/partners", json={"name": "X"}, headers=people.auth("sam"))
    assert r.status_code == 403 and "admin or operator" in r.get_json()["error"]


def test_update_partner(gw, client, people, seeded) -> None:
    r = client.patch(f"{API}/partners/{seeded.acme}", headers=people.auth("olivia"), json={
        "as2": {"url": "https://new.acme.example/as2", "encryption_algorithm": None},
        "identifiers": [{"scheme": "9957", "value": "FR12345678901"}, {"scheme": "0002", "value": "123456789"}]})
    assert r.status_code == 200, r.get_json()
    with gw.session() as s:
        p = s.get(Partner, seeded.acme)
        assert p.as2_url == "https://new.acme.example/as2" and p.as2_encryption_algorithm is None
        assert p.name == "ACME Supplies" and p.as2_id == "acme-as2"          # not in the body: unchanged
        assert sorted((i.scheme, i.value) for i in p.identifiers) == [("0002", "123456789"), ("9957", "FR12345678901")]
        assert s.scalar(sa.select(PartnerIdentifier).where(PartnerIdentifier.value == "12345678900011")) is None
    assert client.patch(f"{API}/partners/{seeded.acme}", json={"name": "Globex"},
                        headers=people.auth("olivia")).status_code == 409
    assert client.patch(f"{API}/partners/404", json={"name": "X"}, headers=people.auth("olivia")).status_code == 404


# --- exchanges ------------------------------------------------------------------------------

def test_exchange_filters_and_paging(client, people, seeded) -> None:
    def q(query: str) -> list[int]:
        return ids(client.get(f"{API}/exchanges?{query}", headers=people.auth("sam")))

    everything = [seeded.out_ok, seeded.in_failed, seeded.out_failed, seeded.in_ok]       # newest first
    assert q("") == everything
    assert q("status=failed") == [seeded.in_failed, seeded.out_failed]
    assert q("status=failed&direction=out") == [seeded.out_failed]
    assert q(f"partner={seeded.acme}") == [seeded.out_ok, seeded.in_ok]
    assert q("channel=api") == [seeded.in_failed]
    assert q("message_id=%3Cin-1%40acme%3E") == [seeded.in_ok]
    assert q("since=2025-01-07") == [seeded.out_ok, seeded.in_failed, seeded.out_failed]
    assert q("until=2025-01-07") == [seeded.out_failed, seeded.in_ok]                    # a bare date: that whole day
    assert q("since=2025-01-07T09:00:00Z&until=2025-01-08T09:00:01%2B00:00") == [seeded.in_failed, seeded.out_failed]
    assert q("since=2025-01-07T10:00:00") == [seeded.out_ok, seeded.in_failed]            # no zone: UTC

    page = client.get(f"{API}/exchanges?limit=2&offset=1", headers=people.auth("sam")).get_json()
    assert ([i["id"] for i in page["items"]], page["total"], page["limit"], page["offset"]) == \
        (everything[1:3], 4, 2, 1)
    assert client.get(f"{API}/exchanges", headers=people.auth("sam")).get_json()["limit"] == 50


@pytest.mark.parametrize("query, names", [
    ("limit=501", {"limit"}), ("limit=0&offset=-1", {"limit", "offset"}), ("status=lost", {"status"}),
    ("direction=sideways&since=yesterday", {"direction", "since"}), ("partner=acme", {"partner"}),
])
def test_exchange_filters_refused(client, people, query, names) -> None:
    r = client.get(f"{API}/exchanges?{query}", headers=people.auth("sam"))
    assert r.status_code == 400
    assert set(r.get_json()["details"]) == names


def test_exchange_detail(client, people, seeded) -> None:
    ex = client.get(f"{API}/exchanges/{seeded.in_ok}", headers=people.auth("sam")).get_json()
    assert [(h["status"], h["reason"]) for h in ex["history"]] == [
        ("received", None), ("stored", None), ("acknowledged", "MDN sent"), ("processed", "1 document")]
    assert [h["at"] for h in ex["history"]] == [f"2025-01-06T09:0{n}:00Z" for n in range(4)]
    assert ex["mdn"]["disposition"] == "automatic-action/MDN-sent-automatically; processed"
    assert ex["mdn"]["payload_key"] == seeded.mdn_in and ex["mdn"]["at"] == "2025-01-06T09:02:00Z"
    assert (ex["mic"], ex["mic_algorithm"]) == ("dGVzdG1pYw==", "sha-256")
    assert ex["partner"] == {"id": seeded.acme, "name": "ACME Supplies"}
    assert ex["documents"] == [seeded.doc1] and ex["retryable"] is False
    assert (ex["payload_key"], ex["content_sha256"]) == (seeded.raw_in, seeded.content_in)

    failed = client.get(f"{API}/exchanges/{seeded.out_failed}", headers=people.auth("sam")).get_json()
    assert (failed["status"], failed["reason"], failed["attempts"], failed["retryable"]) == \
        ("failed", "connection refused by as2.globex.example", 1, True)
    assert client.get(f"{API}/exchanges/999", headers=people.auth("sam")).status_code == 404


def test_exchange_downloads_are_the_stored_bytes(gw, client, people, seeded) -> None:
    # an operator: staff follow the lists but download no content (test_api_staff_downloads.py)
    auth = people.auth("olivia")
    r = client.get(f"{API}/exchanges/{seeded.in_ok}/raw", headers=auth)
    assert r.status_code == 200 and r.data == RAW_IN
    assert r.headers["ETag"] == f'"{seeded.raw_in}"'
    assert r.headers["Content-Disposition"] == f"attachment; filename=exchange-{seeded.in_ok}.raw"
    assert r.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in r.headers["Content-Security-Policy"]
    r = client.get(f"{API}/exchanges/{seeded.in_ok}/content", headers=auth)
    assert r.data == CONTENT_IN and r.headers["Content-Disposition"] == "attachment; filename=INV-2025-001.xml"
    assert client.get(f"{API}/exchanges/{seeded.in_ok}/mdn", headers=auth).data == MDN_IN

    r = client.get(f"{API}/exchanges/{seeded.out_failed}/mdn", headers=auth)
    assert r.status_code == 404 and "has no MDN" in r.get_json()["error"]
    assert client.get(f"{API}/exchanges/999/raw", headers=auth).status_code == 404

    gw.payloads.path(seeded.mdn_in).unlink()               # the record names bytes the store lost
    r = client.get(f"{API}/exchanges/{seeded.in_ok}/mdn", headers=auth)
    assert r.status_code == 500 and "missing from the payload store" in r.get_json()["error"]


# --- retry ----------------------------------------------------------------------------------

@pytest.fixture
def prompts(gw) -> Prompts:
    """The retry prompts a send or a processing job; those run in gateway.delivery.attempts / gateway.flow.process
    (tested there) and would try a real AS2 connection here. What the API owes is the state
    change and the prompt, so the prompts are recorded instead."""
    p = Prompts()
    gw.jobs.send = p.recorder("send")
    gw.jobs.process = p.recorder("process")
    return p


def test_retry_requeues_a_failed_send(gw, client, people, seeded, prompts) -> None:
    r = client.post(f"{API}/exchanges/{seeded.out_failed}/retry", headers=people.auth("olivia"))
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert (body["status"], body["attempts"], body["retryable"]) == ("queued", 0, False)
    assert [h["status"] for h in body["history"]] == ["queued", "sending", "failed", "queued"]
    assert body["history"][-1]["reason"] == "retry requested by olivia"
    assert prompts.calls == [("send", seeded.out_failed)]
    with gw.session() as s:
        ex = s.get(Exchange, seeded.out_failed)
        assert ex.status == "queued" and ex.next_attempt_at is not None
    detail = client.get(f"{API}/documents/{seeded.doc1}", headers=people.auth("sam")).get_json()
    assert [h["status"] for h in detail["deliveries"][0]["history"]] == ["pending", "sending", "failed", "pending"]


def test_retry_reprocesses_a_failed_inbound(client, people, seeded, prompts) -> None:
    r = client.post(f"{API}/exchanges/{seeded.in_failed}/retry", headers=people.auth("admin"))
    assert r.status_code == 202 and r.get_json()["status"] == "acknowledged"
    assert prompts.calls == [("process", seeded.in_failed)]


def test_retry_refusals(gw, client, people, seeded, prompts) -> None:
    r = client.post(f"{API}/exchanges/{seeded.out_failed}/retry", headers=people.auth("sam"))
    assert r.status_code == 403 and r.get_json()["error"] == "retry needs the role admin or operator"
    r = client.post(f"{API}/exchanges/{seeded.out_ok}/retry", headers=people.auth("olivia"))
    assert r.status_code == 409 and "only a failed or refused send" in r.get_json()["error"]
    r = client.post(f"{API}/exchanges/{seeded.in_ok}/retry", headers=people.auth("olivia"))
    assert r.status_code == 409
    assert client.post(f"{API}/exchanges/999/retry", headers=people.auth("olivia")).status_code == 404
    assert client.get(f"{API}/exchanges/{seeded.out_failed}/retry", headers=people.auth("olivia")).status_code == 405
    assert prompts.calls == []
    with gw.session() as s:
        assert s.get(Exchange, seeded.out_failed).status == "failed"


def test_retryable_says_what_the_runtime_accepts(gw, prompts) -> None:
    """``retryable`` (shown as the Retry button and in the API) against ``retry_exchange`` itself,
    for every status of both directions."""
    cases = [("in", st) for st in INBOUND_STATUSES] + [("out", st) for st in OUTBOUND_STATUSES]
    with gw.session() as s:
        rows = []
        for n, (direction, status) in enumerate(cases):
            ex = (Exchange.inbound if direction == "in" else Exchange.outbound)("api", message_id=f"m{n}")
            ex.status = status                              # any state, however it was reached
            rows.append(ex)
        s.add_all(rows)
    accepted = 0
    for ex in rows:
        try:
            gw.retry_exchange(ex.id, by="test")
            worked = True
        except StatusError:
            worked = False
        assert serialise.retryable(ex) is worked, (ex.direction, ex.status)
        accepted += worked
    assert accepted == 3                                    # out failed, out rejected, in failed


# --- documents ------------------------------------------------------------------------------

def test_document_filters(client, people, seeded) -> None:
    def q(query: str) -> list[int]:
        return ids(client.get(f"{API}/documents?{query}", headers=people.auth("sam")))

    assert q("") == [seeded.doc2, seeded.doc1]
    assert q("number=INV%2F2025%2F001") == [seeded.doc1]
    assert q("number=INV/2025") == []
    assert q(f"partner={seeded.globex}") == [seeded.doc1]           # its recipient
    assert q(f"partner={seeded.acme}") == [seeded.doc1]             # its sender
    assert q("status=invalid") == [seeded.doc2]
    assert q("valid=false") == [seeded.doc2] and q("valid=true") == [seeded.doc1]
    assert q("issued_from=2025-01-05&issued_to=2025-01-05") == [seeded.doc1]
    assert q("issued_from=2025-01-06") == [seeded.doc2]
    assert q("since=2025-01-07") == [seeded.doc2] and q("until=2025-01-06") == [seeded.doc1]
    r = client.get(f"{API}/documents?valid=maybe&issued_to=2025-13-01&status=lost", headers=people.auth("sam"))
    assert r.status_code == 400 and set(r.get_json()["details"]) == {"valid", "issued_to", "status"}


def test_document_detail(client, people, seeded) -> None:
    doc = client.get(f"{API}/documents/{seeded.doc1}", headers=people.auth("sam")).get_json()
    assert (doc["number"], doc["issue_date"], doc["exchange_id"]) == ("INV/2025/001", "2025-01-05", seeded.in_ok)
    assert (doc["total_with_vat"], doc["total_vat"]) == ("120.0000", "20.0000")          # decimals as strings
    assert doc["findings"] == [{"rule": "READ-UNMAPPED", "message": "a value the mapping does not read",
                                "severity": "warning", "terms": ["BT-22"], "path": None,
                                "location": "/Invoice/cbc:Note[2]", "line": 14}]
    (rendering,) = doc["renderings"]
    assert {k: rendering[k] for k in ("id", "syntax", "mapping", "size", "media_type", "dropped")} == {
        "id": seeded.rendering, "syntax": "cii", "mapping": "cii", "size": len(RENDERING_CII),
        "media_type": "application/xml", "dropped": [{"term": "BT-147", "path": "lines[0].price.discount"}]}
    (delivery,) = doc["deliveries"]
    assert delivery["recipient"]["name"] == "Globex" and delivery["exchange_id"] == seeded.out_failed
    assert [(h["status"], h["at"]) for h in delivery["history"]] == [
        ("pending", "2025-01-06T09:04:00Z"), ("sending", "2025-01-06T09:05:00Z"), ("failed", "2025-01-06T09:06:00Z")]
    assert client.get(f"{API}/documents/999", headers=people.auth("sam")).status_code == 404


def test_document_original_and_rendering_downloads(client, people, seeded) -> None:
    auth = people.auth("olivia")
    r = client.get(f"{API}/documents/{seeded.doc1}/original", headers=auth)
    assert r.status_code == 200 and r.data == CONTENT_IN
    r = client.get(f"{API}/documents/{seeded.doc1}/renderings/{seeded.rendering}", headers=auth)
    assert r.status_code == 200 and r.data == RENDERING_CII
    assert r.mimetype == "application/xml"
    assert r.headers["Content-Disposition"] == "attachment; filename=INV_2025_001.xml"   # the slashes are gone


@pytest.mark.parametrize("tail", [
    "999", "-1", "..%2F..%2Fsecret_key", "../../secret_key", "%2e%2e", "1%00", "1.0", "0x1", "1/../1",
])
def test_rendering_ids_that_are_not_this_documents_renderings(client, people, seeded, tail) -> None:
    r = client.get(f"{API}/documents/{seeded.doc1}/renderings/{tail}", headers=people.auth("olivia"))
    assert r.status_code == 404, tail
    assert r.is_json and set(r.get_json()) == {"error", "details"}
    assert b"SECRET" not in r.data.upper()


def test_a_rendering_of_another_document_is_not_found(client, people, seeded) -> None:
    r = client.get(f"{API}/documents/{seeded.doc2}/renderings/{seeded.rendering}", headers=people.auth("olivia"))
    assert r.status_code == 404 and r.get_json()["error"] == f"document {seeded.doc2} has no rendering {seeded.rendering}"


# --- uploads ---------------------------------------------------------------------------------

def test_upload_is_stored_and_idempotent(gw, client, people, seeded) -> None:
    data = b"<not-an-invoice/>\n"
    headers = {**people.auth("sam"), "Idempotency-Key": "erp-42", "Content-Type": "application/xml"}
    r = client.post(f"{API}/documents?partner={seeded.acme}&filename=../../etc/x.xml", data=data, headers=headers)
    assert r.status_code == 202, r.get_json()
    first = r.get_json()
    assert r.headers["Location"] == f"{API}/exchanges/{first['exchange']}" and first["duplicate"] is False
    with gw.session() as s:
        ex = s.get(Exchange, first["exchange"])
        assert (ex.direction, ex.channel, ex.partner_id, ex.message_id, ex.filename, ex.content_type) == \
            ("in", "api", seeded.acme, "erp-42", "x.xml", "application/xml")
        assert first["status"] == ex.status
        assert [h.status for h in ex.history][:3] == ["received", "stored", "acknowledged"]
    assert gw.payloads.get(ex.payload_key) == data

    r = client.post(f"{API}/documents?partner={seeded.acme}", data=b"other bytes", headers=headers)
    assert r.status_code == 200 and r.get_json()["exchange"] == first["exchange"] and r.get_json()["duplicate"]
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(Exchange.channel == "api")) == 2

    files = {"file": (__import__("io").BytesIO(b"multipart bytes"), "from-form.csv")}
    r = client.post(f"{API}/documents", data=files, headers=people.auth("sam"), content_type="multipart/form-data")
    assert r.status_code == 202
    with gw.session() as s:
        ex = s.get(Exchange, r.get_json()["exchange"])
        assert (ex.filename, ex.partner_id, ex.message_id) == ("from-form.csv", None, None)
        assert gw.payloads.get(ex.payload_key) == b"multipart bytes"


@pytest.mark.parametrize("query, kwargs, status", [
    ("", {"data": b""}, 400),
    ("?partner=999", {"data": b"x"}, 404),
    ("?partner=abc", {"data": b"x"}, 400),
    ("", {"data": {"other": (__import__("io").BytesIO(b"x"), "a.xml")}, "content_type": "multipart/form-data"}, 400),
])
def test_upload_refusals(client, people, query, kwargs, status) -> None:
    r = client.post(f"{API}/documents{query}", headers=people.auth("sam"), **kwargs)
    assert r.status_code == status and r.is_json


def test_upload_of_a_real_invoice_is_processed(gw, client, people) -> None:
    """End to end through the pipeline (jobs run at once here): the upload becomes a document."""
    from gateway.syntaxes import write_document
    from tests.support.invoice_builder import build_invoice

    invoice = write_document(build_invoice(), "ubl").data
    r = client.post(f"{API}/documents?filename=invoice.xml", data=invoice, headers=people.auth("sam"))
    assert r.status_code == 202
    ex = client.get(r.headers["Location"], headers=people.auth("sam")).get_json()
    assert ex["status"] == "processed", ex
    (doc_id,) = ex["documents"]
    doc = client.get(f"{API}/documents/{doc_id}", headers=people.auth("sam")).get_json()
    assert doc["valid"] is True and doc["syntax"] == "ubl" and doc["exchange_id"] == ex["id"]
    r = client.get(f"{API}/documents/{doc_id}/original", headers=people.auth("olivia"))
    assert r.data == invoice


# --- numbers past what the database holds ----------------------------------------------------

TOO_BIG = 2 ** 63              # one past the largest id SQLite and PostgreSQL hold (a signed 64-bit integer)


@pytest.mark.parametrize("method, path", [
    ("GET", "/partners/{n}"), ("PATCH", "/partners/{n}"), ("GET", "/exchanges/{n}"), ("GET", "/exchanges/{n}/raw"),
    ("POST", "/exchanges/{n}/retry"), ("POST", "/deliveries/{n}/redeliver"), ("GET", "/documents/{n}"),
    ("GET", "/documents/{n}/original"), ("GET", "/documents/1/renderings/{n}"), ("GET", "/documents/{n}/status"),
])
def test_ids_past_the_largest_are_not_found(client, people, seeded, method, path) -> None:
    """Flask's own int converter routed any size of number to the view, whose lookup then overflowed
    SQLite's integer (a 500); the largest id is still looked up (and not found)."""
    for n, status in ((TOO_BIG, 404), (TOO_BIG * 10 ** 30, 404), (TOO_BIG - 1, 404)):
        r = client.open(API + path.format(n=n), method=method, json={}, headers=people.auth("admin"))
        assert r.status_code == status, (method, path, n, r.get_data(as_text=True))
        assert r.is_json and set(r.get_json()) == {"error", "details"}


@pytest.mark.parametrize("query, name", [
    (f"offset={TOO_BIG}", "offset"), (f"limit={TOO_BIG}", "limit"), (f"partner={TOO_BIG}", "partner"),
    ("partner=0", "partner"), ("offset=-1", "offset"),
])
def test_offsets_limits_and_partner_ids_out_of_range_are_400(client, people, seeded, query, name) -> None:
    for path in ("/exchanges", "/documents") + (("/partners",) if name != "partner" else ()):
        r = client.get(f"{API}{path}?{query}", headers=people.auth("sam"))
        assert r.status_code == 400, (path, query, r.get_data(as_text=True))
        assert name in r.get_json()["details"]
    r = client.get(f"{API}/exchanges?offset={TOO_BIG - 1}", headers=people.auth("sam"))   # the largest: an empty page
    assert r.status_code == 200 and r.get_json()["items"] == []


def test_upload_and_partner_bodies_with_ids_out_of_range(client, people, seeded) -> None:
    r = client.post(f"{API}/documents?partner={TOO_BIG}", data=b"x", headers=people.auth("sam"))
    assert r.status_code == 400 and "partner" in r.get_json()["details"]
    r = client.patch(f"{API}/partners/{seeded.acme}", json={"as2": {"identity_id": TOO_BIG}},
                     headers=people.auth("admin"))
    assert r.status_code == 422 and "as2.identity_id" in r.get_json()["details"]
