"""The invoice life cycle on a real Gateway: the moves allowed and refused (with the message
naming what is allowed), refusals that need a reason, idempotent re-sets, and the report to
the sender: an APERAK placed for the EDI sender's SFTP pickup, read back from its folder,
exactly once whatever crashes in between; API-only senders get none."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gateway.flow import lifecycle
from gateway.config import load_settings
from gateway.db import DocumentRecord, DocumentStatusEvent, Exchange, Partner, StatusError, utcnow
from gateway.syntaxes.aperak import read_aperak
from gateway.syntaxes.edifact.syntax import read_interchange
from gateway.runtime import Gateway

from tests.support.portal_seed import INVOICES, Spec, pickup_dir, seed_partners, send

UTC = timezone.utc
ACME_1, GLX_7 = INVOICES[0], INVOICES[2]


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def seeded(gw):
    seeded = seed_partners(gw)
    send(gw, seeded, ACME_1)
    send(gw, seeded, GLX_7)
    return seeded


def _set(gw, doc_id, status, **kw):
    with gw.session() as s:
        ev = lifecycle.set_business_status(s, s.get(DocumentRecord, doc_id), status, **kw)
        return ev.id


def _history(gw, doc_id):
    with gw.session() as s:
        return [(e.status, e.reason, e.set_by) for e in lifecycle.history(s, doc_id)]


def _status(gw, doc_id):
    with gw.session() as s:
        return s.get(DocumentRecord, doc_id).business_status


# --- moves -------------------------------------------------------------------------------------

def test_the_whole_life_of_an_invoice(gw, seeded) -> None:
    doc = seeded.docs[GLX_7.number]
    # the gateway's own steps: taken in, then made available in the recipient's portal
    assert [(st, by) for st, _, by in _history(gw, doc)] == [("deposited", "gateway"), ("received", "gateway")]
    t0 = utcnow() + timedelta(minutes=1)
    for n, status in enumerate(("accepted", "payment_sent", "paid")):
        _set(gw, doc, status, by="user:buyer-user", at=t0 + timedelta(hours=n))
    assert _history(gw, doc)[2:] == [(s, None, "user:buyer-user") for s in ("accepted", "payment_sent", "paid")]
    with gw.session() as s:
        d = s.get(DocumentRecord, doc)
        assert (d.business_status, d.business_status_at) == ("paid", t0 + timedelta(hours=2))
        assert [e.status for e in d.status_events] == ["deposited", "received", "accepted", "payment_sent", "paid"]


def test_disputed_then_refused_and_accepted_then_paid_directly(gw, seeded) -> None:
    a, b = seeded.docs[ACME_1.number], seeded.docs[GLX_7.number]
    _set(gw, a, "received")
    _set(gw, a, "disputed", reason="quantity 2 delivered, 3 invoiced")
    _set(gw, a, "refused", reason="not corrected", reason_code="QTY")
    assert _history(gw, a)[-2:] == [("disputed", "quantity 2 delivered, 3 invoiced", "gateway"),
                                    ("refused", "not corrected", "gateway")]
    _set(gw, b, "received")
    _set(gw, b, "accepted")
    _set(gw, b, "paid")
    assert _status(gw, b) == "paid"


@pytest.mark.parametrize("path, bad, allowed", [
    (["received"], "paid", "accepted, refused, disputed"),
    (["received"], "payment_sent", "accepted, refused, disputed"),
    (["received", "accepted"], "refused", "payment_sent, paid"),
    (["received", "accepted"], "disputed", "payment_sent, paid"),
    (["received", "disputed"], "payment_sent", "accepted, refused"),
    (["received", "accepted", "paid"], "payment_sent", "nothing (final status)"),
    (["received", "refused"], "accepted", "nothing (final status)"),
    (["received"], "deposited", "accepted, refused, disputed"),
])
def test_moves_the_life_cycle_does_not_allow(gw, seeded, path, bad, allowed) -> None:
    doc = seeded.docs[GLX_7.number]
    for status in path:
        _set(gw, doc, status, reason="because" if status == "refused" else None)
    before = _history(gw, doc)
    with pytest.raises(StatusError) as e:
        _set(gw, doc, bad, reason="x")
    assert str(e.value) == f"document {doc}: from {path[-1]} it cannot become {bad}; it may become {allowed}"
    assert _history(gw, doc) == before and _status(gw, doc) == path[-1]        # nothing recorded


def test_a_refusal_needs_a_reason(gw, seeded) -> None:
    doc = seeded.docs[GLX_7.number]
    _set(gw, doc, "received")
    for reason in (None, "", "   \n "):
        with pytest.raises(ValueError, match="refused: give a reason"):
            _set(gw, doc, "refused", reason=reason)
    assert _status(gw, doc) == "received"
    _set(gw, doc, "refused", reason="  wrong\n  VAT rate ")
    assert _history(gw, doc)[-1] == ("refused", "wrong VAT rate", "gateway")      # blanks folded


@pytest.mark.parametrize("kw, message", [
    (dict(status="lost"), "business status 'lost' is not one of"),
    (dict(status="accepted", at=datetime(2025, 1, 1)), "naive datetime"),
    (dict(status="disputed", reason="x" * 1001), "a reason is at most 1000 characters"),
    (dict(status="disputed", reason_code="A B"), "a reason code is 1 to 16"),
    (dict(status="disputed", reason_code="X" * 17), "a reason code is 1 to 16"),
])
def test_unusable_values_are_refused_with_what_is_wrong(gw, seeded, kw, message) -> None:
    doc = seeded.docs[GLX_7.number]
    _set(gw, doc, "received")
    status = kw.pop("status")
    with pytest.raises(ValueError, match=message):
        _set(gw, doc, status, **kw)
    assert _status(gw, doc) == "received"


def test_setting_the_same_status_again_changes_nothing(gw, seeded) -> None:
    doc = seeded.docs[GLX_7.number]
    _set(gw, doc, "received")
    first = _set(gw, doc, "accepted", by="user:buyer-user")
    again = _set(gw, doc, "accepted", by="api:erp", reason="sent twice")
    assert again == first
    assert [h for h in _history(gw, doc) if h[0] == "accepted"] == [("accepted", None, "user:buyer-user")]


def test_a_decision_on_a_deposited_invoice_records_its_receipt_first(gw, seeded) -> None:
    """A held document (its recipient unknown) is deposited, not received."""
    doc = send(gw, seeded, Spec("HELD-1", ACME_1.issued, "10.00", "globex", to="nobody"))
    if _status(gw, doc) is None:                    # the pipeline may not record deposits (yet)
        _set(gw, doc, "deposited")
    assert _status(gw, doc) == "deposited"
    with pytest.raises(StatusError, match="from deposited it cannot become paid; it may become "
                                          "received, accepted, refused, disputed$"):
        _set(gw, doc, "paid")                       # payment is no decision: it needs one first
    _set(gw, doc, "accepted", by="user:buyer-user")
    assert _history(gw, doc)[-2:] == [("received", "implied: the recipient decided on it", "user:buyer-user"),
                                      ("accepted", None, "user:buyer-user")]


def test_a_decision_taken_meanwhile_wins_and_the_late_one_is_told(gw, seeded) -> None:
    doc = seeded.docs[GLX_7.number]
    _set(gw, doc, "received")
    with gw.session() as late:
        stale = late.get(DocumentRecord, doc)            # loaded while still "received"
        assert stale.business_status == "received"
        _set(gw, doc, "accepted", by="user:first")       # another person, committed meanwhile
        with pytest.raises(StatusError, match="from accepted it cannot become refused"):
            lifecycle.set_business_status(late, stale, "refused", reason="too late", by="user:second")
    assert _status(gw, doc) == "accepted"


def test_status_times_never_go_backwards(gw, seeded) -> None:
    doc = seeded.docs[GLX_7.number]
    t = utcnow() + timedelta(days=2)
    _set(gw, doc, "disputed", reason="which order?", at=t)
    _set(gw, doc, "accepted", at=t - timedelta(days=3))       # a clock behind, or a late message
    with gw.session() as s:
        events = lifecycle.history(s, doc)
        assert [(e.status, e.at) for e in events[-2:]] == [("disputed", t), ("accepted", t)]


# --- reporting to the sender --------------------------------------------------------------------

def test_an_edi_sender_gets_an_aperak_in_its_pickup_folder(gw, seeded) -> None:
    doc = seeded.docs[ACME_1.number]
    when = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    _set(gw, doc, "received")
    event = _set(gw, doc, "refused", reason="prices do not match order PO-77", reason_code="PRICE",
                 by="user:buyer-user", at=when)
    exchange_id = lifecycle.report_to_sender(gw, event)
    with gw.session() as s:
        ev = s.get(DocumentStatusEvent, event)
        assert ev.report_exchange_id == exchange_id and ev.reported_at is not None
        out = s.get(Exchange, exchange_id)
        assert (out.direction, out.channel, out.partner_id, out.status) == \
            ("out", "sftp", seeded.partners["acme"], "sent")
        placed = out.reason                       # "placed for pickup in acme/outbound/<name>"
    (path,) = [p for p in pickup_dir(gw).iterdir() if "refused" in p.name]
    assert path.name == f"APERAK_{ACME_1.number}_refused_{event}.edi" and path.name in placed
    data = path.read_bytes()
    (report,) = read_aperak(data)
    assert (report.status, report.reason, report.reason_code) == \
        ("refused", "prices do not match order PO-77", "PRICE")
    assert (report.document_number, report.document_date, report.document_type) == \
        (ACME_1.number, ACME_1.issued, "380")
    assert report.at == when
    assert (report.issuer.name, report.addressee.name) == ("Buyer SARL", "ACME Industries")
    # The envelope answers the INVOIC's: its parties swapped, its references quoted.
    invoic = read_interchange(seeded.files[ACME_1.number])
    aperak = read_interchange(data)
    assert (aperak.sender, aperak.recipient) == (invoic.recipient, invoic.sender)
    assert aperak.syntax_version == invoic.syntax_version
    assert (report.interchange_ref, report.message_ref) == (invoic.control_ref, invoic.messages[0].ref)


def test_reporting_twice_sends_one_aperak(gw, seeded) -> None:
    doc = seeded.docs[ACME_1.number]
    event = _set(gw, doc, "received")
    first = lifecycle.report_to_sender(gw, event)
    assert lifecycle.report_to_sender(gw, event) == first
    lifecycle.report_pending(gw)                     # the rest (e.g. the deposit: no APERAK for it)
    assert lifecycle.unreported(gw) == []
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Exchange)
                        .where(Exchange.direction == "out", Exchange.partner_id == seeded.partners["acme"])) == 1
    assert len([p for p in pickup_dir(gw).iterdir() if not p.name.startswith(".")]) == 1


def test_a_crash_before_the_commit_leaves_the_event_for_the_sweep(gw, seeded, monkeypatch) -> None:
    doc = seeded.docs[ACME_1.number]
    event = _set(gw, doc, "received")

    def crash(*a, **k):
        raise RuntimeError("power cut while writing the APERAK")
    monkeypatch.setattr(lifecycle, "_aperak_bytes", crash)
    with pytest.raises(RuntimeError):
        lifecycle.report_to_sender(gw, event)
    with gw.session() as s:
        assert s.get(DocumentStatusEvent, event).reported_at is None
        assert s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(Exchange.direction == "out")) == 0
    assert event in lifecycle.unreported(gw)
    monkeypatch.undo()
    assert lifecycle.report_pending(gw) >= 1
    assert lifecycle.unreported(gw) == []
    assert len([p for p in pickup_dir(gw).iterdir() if not p.name.startswith(".")]) == 1


def test_a_crash_after_the_commit_is_sent_by_the_sweep_once(tmp_path, monkeypatch) -> None:
    """The APERAK exchange was committed but its send prompt was lost: the gateway's sweep
    (status reports are part of every sweep) sends it, and reports nothing twice."""
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    try:
        seeded = seed_partners(gw)
        doc = send(gw, seeded, ACME_1)
        event = _set(gw, doc, "received")
        prompts = []
        real_send = gw.jobs.send
        gw.jobs.send = lambda exchange_id, at=None: prompts.append(exchange_id)     # the prompt is lost
        exchange_id = lifecycle.report_to_sender(gw, event)
        assert prompts == [exchange_id]
        assert not pickup_dir(gw).exists() or not any(pickup_dir(gw).iterdir())
        gw.jobs.send = real_send
        later = _set(gw, doc, "accepted")                # never reported: the sweep does it
        counts = gw.jobs.sweep(datetime.now(UTC) + timedelta(seconds=1))
        assert counts["status_reports"] >= 1 and counts["send"] >= 1
        names = sorted(p.name for p in pickup_dir(gw).iterdir())
        assert names == [f"APERAK_{ACME_1.number}_accepted_{later}.edi",
                         f"APERAK_{ACME_1.number}_received_{event}.edi"]
        assert gw.jobs.sweep(datetime.now(UTC) + timedelta(seconds=2))["status_reports"] == 0
    finally:
        gw.close()


def test_api_senders_and_deposits_get_no_aperak(gw, seeded) -> None:
    ubl_doc, edi_doc = seeded.docs[GLX_7.number], seeded.docs[ACME_1.number]
    events = [_set(gw, ubl_doc, "received"), _set(gw, ubl_doc, "accepted")]
    with gw.session() as s:
        deposit = s.scalar(sa.select(DocumentStatusEvent.id).where(DocumentStatusEvent.document_id == edi_doc,
                                                                   DocumentStatusEvent.status == "deposited"))
        if deposit is None:                          # the pipeline may not record deposits (yet)
            s.get(DocumentRecord, edi_doc).business_status = None
            deposit = lifecycle.set_business_status(s, s.get(DocumentRecord, edi_doc), "deposited").id
    events.append(deposit)
    for ev in events:
        assert lifecycle.report_to_sender(gw, ev) is None
    with gw.session() as s:
        for ev in events:
            e = s.get(DocumentStatusEvent, ev)
            assert e.reported_at is not None and e.report_exchange_id is None
        assert s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(Exchange.direction == "out")) == 0


def test_an_edi_sender_over_as2_is_answered_over_as2(gw, seeded) -> None:
    with gw.session() as s:
        acme = s.get(Partner, seeded.partners["acme"])
        acme.as2_id, acme.as2_url, acme.preferred_channel = "acme-as2", "http://127.0.0.1:9/as2", "as2"
    prompts = []
    gw.jobs.send = lambda exchange_id, at=None: prompts.append(exchange_id)   # no AS2 peer in this test
    inv = Spec("ACME-AS2-1", ACME_1.issued, "12.00", "acme", seller_name="ACME Industries")
    doc = send(gw, seeded, inv)
    with gw.session() as s:                          # it came over SFTP: SFTP first ...
        assert lifecycle.aperak_channel(s, s.get(DocumentRecord, doc)) == "sftp"
        s.scalar(sa.select(Exchange).join(DocumentRecord).where(DocumentRecord.id == doc)).channel = "as2"
        assert lifecycle.aperak_channel(s, s.get(DocumentRecord, doc)) == "as2"    # ... AS2 when it came so
    exchange_id = lifecycle.report_to_sender(gw, _set(gw, doc, "received"))
    assert prompts == [exchange_id]
    with gw.session() as s:
        out = s.get(Exchange, exchange_id)
        assert (out.channel, out.status, out.content_type) == ("as2", "queued", "application/EDIFACT")
        (report,) = read_aperak(gw.payloads.get(out.content_sha256))
        assert (report.status, report.document_number) == ("received", "ACME-AS2-1")
