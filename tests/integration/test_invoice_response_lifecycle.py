"""The life cycle over Peppol Invoice Responses (BIS 3 T111) on a real Gateway: a sender that chose
``invoice-response`` as its status syntax gets one response in its SFTP pickup folder for each
status of its invoices that Peppol has a response for, exactly once, each keeping OpenPeppol's
T111 rules (and the UBL XSD when the corpus is there); an Invoice Response a partner sends moves
the invoice it names, the other side hearing of it once, and is rejected, saying why, when it
names none of that partner's invoices or breaks the rules."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import DocumentRecord, DocumentStatusEvent, Exchange, Partner, SftpAccount, utcnow
from gateway.flow import lifecycle
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.rules import peppol_t111
from gateway.runtime import Gateway
from gateway.syntaxes import invoice_response as ir
from gateway.syntaxes import write_document
from gateway.xml import safe
from tests.support.corpus import CORPUS
from tests.support.invoice_builder import build_invoice
from tests.support.portal_seed import BUYER_VAT, pickup_dir

SELLER_GLN, BUYER_GLN = "5798000012349", "7330001000000"
XSD_PATH = CORPUS / "xsd" / "ubl-2.1" / "maindoc" / "UBL-ApplicationResponse-2.1.xsd"


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def parties(gw) -> dict[str, int]:
    with gw.session() as s:
        buyer = Partner(name="Buyer SARL", preferred_channel="portal", preferred_format="ubl")
        buyer.add_identifier("9957", BUYER_VAT)
        seller = Partner(name="Seller AS", preferred_channel="sftp", preferred_format="ubl",
                         status_syntax="invoice-response")
        s.add_all([buyer, seller])
        s.flush()
        s.add(SftpAccount(partner_id=seller.id, username="seller"))
        return {"buyer": buyer.id, "seller": seller.id}


def send_invoice(gw, parties, number: str) -> int:
    inv = build_invoice()
    inv.number, inv.issue_date = number, date(2026, 9, 1)
    inv.seller.name = "Seller AS"
    inv.seller.electronic_address = Identifier(SELLER_GLN, "0088")
    inv.buyer.electronic_address = Identifier(BUYER_GLN, "0088")
    data = write_document(inv, "ubl").data
    ex = receive_file(gw, data, channel="sftp", partner_id=parties["seller"], filename=f"{number}.xml",
                      message_id=f"sftp:/inbound/{number}.xml")
    with gw.session() as s:
        assert s.get(Exchange, ex.id).status == "processed", s.get(Exchange, ex.id).reason
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert doc.recipient_partner_id == parties["buyer"]
        return doc.id


def _set(gw, doc_id, status, **kw):
    with gw.session() as s:
        return lifecycle.set_business_status(s, s.get(DocumentRecord, doc_id), status, **kw).id


def _status(gw, doc_id):
    with gw.session() as s:
        return s.get(DocumentRecord, doc_id).business_status


def placed(gw) -> dict[str, bytes]:
    folder = pickup_dir(gw, "seller")
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")} if folder.exists() else {}


def _xsd_findings(data: bytes) -> list:
    if not XSD_PATH.is_file():
        return []
    from gateway.xml.schema import load_schema
    return load_schema(XSD_PATH).validate(safe.parse(data))


def test_a_peppol_sender_is_told_each_status_once_by_invoice_response(gw, parties) -> None:
    doc = send_invoice(gw, parties, "INV-100")
    assert lifecycle.report_pending(gw) >= 2                     # deposited (not told), received (AB)
    disputed = _set(gw, doc, "disputed", reason="4 invoiced, 3 delivered", reason_code="QTY",
                    by="user:buyer-user", at=utcnow() + timedelta(minutes=1))
    refused = _set(gw, doc, "refused", reason="wrong quantity", by="user:buyer-user",
                   at=utcnow() + timedelta(minutes=2))
    assert lifecycle.report_pending(gw) == 2 and lifecycle.report_pending(gw) == 0     # once
    assert lifecycle.unreported(gw) == []                        # deposited is on record as not told
    files = placed(gw)
    assert sorted(n.split("_")[2] for n in files) == ["disputed", "received", "refused"]
    for data in files.values():
        assert peppol_t111.validate(data) == [] and _xsd_findings(data) == []
    got = {n.split("_")[2]: ir.read_invoice_response(d) for n, d in files.items()}
    assert {k: r.response_code for k, r in got.items()} == {"received": "AB", "disputed": "UQ", "refused": "RE"}
    uq, re_ = got["disputed"], got["refused"]
    assert [(c.code, c.list_id, c.reason) for c in uq.clarifications] == [("QTY", "OPStatusReason",
                                                                           "4 invoiced, 3 delivered")]
    assert [(c.code, c.reason) for c in re_.clarifications] == [("OTH", "wrong quantity")]
    assert (re_.invoice_number, re_.invoice_date, re_.invoice_type) == ("INV-100", date(2026, 9, 1), "380")
    assert (re_.sender.endpoint_id, re_.sender.endpoint_scheme, re_.sender.name) == (BUYER_GLN, "0088", "Buyer SARL")
    assert (re_.receiver.endpoint_id, re_.receiver.endpoint_scheme) == (SELLER_GLN, "0088")
    with gw.session() as s:
        out = s.get(Exchange, s.get(DocumentStatusEvent, refused).report_exchange_id)
        assert (out.channel, out.partner_id, out.content_type) == ("sftp", parties["seller"], "application/xml")
        assert s.get(DocumentStatusEvent, disputed).report_exchange_id not in (None, out.id)


def response(number: str, code: str, *, seller: str = SELLER_GLN, reason_code=None, reason=None,
             invoice_date=date(2026, 9, 1)) -> bytes:
    status = ir.status_for(code)
    r = ir.for_status(status, at=utcnow(), response_id=f"R-{number}-{code}", invoice_number=number,
                      invoice_date=invoice_date, buyer=ir.IrParty(BUYER_GLN, "0088", name="Buyer SARL"),
                      seller=ir.IrParty(seller, "0088", name="Seller AS"), reason=reason, reason_code=reason_code)
    return ir.build_invoice_response(r)


def receive(gw, parties, who: str, data: bytes, name: str) -> Exchange:
    ex = receive_file(gw, data, channel="api", partner_id=parties[who], filename=name)
    with gw.session() as s:
        got = s.get(Exchange, ex.id)
        s.expunge(got)
        return got


def test_an_inbound_invoice_response_moves_the_invoice_and_the_seller_hears_once(gw, parties) -> None:
    doc = send_invoice(gw, parties, "INV-101")
    lifecycle.report_pending(gw)
    before = set(placed(gw))
    ex = receive(gw, parties, "buyer", response("INV-101", "UQ", reason_code="REF", reason="PO missing"), "uq.xml")
    assert ex.status == "processed" and f"document {doc} is disputed" in ex.reason, ex.reason
    with gw.session() as s:
        last = lifecycle.history(s, doc)[-1]
        assert (last.status, last.reason_code, last.set_by) == ("disputed", "REF", "partner:Buyer SARL")
        assert "PO missing" in last.reason
    ex = receive(gw, parties, "buyer", response("INV-101", "AP"), "ap.xml")
    assert ex.status == "processed" and _status(gw, doc) == "accepted"
    new = {n: ir.read_invoice_response(d).response_code for n, d in placed(gw).items() if n not in before}
    assert sorted(new.values()) == ["AP", "UQ"]                  # forwarded to the seller, each once
    assert lifecycle.report_pending(gw) == 0 and len(placed(gw)) == len(before) + 2
    # an official sample's shape too: IP in the core cycle records received (already so: nothing moves)
    ex = receive(gw, parties, "buyer", response("INV-101", "PD"), "pd.xml")
    assert ex.status == "processed" and _status(gw, doc) == "payment_sent"
    ex = receive(gw, parties, "buyer", response("INV-101", "RE", reason_code="QTY", reason="too late"), "re.xml")
    assert ex.status == "rejected" and "from payment_sent it cannot become refused" in ex.reason   # never: at once
    assert _status(gw, doc) == "payment_sent"


def test_what_an_inbound_invoice_response_cannot_do(gw, parties) -> None:
    doc = send_invoice(gw, parties, "INV-102")
    ex = receive(gw, parties, "buyer", response("INV-999", "AP"), "unknown.xml")
    assert ex.status == "rejected" and "invoice INV-999 response AP: no document of this partner" in ex.reason
    ex = receive(gw, parties, "buyer", response("INV-102", "AP", seller="7300010000001"), "other-seller.xml")
    assert ex.status == "rejected" and "no document" in ex.reason
    ex = receive(gw, parties, "buyer", response("INV-102", "AP", invoice_date=date(2026, 9, 2)), "other-day.xml")
    assert ex.status == "rejected" and "no document" in ex.reason
    broken = response("INV-102", "AP").replace(b">AP<", b">ZZ<")
    ex = receive(gw, parties, "buyer", broken, "broken.xml")
    assert ex.status == "rejected" and "PEPPOL-T111-B03001" in ex.reason
    ex = receive(gw, parties, "buyer", response("INV-102", "AP")[:400], "cut.xml")
    assert ex.status == "rejected" and ex.reason.startswith("unreadable Invoice Response")
    with gw.session() as s:
        stranger = Partner(name="Stranger")
        s.add(stranger)
        s.flush()
        parties["stranger"] = stranger.id
    ex = receive(gw, parties, "stranger", response("INV-102", "AP"), "stranger.xml")
    assert ex.status == "rejected"                               # not its document
    assert _status(gw, doc) == "received"


def test_a_french_cycle_document_takes_the_french_statuses_and_reasons(gw, parties) -> None:
    """IP and CA have their own statuses in the French cycle, and the clarification its French code."""
    doc = send_invoice(gw, parties, "INV-103")
    with gw.session() as s:
        s.get(DocumentRecord, doc).validation_profile = "fr"
    ex = receive(gw, parties, "buyer", response("INV-103", "IP"), "ip.xml")
    assert ex.status == "processed" and _status(gw, doc) == "in_hand", ex.reason
    ex = receive(gw, parties, "buyer", response("INV-103", "CA", reason_code="QTY", reason="3 of 4"), "ca.xml")
    assert ex.status == "processed" and _status(gw, doc) == "partly_approved", ex.reason
    with gw.session() as s:
        assert lifecycle.history(s, doc)[-1].reason_code == "QTE_ERR"
    told = sorted(ir.read_invoice_response(d).response_code for n, d in placed(gw).items()
                  if "_in_hand_" in n or "_partly_approved_" in n)
    assert told == ["CA", "IP"]


def test_a_sender_without_a_peppol_address_is_not_told(gw, parties) -> None:
    """A response needs both parties' Peppol addresses (an EAS scheme): without, the status is on
    record as reported through the API only, and nothing is queued."""
    inv = build_invoice()
    inv.number, inv.issue_date = "INV-104", date(2026, 9, 1)
    data = write_document(inv, "ubl").data                       # seller@example.com (EM): not an EAS scheme
    receive_file(gw, data, channel="sftp", partner_id=parties["seller"], filename="INV-104.xml",
                 message_id="sftp:/inbound/INV-104.xml")
    lifecycle.report_pending(gw)
    assert placed(gw) == {} and lifecycle.unreported(gw) == []


def test_edigate_partner_status_syntax_invoice_response(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from gateway.cli import main
    from gateway.db import migrate, session_scope
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path}/edigate.db"
    migrate(url)
    r = CliRunner().invoke(main, ["partner", "add", "Seller AS", "--id", f"GLN:{SELLER_GLN}",
                                  "--status-syntax", "invoice-response"])
    assert r.exit_code == 0, r.output
    with session_scope(url) as s:
        assert s.scalar(sa.select(Partner.status_syntax).where(Partner.name == "Seller AS")) == "invoice-response"
    r = CliRunner().invoke(main, ["partner", "set", "Seller AS", "--status-syntax", "peppol"])
    assert r.exit_code != 0 and "invoice-response" in r.output
