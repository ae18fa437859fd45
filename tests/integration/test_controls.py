"""The anomaly and fraud controls on real invoices through the real pipeline (UBL files received over
the API on a Gateway with its SQLite database and payload store): for each control an invoice that
trips it and one that does not; the per-organisation switch; a changed bank account holding the
invoice (the sweep's rerouting leaves it alone) until an operator confirms it, by the API, the
command line, or the page, after which it is delivered and the account is on record."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.cli import main
from gateway.config import load_settings
from gateway.controls.confirm import ControlError, confirm_account
from gateway.controls.settings import SettingError, set_control
from gateway.db import ControlHold, DocumentRecord, SupplierAccount
from gateway.flow.reroute import reroute_held
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.support.controls_seed import IBAN_A, IBAN_B, invoice, rules, send
from tests.support.portal_seed import PASSWORD, seed_partners

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def seeded(gw):
    return seed_partners(gw)


def sender(seeded) -> int:
    return seeded.partners["globex"]


def history(gw, seeded, n: int = 5, *, start: int = 200, step: int = 10, net: str = "100.00", **kw) -> list:
    """``n`` ordinary invoices of the supplier, ``step`` days apart (no near-duplicates among them)."""
    return [send(gw, sender(seeded), invoice(f"H-{i}", TODAY - timedelta(days=start - i * step),
                                             f"{float(net) + i:.2f}", **kw)) for i in range(n)]


def control_findings(doc, rule: str) -> list[dict]:
    return [f for f in doc.findings if f["rule"] == rule]


# --- bank account ---------------------------------------------------------------------------

def test_the_first_account_is_learned_and_the_same_one_passes(gw, seeded) -> None:
    first = send(gw, sender(seeded), invoice("B-1", TODAY - timedelta(days=20)))
    again = send(gw, sender(seeded), invoice("B-2", TODAY - timedelta(days=5), "150.00"))
    assert (first.status, rules(first)) == ("delivered", [])
    assert (again.status, rules(again)) == ("delivered", [])
    with gw.session() as s:
        on_record = s.scalars(sa.select(SupplierAccount)).all()
        assert [(a.supplier_key, a.account, a.source, a.document_id) for a in on_record] == \
            [("DE123456789", IBAN_A.replace(" ", ""), "learned", first.id)]


def test_a_changed_account_holds_the_invoice_until_an_operator_confirms_it(gw, seeded) -> None:
    send(gw, sender(seeded), invoice("B-1", TODAY - timedelta(days=20)))
    changed = send(gw, sender(seeded), invoice("B-2", TODAY - timedelta(days=5), "150.00", iban=IBAN_B))
    assert changed.status == "held" and rules(changed) == ["CTRL-BANK-01"]
    [f] = control_findings(changed, "CTRL-BANK-01")
    evidence = f["extra"]["evidence"]
    assert evidence["new_accounts"] == [IBAN_B.replace(" ", "")]
    assert evidence["previous"][0]["account"] == "****0189"          # the old one masked but its last 4
    assert IBAN_A.replace(" ", "") not in str(changed.findings)
    assert evidence["previous"][0]["since"][:10] == TODAY.isoformat()

    # the sweep's rerouting (recipient known) does not release it
    assert reroute_held(gw) == []
    with gw.session() as s:
        doc = s.get(DocumentRecord, changed.id)
        assert doc.status == "held" and doc.deliveries == []

    # the API: a staff token may not confirm; an operator's does, and the invoice is delivered
    client = create_app(gw, testing=True).test_client()
    refused = client.post(f"/api/v1/controls/holds/{changed.id}/confirm", headers=seeded.auth("sam"))
    assert refused.status_code == 403
    done = client.post(f"/api/v1/controls/holds/{changed.id}/confirm", headers=seeded.auth("olivia"))
    assert done.status_code == 200, done.json
    assert done.json["released"] == [changed.id] and done.json["delivered"] == [changed.id]
    again = client.post(f"/api/v1/controls/holds/{changed.id}/confirm", headers=seeded.auth("olivia"))
    assert again.status_code == 409
    with gw.session() as s:
        doc = s.get(DocumentRecord, changed.id)
        assert doc.status == "delivered" and [d.status for d in doc.deliveries] == ["delivered"]
        hold = s.scalar(sa.select(ControlHold).where(ControlHold.document_id == changed.id))
        assert hold.released_by == "user:olivia" and hold.released_at is not None
        accounts = {a.account: (a.source, a.retired_at is None) for a in s.scalars(sa.select(SupplierAccount))}
        assert accounts == {IBAN_B.replace(" ", ""): ("confirmed", True), IBAN_A.replace(" ", ""): ("learned", False)}

    # the new account passes from now on; the old one is a change again
    after = send(gw, sender(seeded), invoice("B-3", TODAY - timedelta(days=2), "160.00", iban=IBAN_B))
    back = send(gw, sender(seeded), invoice("B-4", TODAY - timedelta(days=1), "170.00", iban=IBAN_A))
    assert (after.status, rules(after)) == ("delivered", [])
    assert (back.status, rules(back)) == ("held", ["CTRL-BANK-01"])


def test_confirming_from_the_command_line_releases_every_invoice_held_for_that_account(gw, seeded, tmp_path,
                                                                                        monkeypatch) -> None:
    send(gw, sender(seeded), invoice("B-1", TODAY - timedelta(days=40)))
    one = send(gw, sender(seeded), invoice("B-2", TODAY - timedelta(days=20), "150.00", iban=IBAN_B))
    two = send(gw, sender(seeded), invoice("B-3", TODAY - timedelta(days=5), "175.00", iban=IBAN_B))
    assert one.status == two.status == "held"
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    listed = CliRunner().invoke(main, ["controls", "holds"])
    assert listed.exit_code == 0, listed.output
    assert f"{one.id}" in listed.output and "****0189" in listed.output
    refused = CliRunner().invoke(main, ["controls", "confirm", "999999", "--by", "alice"])
    assert refused.exit_code == 2 and "not held" in refused.output
    result = CliRunner().invoke(main, ["controls", "confirm", str(one.id), "--by", "alice"])
    assert result.exit_code == 0, result.output
    with gw.session() as s:
        statuses = [s.get(DocumentRecord, d.id).status for d in (one, two)]
    # the CLI's jobs are queued for the worker; the documents are routed (their deliveries recorded)
    assert all(st in ("routed", "delivered") for st in statuses), statuses


def test_an_operator_sets_an_account_through_the_command_line(gw, seeded, tmp_path, monkeypatch) -> None:
    send(gw, sender(seeded), invoice("B-1", TODAY - timedelta(days=40)))
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["controls", "account", "set", "de123456789", IBAN_B, "--by", "alice"])
    assert result.exit_code == 0, result.output
    changed = send(gw, sender(seeded), invoice("B-2", TODAY - timedelta(days=5), "150.00", iban=IBAN_B))
    assert (changed.status, rules(changed)) == ("delivered", [])
    shown = CliRunner().invoke(main, ["controls", "account", "list", "DE123456789"])
    assert "operator" in shown.output and "retired" in shown.output


def test_confirming_what_is_not_held_is_refused(gw, seeded) -> None:
    doc = send(gw, sender(seeded), invoice("B-1", TODAY - timedelta(days=40)))
    with pytest.raises(ControlError):
        confirm_account(gw, doc.id, by="user:olivia")


def test_the_operator_page_shows_the_evidence_and_confirms(gw, seeded) -> None:
    send(gw, sender(seeded), invoice("B-1", TODAY - timedelta(days=20)))
    changed = send(gw, sender(seeded), invoice("B-2", TODAY - timedelta(days=5), "150.00", iban=IBAN_B))
    app = create_app(gw, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    client.post("/login", data={"username": "olivia", "password": PASSWORD})
    page = client.get("/controls")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "****0189" in html and IBAN_B.replace(" ", "") in html and IBAN_A.replace(" ", "") not in html
    assert f"/controls/holds/{changed.id}/confirm" in html
    done = client.post(f"/controls/holds/{changed.id}/confirm")
    assert done.status_code == 302
    with gw.session() as s:
        assert s.get(DocumentRecord, changed.id).status == "delivered"


# --- amount ---------------------------------------------------------------------------------

def test_an_amount_far_above_the_suppliers_median_is_flagged(gw, seeded) -> None:
    history(gw, seeded)                                          # 100..104 net, 119..123.76 with VAT
    usual = send(gw, sender(seeded), invoice("A-1", TODAY - timedelta(days=3), "300.00"))
    odd = send(gw, sender(seeded), invoice("A-2", TODAY - timedelta(days=1), "1000.00"))
    assert rules(usual) == [] and usual.status == "delivered"
    assert rules(odd) == ["CTRL-AMOUNT-01"] and odd.status == "delivered"      # a warning: it goes on
    [f] = control_findings(odd, "CTRL-AMOUNT-01")
    assert f["severity"] == "warning" and f["extra"]["history"] == 6


def test_no_verdict_on_amounts_without_enough_history(gw, seeded) -> None:
    history(gw, seeded, n=4)
    odd = send(gw, sender(seeded), invoice("A-2", TODAY - timedelta(days=1), "5000.00"))
    assert rules(odd) == []


def test_a_control_switched_off_for_an_organisation_says_nothing_there(gw, seeded) -> None:
    history(gw, seeded)
    with gw.session() as s:
        set_control(s, "amount", partner_id=seeded.partners["buyer"], enabled=False, by="test")
        with pytest.raises(SettingError):
            set_control(s, "amount", thresholds={"factor": 0})
    odd = send(gw, sender(seeded), invoice("A-2", TODAY - timedelta(days=1), "1000.00"))
    assert rules(odd) == []
    elsewhere = send(gw, sender(seeded), invoice("A-3", TODAY - timedelta(days=1), "2000.00", to="other"))
    assert rules(elsewhere) == ["CTRL-AMOUNT-01"]


# --- issue date -----------------------------------------------------------------------------

def test_issue_dates_in_the_future_or_long_past_are_flagged(gw, seeded) -> None:
    ahead = send(gw, sender(seeded), invoice("D-1", TODAY + timedelta(days=10)))
    old = send(gw, sender(seeded), invoice("D-2", TODAY - timedelta(days=400), "101.00"))
    today = send(gw, sender(seeded), invoice("D-3", TODAY, "102.00"))
    assert rules(ahead) == ["CTRL-DATE-01"] and rules(old) == ["CTRL-DATE-02"] and rules(today) == []


# --- near-duplicate -------------------------------------------------------------------------

def test_the_same_amount_under_another_number_days_apart_is_a_near_duplicate(gw, seeded) -> None:
    first = send(gw, sender(seeded), invoice("N-1", TODAY - timedelta(days=10), "480.00"))
    other_amount = send(gw, sender(seeded), invoice("N-2", TODAY - timedelta(days=8), "481.00"))
    far = send(gw, sender(seeded), invoice("N-3", TODAY - timedelta(days=40), "480.00"))
    again = send(gw, sender(seeded), invoice("N-4", TODAY - timedelta(days=7), "480.00"))
    assert rules(first) == rules(other_amount) == rules(far) == []
    assert rules(again) == ["CTRL-NEARDUP-01"]
    [f] = control_findings(again, "CTRL-NEARDUP-01")
    assert f["extra"]["documents"] == [first.id] and again.status == "delivered"


# --- VAT rate -------------------------------------------------------------------------------

def test_a_vat_rate_the_supplier_never_used_is_flagged(gw, seeded) -> None:
    history(gw, seeded)                                          # all at 19 %
    usual = send(gw, sender(seeded), invoice("V-1", TODAY - timedelta(days=3), "110.00"))
    odd = send(gw, sender(seeded), invoice("V-2", TODAY - timedelta(days=1), "120.00", rate=Decimal("7")))
    assert rules(usual) == [] and rules(odd) == ["CTRL-VAT-01"]
    [f] = control_findings(odd, "CTRL-VAT-01")
    assert f["extra"] == {"control": "CTRL-VAT-01", "unusual": ["7"], "usual": ["19"], "code": "vat_rate_unusual",
                          "params": {"unusual": ["7"], "usual": ["19"], "count": 6}}


def test_settings_through_the_api_by_level(gw, seeded) -> None:
    client = create_app(gw, testing=True).test_client()
    buyer = seeded.partners["buyer"]
    body = client.get("/api/v1/controls", headers=seeded.auth("sam")).json
    amount = next(c for c in body["items"] if c["name"] == "amount")
    assert amount["enabled"] is True and amount["thresholds"]["factor"] == 5 and amount["source"]["enabled"] == "default"
    assert client.patch("/api/v1/controls/amount", json={"enabled": False},
                        headers=seeded.auth("sam")).status_code == 403
    r = client.patch("/api/v1/controls/amount?partner=%d" % buyer, json={"thresholds": {"factor": 8}},
                     headers=seeded.auth("olivia"))
    assert r.status_code == 200, r.json
    amount = next(c for c in r.json["items"] if c["name"] == "amount")
    assert amount["thresholds"]["factor"] == 8 and amount["source"]["factor"] == "organisation"
    gateway_level = next(c for c in client.get("/api/v1/controls", headers=seeded.auth("sam")).json["items"]
                         if c["name"] == "amount")
    assert gateway_level["thresholds"]["factor"] == 5 and gateway_level["source"] == {"enabled": "default"}
    bad = client.patch("/api/v1/controls/amount", json={"thresholds": {"factor": 0.5}}, headers=seeded.auth("olivia"))
    assert bad.status_code == 422
    assert client.patch("/api/v1/controls/nothing", json={}, headers=seeded.auth("olivia")).status_code == 404
    # the organisation's factor of 8 now applies to its invoices: 6x the median passes there
    history(gw, seeded)
    six = send(gw, sender(seeded), invoice("S-1", TODAY - timedelta(days=1), "650.00"))
    assert rules(six) == []
