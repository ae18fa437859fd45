"""The operator pages on a real Gateway, with CSRF protection on as in production: login,
the lists and details, retries, downloads under the session, and the security headers."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding

_DER = Encoding.DER

from gateway.db import Exchange, Partner, User
from tests.support.web_seed import (CONTENT_IN, PASSWORD, RAW_IN, RENDERING_CII, T0, Prompts, _self_signed,  # noqa: F401
                            app, client, gw, people, seeded)


def csrf(client, url: str = "/login") -> str:
    page = client.get(url).get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def login(client, username: str, password: str = PASSWORD, next_: str = ""):
    return client.post("/login", data={"username": username, "password": password, "next": next_,
                                       "csrf_token": csrf(client)})


@pytest.fixture
def as_user(app, people):
    """A new browser (test client) logged in as ``username``."""
    def log(username: str):
        browser = app.test_client()
        r = login(browser, username)
        assert r.status_code == 302, r.get_data(as_text=True)
        return browser
    return log


def text(response) -> str:
    """The page's visible text, tags removed, blanks folded: what a person reads."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(body).split())


def section(page: str, start: str, end: str | None = None) -> str:
    """The text from heading ``start`` to heading ``end`` (the first one after it)."""
    i = page.index(start)
    return page[i:page.index(end, i)] if end else page[i:]


# --- login ----------------------------------------------------------------------------------

def test_the_csrf_protection_is_on(app) -> None:
    assert app.config["TESTING"] and app.config.get("WTF_CSRF_ENABLED", True)


def test_pages_want_a_login_and_come_back_after_it(client, people) -> None:
    for url in ("/", "/exchanges?status=failed", "/documents", "/partners", "/exchanges/1", "/exchanges/1/raw"):
        r = client.get(url)
        assert r.status_code == 302, url
        target = urlsplit(r.headers["Location"])
        assert target.path == "/login" and parse_qs(target.query)["next"] == [url]
    r = login(client, "sam", next_="/exchanges?status=failed")
    assert r.status_code == 302 and r.headers["Location"] == "/exchanges?status=failed"
    assert client.get("/exchanges?status=failed").status_code == 200


def test_login_without_the_csrf_token_is_refused(client, people) -> None:
    r = client.post("/login", data={"username": "sam", "password": PASSWORD})
    assert r.status_code == 400 and "Form refused" in text(r)
    r = client.post("/login", data={"username": "sam", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 400
    assert client.get("/").status_code == 302                            # still logged out
    assert login(client, "sam").status_code == 302                       # the same with the token works
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("username, password", [("sam", "wrong password"), ("nobody", PASSWORD), ("SAM", PASSWORD)])
def test_wrong_credentials(client, people, username, password) -> None:
    r = login(client, username, password)
    assert r.status_code == 200 and "Unknown user, wrong password, or account disabled." in text(r)
    assert client.get("/").status_code == 302


def test_a_disabled_user_cannot_log_in_and_is_logged_out(gw, client, people) -> None:
    assert login(client, "sam").status_code == 302
    with gw.session() as s:
        s.get(User, people.ids["sam"]).active = False
    assert client.get("/").status_code == 302                            # the open session ends
    assert login(client, "sam").status_code == 200                       # and no new one


def test_a_password_change_ends_open_sessions(gw, client, people) -> None:
    assert login(client, "sam").status_code == 302
    with gw.session() as s:
        s.get(User, people.ids["sam"]).set_password("another good password")
    assert client.get("/").status_code == 302
    assert login(client, "sam", "another good password").status_code == 302


def test_login_records_the_time(gw, client, people) -> None:
    login(client, "olivia")
    with gw.session() as s:
        assert s.get(User, people.ids["olivia"]).last_login_at is not None
        assert s.get(User, people.ids["sam"]).last_login_at is None


def test_login_never_redirects_off_site(client, people) -> None:
    r = login(client, "sam", next_="https://evil.example/phish")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    r = client.get("/login?next=//evil.example")                         # logged in already: straight on
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_logout_is_a_post_with_csrf(as_user) -> None:
    client = as_user("sam")
    token = csrf(client, "/")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200                            # still logged in
    assert client.get("/logout").status_code == 405
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 302 and client.get("/").status_code == 302


# --- dashboard and lists --------------------------------------------------------------------

def test_dashboard(as_user, seeded) -> None:
    page = text(as_user("sam").get("/"))
    attention = section(page, "Needs attention", "Exchanges by status")
    assert "connection refused by as2.globex.example" in attention and "pipeline crashed" in attention
    assert "MDN processed" not in attention                              # acknowledged: not listed
    assert attention.index("connection refused") < attention.index("pipeline crashed")   # waited longest first
    assert "An operator deals with it." in attention                   # staff: no action buttons
    counts = section(page, "Exchanges by status", "Certificates expiring")
    rows = re.findall(r"(inbound|outbound) (\w+) (\d+)", counts)
    assert rows[:2] == [("inbound", "failed", "1"), ("outbound", "failed", "1")]          # failures first
    assert sorted(rows) == sorted([("inbound", "failed", "1"), ("outbound", "failed", "1"),
                                   ("inbound", "processed", "1"), ("outbound", "acknowledged", "1")])
    certs = section(page, "Certificates expiring")
    assert "CN=acme-soon" in certs and "CN=acme-later" not in certs


def test_exchange_list_filters(as_user, seeded) -> None:
    client = as_user("sam")

    def listed(query: str) -> list[int]:
        r = client.get(f"/exchanges?{query}")
        assert r.status_code == 200
        return [int(i) for i in re.findall(r'href="/exchanges/(\d+)"', r.get_data(as_text=True))]

    assert listed("") == [seeded.out_ok, seeded.in_failed, seeded.out_failed, seeded.in_ok]
    assert listed("status=failed&direction=&partner=") == [seeded.in_failed, seeded.out_failed]   # blank: no filter
    assert listed(f"partner={seeded.globex}") == [seeded.out_failed]
    assert listed("since=2025-01-08&until=2025-01-08") == [seeded.in_failed]
    assert listed("limit=1&offset=1") == [seeded.in_failed]
    r = client.get("/exchanges?limit=1&offset=1&status=")
    assert 'href="/exchanges?limit=1&amp;offset=2"' in r.get_data(as_text=True)      # the next page keeps the filters
    assert "2–2 of 4" in text(r)
    r = client.get("/exchanges?since=last+week")
    assert r.status_code == 400 and "'last week' is not an ISO 8601 date or date-time" in text(r)


def test_exchange_page(as_user, seeded) -> None:
    page = text(as_user("sam").get(f"/exchanges/{seeded.in_ok}"))
    history = section(page, "Status history", "Documents")
    # times in the reader's time zone: Europe/Paris unless the user chose another
    assert re.search(r"2025-01-06 10:00:00 CET received 2025-01-06 10:01:00 CET stored "
                     r"2025-01-06 10:02:00 CET acknowledged MDN sent 2025-01-06 10:03:00 CET processed 1 document",
                     history), history
    assert "automatic-action/MDN-sent-automatically; processed" in page
    assert "dGVzdG1pYw== (sha-256)" in page and "<in-1@acme>" in page
    documents = section(section(page, "Status history"), "Documents")
    assert "INV/2025/001 ubl 2025-01-05 ACME Supplies → Our Company 120.00 EUR routed" in documents
    assert "Retry" not in page


def test_the_retry_button_is_for_operators_on_retryable_exchanges(as_user, seeded) -> None:
    assert "Retry" not in text(as_user("sam").get(f"/exchanges/{seeded.out_failed}"))     # staff: no button
    client = as_user("olivia")
    assert "Retry" in text(client.get(f"/exchanges/{seeded.out_failed}"))
    assert "Retry" in text(client.get(f"/exchanges/{seeded.in_failed}"))
    assert "Retry" not in text(client.get(f"/exchanges/{seeded.out_ok}"))          # acknowledged


@pytest.fixture
def prompts(gw) -> Prompts:
    """The send the retry prompts belongs to gateway.delivery.attempts (tested there) and would open a real
    AS2 connection; the page owes the state change and the prompt, so prompts are recorded."""
    p = Prompts()
    gw.jobs.send = p.recorder("send")
    gw.jobs.process = p.recorder("process")
    return p


def test_retry_from_the_page(gw, as_user, seeded, prompts) -> None:
    client = as_user("olivia")
    url = f"/exchanges/{seeded.out_failed}/retry"
    assert client.post(url).status_code == 400                                      # no CSRF token
    with gw.session() as s:
        assert s.get(Exchange, seeded.out_failed).status == "failed"
    assert prompts.calls == []

    r = client.post(url, data={"csrf_token": csrf(client, f"/exchanges/{seeded.out_failed}")})
    assert r.status_code == 302 and r.headers["Location"] == f"/exchanges/{seeded.out_failed}"
    page = text(client.get(r.headers["Location"]))
    assert f"Exchange {seeded.out_failed} queued for sending again." in page
    assert "retry requested by olivia" in page
    with gw.session() as s:
        ex = s.get(Exchange, seeded.out_failed)
        assert ex.status == "queued" and [h.status for h in ex.history][-2:] == ["failed", "queued"]
    assert prompts.calls == [("send", seeded.out_failed)]

    r = client.post(url, data={"csrf_token": csrf(client, "/")})                  # queued now: refused
    assert "Not retried: exchange" in text(client.get(r.headers["Location"]))
    assert prompts.calls == [("send", seeded.out_failed)]


def test_staff_cannot_retry(gw, as_user, seeded, prompts) -> None:
    client = as_user("sam")
    r = client.post(f"/exchanges/{seeded.out_failed}/retry", data={"csrf_token": csrf(client, "/")})
    assert r.status_code == 403 and "retry needs the role admin or operator" in text(r)
    with gw.session() as s:
        assert s.get(Exchange, seeded.out_failed).status == "failed"
    assert prompts.calls == []


def test_documents_list(as_user, seeded) -> None:
    client = as_user("olivia")

    def listed(query: str) -> list[int]:
        r = client.get(f"/documents?{query}")
        assert r.status_code == 200
        return [int(i) for i in re.findall(r'href="/documents/(\d+)"', r.get_data(as_text=True))]

    assert listed("") == [seeded.doc2, seeded.doc1]
    assert listed("number=INV-2") == [seeded.doc2]
    assert listed(f"partner={seeded.globex}") == [seeded.doc1]
    assert listed("status=invalid") == [seeded.doc2]
    assert listed("valid=true") == [seeded.doc1]
    assert listed("issued_from=2025-02-01&issued_to=2025-02-28") == [seeded.doc2]
    assert listed("since=2025-01-06&until=2025-01-06") == [seeded.doc1]
    r = client.get("/documents?issued_from=05/01/2025")
    assert r.status_code == 400 and "is not a date (YYYY-MM-DD)" in text(r)


def test_document_page(as_user, seeded) -> None:
    client = as_user("olivia")
    page = text(client.get(f"/documents/{seeded.doc2}"))
    findings = section(page, "Findings", "Renderings")
    assert ("fatal BR-CO-10 Sum of line net amounts does not match BT-106, BT-131 "
            "line 80: /rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction") in findings

    r = client.get(f"/documents/{seeded.doc1}")
    page = text(r)
    assert "warning READ-UNMAPPED × 1 — A value the mapping does not read" in page
    assert "BT-22 line 14: /Invoice/cbc:Note[2]" in page
    assert "cii cii application/xml" in page and "BT-147" in page
    link = f'href="/documents/{seeded.doc1}/renderings/{seeded.rendering}"'
    assert link in r.get_data(as_text=True)
    deliveries = section(page, "Deliveries")
    assert re.search(r"To Globex as cii over as2 failed .*The partner's server could not be reached\. .*Technical detail "
                     r"connection refused .*pending .*sending .*failed", deliveries), deliveries


def test_downloads_use_the_session(as_user, client, seeded) -> None:
    url = f"/documents/{seeded.doc1}/renderings/{seeded.rendering}"
    assert client.get(url).status_code == 302                                        # not logged in
    assert as_user("sam").get(url).status_code == 403                                # staff: no invoice files
    client = as_user("olivia")
    r = client.get(url)
    assert r.status_code == 200 and r.data == RENDERING_CII
    assert r.headers["Content-Disposition"] == "attachment; filename=INV_2025_001.xml"
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert client.get(f"/exchanges/{seeded.in_ok}/raw").data == RAW_IN
    assert client.get(f"/documents/{seeded.doc1}/original").data == CONTENT_IN
    assert client.get(f"/documents/{seeded.doc2}/renderings/{seeded.rendering}").status_code == 404
    assert client.get(f"/documents/{seeded.doc1}/renderings/..%2F..%2Fsecret_key").status_code == 404


def test_partner_pages(gw, as_user, seeded) -> None:
    client = as_user("sam")
    page = text(client.get("/partners"))
    assert "ACME Supplies SIRET 12345678900011 VAT (FR) FR12345678901 acme-as2 ubl over as2" in page
    r = client.get(f"/partners/{seeded.acme}")
    page = text(r)
    assert "SIRET (0009) 12345678900011" in page
    assert "URL https://as2.acme.example/receive" in page and "Signing sha256" in page
    assert "Status messages APERAK to an EDIFACT sender (default)" in page
    with gw.session() as s:
        s.get(Partner, seeded.acme).status_syntax = "cdar"
    assert "Status messages CDAR (French life cycle)" in text(client.get(f"/partners/{seeded.acme}"))
    certs = section(page, "Certificates")
    assert re.search(r"CN=acme-soon .* signing .* expires soon", certs)
    assert re.search(r"CN=acme-later .* encryption .* valid", certs)
    assert 'class="expiring"' in r.get_data(as_text=True)
    assert client.get("/partners/999").status_code == 404


def test_our_certificates_page_offers_pem_and_der(gw, as_user, client, seeded) -> None:
    from cryptography import x509
    from gateway.db import Certificate, Organisation

    with gw.session() as s:
        org = s.scalar(sa.select(Organisation).where(Organisation.name == "Our Company"))
        ours = Certificate.from_pem(_self_signed(300, name="edigate-ours", before=T0), organisation=org)
        s.add(ours)
        s.flush()
        cert_id, fp = ours.id, ours.fingerprint_sha256
    browser = as_user("sam")
    page = text(browser.get("/certificates"))
    assert "Our Company" in section(page, "Our Company") and "CN=edigate-ours" in page and fp in page
    assert "acme-soon" in section(page, "Partners'")            # partners' certificates listed apart
    pem = browser.get(f"/certificates/{cert_id}.pem")
    assert pem.status_code == 200 and "attachment" in pem.headers["Content-Disposition"]
    der = browser.get(f"/certificates/{cert_id}.der")
    assert der.headers["Content-Type"] == "application/pkix-cert"
    assert x509.load_pem_x509_certificate(pem.data).public_bytes(_DER) == der.data
    assert b"PRIVATE" not in pem.data
    assert browser.get(f"/certificates/{cert_id}.key").status_code == 404
    assert browser.get("/certificates/999.pem").status_code == 404
    assert client.get(f"/certificates/{cert_id}.pem").status_code == 302        # a login first


def test_pages_escape_what_partners_send(gw, as_user, seeded) -> None:
    with gw.session() as s:
        s.get(Partner, seeded.acme).name = "<script>alert(1)</script>"
    body = as_user("sam").get("/partners").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_security_headers(client, people) -> None:
    r = login(client, "sam")
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
    r = client.get("/")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"
    body = r.get_data(as_text=True)
    assert "/static/edigate.css" in body and "<script" not in body and "style=" not in body
    css = client.get("/static/edigate.css")
    assert css.status_code == 200 and b"http" not in css.data                # nothing from elsewhere


# --- numbers past what the database holds ----------------------------------------------------

TOO_BIG = 2 ** 63


def test_ids_offsets_and_limits_out_of_range(as_user, seeded) -> None:
    """Flask's int converter and the list's ``int()`` took numbers SQLite cannot hold (a 500): an
    id out of range is a page that is not there, an offset or partner out of range a form error."""
    client = as_user("olivia")
    for url in (f"/exchanges/{TOO_BIG}", f"/exchanges/{TOO_BIG}/raw", f"/documents/{TOO_BIG}",
                f"/documents/{seeded.doc1}/renderings/{TOO_BIG}", f"/partners/{TOO_BIG}",
                f"/exchanges/{TOO_BIG - 1}"):
        assert client.get(url).status_code == 404, url
    r = client.post(f"/deliveries/{TOO_BIG}/redeliver", data={"csrf_token": csrf(client, "/")})
    assert r.status_code == 404
    for url, name in ((f"/exchanges?offset={TOO_BIG}", "offset"), (f"/documents?partner={TOO_BIG}", "partner"),
                      (f"/documents?limit={TOO_BIG}", "limit")):
        r = client.get(url)
        assert r.status_code == 400 and name in text(r), url
    assert client.get(f"/exchanges?offset={TOO_BIG - 1}").status_code == 200


# --- the reader's time zone and the roles ------------------------------------------------------

def test_a_user_chooses_the_time_zone_times_are_shown_in(gw, as_user, seeded, people) -> None:
    client = as_user("sam")
    assert "2025-01-06 10:00:00 CET" in text(client.get(f"/exchanges/{seeded.in_ok}"))       # Europe/Paris
    assert client.post("/preferences", data={"time_zone": "Mars/Olympus"}).status_code == 400   # no CSRF token
    r = client.post("/preferences", data={"time_zone": "Mars/Olympus", "csrf_token": csrf(client, "/preferences")})
    assert "Choose a time zone from the list." in text(client.get(r.headers["Location"]))
    r = client.post("/preferences", data={"time_zone": "America/New_York",
                                          "csrf_token": csrf(client, "/preferences")})
    assert r.status_code == 303
    page = text(client.get(f"/exchanges/{seeded.in_ok}"))
    assert "2025-01-06 04:00:00 EST" in page and "CET" not in page
    assert "2025-01-06 10:00:00 CET" in text(as_user("olivia").get(f"/exchanges/{seeded.in_ok}"))  # hers only
    with gw.session() as s:
        assert s.get(User, people.ids["sam"]).time_zone == "America/New_York"


def test_staff_follow_the_lists_but_open_no_invoice(as_user, seeded) -> None:
    client = as_user("sam")
    assert "INV/2025/001" in text(client.get("/documents"))                # the list: yes
    assert f'href="/documents/{seeded.doc1}"' not in client.get("/documents").get_data(as_text=True)
    for url in (f"/documents/{seeded.doc1}", f"/documents/{seeded.doc1}/view", f"/documents/{seeded.doc1}/original",
                f"/exchanges/{seeded.in_ok}/raw", f"/exchanges/{seeded.in_ok}/content", f"/exchanges/{seeded.in_ok}/mdn"):
        r = client.get(url)
        assert r.status_code == 403 and "documents.open needs the role admin or operator" in text(r), url
    assert client.get(f"/partners/{seeded.acme}/edit").status_code == 403
    assert "Not an invoice's page nor any file" in text(client.get("/help/roles"))
    operator = as_user("olivia")
    assert operator.get(f"/documents/{seeded.doc1}").status_code == 200
    assert operator.get(f"/exchanges/{seeded.in_ok}/raw").data == RAW_IN
