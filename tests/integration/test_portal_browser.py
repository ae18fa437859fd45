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
import threading
import urllib.request
import zipfile

import pytest
from werkzeug.serving import make_server

from gateway.config import load_settings
from gateway.syntaxes import read_document
from gateway.syntaxes.aperak import read_aperak
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.support.ports import free_port
from tests.support.portal_seed import INVOICES, PASSWORD, invoice_for, pickup_dir, seed_documents, seed_partners

ACME_1 = INVOICES[0]


@pytest.fixture
def live(tmp_path):
    """A seeded gateway served over HTTP by a werkzeug server thread."""
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    seeded = seed_documents(gw, seed_partners(gw))
    app = create_app(gw)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gw, seeded, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        gw.close()


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
    assert sorted(z.namelist()) == ["ACME-2025-002.xml", "GLX-7.xml", "index.csv"]
    assert read_document(z.read("GLX-7.xml")).invoice.number == "GLX-7"
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
    page.click("text=Log out")
    page.goto(f"{base}/portal/")
    assert page.url.startswith(f"{base}/portal/login")
