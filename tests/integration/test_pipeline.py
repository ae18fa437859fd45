"""The document path, in-process: receive_file → process_exchange (detect, read, validate,
route, write, deliver) on a real Gateway (SQLite and payload store under tmp_path).

Processing runs for real, at enqueue (``immediate_jobs=True``). Only the *send* prompt is
replaced by a recorder: no AS2 partner runs in these tests, and sending itself is covered
by tests/integration/test_outbox.py. So every test sees exactly which outbound exchanges the pipeline
queued, and nothing leaves the process.
"""
from __future__ import annotations

import hashlib
import threading
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

import gateway.flow.process as pipeline
from gateway.config import load_settings
from gateway.db import Delivery, DocumentRecord, Exchange, Partner, RenderingRecord
from gateway.syntaxes import read_document, syntax_of, writable, write_document
from gateway.syntaxes.csv_syntax import dialect
from gateway.syntaxes.edifact import invoic
from gateway.syntaxes.edifact.syntax import new_interchange, write_interchange
from gateway.flow.receive import DuplicateUpload, receive_file
from gateway.model.invoice import Identifier
from gateway.runtime import Gateway

from tests.support.invoice_builder import build_invoice

D = Decimal
GLN = "5790000435951"


@pytest.fixture
def w(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    sent: list[int] = []
    # No AS2 partner runs in these tests: record the send prompts instead of sending
    # (outbound AS2 is covered by tests/integration/test_outbox.py). Processing itself stays real.
    gw.jobs.send = lambda exchange_id, at=None: sent.append(exchange_id)
    yield SimpleNamespace(gw=gw, sent=sent, tmp=tmp_path)
    gw.close()


# --- helpers ----------------------------------------------------------------------------
def _partner(gw, name, *identifiers, fmt=None, channel="as2", active=True) -> int:
    with gw.session() as s:
        p = Partner(name=name, preferred_format=fmt, preferred_channel=channel, active=active)
        for scheme, value in identifiers:
            p.add_identifier(scheme, value)
        s.add(p)
        s.flush()
        return p.id


def _invoice(number="INV-2024-001", *, bt49=None, bt46=None, bt47=None, bt48=...):
    inv = build_invoice()
    inv.number = number
    b = inv.buyer
    b.electronic_address = Identifier(*bt49) if bt49 else None
    b.identifier = Identifier(*bt46) if bt46 else None
    b.legal_registration_identifier = Identifier(*bt47) if bt47 else None
    if bt48 is not ...:
        b.vat_identifier = bt48
    return inv


def _ubl(inv) -> bytes:
    return write_document(inv, "ubl").data


def _receive(w, data: bytes, **kw) -> int:
    kw.setdefault("filename", "upload.xml")
    return receive_file(w.gw, data, channel="api", **kw).id


def _docs(s, ex_id) -> list[DocumentRecord]:
    return s.scalars(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex_id)
                     .order_by(DocumentRecord.position)).all()


def _count(s, model, *where) -> int:
    return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _outbound(s) -> list[Exchange]:
    return s.scalars(sa.select(Exchange).where(Exchange.direction == "out").order_by(Exchange.id)).all()


def _routed_to(w, ex_id, partner_id, *, matched: str, fmt="ubl", number="INV-2024-001"):
    """The one document of ``ex_id`` is routed to ``partner_id`` by ``matched`` and on its way
    as ``fmt`` over AS2: a rendering that reads back as the same invoice, a pending delivery,
    a queued outbound exchange with the rendering's bytes, and a send prompt for it."""
    gw = w.gw
    with gw.session() as s:
        ex = s.get(Exchange, ex_id)
        assert ex.status == "processed", ex.reason
        assert ex.reason == "1 document(s): 1 valid, 0 invalid"
        (doc,) = _docs(s, ex_id)
        assert (doc.status, doc.valid, doc.number) == ("routed", True, number)
        assert doc.recipient_partner_id == partner_id
        (rendering,) = doc.renderings
        (delivery,) = doc.deliveries
        assert delivery.rendering_id == rendering.id
        assert (delivery.recipient_partner_id, delivery.format, delivery.channel, delivery.status) == \
            (partner_id, fmt, "as2", "pending")
        name = s.get(Partner, partner_id).name
        assert delivery.history[-1].reason == \
            f"routed to {name} by {matched}; as {fmt} over as2 (exchange {delivery.exchange_id})"
        out = s.get(Exchange, delivery.exchange_id)
        assert (out.direction, out.channel, out.status, out.partner_id) == ("out", "as2", "queued", partner_id)
        data = gw.payloads.get(rendering.payload_key)
        assert hashlib.sha256(data).hexdigest() == rendering.payload_key == out.content_sha256
        assert out.content_size == rendering.size == len(data)
        assert out.content_type == rendering.media_type
        suffix = ".pdf" if syntax_of(fmt) == "facturx" else ".edi" if fmt.startswith("edifact") else \
            ".csv" if fmt.startswith("csv") else ".xml"
        assert out.filename == number + suffix
        assert rendering.syntax == fmt
        back = read_document(data)
        # read by the plain flavour of its syntax (a Factur-X profile's CII by cii, its PDF by facturx)
        assert back.syntax == (syntax_of(fmt) if syntax_of(fmt) in ("edifact", "cii", "facturx") else fmt)
        assert back.invoice.number == number
        assert back.invoice.totals.total_with_vat == D("119.00")
        assert back.invoice.totals.amount_due == D("119.00")
        assert w.sent == [out.id]
        return doc.id


def _findings(doc, rule):
    return [f for f in doc.findings if f["rule"] == rule]


# --- routing ----------------------------------------------------------------------------
@pytest.mark.parametrize("term, invoice_kw, identifier, matched", [
    ("BT-49", dict(bt49=(GLN, "0088")), ("0088", GLN), f"BT-49 0088:{GLN}"),
    ("BT-46", dict(bt46=("BUYER-42", "0088")), ("0088", "BUYER-42"), "BT-46 0088:BUYER-42"),
    ("BT-47", dict(bt47=("123456789", "0002")), ("0002", "123456789"), "BT-47 0002:123456789"),
    ("BT-48 under VAT", {}, ("VAT", "FR12345678901"), "BT-48 VAT:FR12345678901"),
    ("BT-48 under 9957", {}, ("9957", "FR12345678901"), "BT-48 VAT:FR12345678901"),
])
def test_routed_by_each_buyer_identifier(w, term, invoice_kw, identifier, matched):
    _partner(w.gw, "Someone else", ("0088", "0000000000000"), ("VAT", "FR99999999999"))
    buyer = _partner(w.gw, "Buyer SARL", identifier)
    ex_id = _receive(w, _ubl(_invoice(**invoice_kw)))
    _routed_to(w, ex_id, buyer, matched=matched)


def test_electronic_address_wins_over_vat_identifier(w):
    by_vat = _partner(w.gw, "Buyer by VAT", ("VAT", "FR12345678901"))
    by_address = _partner(w.gw, "Buyer by address", ("0088", GLN))
    ex_id = _receive(w, _ubl(_invoice(bt49=(GLN, "0088"))))
    _routed_to(w, ex_id, by_address, matched=f"BT-49 0088:{GLN}")
    assert by_vat != by_address


def test_identifiers_are_normalised_on_both_sides(w):
    # Stored with odd spacing and case; the invoice's spelling differs again.
    buyer = _partner(w.gw, "Buyer SARL", (" vat ", "fr 1234 5678 901"))
    ex_id = _receive(w, _ubl(_invoice(bt48="FR 12 345 678 901")))
    _routed_to(w, ex_id, buyer, matched="BT-48 VAT:FR12345678901")


def test_identifier_value_case_and_blanks_are_ignored(w):
    buyer = _partner(w.gw, "Buyer SARL", ("0088", "ABC-123X"))
    ex_id = _receive(w, _ubl(_invoice(bt46=("abc-123 x", "0088"))))
    _routed_to(w, ex_id, buyer, matched="BT-46 0088:ABC-123X")


def test_an_inactive_partner_is_not_routed_to(w):
    _partner(w.gw, "Old buyer", ("0088", GLN), active=False)
    by_vat = _partner(w.gw, "Buyer by VAT", ("VAT", "FR12345678901"))
    ex_id = _receive(w, _ubl(_invoice(bt49=(GLN, "0088"))))
    # The inactive partner's BT-49 match is skipped; the next identifier (BT-48) decides.
    _routed_to(w, ex_id, by_vat, matched="BT-48 VAT:FR12345678901")


def test_only_an_inactive_partner_matches_so_the_document_is_held(w):
    _partner(w.gw, "Old buyer", ("0088", GLN), active=False)
    ex_id = _receive(w, _ubl(_invoice(bt49=(GLN, "0088"), bt48=None)))
    with w.gw.session() as s:
        (doc,) = _docs(s, ex_id)
        assert doc.status == "held" and doc.recipient_partner_id is None
        assert [f["message"] for f in _findings(doc, "ROUTE")] == [f"no partner known by BT-49 0088:{GLN}"]
        assert _count(s, Delivery) == 0
    assert w.sent == []


def test_nobody_known_by_any_identifier_holds_the_document_with_every_identifier_tried(w):
    _partner(w.gw, "Someone else", ("0088", "0000000000000"))
    ex_id = _receive(w, _ubl(_invoice(bt49=(GLN, "0088"), bt46=("BUYER-42", "0088"),
                                      bt47=("123456789", "0002"))))
    with w.gw.session() as s:
        ex = s.get(Exchange, ex_id)
        assert (ex.status, ex.reason) == ("processed", "1 document(s): 1 valid, 0 invalid")
        (doc,) = _docs(s, ex_id)
        assert (doc.status, doc.valid, doc.recipient_partner_id) == ("held", True, None)
        (route,) = _findings(doc, "ROUTE")
        assert route["message"] == (f"no partner known by BT-49 0088:{GLN}, BT-46 0088:BUYER-42, "
                                    "BT-47 0002:123456789, BT-48 VAT:FR12345678901")
        assert route["severity"] == "warning"
        assert route["terms"] == ["BT-49", "BT-46", "BT-47", "BT-48"]
        assert (doc.fatal_count, doc.renderings, doc.deliveries) == (0, [], [])
        assert _outbound(s) == []
    assert w.sent == []


def test_a_buyer_without_any_schemed_identifier_is_held_with_that_reason(w):
    # A buyer identifier without its scheme is not guessed at (it could be a SIRET or a GLN).
    _partner(w.gw, "Buyer SARL", ("0088", "B-1"), ("0009", "B-1"))
    ex_id = _receive(w, _ubl(_invoice(bt46=("B-1", None), bt48=None)))
    with w.gw.session() as s:
        (doc,) = _docs(s, ex_id)
        assert doc.status == "held"
        assert [f["message"] for f in _findings(doc, "ROUTE")] == [
            "no buyer identifier with a scheme (BT-49, BT-46, BT-47, BT-48) to route by"]
        assert _count(s, Delivery) == 0
    assert w.sent == []


# --- each recipient format ------------------------------------------------------------
@pytest.mark.parametrize("fmt", writable())
def test_the_recipient_gets_its_preferred_format(w, fmt):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"), fmt=fmt)
    ex_id = _receive(w, _ubl(_invoice()))
    _routed_to(w, ex_id, buyer, matched="BT-48 VAT:FR12345678901", fmt=fmt)


def test_a_recipient_without_a_preferred_format_gets_ubl_whatever_was_sent(w):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    ex_id = _receive(w, write_document(_invoice(), "cii").data, filename="in.xml")
    _routed_to(w, ex_id, buyer, matched="BT-48 VAT:FR12345678901", fmt="ubl")
    with w.gw.session() as s:
        (doc,) = _docs(s, ex_id)
        assert doc.syntax == "cii"      # what was received; the rendering is UBL


# --- invalid invoices ---------------------------------------------------------------------
@pytest.mark.parametrize("breakage, rule, terms", [
    ("amount_due", "BR-CO-16", {"BT-115", "BT-112"}),
    ("number", "BR-02", {"BT-1"}),
])
def test_an_invalid_invoice_is_rejected_with_its_findings_and_goes_nowhere(w, breakage, rule, terms):
    _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    inv = _invoice()
    if breakage == "amount_due":
        inv.totals.amount_due += 1
    else:
        inv.number = None
    data = _ubl(inv)
    ex_id = _receive(w, data)
    with w.gw.session() as s:
        ex = s.get(Exchange, ex_id)
        assert ex.status == "rejected"
        assert ex.reason.startswith(f"1 document(s), none valid: 1 fatal finding(s), first {rule}: ")
        assert [e.status for e in ex.history] == ["received", "stored", "acknowledged", "rejected"]
        (doc,) = _docs(s, ex_id)
        assert (doc.status, doc.valid, doc.fatal_count) == ("invalid", False, 1)
        (f,) = _findings(doc, rule)
        assert f["severity"] == "fatal"
        assert terms <= set(f["terms"])
        assert isinstance(f["line"], int) and f["line"] > 0
        assert f["location"].startswith("/Invoice")
        assert (doc.deliveries, doc.renderings, doc.recipient_partner_id) == ([], [], None)
        assert _count(s, Delivery) == 0 and _outbound(s) == []
        assert w.gw.payloads.get(ex.content_sha256) == data      # the bytes received are kept
    assert w.sent == []


# --- unreadable input ---------------------------------------------------------------------
def _xxe(tmp_path) -> tuple[bytes, str]:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711")
    body = _ubl(_invoice()).split(b"?>", 1)[1].replace(b"INV-2024-001", b"&xxe;", 1)
    return (b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "'
            + secret.as_uri().encode() + b'">]>' + body), "TOP-SECRET-4711"


@pytest.mark.parametrize("case, expected", [
    ("garbage", "not a document edigate recognises"),
    ("xxe", "DOCTYPE declarations are not accepted"),
    ("empty", "the file is empty"),
    ("truncated", "Malformed XML"),
])
def test_an_unreadable_file_is_rejected_with_a_clear_reason(w, case, expected):
    _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    secret = None
    if case == "garbage":
        data = bytes(range(256)) * 4
    elif case == "xxe":
        data, secret = _xxe(w.tmp)
    elif case == "empty":
        data = b""
    else:
        full = _ubl(_invoice())
        data = full[: len(full) // 2]
    ex_id = _receive(w, data, filename="dir/input.xml")
    with w.gw.session() as s:
        ex = s.get(Exchange, ex_id)
        assert ex.status == "rejected"
        assert ex.reason.startswith("unreadable in input.xml: ")
        assert expected in ex.reason
        assert [e.status for e in ex.history] == ["received", "stored", "acknowledged", "rejected"]
        assert _count(s, DocumentRecord) == 0 and _count(s, Delivery) == 0 and _outbound(s) == []
        if secret is not None:      # refused, never expanded: the file's content is nowhere
            assert secret not in ex.reason
            for (reason,) in s.execute(sa.select(Exchange.reason)):
                assert secret not in (reason or "")
    assert w.sent == []
    if secret is not None:
        assert all(secret.encode() not in w.gw.payloads.get(k) for k in w.gw.payloads.keys())


# --- several invoices in one file ----------------------------------------------------------
def _three_invoices():
    a = _invoice("INV-A", bt48="FR12345678901")
    b = _invoice("INV-B", bt48="DE811907980")
    c = _invoice("INV-C", bt48="FR12345678901")
    c.totals.amount_due += 1                        # BR-CO-16
    return [a, b, c]


def _csv_lines(invoices) -> bytes:
    return dialect("csv-lines").write_all(invoices).data


def _edifact(invoices) -> bytes:
    msgs = [invoic.write_message(inv, "edifact-d14b", reference=str(i + 1)).message() for i, inv in enumerate(invoices)]
    return write_interchange(new_interchange(sender="SELLER", recipient="GATEWAY", control_ref="IC1",
                                             messages=msgs), line_break="\n")


@pytest.mark.parametrize("make, syntax", [(_csv_lines, "csv-lines"), (_edifact, "edifact")])
def test_a_file_with_several_invoices_gives_one_document_each_routed_independently(w, make, syntax):
    to_fr = _partner(w.gw, "Buyer FR", ("VAT", "FR12345678901"))
    to_de = _partner(w.gw, "Buyer DE", ("9930", "DE811907980"), fmt="cii")
    ex_id = _receive(w, make(_three_invoices()), filename="export.dat")
    with w.gw.session() as s:
        ex = s.get(Exchange, ex_id)
        assert (ex.status, ex.reason) == ("processed", "3 document(s): 2 valid, 1 invalid")
        a, b, c = _docs(s, ex_id)
        assert [(d.position, d.number, d.syntax) for d in (a, b, c)] == \
            [(0, "INV-A", syntax), (1, "INV-B", syntax), (2, "INV-C", syntax)]
        assert (a.status, a.recipient_partner_id) == ("routed", to_fr)
        assert (b.status, b.recipient_partner_id) == ("routed", to_de)
        assert (c.status, c.valid, c.recipient_partner_id, c.deliveries) == ("invalid", False, None, [])
        assert [f["rule"] for f in c.findings if f["severity"] == "fatal"] == ["BR-CO-16"]
        (da,), (db,) = a.deliveries, b.deliveries
        assert (da.format, db.format) == ("ubl", "cii")
        for doc, d in ((a, da), (b, db)):
            back = read_document(w.gw.payloads.get(d.rendering.payload_key))
            assert back.invoice.number == doc.number
            assert back.invoice.totals.amount_due == D("119.00")
        outs = _outbound(s)
        assert [(o.partner_id, o.filename) for o in outs] == [(to_fr, "INV-A.xml"), (to_de, "INV-B.xml")]
        assert [o.id for o in outs] == [da.exchange_id, db.exchange_id]
    assert w.sent == [o.id for o in outs]


# --- duplicates and idempotency -------------------------------------------------------------
def test_the_same_invoice_received_twice_is_a_duplicate_and_not_delivered_again(w):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    first_ex = _receive(w, _ubl(_invoice()))
    first = _routed_to(w, first_ex, buyer, matched="BT-48 VAT:FR12345678901")
    # Same seller, number and year, in another syntax and another upload.
    second_ex = _receive(w, write_document(_invoice(), "cii").data, filename="again.xml")
    with w.gw.session() as s:
        ex = s.get(Exchange, second_ex)
        assert (ex.status, ex.reason) == ("processed", "1 document(s): 1 valid, 0 invalid")
        (doc,) = _docs(s, second_ex)
        assert (doc.status, doc.duplicate_of_id, doc.recipient_partner_id) == ("duplicate", first, None)
        (dup,) = _findings(doc, "DUPLICATE")
        assert dup["message"] == f"same seller, number INV-2024-001 and year as document {first}"
        assert dup["severity"] == "warning"
        assert (doc.deliveries, doc.renderings) == ([], [])
        assert _count(s, Delivery) == 1 and len(_outbound(s)) == 1
    assert len(w.sent) == 1


def test_an_invoice_of_another_year_with_the_same_number_is_not_a_duplicate(w):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    _receive(w, _ubl(_invoice()))
    later = _invoice()
    later.issue_date = later.issue_date.replace(year=2025)
    ex_id = _receive(w, _ubl(later))
    with w.gw.session() as s:
        (doc,) = _docs(s, ex_id)
        assert (doc.status, doc.duplicate_of_id, doc.recipient_partner_id) == ("routed", None, buyer)
    assert len(w.sent) == 2


def test_a_corrected_invoice_after_an_invalid_one_is_delivered_not_held_as_a_duplicate(w):
    # The first copy was rejected and never delivered: resending it corrected, under the
    # same number, must reach the buyer.
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    broken = _invoice()
    broken.totals.amount_due += 1
    bad_ex = _receive(w, _ubl(broken))
    good_ex = _receive(w, _ubl(_invoice()))
    with w.gw.session() as s:
        assert s.get(Exchange, bad_ex).status == "rejected"
        (doc,) = _docs(s, good_ex)
        assert (doc.status, doc.duplicate_of_id) == ("routed", None)
    _routed_to(w, good_ex, buyer, matched="BT-48 VAT:FR12345678901")


def test_the_same_idempotency_key_twice_is_refused_with_the_first_exchange(w):
    _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    data = _ubl(_invoice())
    first = _receive(w, data, message_id="key-1")
    keys_before = set(w.gw.payloads.keys())
    with pytest.raises(DuplicateUpload) as e:
        _receive(w, data, message_id="key-1")
    assert e.value.exchange_id == first
    assert str(first) in str(e.value)
    with w.gw.session() as s:
        assert _count(s, Exchange, Exchange.direction == "in") == 1
        assert _count(s, DocumentRecord) == 1 and _count(s, Delivery) == 1
    assert set(w.gw.payloads.keys()) == keys_before
    assert len(w.sent) == 1
    # Another key is another upload (here: the same invoice again, so a duplicate document).
    other = _receive(w, data, message_id="key-2")
    with w.gw.session() as s:
        (doc,) = _docs(s, other)
        assert doc.status == "duplicate"
        assert _count(s, Exchange, Exchange.direction == "in") == 2


def test_process_exchange_twice_records_once(w):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    ex_id = _receive(w, _ubl(_invoice()))
    _routed_to(w, ex_id, buyer, matched="BT-48 VAT:FR12345678901")
    assert pipeline.process_exchange(w.gw, ex_id) is None
    _routed_to(w, ex_id, buyer, matched="BT-48 VAT:FR12345678901")      # nothing added
    with w.gw.session() as s:
        assert _count(s, DocumentRecord) == 1 and _count(s, RenderingRecord) == 1
        assert [e.status for e in s.get(Exchange, ex_id).history] == \
            ["received", "stored", "acknowledged", "processed"]


def test_process_exchange_from_two_threads_at_once_records_once(w, monkeypatch):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))
    prompts: list[int] = []
    monkeypatch.setattr(w.gw.jobs, "process", prompts.append)      # processing is driven below
    ex_id = _receive(w, _ubl(_invoice()))
    assert prompts == [ex_id]
    # Both workers get past the "is it acknowledged?" check before either records anything.
    both_reading = threading.Barrier(2)
    real_read = pipeline.read_documents

    def read_together(data):
        both_reading.wait(timeout=60)
        return real_read(data)

    monkeypatch.setattr(pipeline, "read_documents", read_together)
    results, errors = [], []

    def worker():
        try:
            results.append(pipeline.process_exchange(w.gw, ex_id))
        except BaseException as e:       # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=str) == [None, "processed"]
    _routed_to(w, ex_id, buyer, matched="BT-48 VAT:FR12345678901")
    with w.gw.session() as s:
        assert _count(s, DocumentRecord) == 1 and _count(s, Delivery) == 1
        assert [e.status for e in s.get(Exchange, ex_id).history] == \
            ["received", "stored", "acknowledged", "processed"]


# --- channels, failures ------------------------------------------------------------------
def test_a_pull_channel_makes_the_document_available_at_once_without_any_send(w):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"), fmt="cii", channel="portal")
    ex_id = _receive(w, _ubl(_invoice()))
    with w.gw.session() as s:
        assert s.get(Exchange, ex_id).status == "processed"
        (doc,) = _docs(s, ex_id)
        assert (doc.status, doc.recipient_partner_id, doc.business_status) == ("delivered", buyer, "received")
        (d,) = doc.deliveries
        assert (d.status, d.channel, d.format, d.exchange_id) == ("delivered", "portal", "cii", None)
        assert d.reason == "routed to Buyer SARL by BT-48 VAT:FR12345678901; available in the portal as cii"
        back = read_document(w.gw.payloads.get(d.rendering.payload_key))
        assert (back.syntax, back.invoice.number) == ("cii", "INV-2024-001")
        assert _outbound(s) == []                # no notification address: nothing to send
    assert w.sent == []


def test_a_bug_while_reading_fails_the_exchange_and_an_operator_retry_processes_it(w, monkeypatch):
    buyer = _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))

    def broken(data):
        raise RuntimeError("reader bug")

    monkeypatch.setattr(pipeline, "read_documents", broken)
    ex_id = _receive(w, _ubl(_invoice()))
    with w.gw.session() as s:
        ex = s.get(Exchange, ex_id)
        assert (ex.status, ex.reason) == ("failed", "internal error while reading: RuntimeError: reader bug")
        assert _count(s, DocumentRecord) == 0
    assert w.sent == []
    monkeypatch.undo()                       # the bug is fixed
    w.gw.retry_exchange(ex_id, by="alice")
    _routed_to(w, ex_id, buyer, matched="BT-48 VAT:FR12345678901")
    with w.gw.session() as s:
        assert [(e.status, e.reason) for e in s.get(Exchange, ex_id).history][2:] == [
            ("acknowledged", "accepted over api"),
            ("failed", "internal error while reading: RuntimeError: reader bug"),
            ("acknowledged", "retry requested by alice"),
            ("processed", "1 document(s): 1 valid, 0 invalid")]


def test_a_bug_while_checking_fails_the_exchange_on_record_not_only_in_a_log(w, monkeypatch):
    _partner(w.gw, "Buyer SARL", ("VAT", "FR12345678901"))

    def broken(doc, profile=None):
        raise KeyError("rule bug")

    monkeypatch.setattr(pipeline, "validate_document", broken)
    ex_id = _receive(w, _ubl(_invoice()))
    with w.gw.session() as s:
        ex = s.get(Exchange, ex_id)
        assert ex.status == "failed"
        assert ex.reason == "internal error while checking or routing: KeyError: 'rule bug'"
        assert _count(s, DocumentRecord) == 0
    assert w.sent == []
