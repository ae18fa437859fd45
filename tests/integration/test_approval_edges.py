"""The approval workflow's edge cases on a real Gateway (SQLite and payload store under tmp_path),
invoices received through the real pipeline (tests/support/approval_seed.py), the API served by
a real HTTP server thread on a loopback port where it is the entry point:

* delegation: a delegate away too passes it on (a chain, bounded, never round in a circle; a
  circular delegation refused), a delegation ended while the invoice waits, a delegate deciding
  after the period (refused);
* escalation: to the rule's addressees but never to the case's own approvers, and to the
  operators when nobody is left;
* an approver deactivated or given another role while the invoice waits: escalated at once;
* two approvers deciding at the same moment: one wins, the other is told (409);
* an invoice corrected by a credit note while it waits: the credit note waits with it."""
from __future__ import annotations

import sys
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from gateway.approvals import cases, decide, delegation, rules, sweep
from gateway.approvals.errors import ApprovalError
from gateway.config import load_settings
from gateway.db import ApprovalCase, ApprovalDecision, ApprovalNotice, User, utcnow
from gateway.model.invoice import PrecedingInvoiceReference
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.integration.test_approvals import call, case_of, erp_ids
from tests.support import approval_seed
from tests.support.approval_seed import invoice, send

pytestmark = pytest.mark.integration


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


def away(gw, centre, who: str, to: str, *, days: int = 7) -> int:
    """``who`` is away from an hour ago for ``days`` days and names ``to``."""
    now = utcnow()
    with gw.session() as s:
        return delegation.delegate(s, s.get(User, centre.users[who]), to, starts_at=now - timedelta(hours=1),
                                   ends_at=now + timedelta(days=days), by="test").id


def notices_to(gw, user_id: int, kind: str) -> list[int]:
    with gw.session() as s:
        return list(s.scalars(sa.select(ApprovalNotice.case_id).where(ApprovalNotice.user_id == user_id,
                                                                      ApprovalNotice.kind == kind)))


# --- delegation ----------------------------------------------------------------------------

def test_a_delegate_away_too_passes_it_on_along_a_bounded_chain_without_circles(gw, centre, base) -> None:
    doc = send(gw, centre, invoice("D-10", "1200.00"))                   # waits for alice, then bob
    for who, to in (("alice", "dave"), ("dave", "carol"), ("carol", "erp"), ("erp", "bob")):
        away(gw, centre, who, to)
    # carol is two steps from alice, erp three: both may decide for her; bob, four steps away, may not
    assert [i["document_id"] for i in call(f"{base}/approvals", centre.tokens["carol"])[1]["items"]] == [doc]
    with gw.session() as s:
        assert delegation.delegates_of(s, centre.users["alice"], utcnow()) == \
            [centre.users[n] for n in ("dave", "carol", "erp")]
        assert cases.capacity_of(s, s.get(ApprovalCase, case_of(gw, doc).id), s.get(User, centre.users["bob"]),
                                 utcnow()) is None
    code, view = call(f"{base}/approvals/{doc}/decision", centre.tokens["erp"], "POST", {"decision": "approve"})
    assert code == 200 and view["awaited"] == ["bob"]
    with gw.session() as s:
        (d,) = s.scalars(sa.select(ApprovalDecision).where(ApprovalDecision.document_id == doc))
        assert (d.username, d.on_behalf_of, d.capacity) == ("erp", "alice", "delegate")
    # a circle: bob → alice for a period when alice named bob? refused; a longer circle ends
    code, err = call(f"{base}/approvals/delegations", centre.tokens["bob"], "POST",
                     {"delegate": "erp", "ends_at": (utcnow() + timedelta(days=2)).isoformat()})
    assert code == 422 and "circle" in err["details"]["delegate"]
    with gw.session() as s:                                               # bob → alice closes alice…bob
        delegation.delegate(s, s.get(User, centre.users["bob"]), "alice", ends_at=utcnow() + timedelta(days=2),
                            by="test")
    with gw.session() as s:
        chain = delegation.delegates_of(s, centre.users["bob"], utcnow())
        assert chain == [centre.users[n] for n in ("alice", "dave", "carol")]         # bounded, each once
        back = delegation.standing_in_for(s, centre.users["alice"], utcnow())
        assert back == [centre.users[n] for n in ("bob", "erp", "carol")] and centre.users["alice"] not in back
    # bob's turn now: alice stands in for him; bob may still decide himself
    assert [i["document_id"] for i in call(f"{base}/approvals", centre.tokens["alice"])[1]["items"]] == [doc]


def test_a_delegation_ended_mid_case_or_over_refuses_the_delegate(gw, centre, base) -> None:
    doc = send(gw, centre, invoice("D-11", "1200.00"))
    made = away(gw, centre, "alice", "dave")
    assert [i["document_id"] for i in call(f"{base}/approvals", centre.tokens["dave"])[1]["items"]] == [doc]
    code, ended = call(f"{base}/approvals/delegations/{made}/end", centre.tokens["alice"], "POST")
    assert code == 200 and ended["ended_at"]
    assert call(f"{base}/approvals", centre.tokens["dave"])[1]["items"] == []
    code, refused = call(f"{base}/approvals/{doc}/decision", centre.tokens["dave"], "POST", {"decision": "approve"})
    assert code == 403 and "waits for alice" in refused["error"]
    assert case_of(gw, doc).step == 0
    # a delegation over by its own end: the delegate deciding afterwards is refused
    other = send(gw, centre, invoice("D-12", "1200.00"))
    away(gw, centre, "alice", "dave", days=1)
    with pytest.raises(ApprovalError) as late:
        decide.decide(gw, other, centre.users["dave"], "approve", now=utcnow() + timedelta(days=2))
    assert late.value.kind == "forbidden"
    assert decide.decide(gw, other, centre.users["dave"], "approve").awaited == ["bob"]   # within it: fine


# --- escalation ----------------------------------------------------------------------------

SELF_ESCALATING = """\
rules:
  - name: big
    when: {min_amount: 1000}
    approvers: [alice, bob]
    escalate_after_hours: 1
    escalate_to: [alice, carol]
"""


def test_escalation_never_goes_to_the_case_s_approvers_and_with_nobody_left_reaches_the_operators(
        gw, centre, base) -> None:
    with gw.session() as s:
        rules.save(s, centre.partners["centre"], SELF_ESCALATING, by="test")
    doc = send(gw, centre, invoice("X-1", "1500.00"))
    t0 = case_of(gw, doc).step_since
    assert sweep.chase(gw, t0 + timedelta(hours=1))["approval_escalations"] == 1
    case_id = case_of(gw, doc).id
    assert notices_to(gw, centre.users["carol"], "escalation") == [case_id]
    assert notices_to(gw, centre.users["alice"], "escalation") == []        # the late one is not "escalated to"
    # bob's turn: alice may not decide in his place (she gave one approval already)
    decide.decide(gw, doc, centre.users["alice"], "approve", now=t0 + timedelta(hours=2))
    sweep.chase(gw, t0 + timedelta(hours=3))
    with pytest.raises(ApprovalError):
        decide.decide(gw, doc, centre.users["alice"], "approve", now=t0 + timedelta(hours=3))
    # the escalation's addressee gone: the operators are told, and read it through the API
    with gw.session() as s:
        s.get(User, centre.users["carol"]).active = False
    other = send(gw, centre, invoice("X-2", "1500.00"))
    t1 = case_of(gw, other).step_since
    assert sweep.chase(gw, t1 + timedelta(hours=1))["approval_escalations"] == 1
    other_case = case_of(gw, other).id
    assert notices_to(gw, centre.users["olivia"], "escalation") == [other_case]
    assert notices_to(gw, centre.users["root"], "escalation") == [other_case]
    code, listed = call(f"{base}/approvals", centre.tokens["olivia"])
    assert code == 200 and [n["kind"] for n in listed["notices"]] == ["escalation"]
    assert "X-2" in listed["notices"][0]["message"]


# --- an approver who leaves ---------------------------------------------------------------------

def test_an_approver_deactivated_or_given_another_role_while_waiting_is_escalated_at_once(gw, centre, base) -> None:
    doc = send(gw, centre, invoice("G-1", "1800.00"))                    # alice then bob; escalation after 48 h
    code, _ = call(f"{base}/approvals/{doc}/decision", centre.tokens["carol"], "POST", {"decision": "approve"})
    assert code == 403                                                   # alice is there: not carol's yet
    with gw.session() as s:
        s.get(User, centre.users["alice"]).active = False
    code, view = call(f"{base}/approvals/{doc}/decision", centre.tokens["carol"], "POST", {"decision": "approve"})
    assert code == 200 and view["awaited"] == ["bob"]                    # alice's approval is carol's, on record
    with gw.session() as s:
        (d,) = s.scalars(sa.select(ApprovalDecision).where(ApprovalDecision.document_id == doc))
        assert (d.username, d.capacity, d.on_behalf_of) == ("carol", "escalation", "alice")
        bob = s.get(User, centre.users["bob"])
        bob.role, bob.partner_id = "operator", None                       # bob moves to the gateway's staff
    t1 = case_of(gw, doc).step_since
    assert sweep.chase(gw, t1 + timedelta(minutes=1))["approval_escalations"] == 1    # without waiting 48 h
    assert case_of(gw, doc).id in notices_to(gw, centre.users["carol"], "escalation")
    code, refused = call(f"{base}/approvals/{doc}/decision", centre.tokens["bob"], "POST", {"decision": "approve"})
    assert code == 403
    code, view = call(f"{base}/approvals/{doc}/decision", centre.tokens["carol"], "POST", {"decision": "approve"})
    assert code == 200 and view["state"] == "approved"
    # any of: too few approvers left to reach the number required
    services = send(gw, centre, invoice("G-2", "80.00", buyer_reference="SERVICES"))   # any 2 of alice, bob, dave
    with gw.session() as s:
        assert cases.stranded(s, s.get(ApprovalCase, case_of(gw, services).id))       # only dave is left


# --- two at once --------------------------------------------------------------------------------

def test_two_approvers_deciding_at_the_same_moment_one_wins_the_other_is_told(gw, centre, base, monkeypatch) -> None:
    doc = send(gw, centre, invoice("C-1", "80.00", buyer_reference="SERVICES"))    # any 2 of alice, bob, dave
    decide.decide(gw, doc, centre.users["dave"], "approve")
    both_read = threading.Barrier(2, timeout=10)
    real = cases.capacity_of

    def after_both_read(s, case, user, now):
        found = real(s, case, user, now)
        if sys._getframe(1).f_code.co_name == "decide":      # inside a decision: wait until the other read too
            both_read.wait()
        return found

    monkeypatch.setattr(cases, "capacity_of", after_both_read)
    answers: dict[str, tuple[int, dict]] = {}

    def post(who: str, decision: dict) -> None:
        answers[who] = call(f"{base}/approvals/{doc}/decision", centre.tokens[who], "POST", decision)

    threads = [threading.Thread(target=post, args=("alice", {"decision": "approve"})),
               threading.Thread(target=post, args=("bob", {"decision": "refuse", "reason": "not ours",
                                                           "reason_code": "DEST_ERR"}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    codes = sorted(code for code, _ in answers.values())
    assert codes == [200, 409], answers
    (loser,) = [body for code, body in answers.values() if code == 409]
    assert "moved meanwhile; look again" in loser["error"]
    with gw.session() as s:
        decisions = s.scalars(sa.select(ApprovalDecision).where(ApprovalDecision.document_id == doc)).all()
        assert len(decisions) == 2                                        # dave's and the winner's, nothing else
    (winner,) = [who for who, (code, _) in answers.items() if code == 200]
    assert case_of(gw, doc).state == ("approved" if winner == "alice" else "refused")


# --- corrected while waiting --------------------------------------------------------------------

def test_a_credit_note_for_an_invoice_still_waiting_waits_with_it(gw, centre, base) -> None:
    doc = send(gw, centre, invoice("K-1", "2000.00"))
    note = invoice("K-1-AV", "100.00")                                   # matches no rule on its own
    note.type_code = "381"
    note.preceding_invoices = [PrecedingInvoiceReference("K-1", date(2026, 9, 1))]
    credit = send(gw, centre, note)
    case = case_of(gw, credit)
    assert (case.rule_name, case.matched, case.approvers) == ("large invoices", {"corrects": "K-1"},
                                                               [centre.users["alice"], centre.users["bob"]])
    assert erp_ids(base, centre) == []                                   # the ERP gets neither yet
    assert {i["document_id"] for i in call(f"{base}/approvals", centre.tokens["alice"])[1]["items"]} == {doc, credit}
    for who in ("alice", "bob"):
        decide.decide(gw, doc, centre.users[who], "approve")
    assert erp_ids(base, centre) == [doc]
    decide.decide(gw, credit, centre.users["alice"], "refuse", reason="agreed otherwise", reason_code="DOUBLON")
    assert erp_ids(base, centre) == [doc]                                # the refused correction never leaves
    # once the invoice's approval is over, a later credit note goes by the rules alone
    late = invoice("K-1-AV2", "50.00")
    late.type_code = "381"
    late.preceding_invoices = [PrecedingInvoiceReference("K-1", date(2026, 9, 1))]
    later = send(gw, centre, late)
    with gw.session() as s:
        assert s.scalar(sa.select(ApprovalCase).where(ApprovalCase.document_id == later)) is None
