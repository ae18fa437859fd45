"""The recipient portal in headless Chromium (Playwright), served by a real HTTP server thread
on a free loopback port: log in, search, sort, download (bytes compared with what the sender
sent), bulk export (ZIP members, CSV rows), and a refusal that reaches the sender: the API
shows it, and the EDI sender finds the APERAK in its SFTP pickup folder.

Documents are real files through the real pipeline (tests/support/portal_seed.py). Skips cleanly when
Chromium or Playwright is missing (tests/peers/chromium.py)."""
from __future__ import annotations

import csv
import io
import json
import urllib.request
import zipfile

import pytest

from gateway.config import load_settings
from gateway.db import DocumentRecord, Exchange
from gateway.syntaxes import read_document
from gateway.syntaxes.aperak import read_aperak
from gateway.runtime import Gateway

from tests.support.live_app import served
from tests.support.portal_seed import INVOICES, PASSWORD, invoice_for, pickup_dir, seed_documents, seed_partners

ACME_1 = INVOICES[0]


@pytest.fixture
def live(tmp_path):
    """A seeded gateway served over HTTP by a werkzeug server thread."""
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    seeded = seed_documents(gw, seed_partners(gw))
    with served(gw) as base:
        yield gw, seeded, base


def numbers(page) -> list[str]:
    return page.locator("table.invoices tbody td:nth-child(2) a").all_inner_texts()


def api(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)


def test_a_recipient_works_through_its_portal(live, page) -> None:
    gw, seeded, base = live

    # log in: the portal sends an anonymous visitor to its login and back
    page.goto(f"{base}/portal/")
    assert page.url.startswith(f"{base}/portal/login")
    page.fill("input[name=username]", "buyer-user")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    assert sorted(numbers(page)) == sorted(s.number for s in INVOICES if s.to == "buyer")
    assert "OTHER-1" not in page.content()

    # search, then sort by total from the column header, both ways
    page.fill("input[name=number]", "glx")
    page.click("form.filters button[type=submit]")
    assert numbers(page) == ["GLX-9", "GLX-8", "GLX-7"]
    page.click("th >> text=Total")
    assert numbers(page) == ["GLX-8", "GLX-7", "GLX-9"]
    page.click("th >> text=Total")
    assert numbers(page) == ["GLX-9", "GLX-7", "GLX-8"]
    page.fill("input[name=amount_min]", "100")
    page.click("form.filters button[type=submit]")
    assert numbers(page) == ["GLX-8"]

    # download: the original as the sender sent it, and the PDF (Factur-X) of the same invoice
    page.goto(f"{base}/portal/")
    page.click(f"text={ACME_1.number}")
    with page.expect_download() as dl:
        page.click("ul.downloads >> text=Original")
    download = dl.value
    assert download.suggested_filename == f"{ACME_1.number}.edi"
    assert open(download.path(), "rb").read() == seeded.files[ACME_1.number]
    with page.expect_download() as dl:
        page.click("ul.downloads >> text=PDF (Factur-X)")
    pdf = open(dl.value.path(), "rb").read()
    assert pdf.startswith(b"%PDF-") and read_document(pdf).invoice.number == ACME_1.number

    # bulk export: two ticked invoices as a ZIP of UBL files, then the whole list as CSV
    page.goto(f"{base}/portal/?sort=number&order=asc")
    page.check("input[aria-label='Select invoice GLX-7']")
    page.check("input[aria-label='Select invoice ACME-2025-002']")
    page.select_option("select[name=export]", "zip")
    page.select_option("select[name=format]", "ubl")
    with page.expect_download() as dl:
        page.click("text=Export the selected invoices")
    z = zipfile.ZipFile(io.BytesIO(open(dl.value.path(), "rb").read()))
    assert sorted(z.namelist()) == ["ACME-2025-002-ubl.xml", "GLX-7-ubl.xml", "index.csv"]
    assert read_document(z.read("GLX-7-ubl.xml")).invoice.number == "GLX-7"
    page.select_option("select[name=export]", "csv")
    with page.expect_download() as dl:
        page.click("text=Export all 5 found")
    rows = list(csv.reader(io.StringIO(open(dl.value.path(), "rb").read().decode("utf-8-sig")), delimiter=";"))
    assert [r[1] for r in rows[1:-1]] == ["ACME-2025-001", "ACME-2025-002", "GLX-7", "GLX-8", "GLX-9"]
    total = sum(invoice_for(s).totals.total_with_vat for s in INVOICES if s.to == "buyer")
    assert rows[-1][1] == "TOTAL (5 invoices)" and rows[-1][10] == f"{total:.2f}"

    # a refusal with its reason: shown at once, told to the sender (API and APERAK)
    page.goto(f"{base}/portal/documents/{seeded.docs[ACME_1.number]}")
    page.check("input[name=status][value=refused]")
    page.fill("textarea[name=reason]", "not ordered by us")
    page.click("text=Set status")
    assert page.inner_text("#refusal-reason") == "not ordered by us"          # asked to confirm first
    page.click("#confirm-refusal")
    assert "an EDI message (APERAK) is on its way to the sender" in page.inner_text("p.flash")
    assert page.inner_text("#business-status") == "refused"
    last = page.locator("#status-history tbody tr").last.inner_text()
    assert "refused" in last and "not ordered by us" in last and "EDI message" in last

    seen = api(f"{base}/api/v1/documents/{seeded.docs[ACME_1.number]}/status", seeded.tokens["acme-user"])
    assert seen["business_status"] == "refused"
    event = seen["events"][-1]
    assert (event["reason"], event["set_by"]) == ("not ordered by us", "portal:buyer-user")
    (path,) = [p for p in pickup_dir(gw).iterdir() if p.name.endswith(f"_refused_{event['id']}.edi")]
    (report,) = read_aperak(path.read_bytes())
    assert (report.status, report.reason, report.document_number) == ("refused", "not ordered by us", ACME_1.number)

    # logging out ends it
    with page.expect_navigation():                          # the log-out posted before we go on
        page.click("text=Log out")
    page.goto(f"{base}/portal/")
    assert page.url.startswith(f"{base}/portal/login")


def test_a_recipient_accepts_in_bulk_and_is_told_plainly(live, page, tmp_path) -> None:
    """Select all, bulk accept, due dates, new markers, a confirmation before a refusal, a sentence
    when an export holds nothing, and UBL and CII downloads under names of their own."""
    gw, seeded, base = live
    # one more invoice, with a due date (BT-9) long past
    from datetime import date
    from gateway.flow.receive import receive_file
    from gateway.syntaxes import write_document
    from tests.support.portal_seed import Spec
    inv = invoice_for(Spec("GLX-10", date(2025, 4, 1), "60.00", "globex", seller_name="Globex Corp"))
    inv.due_date = date(2025, 5, 1)
    exchange = receive_file(gw, write_document(inv, "ubl").data, channel="api",
                            partner_id=seeded.partners["globex"], filename="GLX-10.xml")
    with gw.session() as s:
        seeded.docs["GLX-10"] = s.get(Exchange, exchange.id).documents[0].id
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/portal/login")
    page.fill("input[name=username]", "buyer-user")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")

    # every invoice is new (nothing downloaded yet), with its due date
    mine = sorted([s.number for s in INVOICES if s.to == "buyer"] + ["GLX-10"])
    assert page.locator("tr.new").count() == len(mine)
    due = page.locator("tr", has_text="GLX-10").locator("td.due")
    assert due.inner_text() == "2025-05-01" and "overdue" in due.get_attribute("class")
    assert page.locator("tr", has_text="GLX-9").locator("td.due").inner_text() == "—"
    page.screenshot(path=str(tmp_path / "portal-list.png"), full_page=True)

    # an export of nothing is a sentence on the list, not a bare "Bad Request"
    page.click("text=Export the selected invoices")
    assert "Nothing exported: no invoice was ticked" in page.inner_text("p.flash")
    assert "Bad Request" not in page.content()

    # UBL and CII of one invoice: two names
    page.click(f"text={ACME_1.number}")
    names = []
    for label in ("UBL", "CII"):
        with page.expect_download() as dl:
            page.click(f"ul.downloads >> text={label}")
        names.append(dl.value.suggested_filename)
    assert names == [f"{ACME_1.number}-ubl.xml", f"{ACME_1.number}-cii.xml"]
    page.goto(f"{base}/portal/")
    assert page.locator("tr.new", has_text=ACME_1.number).count() == 0        # downloaded: no longer new

    # a refusal asks first; "No" keeps the invoice as it was
    page.click("text=GLX-9")
    page.check("input[name=status][value=refused]")
    page.fill("textarea[name=reason]", "wrong price")
    page.click("text=Set status")
    assert "cannot be undone" in page.inner_text("section.confirm")
    with page.expect_navigation():
        page.click("text=No, keep it")
    with gw.session() as s:
        assert s.get(DocumentRecord, seeded.docs["GLX-9"]).business_status != "refused"

    # select all, accept them: every invoice that may be accepted is, the others are named
    page.goto(f"{base}/portal/")
    page.click("#select-all")
    assert all(page.locator("input[name=id]").evaluate_all("els => els.map(e => e.checked)"))
    page.click("#accept-selected")
    told = page.inner_text("main")
    assert f"{len(mine)} invoices accepted" in told and "their senders are told" in told
    with gw.session() as s:
        assert {s.get(DocumentRecord, seeded.docs[n]).business_status for n in mine} == {"accepted"}
    page.click("#select-all")
    page.click("#accept-selected")
    assert "Not accepted, as their status does not allow it" in page.inner_text("main")
