"""The operator pages in headless Chromium (Playwright), served by a real HTTP server thread on a
free loopback port: the exception queue shows every kind of exception with its age, plain reason
and actions, and each action works (the database and the audit trail say so); partners and
certificates edited from the pages through the partner service, refused as the CLI refuses;
a document's findings readable beside the rendered invoice; the staff role refused an invoice.

Data: real files through the real pipeline (tests/support/operator_seed.py). Screenshots go to
the test's tmp dir (``*.png``), for a person to look at; they are not committed. Skips cleanly
when Chromium or Playwright is missing (tests/peers/chromium.py)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import (Acknowledgement, AuditEvent, Certificate, Delivery, DocumentRecord, Exchange,
                        Organisation, Partner)
from gateway.runtime import Gateway

from tests.support.operator_seed import HELD, seed_exceptions
from tests.support.portal_seed import PASSWORD
from tests.support.live_app import served


@pytest.fixture
def live(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    seeded = seed_exceptions(gw)
    with gw.session() as s:
        s.add(Organisation(name="Our Platform"))
    with served(gw) as base:
        yield gw, seeded, base


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base}/")


def row(page, kind: str, subject_id: int):
    return page.locator(f"tr.exception[data-kind='{kind}'][data-id='{subject_id}']")


def submit(page, target) -> None:
    """Click *target* and wait for the page its form posts to: a click returns before that page
    has loaded, and the flash read at once may be the old page's or none."""
    with page.expect_navigation():
        (page.locator(target) if isinstance(target, str) else target).click()


def flash(page) -> str:
    return " ".join(page.locator("p.flash").all_inner_texts())


def audit(gw, action: str) -> list[AuditEvent]:
    with gw.session() as s:
        return s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


PYTHON_WORDS = re.compile(r"\b\w+Error\b|Traceback|HTTPConnectionPool|Max retries exceeded")


def visible_text(page) -> str:
    """What a person reads without opening any 'Technical detail'."""
    return page.evaluate("""() => {
        const clone = document.body.cloneNode(true);
        clone.querySelectorAll('details.technical pre').forEach(e => e.remove());
        return clone.innerText;
    }""")


def test_the_exception_queue_and_its_actions(live, page, tmp_path) -> None:
    gw, ex, base = live
    docs, partners = ex.docs, ex.seeded.partners
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, base, "olivia")

    # every kind is there, with its age and the actions it allows
    kinds = {"held": [docs[n] for n in HELD], "duplicate": [docs["GLX-7 (again)"]],
             "refused": [docs["ACME-2025-001"]], "disputed": [docs["GLX-8"]],
             "rejected_file": [ex.exchanges["rejected"]], "inbound_failed": [ex.exchanges["failed"]]}
    with gw.session() as s:
        (failed_delivery,) = s.scalars(sa.select(Delivery.id).where(Delivery.status == "failed")).all()
    kinds["delivery_failed"] = [failed_delivery]
    for kind, ids in kinds.items():
        for i in ids:
            assert row(page, kind, i).count() == 1, (kind, i)
            assert re.fullmatch(r"\d+ (min|h|d)", row(page, kind, i).locator("td.age").inner_text())
    assert "Propose to onboarding" in row(page, "held", docs["HELD-1"]).inner_text()
    assert row(page, "delivery_failed", failed_delivery).locator("button", has_text="Redeliver").count() == 1
    assert row(page, "inbound_failed", ex.exchanges["failed"]).locator("button", has_text="Retry").count() == 1
    # plain words; the program's own only behind "Technical detail"
    delivery_row = row(page, "delivery_failed", failed_delivery)
    assert "The partner's channel settings are incomplete." in delivery_row.inner_text()
    assert not PYTHON_WORDS.search(visible_text(page)), visible_text(page)
    delivery_row.locator("summary", has_text="Technical detail").click()
    assert "ValueError: partner Initech has no AS2 URL" in delivery_row.locator("details pre").inner_text()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # a held invoice assigned to an existing partner: it gets the buyer's identifier, the invoice goes
    held1 = row(page, "held", docs["HELD-1"])
    held1.locator("select[name=partner_id]").select_option(label="Other Buyer GmbH")
    submit(page, held1.locator("button", has_text="Assign"))
    assert "assigned to Other Buyer GmbH and on its way" in flash(page)
    assert row(page, "held", docs["HELD-1"]).count() == 0
    with gw.session() as s:
        d = s.get(DocumentRecord, docs["HELD-1"])
        assert d.status in ("routed", "delivered") and d.recipient_partner_id == partners["other"]
        assert ("9957", HELD["HELD-1"][1]) in {(i.scheme, i.value) for i in s.get(Partner, partners["other"]).identifiers}
    (event,) = audit(gw, "document.assign")
    assert (event.actor, event.subject_id) == ("olivia", docs["HELD-1"])

    # ... or to a partner created on the spot: a refusal of the partner service first, then for real
    row(page, "held", docs["HELD-2"]).locator("text=Create the partner").click()
    assert page.input_value("input[name=name]") == HELD["HELD-2"][0]
    page.fill("input[name=name]", "Other Buyer GmbH")                       # the name is taken
    page.select_option("select[name=preferred_channel]", "portal")
    page.click("text=Create and deliver")
    assert "A partner named 'Other Buyer GmbH' already exists" in page.inner_text("p.field-error")
    page.fill("input[name=name]", "Zeta Distribution")
    page.select_option("select[name=preferred_format]", "ubl")
    submit(page, "text=Create and deliver")
    assert "on its way" in flash(page)
    with gw.session() as s:
        zeta = s.scalar(sa.select(Partner).where(Partner.name == "Zeta Distribution"))
        assert zeta.preferred_channel == "portal"
        assert s.get(DocumentRecord, docs["HELD-2"]).recipient_partner_id == zeta.id
    assert [e.subject_id for e in audit(gw, "partner.create")] == [zeta.id]

    # ... or proposed to onboarding (installed here): its buyer becomes a counterparty to invite
    page.goto(f"{base}/")
    submit(page, row(page, "held", docs["HELD-3"]).locator("button", has_text="Propose to onboarding"))
    assert "proposed to onboarding" in flash(page)
    from onboarding.models import Counterparty
    with gw.session() as s:
        cp = s.scalar(sa.select(Counterparty).where(Counterparty.vat == HELD["HELD-3"][1]))
        assert cp is not None and cp.source == "held_document" and cp.name == HELD["HELD-3"][0]

    # a failed delivery: the partner fixed on its page (through the partner service), then redelivered
    page.goto(f"{base}/partners/{partners['initech']}/edit")
    page.select_option("select[name=preferred_channel]", "portal")
    page.fill("textarea[name=channel_settings]", "")
    submit(page, "form.edit button[type=submit]")
    assert "preferred channel changed" in flash(page)
    page.goto(f"{base}/")
    submit(page, row(page, "delivery_failed", failed_delivery).locator("button", has_text="Redeliver"))
    assert "planned again" in flash(page)
    with gw.session() as s:
        d = s.get(Delivery, failed_delivery)
        assert d.status != "failed" and d.channel == "portal", (d.status, d.reason)
    assert row(page, "delivery_failed", failed_delivery).count() == 0

    # a file whose processing failed: the sender's profile fixed, then retried: processed
    page.goto(f"{base}/partners/{partners['hooli']}/edit")
    page.select_option("select[name=validation_profile]", "en16931")
    submit(page, "form.edit button[type=submit]")
    page.goto(f"{base}/")
    submit(page, row(page, "inbound_failed", ex.exchanges["failed"]).locator("button", has_text="Retry"))
    assert "queued for processing again" in flash(page)
    with gw.session() as s:
        assert s.get(Exchange, ex.exchanges["failed"]).status == "processed"

    # acknowledged: off the list, who and when on record
    for kind, subject in (("held", docs["HELD-3"]),                    # proposed: onboarding has it now
                          ("duplicate", docs["GLX-7 (again)"]), ("refused", docs["ACME-2025-001"]),
                          ("disputed", docs["GLX-8"]), ("rejected_file", ex.exchanges["rejected"])):
        submit(page, row(page, kind, subject).locator("button", has_text="Acknowledge"))
        assert "acknowledged" in flash(page)
        assert row(page, kind, subject).count() == 0
    with gw.session() as s:
        acks = s.scalars(sa.select(Acknowledgement).order_by(Acknowledgement.id)).all()
        assert [(a.kind, a.by) for a in acks] == [("send_failed", "olivia"),   # the send its redelivery replaced
                                                  ("held", "olivia"), ("duplicate", "olivia"), ("refused", "olivia"),
                                                  ("disputed", "olivia"), ("rejected_file", "olivia")]
        assert all(datetime.now(timezone.utc) - a.at < timedelta(minutes=10) for a in acks)
        assert acks[0].note == f"superseded by the redelivery of delivery {failed_delivery}"
    assert len(audit(gw, "exception.acknowledge")) == 6
    assert page.locator("#queue-empty").count() == 1, visible_text(page)
    page.screenshot(path=str(tmp_path / "dashboard-empty.png"), full_page=True)

    # the exchange list tells held and duplicate outcomes apart from a plain 'processed'
    page.goto(f"{base}/exchanges?number=GLX-7")
    outcomes = page.locator("td.outcome").all_inner_texts()
    assert sorted(outcomes) == ["processed", "processed: 1 duplicate"], outcomes


def test_a_refused_or_forged_action_changes_nothing(live, page) -> None:
    gw, ex, base = live
    log_in(page, base, "sam")                                  # staff: sees the queue, acts on nothing
    assert "An operator deals with it." in page.inner_text("#exceptions")
    assert page.locator("#exceptions button").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = page.request.post(f"{base}/queue/acknowledge", form={"csrf_token": token, "kind": "duplicate",
                                                             "subject_id": str(ex.docs["GLX-7 (again)"])})
    assert r.status == 403
    r = page.request.get(f"{base}/documents/{ex.docs['GLX-8']}")
    assert r.status == 403 and "documents.open needs the role admin or operator" in r.text()
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Acknowledgement)) == 0
    page.goto(f"{base}/help/roles")
    assert "Not an invoice's page nor any file" in page.inner_text("table.roles tr.mine")


def _pem(tmp_path, name: str, days: int = 400) -> str:
    from tests.support.web_seed import _self_signed
    path = tmp_path / f"{name}.pem"
    path.write_text(_self_signed(days, name=name, before=datetime.now(timezone.utc) - timedelta(days=1)))
    return str(path)


def _service_refusal(gw, partner_id: int, values: dict) -> str:
    """What the partner service (the CLI's and the API's) says to ``values``, nothing kept."""
    from gateway.partners.service import PartnerError, PartnerService
    with gw.session() as s:
        try:
            PartnerService(s).update(s.get(Partner, partner_id), values)
        except PartnerError as e:
            s.rollback()
            return str(e)
    raise AssertionError("the service took it")


def test_partners_and_certificates_edited_from_the_pages(live, page, tmp_path) -> None:
    gw, ex, base = live
    initech = ex.seeded.partners["initech"]
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, base, "olivia")

    # a refusal of the partner service, beside its field, nothing written
    page.goto(f"{base}/partners/{initech}")
    page.click("#edit-partner")
    page.fill("input[name=as2_url]", "ftp://initech.example/as2")
    page.click("form.edit button[type=submit]")
    expected = _service_refusal(gw, initech, {"as2_url": "ftp://initech.example/as2"})
    assert expected.lower() in page.inner_text("#e-as2_url").lower()
    with gw.session() as s:
        assert s.get(Partner, initech).as2_url is None
    # the same refusal for an identifier whose check digit is wrong
    page.fill("input[name=as2_url]", "https://as2.initech.example/receive")
    page.fill("textarea[name=identifiers]", "9957:FR46732829353\n0009:73282932000075")
    submit(page, "form.edit button[type=submit]")
    assert "check digit" in page.inner_text("#e-identifiers"), flash(page)
    # then a good change: saved, on the trail, and the partner's page says so
    page.fill("textarea[name=identifiers]", "9957:FR46732829353\n0009:73282932000074")
    page.select_option("select[name=as2_mdn_mode]", "async")
    submit(page, "form.edit button[type=submit]")
    assert "saved" in flash(page)
    with gw.session() as s:
        p = s.get(Partner, initech)
        assert (p.as2_url, p.as2_mdn_mode) == ("https://as2.initech.example/receive", "async")
        assert {(i.scheme, i.value) for i in p.identifiers} == {("9957", "FR46732829353"), ("0009", "73282932000074")}
    (event,) = audit(gw, "partner.update")
    assert event.actor == "olivia" and event.detail["as2_url"] == [None, "https://as2.initech.example/receive"]
    assert "changed" in page.inner_text("table.audit")

    # certificates: import, roll over (both active), retire the old one, and a second import refused
    page.click("details.import summary")
    page.set_input_files("details.import input[name=certificate]", _pem(tmp_path, "initech-2026"))
    submit(page, "details.import button[type=submit]")
    assert "imported for Initech" in flash(page)
    with gw.session() as s:
        (first,) = s.scalars(sa.select(Certificate).where(Certificate.partner_id == initech)).all()
        first_id = first.id
    rollover = page.locator(f"tr[data-certificate='{first_id}'] details.rollover")
    rollover.locator("summary").click()
    rollover.locator("input[name=certificate]").set_input_files(_pem(tmp_path, "initech-2027", days=800))
    submit(page, rollover.locator("button[type=submit]"))
    assert "2 certificates are active now" in flash(page)
    submit(page, page.locator(f"tr[data-certificate='{first_id}'] button", has_text="Retire"))
    assert f"Certificate #{first_id} of Initech retired" in flash(page)
    with gw.session() as s:
        certs = {c.subject: c.active for c in s.scalars(sa.select(Certificate).where(Certificate.partner_id == initech))}
    assert certs == {"CN=initech-2026": False, "CN=initech-2027": True}
    page.click("details.import summary")
    page.set_input_files("details.import input[name=certificate]", str(tmp_path / "initech-2027.pem"))
    submit(page, "details.import button[type=submit]")
    assert "already has this certificate" in flash(page)
    assert [e.action for e in audit(gw, "certificate.import") + audit(gw, "certificate.retire")] == \
        ["certificate.import", "certificate.import", "certificate.retire"]

    # our own: the certificates page imports for our organisation too, and lists partners' apart
    page.goto(f"{base}/certificates")
    page.click("section.organisation details.import summary")
    page.set_input_files("section.organisation input[name=certificate]", _pem(tmp_path, "our-platform-2026"))
    submit(page, "section.organisation details.import button[type=submit]")
    assert "imported for Our Platform" in flash(page) and "No key of ours matches it" in flash(page)
    assert "CN=our-platform-2026" in page.inner_text("section.organisation")
    assert "CN=initech-2027" in page.inner_text("table.certificates >> nth=1")
    page.screenshot(path=str(tmp_path / "certificates.png"), full_page=True)

    # a form without its CSRF token is refused, and changes nothing
    r = page.request.post(f"{base}/certificates/{first_id + 1}/retire", form={})
    assert r.status == 400
    with gw.session() as s:
        assert s.get(Certificate, first_id + 1).active


def test_a_document_with_findings_is_readable_beside_the_invoice(live, page, tmp_path) -> None:
    """40 values the mapping does not read and a wrong total: the fatal finding first, the 40 warnings
    one collapsed group, the page no wider than the window, the invoice rendered beside."""
    from datetime import date
    from gateway.flow.receive import receive_file
    from gateway.syntaxes import write_document
    from tests.support.portal_seed import Spec, invoice_for

    gw, ex, base = live
    inv = invoice_for(Spec("NOISY-1", date(2025, 4, 5), "1234.50", "globex", seller_name="Globex Corp"))
    data = write_document(inv, "ubl").data.decode()
    data = data.replace("</cbc:ID>", "</cbc:ID>" + "".join(f"<cbc:UUID>unread-{i}</cbc:UUID>" for i in range(40)), 1)
    data = re.sub(r"(<cbc:PayableAmount[^>]*>)[^<]+", r"\g<1>9999.99", data, count=1)
    exchange = receive_file(gw, data.encode(), channel="api", partner_id=ex.seeded.partners["globex"],
                            filename="NOISY-1.xml")
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == exchange.id))
        doc_id, fatal = doc.id, [f for f in doc.findings if f["severity"] == "fatal"]
    assert fatal, "the wrong total is a fatal finding"

    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, "olivia")
    page.goto(f"{base}/documents/{doc_id}")
    first_fatal = page.locator("table.findings.fatal tbody tr").first
    group = page.locator("details.finding-group[data-rule='READ-UNMAPPED']")
    assert "× 40" in group.locator("summary").inner_text()
    assert group.get_attribute("open") is None                            # collapsed until asked
    assert first_fatal.bounding_box()["y"] < group.bounding_box()["y"] < 900   # both in the first screen
    for rule, message in zip(page.locator("table.findings.fatal td:nth-child(1) .ident").all_inner_texts(),
                             page.locator("table.findings.fatal td:nth-child(2)").all_inner_texts()):
        assert not message.startswith(rule) and f"[{rule}]" not in message, (rule, message)
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    frame = page.frame_locator("iframe.invoice-view")
    assert "NOISY-1" in frame.locator("body").inner_text()
    page.screenshot(path=str(tmp_path / "document-findings.png"), full_page=False)
    group.locator("summary").click()
    assert group.locator("tbody tr").count() == 40
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def test_search_documents_and_exchanges(live, page) -> None:
    gw, ex, base = live
    log_in(page, base, "olivia")

    def numbers(query: str) -> list[str]:
        page.goto(f"{base}/documents?{query}")
        return sorted(page.locator("table.documents td.number").all_inner_texts())

    assert numbers("number=glx") == ["GLX-7", "GLX-7", "GLX-8", "GLX-9"]          # part of it, any case
    assert numbers("seller=acme+ind") == ["ACME-2025-001", "ACME-2025-002"]
    assert numbers("buyer=zeta") == ["HELD-2"]
    assert numbers("lifecycle=refused") == ["ACME-2025-001"]
    assert numbers("lifecycle=disputed") == ["GLX-8"]
    assert numbers("status=held") == ["HELD-1", "HELD-2", "HELD-3"]
    assert numbers("channel=sftp") == ["ACME-2025-001", "ACME-2025-002"]
    assert numbers("amount_min=1000&amount_max=3500") == ["ACME-2025-002", "GLX-8"]
    assert numbers("issued_from=2025-03-01&issued_to=2025-03-31") == ["GLX-8", "GLX-9"]
    page.goto(f"{base}/documents?lifecycle=refused")
    assert page.locator("td.lifecycle-col").all_inner_texts() == ["Refused"]
    page.goto(f"{base}/documents?amount_min=10&amount_max=5")
    assert "is below amount_min" in page.inner_text(".flash.error")
    page.goto(f"{base}/exchanges?number=held-&seller=globex")
    assert sorted(" ".join(page.locator("td.numbers").all_inner_texts()).split()) == ["HELD-1", "HELD-2", "HELD-3"]
    assert set(page.locator("td.outcome").all_inner_texts()) == {"processed: 1 held"}
