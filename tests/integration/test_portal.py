"""The recipient portal and the status API on a real Gateway, with CSRF on as in production.
Documents are real invoice files (EDIFACT over SFTP, UBL over the API) run through the
pipeline (tests/support/portal_seed.py). What is checked: who may see and do what (recipient logins
kept to their partner, refused on operator pages and routes, staff refused in the portal);
search, filters, sort and paging against the known set; every download's bytes; ZIP members
and CSV rows of the exports; status changes through the portal and the API, and their
report to the sender (the APERAK in the EDI sender's pickup folder)."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.config import load_settings
from gateway.db import Delivery, DocumentRecord, RenderingRecord, User, make_engine, session_scope
from gateway.syntaxes import read_document
from gateway.syntaxes.aperak import read_aperak
from gateway.runtime import Gateway
from gateway.web import create_app
from gateway.cli.user import user_group

from tests.support.portal_seed import INVOICES, PASSWORD, Spec, invoice_for, pickup_dir, seed_documents, seed_partners, send

API = "/api/v1"
BUYER_NUMBERS = [s.number for s in INVOICES if s.to == "buyer"]
ACME_1 = INVOICES[0]


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def seeded(gw):
    return seed_documents(gw, seed_partners(gw))


@pytest.fixture
def app(gw):
    return create_app(gw, testing=True)


def csrf(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


@pytest.fixture
def portal(app, seeded):
    """A new browser (test client) logged in to the portal as ``username``."""
    def log(username: str = "buyer-user"):
        browser = app.test_client()
        r = browser.post("/portal/login", data={"username": username, "password": PASSWORD,
                                                "csrf_token": csrf(browser, "/portal/login")})
        assert r.status_code == 302 and r.headers["Location"] == "/portal/", r.get_data(as_text=True)
        return browser
    return log


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    """One seeded gateway and a logged-in buyer, shared by the tests that only read lists."""
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path_factory.mktemp("shelf"))}), immediate_jobs=True)
    seed_documents(gw, seed_partners(gw))
    browser = create_app(gw, testing=True).test_client()
    r = browser.post("/portal/login", data={"username": "buyer-user", "password": PASSWORD,
                                            "csrf_token": csrf(browser, "/portal/login")})
    assert r.status_code == 302
    yield browser
    gw.close()


def text(response) -> str:
    import html
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def listed(response) -> list[str]:
    """The invoice numbers of a list page, in order."""
    assert response.status_code == 200, text(response)[:500]
    return re.findall(r'href="/portal/documents/\d+">([^<]+)</a>', response.get_data(as_text=True))


def statuses(gw, doc_id) -> list[tuple[str, str]]:
    with gw.session() as s:
        return [(e.status, e.set_by) for e in s.get(DocumentRecord, doc_id).status_events]


# --- who may come in --------------------------------------------------------------------------

def test_the_portal_wants_a_recipient_login(app, seeded) -> None:
    c = app.test_client()
    for url in ("/portal/", f"/portal/documents/{seeded.docs[ACME_1.number]}", "/portal/?status=accepted"):
        r = c.get(url)
        target = urlsplit(r.headers["Location"])
        assert r.status_code == 302 and target.path == "/portal/login" and parse_qs(target.query)["next"] == [url]
    r = c.post("/portal/login", data={"username": "buyer-user", "password": PASSWORD, "next": "/portal/?status=paid",
                                      "csrf_token": csrf(c, "/portal/login")})
    assert r.headers["Location"] == "/portal/?status=paid"
    assert c.get("/portal/login").headers["Location"] == "/portal/"     # logged in already
    c = app.test_client()
    r = c.post("/portal/login", data={"username": "buyer-user", "password": PASSWORD, "next": "https://evil.example/",
                                      "csrf_token": csrf(c, "/portal/login")})
    assert r.headers["Location"] == "/portal/"


def test_wrong_password_and_missing_csrf_are_refused(app, seeded) -> None:
    c = app.test_client()
    r = c.post("/portal/login", data={"username": "buyer-user", "password": "wrong password!",
                                      "csrf_token": csrf(c, "/portal/login")})
    assert r.status_code == 200 and "wrong password" in text(r)
    r = c.post("/portal/login", data={"username": "buyer-user", "password": PASSWORD})
    assert r.status_code == 400 and "Form refused" in text(r)
    assert c.get("/portal/").status_code == 302                          # still logged out


def test_staff_cannot_use_the_portal(app, seeded) -> None:
    c = app.test_client()
    r = c.post("/portal/login", data={"username": "olivia", "password": PASSWORD,
                                      "csrf_token": csrf(c, "/portal/login")})
    assert r.status_code == 403 and "for recipient organisations" in text(r)
    assert c.get("/portal/").status_code == 302                          # not logged in by that
    r = c.post("/login", data={"username": "olivia", "password": PASSWORD, "csrf_token": csrf(c, "/login")})
    assert r.status_code == 302
    for url in ("/portal/", f"/portal/documents/{seeded.docs[ACME_1.number]}",
                f"/portal/documents/{seeded.docs[ACME_1.number]}/download/ubl"):
        r = c.get(url)
        assert r.status_code == 403 and "recipient portal is for recipient organisations" in text(r), url


def test_recipients_are_refused_on_the_operator_pages(portal, seeded) -> None:
    c = portal("buyer-user")
    doc = seeded.docs[ACME_1.number]
    assert c.get("/").headers["Location"] == "/portal/"                 # the dashboard sends them home
    for url in ("/documents", f"/documents/{doc}", f"/documents/{doc}/original", "/exchanges", "/exchanges/1",
                "/exchanges/1/raw", "/partners", f"/partners/{seeded.partners['buyer']}"):
        r = c.get(url)
        assert r.status_code == 403 and "recipient portal" in text(r), url
    r = c.post("/exchanges/1/retry", data={"csrf_token": csrf(c, "/portal/")})
    assert r.status_code == 403


def test_recipient_tokens_are_refused_on_operator_routes(app, seeded) -> None:
    c = app.test_client()
    doc = seeded.docs[ACME_1.number]
    for method, url in (("GET", "/partners"), ("GET", "/exchanges"), ("GET", "/documents"),
                        ("GET", f"/documents/{doc}"), ("GET", f"/documents/{doc}/original"),
                        ("POST", "/documents"), ("POST", "/exchanges/1/retry"), ("GET", "/exchanges/1/raw")):
        r = c.open(API + url, method=method, headers=seeded.auth("buyer-user"))
        assert r.status_code == 403, (method, url)
        assert "for gateway users" in r.get_json()["error"]
    assert c.get(f"{API}/documents", headers=seeded.auth("sam")).status_code == 200      # the control


# --- the status API ---------------------------------------------------------------------------

def test_a_recipient_sees_and_sets_only_its_own_documents(app, seeded) -> None:
    c = app.test_client()
    mine, theirs = seeded.docs["GLX-7"], seeded.docs["OTHER-1"]
    assert c.get(f"{API}/documents/{mine}/status", headers=seeded.auth("buyer-user")).status_code == 200
    for who, doc in (("buyer-user", theirs), ("other-user", mine)):
        r = c.get(f"{API}/documents/{doc}/status", headers=seeded.auth(who))
        assert r.status_code == 404 and r.get_json()["error"] == f"no document {doc}"
        r = c.post(f"{API}/documents/{doc}/status", json={"status": "accepted"}, headers=seeded.auth(who))
        assert r.status_code == 404
    r = c.get(f"{API}/documents/999999/status", headers=seeded.auth("buyer-user"))
    assert r.status_code == 404
    with app.extensions["edigate"].session() as s:
        assert s.get(DocumentRecord, theirs).business_status != "accepted"


def test_setting_a_status_through_the_api(app, gw, seeded) -> None:
    c = app.test_client()
    doc = seeded.docs["GLX-8"]
    auth = seeded.auth("buyer-user")
    before = c.get(f"{API}/documents/{doc}/status", headers=auth).get_json()
    assert before["business_status"] == "received" and before["may_become"] == ["accepted", "refused", "disputed"]
    r = c.post(f"{API}/documents/{doc}/status", json={"status": "disputed", "reason": "3 delivered, 4 invoiced",
                                                       "reason_code": "QTY"}, headers=auth)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["business_status"] == "disputed" and body["may_become"] == ["accepted", "refused"]
    last = body["events"][-1]
    assert (last["status"], last["reason"], last["reason_code"], last["set_by"]) == \
        ("disputed", "3 delivered, 4 invoiced", "QTY", "api:buyer-user")
    assert last["reported_at"] is not None and last["report_exchange_id"] is None     # a UBL sender: the API
    again = c.post(f"{API}/documents/{doc}/status", json={"status": "disputed"}, headers=auth)
    assert again.status_code == 200 and len(again.get_json()["events"]) == len(body["events"])
    r = c.post(f"{API}/documents/{doc}/status", json={"status": "payment_sent"}, headers=auth)
    assert r.status_code == 409
    assert r.get_json()["error"] == f"document {doc}: from disputed it cannot become payment_sent; " \
                                    "it may become accepted, refused"
    r = c.post(f"{API}/documents/{doc}/status", json={"status": "refused"}, headers=auth)
    assert r.status_code == 422 and "give a reason" in r.get_json()["details"]["status"]
    # the sender's own login follows it through the API (read only); the operator pages' API too
    r = c.get(f"{API}/documents/{doc}/status", headers=seeded.auth("acme-user"))
    assert r.status_code == 404                                        # GLX-8 is Globex's, not ACME's
    detail = c.get(f"{API}/documents/{doc}", headers=seeded.auth("sam")).get_json()
    assert detail["business_status"] == "disputed"
    assert [e["status"] for e in detail["status_events"]] == ["deposited", "received", "disputed"]


@pytest.mark.parametrize("body, code, message", [
    ({"status": "accepted", "colour": "red"}, 422, "unknown field"),
    ({"status": 5}, 422, "expected a string"),
    ({}, 422, "required"),
    ({"status": "received"}, 422, "a recipient sets one of"),
    ({"status": "lost"}, 422, "a recipient sets one of"),
    ({"status": "disputed", "reason_code": "has blanks"}, 422, "a reason code is"),
    (["accepted"], 400, "expected a JSON object"),
    ("not json", 400, "expected a JSON body"),
])
def test_unusable_status_requests(app, seeded, body, code, message) -> None:
    c = app.test_client()
    url = f"{API}/documents/{seeded.docs['GLX-7']}/status"
    if body == "not json":
        r = c.post(url, data="accepted", headers=seeded.auth("buyer-user"))
    else:
        r = c.post(url, json=body, headers=seeded.auth("buyer-user"))
    assert r.status_code == code
    answer = r.get_json()
    assert message in (answer["error"] + " " + " ".join((answer["details"] or {}).values()))


def test_who_else_may_set_a_status(app, seeded) -> None:
    c = app.test_client()
    acme_doc = seeded.docs[ACME_1.number]
    r = c.get(f"{API}/documents/{acme_doc}/status", headers=seeded.auth("acme-user"))
    assert r.status_code == 200 and r.get_json()["may_become"] == []        # the sender reads its invoice's fate
    r = c.post(f"{API}/documents/{acme_doc}/status", json={"status": "accepted"}, headers=seeded.auth("acme-user"))
    assert r.status_code == 403
    r = c.post(f"{API}/documents/{acme_doc}/status", json={"status": "accepted"}, headers=seeded.auth("sam"))
    assert r.status_code == 403                                           # staff read, do not decide
    r = c.post(f"{API}/documents/{acme_doc}/status", json={"status": "accepted"}, headers=seeded.auth("olivia"))
    assert r.status_code == 201 and r.get_json()["events"][-1]["set_by"] == "api:olivia"


def test_an_api_decision_reaches_an_edi_sender_as_an_aperak(app, gw, seeded) -> None:
    c = app.test_client()
    doc = seeded.docs[ACME_1.number]
    r = c.post(f"{API}/documents/{doc}/status", json={"status": "refused", "reason": "no order for this"},
               headers=seeded.auth("buyer-user"))
    assert r.status_code == 201
    event = r.get_json()["events"][-1]
    assert event["report_exchange_id"] is not None
    refused = [p for p in pickup_dir(gw).iterdir() if p.name.endswith(f"_refused_{event['id']}.edi")]
    (report,) = read_aperak(refused[0].read_bytes())
    assert (report.status, report.reason, report.document_number) == ("refused", "no order for this", ACME_1.number)
    # ACME, the sender, sees the same through the API with its own login
    seen = c.get(f"{API}/documents/{doc}/status", headers=seeded.auth("acme-user")).get_json()
    assert seen["business_status"] == "refused" and seen["events"][-1]["reason"] == "no order for this"


# --- the list: search, filters, sort, paging -------------------------------------------------

def test_the_list_holds_the_partner_s_invoices_only(portal, seeded) -> None:
    assert sorted(listed(portal("buyer-user").get("/portal/"))) == sorted(BUYER_NUMBERS)
    assert listed(portal("other-user").get("/portal/")) == ["OTHER-1"]


@pytest.mark.parametrize("query, expected", [
    ("number=glx", ["GLX-9", "GLX-8", "GLX-7"]),
    ("number=2025-00", ["ACME-2025-002", "ACME-2025-001"]),
    ("number=%25", []),                                                  # % is a character, not a wildcard
    ("issued_from=2025-02-01&issued_to=2025-03-03", ["GLX-8", "ACME-2025-002"]),
    ("issued_to=2025-01-31", ["GLX-7", "ACME-2025-001"]),
    ("sender=acme", ["ACME-2025-002", "ACME-2025-001"]),
    ("sender=GLOBEX+corp", ["GLX-9", "GLX-8", "GLX-7"]),
    ("amount_min=100&amount_max=1200", ["GLX-8", "ACME-2025-001"]),      # totals with 19 % VAT: 1178.10, 119.00
    ("amount_min=119.00&amount_max=119", ["ACME-2025-001"]),
    ("amount_max=50,00", ["GLX-9", "GLX-7"]),
    ("status=received", ["GLX-9", "GLX-8", "ACME-2025-002", "GLX-7", "ACME-2025-001"]),
    ("status=accepted", []),
    ("sender=acme&amount_min=1000", ["ACME-2025-002"]),
])
def test_search_and_filters(reader, query, expected) -> None:
    assert listed(reader.get(f"/portal/?{query}")) == expected


@pytest.mark.parametrize("sort, order, expected", [
    ("date", "desc", ["GLX-9", "GLX-8", "ACME-2025-002", "GLX-7", "ACME-2025-001"]),
    ("date", "asc", ["ACME-2025-001", "GLX-7", "ACME-2025-002", "GLX-8", "GLX-9"]),
    ("amount", "desc", ["ACME-2025-002", "GLX-8", "ACME-2025-001", "GLX-7", "GLX-9"]),
    ("amount", "asc", ["GLX-9", "GLX-7", "ACME-2025-001", "GLX-8", "ACME-2025-002"]),
    ("number", "asc", ["ACME-2025-001", "ACME-2025-002", "GLX-7", "GLX-8", "GLX-9"]),
    ("number", "desc", ["GLX-9", "GLX-8", "GLX-7", "ACME-2025-002", "ACME-2025-001"]),
    ("received", "asc", ["ACME-2025-001", "ACME-2025-002", "GLX-7", "GLX-8", "GLX-9"]),
])
def test_sort_both_ways(reader, sort, order, expected) -> None:
    assert listed(reader.get(f"/portal/?sort={sort}&order={order}")) == expected


def test_a_status_filter_after_a_decision_and_the_sort_links(portal, gw, seeded) -> None:
    c = portal()
    r = c.post(f"{API}/documents/{seeded.docs['GLX-7']}/status", json={"status": "accepted"},
               headers=seeded.auth("buyer-user"))
    assert r.status_code == 201
    assert listed(c.get("/portal/?status=accepted")) == ["GLX-7"]
    page = c.get("/portal/?sort=amount&order=desc&sender=glx").get_data(as_text=True)
    links = dict(re.findall(r'href="/portal/\?([^"]+)" class="sort[^"]*"[^>]*>(\w+)', page))
    by_label = {label: parse_qs(q.replace("&amp;", "&")) for q, label in links.items()}
    assert by_label["Total"]["order"] == ["asc"] and by_label["Total"]["sender"] == ["glx"]   # turns round
    assert by_label["Number"]["order"] == ["asc"] and by_label["Issued"]["order"] == ["desc"]


def test_paging(reader) -> None:
    c = reader
    pages = [listed(c.get(f"/portal/?sort=number&order=asc&limit=2&offset={o}")) for o in (0, 2, 4)]
    assert pages == [["ACME-2025-001", "ACME-2025-002"], ["GLX-7", "GLX-8"], ["GLX-9"]]
    html = c.get("/portal/?sort=number&order=asc&limit=2&offset=2").get_data(as_text=True)
    assert "3–4 of 5" in html
    assert 'href="/portal/?sort=number&amp;order=asc&amp;limit=2&amp;offset=4"' in html
    assert 'href="/portal/?sort=number&amp;order=asc&amp;limit=2"' in html     # back to the first page


@pytest.mark.parametrize("query, complaint", [
    ("issued_from=yesterday", "issued_from"), ("amount_min=lots", "amount_min"), ("sort=colour", "sort"),
    ("status=lost", "status"), ("limit=0", "limit"), ("issued_from=2025-03-01&issued_to=2025-01-01", "issued_to"),
    ("amount_min=10&amount_max=5", "amount_max"), ("amount_max=1e400", "amount_max"),
])
def test_unusable_searches_say_what_is_wrong(reader, query, complaint) -> None:
    r = reader.get(f"/portal/?{query}")
    assert r.status_code == 400 and "The search could not be run" in text(r) and complaint in text(r)


# --- one invoice: page, status, downloads ------------------------------------------------------

def test_another_partner_s_invoice_is_not_there(portal, seeded) -> None:
    c = portal("buyer-user")
    theirs = seeded.docs["OTHER-1"]
    for url in (f"/portal/documents/{theirs}", f"/portal/documents/{theirs}/download/original",
                f"/portal/documents/{theirs}/download/pdf"):
        assert c.get(url).status_code == 404, url
    r = c.post(f"/portal/documents/{theirs}/status",
               data={"status": "accepted", "csrf_token": csrf(c, "/portal/")})
    assert r.status_code == 404
    r = c.post("/portal/export", data={"csrf_token": csrf(c, "/portal/"), "scope": "selection", "id": [str(theirs)],
                                       "export": "csv"})
    assert r.status_code == 303                                   # back to the list, saying so; nothing given
    assert "none of those invoices is there for your organisation" in text(c.get(r.headers["Location"]))


def test_deciding_on_the_invoice_page(portal, gw, seeded) -> None:
    c = portal()
    doc = seeded.docs[ACME_1.number]
    url = f"/portal/documents/{doc}"
    page = c.get(url).get_data(as_text=True)
    assert re.findall(r'name="status" value="(\w+)"', page) == ["accepted", "refused", "disputed"]
    token = csrf(c, url)
    r = c.post(f"{url}/status", data={"status": "refused", "reason": "   ", "csrf_token": token})
    assert r.status_code == 303
    assert "not refused: say why in the reason" in text(c.get(url))
    r = c.post(f"{url}/status", data={"status": "refused", "reason": "ordered 2, not 3"})        # no CSRF token
    assert r.status_code == 400
    r = c.post(f"{url}/status", data={"status": "refused", "reason": "ordered 2, not 3", "reason_code": "QTY",
                                      "csrf_token": token})
    assert r.status_code == 200 and "Refuse invoice ACME-2025-001?" in text(r)      # asked to confirm first
    assert statuses(gw, doc)[-1][0] != "refused"
    r = c.post(f"{url}/status", data={"status": "refused", "reason": "ordered 2, not 3", "reason_code": "QTY",
                                      "confirm": "yes", "csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"] == url
    after = c.get(url)
    assert "Invoice ACME-2025-001: refused; an EDI message (APERAK) is on its way to the sender" in text(after)
    assert "refused portal:buyer-user ordered 2, not 3 [QTY] EDI message" in text(after)
    assert "Nothing more to decide" in text(after) and 'name="status"' not in after.get_data(as_text=True)
    assert statuses(gw, doc)[-1] == ("refused", "portal:buyer-user")


def test_every_download_gives_the_invoice(portal, gw, seeded) -> None:
    c = portal()
    doc = seeded.docs[ACME_1.number]
    expected = invoice_for(ACME_1)
    r = c.get(f"/portal/documents/{doc}/download/original")
    assert r.status_code == 200 and r.data == seeded.files[ACME_1.number]
    assert r.headers["Content-Disposition"] == f"attachment; filename={ACME_1.number}.edi"
    for fmt, magic, name in (("pdf", b"%PDF-", ".pdf"), ("ubl", b"<?xml", "-ubl.xml"), ("cii", b"<?xml", "-cii.xml"),
                             ("csv", b"\xef\xbb\xbfInvoice Number", ".csv")):
        r = c.get(f"/portal/documents/{doc}/download/{fmt}")
        assert r.status_code == 200 and r.data.startswith(magic), fmt
        assert r.headers["Content-Disposition"] == f"attachment; filename={ACME_1.number}{name}"
        assert r.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in r.headers["Content-Security-Policy"]
        back = read_document(r.data).invoice
        assert (back.number, back.issue_date, back.totals.total_with_vat) == \
            (expected.number, expected.issue_date, expected.totals.total_with_vat), fmt
    with gw.session() as s:                          # each written once and kept as a rendering
        records = s.scalars(sa.select(RenderingRecord).where(RenderingRecord.document_id == doc)).all()
    assert {r.syntax for r in records} >= {"facturx", "ubl", "cii", "csv-lines"}
    assert len(records) == len({(r.syntax, r.mapping) for r in records})
    for fmt in ("pdf", "ubl", "cii", "csv"):                # again: the same bytes, nothing new written
        r = c.get(f"/portal/documents/{doc}/download/{fmt}")
        kept = next(x for x in records if x.syntax == {"pdf": "facturx", "csv": "csv-lines"}.get(fmt, fmt))
        assert r.data == gw.payloads.get(kept.payload_key)
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(RenderingRecord)
                        .where(RenderingRecord.document_id == doc)) == len(records)
    assert c.get(f"/portal/documents/{doc}/download/docx").status_code == 422


def test_a_download_acknowledges_the_portal_delivery(portal, gw, seeded) -> None:
    doc = seeded.docs["GLX-9"]
    with gw.session() as s:
        (d,) = s.get(DocumentRecord, doc).deliveries
        assert (d.channel, d.status) == ("portal", "delivered")
    portal().get(f"/portal/documents/{doc}/download/pdf")
    with gw.session() as s:
        d = s.get(DocumentRecord, doc).deliveries[0]
        assert d.status == "acknowledged" and "downloaded as PDF (Factur-X) by buyer-user" in d.reason
        assert s.get(DocumentRecord, doc).status == "delivered"
        assert s.get(DocumentRecord, doc).business_status == "received"


def test_an_original_holding_others_invoices_is_not_offered(portal, gw, seeded) -> None:
    """A CSV export from the sender's ERP with one invoice for Buyer and one for Other."""
    from gateway.syntaxes.csv_syntax import dialect as csv_dialect
    from gateway.flow.receive import receive_file
    mine, theirs = Spec("MIX-1", ACME_1.issued, "10.00", "globex"), Spec("MIX-2", ACME_1.issued, "20.00",
                                                                         "globex", to="other")
    dialect = csv_dialect("csv-lines")
    rows = [dialect.write(invoice_for(s)).data.decode("utf-8-sig").splitlines() for s in (mine, theirs)]
    data = ("\ufeff" + "\r\n".join(rows[0] + rows[1][1:]) + "\r\n").encode("utf-8")
    ex = receive_file(gw, data, channel="api", partner_id=seeded.partners["globex"], filename="mix.csv")
    with gw.session() as s:
        docs = {d.number: d.id for d in s.scalars(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))}
    assert set(docs) == {"MIX-1", "MIX-2"}
    c = portal()
    page = c.get(f"/portal/documents/{docs['MIX-1']}").get_data(as_text=True)
    assert "/download/original" not in page and "also holds invoices for others" in page
    r = c.get(f"/portal/documents/{docs['MIX-1']}/download/original")
    assert r.status_code == 422 and b"MIX-2" not in r.data
    assert read_document(c.get(f"/portal/documents/{docs['MIX-1']}/download/ubl").data).invoice.number == "MIX-1"


# --- exports -----------------------------------------------------------------------------------

def _export(c, **form):
    form.setdefault("csrf_token", csrf(c, "/portal/"))
    return c.post("/portal/export", data=form)


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_csv_export_of_a_selection(portal, seeded) -> None:
    c = portal()
    ids = [seeded.docs["GLX-7"], seeded.docs["ACME-2025-002"]]
    r = _export(c, scope="selection", id=[str(i) for i in ids], export="csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename=invoices-\d{8}-\d{6}\.csv', r.headers["Content-Disposition"])
    rows = _csv_rows(r.data)
    assert rows[0][:3] == ["Id", "Number", "Type"]
    body = {row[1]: row for row in rows[1:-1]}
    assert set(body) == {"GLX-7", "ACME-2025-002"}
    assert body["ACME-2025-002"][5:8] == ["ACME Industries", "DE123456789", "EUR"]
    assert body["ACME-2025-002"][8:12] == ["2500.00", "475.00", "2975.00", "2975.00"]
    assert rows[-1][1] == "TOTAL (2 invoices)" and rows[-1][7:12] == ["EUR", "2540.00", "482.60", "3022.60", "3022.60"]


def test_zip_export_of_the_current_search(portal, gw, seeded) -> None:
    c = portal()
    r = _export(c, scope="search", sender="globex", amount_min="40", export="zip", format="ubl")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.data))
    assert sorted(z.namelist()) == ["GLX-7-ubl.xml", "GLX-8-ubl.xml", "index.csv"]
    for name in ("GLX-7", "GLX-8"):
        assert read_document(z.read(f"{name}-ubl.xml")).invoice.number == name
    assert [row[1] for row in _csv_rows(z.read("index.csv"))[1:-1]] == ["GLX-8", "GLX-7"]
    with gw.session() as s:                         # exported = downloaded: acknowledged
        states = {d.document.number: d.status for d in s.scalars(sa.select(Delivery))}
    assert states["GLX-7"] == states["GLX-8"] == "acknowledged" and states["GLX-9"] == "delivered"


def test_zip_of_originals_and_pdfs(portal, seeded) -> None:
    c = portal()
    ids = [str(seeded.docs[n]) for n in ("ACME-2025-001", "GLX-9")]
    z = zipfile.ZipFile(io.BytesIO(_export(c, scope="selection", id=ids, export="zip", format="original").data))
    assert sorted(z.namelist()) == ["ACME-2025-001.edi", "GLX-9.xml", "index.csv"]
    assert z.read("ACME-2025-001.edi") == seeded.files["ACME-2025-001"]
    assert z.read("GLX-9.xml") == seeded.files["GLX-9"]
    z = zipfile.ZipFile(io.BytesIO(_export(c, scope="selection", id=ids, export="zip", format="pdf").data))
    assert sorted(z.namelist()) == ["ACME-2025-001.pdf", "GLX-9.pdf", "index.csv"]
    assert read_document(z.read("GLX-9.pdf")).invoice.number == "GLX-9"


def test_zip_names_are_safe_and_distinct(portal, gw, seeded) -> None:
    evil = [Spec("../../etc/passwd", ACME_1.issued, "1.00", "globex"), Spec("..\\..\\x", ACME_1.issued, "2.00", "globex"),
            Spec("A/1", ACME_1.issued, "3.00", "globex"), Spec("A_1", ACME_1.issued, "4.00", "globex")]
    ids = [str(send(gw, seeded, s)) for s in evil]
    r = _export(portal(), scope="selection", id=ids, export="zip", format="cii")
    z = zipfile.ZipFile(io.BytesIO(r.data))
    names = z.namelist()
    assert len(names) == len(set(names)) == 5
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name) and not name.startswith(".") and ".." not in name, name
    numbers = sorted(read_document(z.read(n)).invoice.number for n in names if n != "index.csv")
    assert numbers == sorted(s.number for s in evil)


def test_csv_cells_never_run_as_formulas(portal, gw, seeded) -> None:
    send(gw, seeded, Spec("=HYPERLINK(1)", ACME_1.issued, "5.00", "globex", seller_name="@evil Corp"))
    r = _export(portal(), scope="search", number="HYPERLINK", export="csv")
    (row,) = _csv_rows(r.data)[1:-1]
    assert (row[1], row[5]) == ("'=HYPERLINK(1)", "'@evil Corp")


@pytest.mark.parametrize("form, message", [
    (dict(scope="selection", id=["1; DROP TABLE"], export="csv"), "not an invoice id"),
    (dict(scope="search", export="pdf"), "Export as csv or zip"),
    (dict(scope="search", export="zip", format="docx"), "Put the invoices in the ZIP as one of"),
])
def test_unusable_exports(portal, form, message) -> None:
    r = _export(portal(), **form)
    assert r.status_code == 400 and message in text(r)


@pytest.mark.parametrize("form, message", [
    (dict(scope="selection", export="csv"), "Nothing exported: no invoice was ticked"),
    (dict(scope="search", export="csv", number="no-such-invoice"), "Nothing exported: no invoice matches"),
    (dict(scope="search", export="csv", issued_from="soon"), "issued_from"),
])
def test_exporting_nothing_says_so_on_the_list(portal, seeded, form, message) -> None:
    """Not a bare 'Bad Request': the list again, its search kept, and a sentence saying why."""
    c = portal()
    r = _export(c, **form)
    assert r.status_code == 303 and r.headers["Location"].startswith("/portal/")
    if form.get("number"):
        assert "number=no-such-invoice" in r.headers["Location"]
    page = c.get(r.headers["Location"])
    assert message in text(page) and "Bad Request" not in text(page)


def test_export_without_csrf_is_refused(portal, seeded) -> None:
    r = portal().post("/portal/export", data={"scope": "search", "export": "csv"})
    assert r.status_code == 400 and "Form refused" in text(r)


# --- pages are strict ----------------------------------------------------------------------------

def test_portal_pages_have_no_script_and_a_strict_policy(portal, seeded) -> None:
    c = portal()
    for url in ("/portal/", f"/portal/documents/{seeded.docs[ACME_1.number]}", "/portal/login"):
        r = c.get(url)
        assert "script-src" not in r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "<script" not in r.get_data(as_text=True).lower()
        assert not re.search(r"<[^>]+\son\w+=", r.get_data(as_text=True))              # no inline handlers
    for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", c.get(
            f"/portal/documents/{seeded.docs[ACME_1.number]}").get_data(as_text=True), re.S):
        assert 'name="csrf_token"' in form


# --- the command line ------------------------------------------------------------------------------

def test_user_add_recipient_from_the_command_line(tmp_path) -> None:
    env = {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_DATABASE_URL": ""}
    gw = Gateway(load_settings(env))
    seeded = seed_partners(gw)
    gw.close()

    def run(*args, stdin="a long password\n"):
        return CliRunner().invoke(user_group, list(args), env=env, input=stdin, catch_exceptions=False)

    r = run("add", "ap-clerk", "--role", "recipient", "--partner", "buyer sarl", "--password-stdin")
    assert r.exit_code == 0, r.output
    assert f"user ap-clerk (recipient of partner Buyer SARL (id {seeded.partners['buyer']})) created" in r.output
    r = run("add", "ap-2", "--role", "recipient", "--partner", str(seeded.partners["other"]), "--password-stdin")
    assert r.exit_code == 0, r.output
    for args, message in ((["add", "x", "--role", "recipient"], "--partner goes with --role recipient"),
                          (["add", "x", "--partner", "Buyer SARL"], "--partner goes with --role recipient"),
                          (["add", "x", "--role", "recipient", "--partner", "Nobody Ltd"], "no partner 'Nobody Ltd'")):
        r = run(*args, "--password-stdin")
        assert r.exit_code != 0 and message in r.output, r.output
    engine = make_engine(f"sqlite:///{tmp_path}/home/edigate.db")
    try:
        with session_scope(engine) as s:
            users = {u.username: u.partner_id for u in s.scalars(sa.select(User).where(User.role == "recipient"))}
    finally:
        engine.dispose()
    assert users["ap-clerk"] == seeded.partners["buyer"] and users["ap-2"] == seeded.partners["other"]
    assert "x" not in users
    listing = run("list").output
    assert re.search(r"ap-clerk\s+recipient\s+yes.*Buyer SARL", listing)


# --- numbers past what the database holds ------------------------------------------------------

TOO_BIG = 2 ** 63


@pytest.mark.parametrize("query, complaint", [
    (f"offset={TOO_BIG}", "offset"), (f"limit={TOO_BIG}", "limit"), ("amount_min=1e999999999", "amount_min"),
    ("amount_max=-1E+999999999", "amount_max"), ("amount_min=NaN", "amount_min"), ("amount_max=Infinity", "amount_max"),
    ("amount_min=" + "9" * 5000, "amount_min"), ("amount_min=1e-999999999", "amount_min"),
])
def test_searches_with_numbers_out_of_range(reader, query, complaint) -> None:
    """Offsets past SQLite's integers and amounts with huge exponents raised (OverflowError,
    decimal.Overflow: a 500); they are form errors like any other unusable value."""
    r = reader.get(f"/portal/?{query}")
    assert r.status_code == 400 and "The search could not be run" in text(r) and complaint in text(r), query


def test_invoice_ids_out_of_range(portal, seeded) -> None:
    c = portal()
    for url in (f"/portal/documents/{TOO_BIG}", f"/portal/documents/{TOO_BIG}/download/pdf"):
        assert c.get(url).status_code == 404, url
    r = _export(c, scope="selection", export="csv", id=[str(seeded.docs["GLX-7"]), str(TOO_BIG)])
    assert r.status_code == 400 and "not an invoice id" in text(r)
    r = _export(c, scope="search", export="csv", offset=str(TOO_BIG), amount_min="1e999999999")
    assert r.status_code == 303 and "amount_min" in text(c.get(r.headers["Location"]))
