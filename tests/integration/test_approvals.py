"""The approval workflow on a real Gateway (SQLite and payload store under tmp_path), invoices
received through the real pipeline (tests/support/approval_seed.py), the API served by a real
HTTP server thread on a loopback port: any-of and in-order approval, the ERP pull before and
after, reminders and escalation on a controlled clock (the sweep given its ``now``), refusals of
whoever is not awaited (403), the rules checked with each wrong field named, the recipient's own
status route leaving a waiting invoice to its approvers, and the approval-time indicator checked
against the decisions on record."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from typing import Any, Optional

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from gateway.db import indicators
from gateway.approvals import decide, rules, sweep
from gateway.approvals.errors import ApprovalError, RuleError
from gateway.config import load_settings
from gateway.db import ApprovalCase, ApprovalDecision, ApprovalNotice, DocumentRecord, utcnow
from gateway.flow import lifecycle
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.support import approval_seed
from tests.support.approval_seed import invoice, send
from tests.support.portal_seed import pickup_dir


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def centre(gw):
    return approval_seed.seed(gw)


@pytest.fixture
def base(gw):
    server = make_server("127.0.0.1", 0, create_app(gw), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        thread.join(10)


def call(url: str, token: str, method: str = "GET", body: Optional[Any] = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def case_of(gw, doc_id: int) -> ApprovalCase:
    with gw.session() as s:
        case = s.scalar(sa.select(ApprovalCase).where(ApprovalCase.document_id == doc_id))
        s.expunge(case)
        return case


def status_of(gw, doc_id: int) -> Optional[str]:
    with gw.session() as s:
        return s.get(DocumentRecord, doc_id).business_status


def erp_ids(base: str, centre) -> list[int]:
    code, page = call(f"{base}/erp/invoices", centre.tokens["erp"])
    assert code == 200, page
    return [item["id"] for item in page["items"]]


# --- which invoices wait ---------------------------------------------------------------------

def test_only_invoices_a_rule_matches_wait_and_the_first_rule_wins(gw, centre) -> None:
    big_invoice = invoice("F-100", "2000.00")
    big = send(gw, centre, big_invoice)
    small = send(gw, centre, invoice("F-101", "50.00"))
    services = send(gw, centre, invoice("F-102", "50.00", buyer_reference="services"))
    both = send(gw, centre, invoice("F-103", "5000.00", buyer_reference="SERVICES"))
    with gw.session() as s:
        found = {c.document_id: c for c in s.scalars(sa.select(ApprovalCase))}
        assert set(found) == {big, services, both}
        assert (found[big].rule_name, found[big].mode, found[big].required) == ("large invoices", "in_order", 2)
        assert found[big].approvers == [centre.users["alice"], centre.users["bob"]]
        assert found[big].matched == {"BT-112": str(big_invoice.totals.total_with_vat)}       # why it waits
        assert (found[services].rule_name, found[services].required) == ("services", 2)
        assert found[both].rule_name == "large invoices"                  # listed first
        told = {(n.case_id, n.user_id) for n in s.scalars(sa.select(ApprovalNotice))}
        assert (found[big].id, centre.users["alice"]) in told and (found[big].id, centre.users["bob"]) not in told
    assert status_of(gw, small) in ("deposited", "received")              # no case: nothing changes for it


# --- any of ---------------------------------------------------------------------------------

def test_any_of_takes_the_number_required_each_approver_once(gw, centre) -> None:
    doc = send(gw, centre, invoice("S-1", "80.00", buyer_reference="SERVICES"))
    first = decide.decide(gw, doc, centre.users["dave"], "approve")
    assert (first.state, sorted(first.awaited), first.status) == ("waiting", ["alice", "bob"], None)
    with pytest.raises(ApprovalError) as twice:
        decide.decide(gw, doc, centre.users["dave"], "approve")
    assert twice.value.kind == "forbidden"
    with pytest.raises(ApprovalError) as outsider:
        decide.decide(gw, doc, centre.users["carol"], "approve")          # not an approver of this rule
    assert outsider.value.kind == "forbidden"
    second = decide.decide(gw, doc, centre.users["bob"], "approve")
    assert (second.state, second.status) == ("approved", "accepted")
    with pytest.raises(ApprovalError) as late:
        decide.decide(gw, doc, centre.users["alice"], "refuse", reason="too late", reason_code="DOUBLON")
    assert late.value.kind == "conflict"
    assert status_of(gw, doc) == "accepted"
    with gw.session() as s:
        made = [(d.username, d.decision, d.capacity) for d in s.scalars(
            sa.select(ApprovalDecision).where(ApprovalDecision.document_id == doc).order_by(ApprovalDecision.id))]
        assert made == [("dave", "approved", "approver"), ("bob", "approved", "approver")]
        (accepted,) = [e for e in lifecycle.history(s, doc) if e.status == "accepted"]
        assert accepted.set_by == "approval:bob"


# --- in order, hold, refusal told once ------------------------------------------------------------

def test_in_order_waits_for_each_in_turn_and_a_hold_then_refusal_reach_the_supplier_once(gw, centre) -> None:
    doc = send(gw, centre, invoice("F-200", "1500.00"))
    with pytest.raises(ApprovalError) as early:
        decide.decide(gw, doc, centre.users["bob"], "approve")            # bob's turn comes second
    assert early.value.kind == "forbidden" and "waits for alice" in str(early.value)
    opened = case_of(gw, doc).step_since
    moved = decide.decide(gw, doc, centre.users["alice"], "approve", now=opened + timedelta(hours=3))
    assert (moved.state, moved.awaited) == ("waiting", ["bob"])
    assert case_of(gw, doc).step_since == opened + timedelta(hours=3)    # bob's wait starts now
    with pytest.raises(ApprovalError) as no_code:
        decide.decide(gw, doc, centre.users["bob"], "hold", reason="which order?")   # French cycle: a code
    assert no_code.value.field == "reason_code"
    assert case_of(gw, doc).state == "waiting"                            # refused decision: nothing recorded
    held = decide.decide(gw, doc, centre.users["bob"], "hold", reason="which order?", reason_code="CMD_ERR")
    assert (held.state, held.status) == ("on_hold", "disputed")
    refused = decide.decide(gw, doc, centre.users["bob"], "refuse", reason="no order for this", reason_code="CMD_ERR")
    assert (refused.state, refused.status) == ("refused", "refused")
    assert lifecycle.report_pending(gw) == 0                              # told already, once
    placed = {p.name: p.read_bytes() for p in pickup_dir(gw, "vendeur").iterdir()}
    from gateway.syntaxes import cdar
    told = sorted(cdar.read_cdar(d).status.code for n, d in placed.items())
    assert told.count("210") == 1 and told.count("207") == 1
    (refusal,) = [cdar.read_cdar(d).status for d in placed.values() if cdar.read_cdar(d).status.code == "210"]
    assert (refusal.reason_code, refusal.reason, refusal.invoice_number) == ("CMD_ERR", "no order for this", "F-200")


# --- the ERP pull -----------------------------------------------------------------------------

def test_the_erp_pull_sees_an_invoice_once_approved_and_never_a_refused_one(gw, centre, base) -> None:
    free = send(gw, centre, invoice("E-1", "10.00"))
    waiting = send(gw, centre, invoice("E-2", "3000.00"))
    refused = send(gw, centre, invoice("E-3", "3000.00"))
    assert erp_ids(base, centre) == [free]
    assert call(f"{base}/erp/invoices/{waiting}", centre.tokens["erp"])[0] == 404
    code, ack = call(f"{base}/erp/invoices/ack", centre.tokens["erp"], "POST", {"ids": [waiting]})
    assert code == 200 and ack["unknown"] == [waiting] and ack["acknowledged"] == []
    decide.decide(gw, waiting, centre.users["alice"], "approve")
    assert erp_ids(base, centre) == [free]                                # one approval of two
    decide.decide(gw, waiting, centre.users["bob"], "approve")
    decide.decide(gw, refused, centre.users["alice"], "refuse", reason="not ours", reason_code="DEST_ERR")
    assert erp_ids(base, centre) == [free, waiting]
    assert (status_of(gw, waiting), status_of(gw, refused)) == ("accepted", "refused")
    code, ack = call(f"{base}/erp/invoices/ack", centre.tokens["erp"], "POST", {"ids": [waiting]})
    assert ack["acknowledged"] == [waiting]


# --- reminders and escalation on a controlled clock ------------------------------------------------

def test_reminders_then_escalation_after_their_delays_counted_from_each_turn(gw, centre) -> None:
    doc = send(gw, centre, invoice("R-1", "1200.00"))
    t0 = case_of(gw, doc).step_since
    clock = lambda hours: t0 + timedelta(hours=hours)    # noqa: E731

    def notices(kind: str) -> list[tuple[int, datetime]]:
        with gw.session() as s:
            return [(n.user_id, n.at) for n in s.scalars(sa.select(ApprovalNotice).where(ApprovalNotice.kind == kind)
                                                         .order_by(ApprovalNotice.id))]

    assert sweep.chase(gw, clock(23.9)) == {"approval_reminders": 0, "approval_escalations": 0}
    assert sweep.chase(gw, clock(24)) == {"approval_reminders": 1, "approval_escalations": 0}
    assert notices("reminder") == [(centre.users["alice"], clock(24))]
    assert sweep.chase(gw, clock(30))["approval_reminders"] == 0            # one per delay
    with pytest.raises(ApprovalError):
        decide.decide(gw, doc, centre.users["carol"], "approve", now=clock(47))   # not escalated yet
    assert sweep.chase(gw, clock(48)) == {"approval_reminders": 1, "approval_escalations": 1}
    assert notices("escalation") == [(centre.users["carol"], clock(48))]
    assert sweep.chase(gw, clock(100))["approval_escalations"] == 0        # once per turn
    # carol decides in alice's place; bob's turn starts then, with its own delays
    decide.decide(gw, doc, centre.users["carol"], "approve", now=clock(101))
    case = case_of(gw, doc)
    assert (case.step, case.step_since, case.escalated_at, case.reminded_at) == (1, clock(101), None, None)
    with gw.session() as s:
        (d,) = s.scalars(sa.select(ApprovalDecision).where(ApprovalDecision.document_id == doc)).all()
        assert (d.username, d.capacity, d.on_behalf_of, d.waiting_since) == ("carol", "escalation", "alice", t0)
    assert sweep.chase(gw, clock(124))["approval_reminders"] == 0
    assert sweep.chase(gw, clock(125))["approval_reminders"] == 1
    assert notices("reminder")[-1] == (centre.users["bob"], clock(125))
    # the gateway's own sweep runs it too
    assert gw.jobs.sweep(clock(149))["approval_escalations"] == 1


# --- delegation ----------------------------------------------------------------------------

def test_a_delegate_decides_during_the_period_only_and_the_record_says_for_whom(gw, centre, base) -> None:
    doc = send(gw, centre, invoice("D-1", "1200.00"))
    now = utcnow()
    code, made = call(f"{base}/approvals/delegations", centre.tokens["alice"], "POST",
                      {"delegate": "dave", "starts_at": (now + timedelta(days=1)).isoformat(),
                       "ends_at": (now + timedelta(days=8)).isoformat(), "reason": "on leave"})
    assert code == 201 and (made["user"], made["delegate"]) == ("alice", "dave")
    assert call(f"{base}/approvals", centre.tokens["dave"])[1]["items"] == []        # not yet
    with pytest.raises(ApprovalError):
        decide.decide(gw, doc, centre.users["dave"], "approve")
    during = now + timedelta(days=2)
    out = decide.decide(gw, doc, centre.users["dave"], "approve", now=during)
    assert out.awaited == ["bob"]
    with gw.session() as s:
        (d,) = s.scalars(sa.select(ApprovalDecision).where(ApprovalDecision.document_id == doc)).all()
        assert (d.username, d.on_behalf_of, d.capacity, d.at) == ("dave", "alice", "delegate", during)
    code, bad = call(f"{base}/approvals/delegations", centre.tokens["alice"], "POST",
                     {"delegate": "olivia", "ends_at": (now + timedelta(days=3)).isoformat()})
    assert code == 422 and "delegate" in bad["details"]
    code, ended = call(f"{base}/approvals/delegations/{made['id']}/end", centre.tokens["dave"], "POST")
    assert code == 200 and ended["ended_at"]


# --- the API: queue, decisions, refusals ------------------------------------------------------

def test_the_api_queue_and_decisions_refuse_whoever_is_not_awaited(gw, centre, base) -> None:
    doc = send(gw, centre, invoice("A-1", "2500.00"))
    code, queue = call(f"{base}/approvals", centre.tokens["alice"])
    assert code == 200 and [i["document_id"] for i in queue["items"]] == [doc]
    assert queue["items"][0]["capacity"] == "approver" and queue["notices"][0]["kind"] == "waiting"
    assert call(f"{base}/approvals", centre.tokens["bob"])[1]["items"] == []
    for who in ("bob", "dave", "olivia", "root"):                        # not awaited, or not an approver at all
        code, refused = call(f"{base}/approvals/{doc}/decision", centre.tokens[who], "POST", {"decision": "approve"})
        assert code == 403, (who, refused)
    assert case_of(gw, doc).step == 0
    code, view = call(f"{base}/approvals/{doc}/decision", centre.tokens["alice"], "POST",
                      {"decision": "refuse", "reason": "x", "reason_code": "NOPE"})
    assert code == 422 and "reason_code" in view["details"]
    code, view = call(f"{base}/approvals/{doc}/decision", centre.tokens["alice"], "POST", {"decision": "approve"})
    assert code == 200 and view["awaited"] == ["bob"] and view["decisions"][0]["username"] == "alice"
    # the recipient's own status route leaves it to the approvers
    code, err = call(f"{base}/documents/{doc}/status", centre.tokens["bob"], "POST", {"status": "accepted"})
    assert code == 409 and "waits for approval" in err["error"]
    assert call(f"{base}/documents/{doc}/status", centre.tokens["bob"])[1]["may_become"] == []
    code, view = call(f"{base}/approvals/{doc}/decision", centre.tokens["bob"], "POST", {"decision": "approve"})
    assert code == 200 and view["state"] == "approved" and view["business_status"] == "accepted"
    code, all_open = call(f"{base}/approvals", centre.tokens["olivia"])
    assert code == 200 and all_open["items"] == []
    assert call(f"{base}/approvals/{doc}", centre.tokens["olivia"])[1]["state"] == "approved"


# --- the rules as data ----------------------------------------------------------------------

def test_rules_are_checked_with_each_wrong_field_named(gw, centre, base) -> None:
    partner = centre.partners["centre"]
    code, got = call(f"{base}/approval-rules/{partner}", centre.tokens["olivia"])
    assert code == 200 and got["version"] == 1 and [r["name"] for r in got["rules"]] == ["large invoices", "services"]
    assert call(f"{base}/approval-rules/{partner}", centre.tokens["alice"])[0] == 403
    wrong = {"rules": [{"name": "x", "approvers": ["alice", "zoe", "alice"], "when": {"min_amount": "lots",
                                                                                     "colour": "red"},
                        "order": "any_of", "required": 5, "escalate_after_hours": 10}]}
    code, err = call(f"{base}/approval-rules/{partner}", centre.tokens["olivia"], "PUT", wrong)
    assert code == 422
    assert set(err["details"]) == {"rules[0].approvers[1]", "rules[0].approvers[2]", "rules[0].when.min_amount",
                                   "rules[0].when.colour", "rules[0].required", "rules[0].escalate_to"}
    assert "zoe" in err["details"]["rules[0].approvers[1]"]
    code, got = call(f"{base}/approval-rules/{partner}", centre.tokens["olivia"], "PUT",
                     {"rules": [{"name": "all", "approvers": ["carol"]}]})
    assert code == 200 and got["version"] == 2 and got["updated_by"] == "api:olivia"
    doc = send(gw, centre, invoice("N-1", "5.00"))
    assert case_of(gw, doc).approvers == [centre.users["carol"]]
    with gw.session() as s:
        with pytest.raises(RuleError) as e:
            rules.save(s, partner, "rules: [unclosed", by="test")
        assert "line 1" in e.value.errors["document"]


# --- the indicator ----------------------------------------------------------------------------

def test_the_approval_time_indicator_agrees_with_the_decisions_on_record(gw, centre) -> None:
    a = send(gw, centre, invoice("T-1", "1100.00"))
    b = send(gw, centre, invoice("T-2", "1100.00"))
    t0 = case_of(gw, a).step_since
    decide.decide(gw, a, centre.users["alice"], "approve", now=t0 + timedelta(hours=2))
    decide.decide(gw, a, centre.users["bob"], "approve", now=t0 + timedelta(hours=8))     # 6 h after his turn
    t1 = case_of(gw, b).step_since
    decide.decide(gw, b, centre.users["alice"], "approve", now=t1 + timedelta(hours=4))
    with gw.session() as s:
        period = indicators.Period(date.today() - timedelta(days=3), date.today() + timedelta(days=3))
        table = indicators.approval_time(s, period)
        # computed here again from the records, independently of the indicator's query
        waited: dict[str, list[float]] = {}
        for d in s.scalars(sa.select(ApprovalDecision)):
            waited.setdefault(d.username, []).append((d.at - d.waiting_since).total_seconds() / 3600)
        closed = [(c.closed_at - c.opened_at).total_seconds() / 3600
                  for c in s.scalars(sa.select(ApprovalCase).where(ApprovalCase.closed_at.is_not(None)))]
    rows = {r[0]: r for r in table.rows}
    assert waited == {"alice": [2.0, 4.0], "bob": [6.0]}
    for name, values in waited.items():           # the percentiles as the indicators define them (nearest rank)
        expected = [len(values), round(sum(values) / len(values), 1), round(indicators.percentile(values, 50), 1),
                    round(indicators.percentile(values, 90), 1), round(max(values), 1)]
        assert rows[name][1:] == expected, name
    assert rows["alice"][1:3] == [2, 3.0] and rows["alice"][5] == 4.0 and rows["bob"][1:] == [1, 6.0, 6.0, 6.0, 6.0]
    assert rows["whole approval"][1:3] == [len(closed), round(sum(closed) / len(closed), 1)] == [1, 8.0]
    assert table.columns == ["approver", "decisions", "mean", "median", "p90", "max"]


# --- the command line -------------------------------------------------------------------------

def test_the_command_line_stores_checks_lists_and_shows_the_trail(gw, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner
    from gateway.cli import main

    centre = approval_seed.seed(gw, with_rules=False)
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    run = lambda *args: CliRunner().invoke(main, list(args))    # noqa: E731
    assert "no approval rules" in run("approval", "rules", "show", "Centre SSC").output
    assert send(gw, centre, invoice("C-0", "9000.00")) and run("approval", "list").output.strip() == \
        "nothing waits for approval"                                      # no rules: nothing waits
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("rules:\n  - name: big\n    when: {min_amount: -5}\n    approvers: [alice, nobody]\n")
    refused = run("approval", "rules", "set", "Centre SSC", str(wrong), "--by", "olivia")
    assert refused.exit_code == 2
    assert "rules[0].when.min_amount: expected a decimal amount" in refused.output
    assert "rules[0].approvers[1]: 'nobody' is not an active recipient login" in refused.output
    assert "no approval rules" in run("approval", "rules", "show", "Centre SSC").output      # nothing stored
    good = tmp_path / "rules.yaml"
    good.write_text(approval_seed.RULES)
    assert run("approval", "rules", "check", "Centre SSC", str(good)).output.strip() == "Centre SSC: 2 rule(s), usable"
    stored = run("approval", "rules", "set", "Centre SSC", str(good), "--by", "olivia")
    assert stored.exit_code == 0 and "version 1 stored (2 rule(s))" in stored.output
    shown = run("approval", "rules", "show", "Centre SSC").output
    assert "stored by cli:olivia" in shown and "escalate_to: [carol]" in shown      # the text as given
    doc = send(gw, centre, invoice("C-1", "9000.00"))
    listed = run("approval", "list", "--json")
    assert [(r["document"], r["awaited"]) for r in json.loads(listed.output)] == [(doc, ["alice"])]
    decide.decide(gw, doc, centre.users["alice"], "approve")
    trail = json.loads(run("approval", "trail", str(doc), "--json").output)
    assert (trail["state"], trail["awaited"], [d["by"] for d in trail["decisions"]]) == ("waiting", ["bob"], ["alice"])
    assert run("approval", "trail", "999999").exit_code == 2


# --- notices in each reader's language --------------------------------------------------------

def test_notices_keep_their_parameters_and_each_approver_reads_them_in_their_own_language(gw, centre, base) -> None:
    from zoneinfo import ZoneInfo
    from gateway.db import User
    with gw.session() as s:
        s.get(User, centre.users["alice"]).language = "fr"
        s.get(User, centre.users["carol"]).language, s.get(User, centre.users["carol"]).time_zone = "en", "UTC"
    doc = send(gw, centre, invoice("L-1", "1200.00"))
    t0 = case_of(gw, doc).step_since
    sweep.chase(gw, t0 + timedelta(hours=48))                             # a reminder to alice, escalation to carol
    with gw.session() as s:
        kept = {n.kind: n.params for n in s.scalars(sa.select(ApprovalNotice))}
    params = {"number": "L-1", "rule": "large invoices", "since": t0.astimezone(ZoneInfo("UTC")).isoformat()}
    assert kept == {"waiting": params, "reminder": params, "escalation": params}
    paris = t0.astimezone(ZoneInfo("Europe/Paris"))
    told = {n["kind"]: n["message"] for n in call(f"{base}/approvals", centre.tokens["alice"])[1]["notices"]}
    assert told == {"waiting": "La facture L-1 attend votre approbation (règle large invoices).",
                    "reminder": f"Rappel : la facture L-1 attend votre approbation depuis le "
                                f"{paris:%d/%m/%Y %H:%M} {paris:%Z}."}
    (escalated,) = call(f"{base}/approvals", centre.tokens["carol"])[1]["notices"]
    assert escalated["message"] == (f"Escalated to you: invoice L-1 has been waiting for approval since "
                                    f"{t0:%Y-%m-%d %H:%M} UTC.")
    with gw.session() as s:                 # what reads the record without a language: the English text
        assert s.scalar(sa.select(ApprovalNotice.message).where(ApprovalNotice.kind == "waiting")) == \
            "Invoice L-1 waits for your approval (rule large invoices)."
