"""Validation profiles on a gateway: a partner's profile checked when set, the pipeline checking a
sender's documents with it, and the REST API and the pages naming it. The profiles themselves
(``example``, ``nowhere``: tests/unit/test_rule_profiles.py) and the command line are tested
without a gateway there.
"""
from __future__ import annotations

import pytest

from tests.support.invoice_builder import build_invoice
from tests.support.web_seed import app, client, gw, people  # noqa: F401 - fixtures
from tests.unit.test_rule_profiles import _unreferenced, example_profiles  # noqa: F401 - a fixture

API = "/api/v1"


# --- partners: their profile, checked, and used by the pipeline -----------------------------------

def test_a_partner_profile_is_checked_against_the_known_profiles(make_gateway, example_profiles) -> None:
    from gateway.partners.service import PartnerError, PartnerService
    gw = make_gateway()
    with gw.session() as s:
        service = PartnerService(s)
        p = service.create({"name": "Sender", "validation_profile": " Example "})
        assert p.validation_profile == "example"
        for wrong, says in (("pepol", "unknown profile 'pepol'; choose one of en16931, peppol"),
                            ("nowhere", "profile 'nowhere' cannot be used yet: rule set 'nowhere'")):
            with pytest.raises(PartnerError) as e:
                service.update(p, {"validation_profile": wrong})
            assert e.value.field == "validation_profile" and says in str(e.value)
        service.update(p, {"validation_profile": ""})
        assert p.validation_profile is None


def _sent_by(gw, partner_profile, data: bytes):
    from gateway.db import DocumentRecord, Exchange, Partner
    from gateway.flow.receive import receive_file
    import sqlalchemy as sa
    with gw.session() as s:
        sender = Partner(name=f"Sender {partner_profile}", validation_profile=partner_profile)
        s.add(sender)
        s.flush()
        sender_id = sender.id
    ex_id = receive_file(gw, data, channel="api", partner_id=sender_id, filename="invoice.xml").id
    with gw.session() as s:
        ex = s.get(Exchange, ex_id)
        docs = s.scalars(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex_id)).all()
        return ex.status, ex.reason, [(d.validation_profile, d.valid, d.findings) for d in docs]


def test_the_pipeline_checks_a_document_with_its_senders_profile(make_gateway, example_profiles) -> None:
    from gateway.syntaxes import write_document
    gw = make_gateway()
    gw.jobs.send = lambda exchange_id, at=None: None
    data = write_document(_unreferenced(), "ubl").data
    status, _, [(profile, valid, findings)] = _sent_by(gw, None, data)
    assert (profile, valid) == ("en16931", True) and status == "processed"
    status, reason, [(profile, valid, findings)] = _sent_by(gw, "example", data)
    assert (status, profile, valid) == ("rejected", "example", False)
    assert reason.startswith("1 document(s), none valid: 1 fatal finding(s), first EX-01: ")
    assert [(f["rule"], f["rule_set"], f["severity"]) for f in findings if f.get("rule_set") == "example"] == \
        [("EX-01", "example", "fatal"), ("EX-02", "example", "warning")]
    assert findings[0]["location"].startswith("/Invoice")      # pointed at the source like any finding


def test_a_sender_profile_that_cannot_be_used_fails_the_exchange_on_record(make_gateway, example_profiles) -> None:
    from gateway.syntaxes import write_document
    gw = make_gateway()
    data = write_document(build_invoice(), "ubl").data
    status, reason, docs = _sent_by(gw, "nowhere", data)
    assert (status, docs) == ("failed", [])
    assert reason == ("cannot check with the sender's validation profile: profile 'nowhere' cannot be used: "
                      "rule set 'nowhere' is not available: its module tests.support.no_such_rule_set is not "
                      "installed")



# --- the API and the pages name the profile -------------------------------------------------------

def test_the_api_and_the_pages_name_the_profile(gw, app, client, people, example_profiles) -> None:  # noqa: F811
    from gateway.db import DocumentRecord
    from gateway.syntaxes import write_document
    from tests.integration.test_web_pages import login, text
    import sqlalchemy as sa
    gw.jobs.send = lambda exchange_id, at=None: None
    _sent_by(gw, "example", write_document(_unreferenced(), "ubl").data)
    with gw.session() as s:
        doc_id = s.scalar(sa.select(DocumentRecord.id))
    r = client.get(f"{API}/documents/{doc_id}", headers=people.auth("olivia"))
    body = r.get_json()
    assert body["validation_profile"] == "example" and body["valid"] is False
    assert [f["rule_set"] for f in body["findings"] if f["rule"] == "EX-01"] == ["example"]
    browser = app.test_client()
    assert login(browser, "olivia").status_code == 302
    page = text(browser.get(f"/documents/{doc_id}"))
    assert "Checked with Example (example)" in page
    assert "fatal EX-01 example The invoice has no buyer reference (BT-10) BT-10" in page   # fatal first
    assert "warning EX-02 × 1" in page                                                       # then by rule


def test_the_api_sets_and_shows_a_partners_profile(gw, client, people) -> None:  # noqa: F811
    r = client.post(f"{API}/partners", json={"name": "Initech", "validation_profile": "pepol"},
                    headers=people.auth("olivia"))
    assert r.status_code == 422 and "validation_profile" in r.get_json()["details"], r.get_json()
    r = client.post(f"{API}/partners", json={"name": "Initech", "validation_profile": "en16931"},
                    headers=people.auth("olivia"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["validation_profile"] == "en16931"
    r = client.patch(f"{API}/partners/{r.get_json()['id']}", json={"validation_profile": None},
                     headers=people.auth("olivia"))
    assert r.status_code == 200 and r.get_json()["validation_profile"] is None
