"""An approval in headless Chromium (Playwright), on the recipient portal served by a real HTTP
server thread on a free loopback port: an invoice over the threshold waits for two approvers in
order; the first (alice) delegates while away; her delegate (dave) approves on her behalf; the
second (bob) refuses with a reason and a reason code; the supplier, which chose CDAR as its status
syntax, finds exactly one refusal (210) in its SFTP pickup folder; the decisions are on record
(the portal's trail, the API's, the operator's document page) and the invoice never reached the
ERP pull.

The invoice is a real UBL file through the real pipeline (tests/support/approval_seed.py). Skips
cleanly when Chromium or Playwright is missing (tests/peers/chromium.py)."""
from __future__ import annotations

import json
import threading
import urllib.request
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from gateway.config import load_settings
from gateway.db import utcnow
from gateway.flow import lifecycle
from gateway.runtime import Gateway
from gateway.rules import cdar as cdar_rules
from gateway.syntaxes import cdar
from gateway.web import create_app

from tests.support import approval_seed
from tests.support.approval_seed import invoice, send
from tests.support.portal_seed import PASSWORD, pickup_dir
from tests.support.ports import free_port


@pytest.fixture
def live(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    centre = approval_seed.seed(gw)
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(gw), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gw, centre, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        gw.close()


def api(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)


def log_in(page, base: str, who: str, door: str = "/portal/") -> None:
    page.goto(f"{base}{door}")
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{door}")


def log_out(page) -> None:
    page.click("text=Log out")


def queue_numbers(page) -> list[str]:
    return page.locator("#approval-queue tbody td:nth-child(1) a").all_inner_texts()


def test_two_approvers_in_order_a_delegate_and_a_refusal_the_supplier_receives(live, page) -> None:
    gw, centre, base = live
    doc = send(gw, centre, invoice("F-2026-900", "3000.00"))
    small = send(gw, centre, invoice("F-2026-901", "40.00"))          # under the threshold: no approval

    # alice's turn: she sees it, and delegates to dave while she is away
    log_in(page, base, "alice")
    page.click("header nav >> text=Approvals")
    assert queue_numbers(page) == ["F-2026-900"]
    page.select_option("#delegation-form select[name=delegate]", "dave")
    page.fill("#delegation-form input[name=ends_on]", (utcnow() + timedelta(days=7)).date().isoformat())
    page.fill("#delegation-form input[name=reason]", "on leave")
    page.click("#delegation-form button[type=submit]")
    assert "dave decides for you" in page.inner_text("p.flash")
    assert "on leave" in page.inner_text("#delegations tbody")
    log_out(page)

    # bob waits for his turn: nothing in his queue, and the invoice page says so
    log_in(page, base, "bob")
    page.goto(f"{base}/portal/approvals")
    assert queue_numbers(page) == []
    page.goto(f"{base}/portal/approvals/{doc}")
    assert page.inner_text("#approval-awaited") == "alice"
    assert page.locator("#approval-form").count() == 0
    log_out(page)

    # dave approves on alice's behalf
    log_in(page, base, "dave")
    page.goto(f"{base}/portal/approvals")
    assert queue_numbers(page) == ["F-2026-900"]
    assert page.inner_text("#approval-queue tbody td:nth-child(6)") == "delegate for alice"
    page.click("#approval-queue >> text=F-2026-900")
    assert "on behalf of alice" in page.inner_text("#approval-form legend")
    page.check("#approval-form input[name=action][value=approve]")
    page.click("#approval-form button[type=submit]")
    assert "it now waits for bob" in page.inner_text("p.flash")
    assert page.inner_text("#approval-awaited") == "bob"
    log_out(page)

    # bob refuses with a reason and a reason code
    log_in(page, base, "bob")
    page.goto(f"{base}/portal/approvals")
    assert queue_numbers(page) == ["F-2026-900"]
    page.click("#approval-queue >> text=F-2026-900")
    page.check("#approval-form input[name=action][value=refuse]")
    page.fill("#approval-form textarea[name=reason]", "no purchase order for this")
    page.select_option("#approval-form select[name=reason_code]", "CMD_ERR")
    page.click("#approval-form button[type=submit]")
    assert "refused; the supplier is told" in page.inner_text("p.flash")
    assert page.inner_text("#approval-state") == "refused"
    assert page.inner_text("#business-status") == "refused"
    trail = [r.inner_text() for r in page.locator("#approval-trail tbody tr").all()]
    assert len(trail) == 2
    assert "approved" in trail[0] and "dave" in trail[0] and "alice" in trail[0] and "delegate" in trail[0]
    assert "refused" in trail[1] and "bob" in trail[1] and "no purchase order for this" in trail[1] \
        and "CMD_ERR" in trail[1]
    # the invoice's own page no longer offers a decision, and points at its approval
    page.goto(f"{base}/portal/documents/{doc}")
    assert "refused" in page.inner_text("#approval-note")
    log_out(page)

    # the supplier receives the refusal in its status syntax (CDAR), exactly once
    assert lifecycle.report_pending(gw, document_id=doc) == 0          # told at the decision already
    lifecycle.report_pending(gw)                                       # what the sweep would do: nothing more
    placed = {p.name: p.read_bytes() for p in pickup_dir(gw, "vendeur").iterdir() if not p.name.startswith(".")}
    refusals = [cdar.read_cdar(d) for n, d in placed.items() if "_refused_" in n]
    assert len(refusals) == 1
    for data in placed.values():
        assert cdar_rules.validate(data) == []
    status = refusals[0].status
    assert (status.code, status.reason_code, status.reason, status.invoice_number) == \
        ("210", "CMD_ERR", "no purchase order for this", "F-2026-900")

    # on record: the API says who decided, when, why and for whom; the ERP never had it
    seen = api(f"{base}/api/v1/approvals/{doc}", centre.tokens["olivia"])
    assert [(d["username"], d["on_behalf_of"], d["capacity"], d["decision"], d["reason"]) for d in seen["decisions"]] \
        == [("dave", "alice", "delegate", "approved", None),
            ("bob", None, "approver", "refused", "no purchase order for this")]
    events = api(f"{base}/api/v1/documents/{doc}/status", centre.tokens["olivia"])["events"]
    assert events[-1]["status"] == "refused" and events[-1]["set_by"] == "approval:bob"
    assert [i["id"] for i in api(f"{base}/api/v1/erp/invoices", centre.tokens["erp"])["items"]] == [small]

    # the operator's document page shows the approval trail
    log_in(page, base, "olivia", door="/")
    page.goto(f"{base}/documents/{doc}")
    assert page.inner_text("#approval-state") == "refused"
    rows = [r.inner_text() for r in page.locator("#approval-trail tbody tr").all()]
    assert "dave" in rows[0] and "alice" in rows[0] and "bob" in rows[1] and "CMD_ERR" in rows[1]
