"""The French life cycle over CDAR on a real Gateway: a sender that chose CDAR as its status syntax
gets a CDAR message in its SFTP pickup folder for each status of its invoices, exactly once, each
one keeping FNFE's CDAR rules; its documents follow the French cycle (reason codes required);
a CDAR message a partner sends moves the documents it names, and is rejected when it names
none of its documents or breaks the rules."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import DocumentRecord, DocumentStatusEvent, Exchange, Partner, SftpAccount, utcnow
from gateway.flow import lifecycle
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.rules import cdar as cdar_rules
from gateway.runtime import Gateway
from gateway.syntaxes import cdar, write_document
from gateway.syntaxes.cdar import CdarParty, StatusChange
from tests.support.invoice_builder import build_invoice
from tests.support.portal_seed import BUYER_VAT, pickup_dir
from tests.support.status_wait import judged_when_old

SIREN = "100000009"
BUYER_SIREN = BUYER_VAT[4:]


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
        seller = Partner(name="Vendeur SA", preferred_channel="sftp", preferred_format="ubl", status_syntax="cdar")
        s.add_all([buyer, seller])
        s.flush()
        s.add(SftpAccount(partner_id=seller.id, username="vendeur"))
        return {"buyer": buyer.id, "seller": seller.id}


def send_invoice(gw, parties, number: str) -> int:
    inv = build_invoice()
    inv.number, inv.issue_date = number, date(2026, 9, 1)
    inv.seller.name = "Vendeur SA"
    inv.seller.legal_registration_identifier = Identifier(SIREN, "0002")
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
    folder = pickup_dir(gw, "vendeur")
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")} if folder.exists() else {}


def test_a_cdar_sender_is_told_each_status_once_by_cdar(gw, parties) -> None:
    doc = send_invoice(gw, parties, "F2026-100")
    assert lifecycle.report_pending(gw) >= 2                     # deposited, received (the portal has it)
    with pytest.raises(ValueError, match="refused \\(210 Refusée\\): give a reason code"):
        _set(gw, doc, "refused", reason="wrong VAT rate", by="user:buyer-user")      # the French cycle
    event = _set(gw, doc, "refused", reason="TVA à 10 %, 20 % attendus", reason_code="TX_TVA_ERR",
                 by="user:buyer-user", at=utcnow() + timedelta(minutes=5))
    assert lifecycle.report_pending(gw) == 1 and lifecycle.report_pending(gw) == 0   # once
    files = placed(gw)
    assert sorted(n.split("_")[2] for n in files) == ["deposited", "received", "refused"]
    for data in files.values():
        assert cdar_rules.validate(data) == []
    refused = cdar.read_cdar(files[f"CDAR_F2026-100_refused_{event}.xml"])
    rec = refused.status
    assert (rec.code, rec.status, rec.reason_code, rec.reason) == ("210", "refused", "TX_TVA_ERR",
                                                                   "TVA à 10 %, 20 % attendus")
    assert (rec.invoice_number, rec.invoice_date, rec.seller.id) == ("F2026-100", date(2026, 9, 1), SIREN)
    assert (refused.issuer.id, refused.issuer.role, refused.phase) == (BUYER_SIREN, "BY", "23")
    assert [(r.role, r.uri) for r in refused.recipients] == [("SE", "seller@example.com")]
    deposited = cdar.read_cdar(files[next(n for n in files if "_deposited_" in n)])
    assert (deposited.status.code, deposited.phase, deposited.issuer.role) == ("200", "305", "WK")
    with gw.session() as s:
        out = s.get(Exchange, s.get(DocumentStatusEvent, event).report_exchange_id)
        assert (out.channel, out.partner_id, out.content_type) == ("sftp", parties["seller"], "application/xml")


def test_a_paid_status_tells_the_amounts_cashed_per_vat_rate(gw, parties) -> None:
    doc = send_invoice(gw, parties, "F2026-101")
    for status in ("accepted", "payment_sent", "paid"):
        _set(gw, doc, status, by="user:buyer-user")
    lifecycle.report_pending(gw)
    paid = cdar.read_cdar(next(d for n, d in placed(gw).items() if "_paid_" in n))
    (men,) = paid.status.details[0].characteristics
    assert (men.type_code, men.amount, men.percent) == ("MEN", 119 * 1, 19)      # 100.00 + 19 % VAT
    assert cdar_rules.validate(next(d for n, d in placed(gw).items() if "_paid_" in n)) == []


def test_a_sender_that_chose_no_status_syntax_gets_none(gw, parties) -> None:
    with gw.session() as s:
        s.get(Partner, parties["seller"]).status_syntax = "none"
    doc = send_invoice(gw, parties, "F2026-102")
    _set(gw, doc, "accepted", by="user:buyer-user")
    lifecycle.report_pending(gw)
    assert placed(gw) == {} and lifecycle.unreported(gw) == []
    with gw.session() as s:
        with pytest.raises(ValueError, match="status syntax 'edi' is not one of: aperak, cdar, none"):
            s.get(Partner, parties["seller"]).status_syntax = "edi"


def message(number: str, status: str, **kw) -> bytes:
    values = dict(status=status, at=utcnow().replace(microsecond=0) + timedelta(minutes=10), invoice_number=number,
                  invoice_date=date(2026, 9, 1), seller=CdarParty(SIREN, "0002"),
                  recipients=(CdarParty(SIREN, "0002", "Vendeur SA", "SE", "seller@example.com", "EM"),),
                  issuer=CdarParty(BUYER_SIREN, "0002", "Buyer SARL", "BY"))
    values.update(kw)
    return cdar.build_cdar(StatusChange(**values))


def receive(gw, parties, who: str, data: bytes, name: str) -> Exchange:
    ex = receive_file(gw, data, channel="api", partner_id=parties[who], filename=name)
    with gw.session() as s:
        got = s.get(Exchange, ex.id)
        s.expunge(got)
        return got


def test_an_inbound_cdar_moves_the_document_and_the_sender_hears_of_it(gw, parties) -> None:
    doc = send_invoice(gw, parties, "F2026-103")
    lifecycle.report_pending(gw)
    before = set(placed(gw))
    ex = receive(gw, parties, "buyer", message("F2026-103", "in_hand"), "cdv-204.xml")
    assert ex.status == "processed" and f"document {doc} is in_hand" in ex.reason
    ex = receive(gw, parties, "buyer", message("F2026-103", "disputed", reason_code="QTE_ERR",
                                               reason="3 livrés, 4 facturés"), "cdv-207.xml")
    assert ex.status == "processed"
    assert _status(gw, doc) == "disputed"
    with gw.session() as s:
        last = lifecycle.history(s, doc)[-1]
        assert (last.status, last.reason, last.reason_code, last.set_by) == \
            ("disputed", "3 livrés, 4 facturés", "QTE_ERR", "partner:Buyer SARL")
    told = {n: cdar.read_cdar(d).status.code for n, d in placed(gw).items() if n not in before}
    assert sorted(told.values()) == ["204", "207"]                # forwarded to the seller, by CDAR
    # a move the cycle does not allow yet waits for the message that may come before it, then, when
    # none came, is refused, named, and changes nothing
    ex = receive(gw, parties, "buyer", message("F2026-103", "paid", issuer=CdarParty(SIREN, "0002", "V", "SE"),
                                               characteristics=(cdar.Characteristic(
                                                   "MEN", amount=119, currency="EUR", percent=19),)), "cdv-212.xml")
    assert ex.status == "acknowledged" and _status(gw, doc) == "disputed"
    ex = judged_when_old(gw, ex.id)
    assert ex.status == "rejected" and "from disputed it cannot become paid" in ex.reason
    assert _status(gw, doc) == "disputed"


def test_what_an_inbound_cdar_cannot_do(gw, parties) -> None:
    doc = send_invoice(gw, parties, "F2026-104")
    ex = receive(gw, parties, "buyer", message("F2026-999", "accepted"), "unknown.xml")
    assert ex.status == "rejected" and "invoice F2026-999 status 205: no document of this partner" in ex.reason
    ex = receive(gw, parties, "buyer", message("F2026-104", "accepted", seller=CdarParty("200000008", "0002")),
                 "other-seller.xml")
    assert ex.status == "rejected" and "no document" in ex.reason
    broken = message("F2026-104", "accepted").replace(b">380<", b">999<")
    ex = receive(gw, parties, "buyer", broken, "broken.xml")
    assert ex.status == "rejected" and "BR-FR-04_MDT-91" in ex.reason
    ex = receive(gw, parties, "buyer", message("F2026-104", "accepted")[:300], "cut.xml")
    assert ex.status == "rejected" and ex.reason.startswith("unreadable CDAR message")
    with gw.session() as s:
        stranger = Partner(name="Stranger")
        s.add(stranger)
        s.flush()
        parties["stranger"] = stranger.id
    ex = receive(gw, parties, "stranger", message("F2026-104", "accepted"), "stranger.xml")
    assert ex.status == "rejected"                                 # not its document
    assert _status(gw, doc) == "received"


def test_a_status_the_sender_sets_itself_is_not_sent_back(gw, parties) -> None:
    doc = send_invoice(gw, parties, "F2026-105")
    for status in ("accepted",):
        _set(gw, doc, status, by="user:buyer-user")
    lifecycle.report_pending(gw)
    before = set(placed(gw))
    paid = message("F2026-105", "paid", issuer=CdarParty(SIREN, "0002", "Vendeur SA", "SE"),
                   recipients=(CdarParty(BUYER_SIREN, "0002", "Buyer SARL", "BY", "buyer@example.com", "EM"),),
                   characteristics=(cdar.Characteristic("MEN", amount=119, currency="EUR", percent=19),))
    ex = receive(gw, parties, "seller", paid, "cdv-212.xml")
    assert ex.status == "processed", ex.reason
    assert _status(gw, doc) == "paid"
    assert set(placed(gw)) == before and lifecycle.unreported(gw) == []


def test_a_status_the_sender_sets_itself_goes_to_a_recipient_that_chose_cdar(gw, parties) -> None:
    with gw.session() as s:
        buyer = s.get(Partner, parties["buyer"])
        buyer.status_syntax, buyer.preferred_channel = "cdar", "sftp"
        s.add(SftpAccount(partner_id=buyer.id, username="acheteur"))
    doc = send_invoice(gw, parties, "F2026-106")
    _set(gw, doc, "accepted", by="user:buyer-user")
    lifecycle.report_pending(gw)
    before = set(pickup_dir(gw, "acheteur").iterdir()) if pickup_dir(gw, "acheteur").exists() else set()
    paid = message("F2026-106", "paid", issuer=CdarParty(SIREN, "0002", "Vendeur SA", "SE"),
                   recipients=(CdarParty(BUYER_SIREN, "0002", "Buyer SARL", "BY", "buyer@example.com", "EM"),),
                   characteristics=(cdar.Characteristic("MEN", amount=119, currency="EUR", percent=19),))
    ex = receive(gw, parties, "seller", paid, "cdv-212.xml")
    assert ex.status == "processed", ex.reason
    lifecycle.report_pending(gw)
    told = [p for p in pickup_dir(gw, "acheteur").iterdir() if p not in before and p.name.startswith("CDAR_")]
    (message_told,) = [cdar.read_cdar(p.read_bytes()) for p in told if "_paid_" in p.name]
    assert message_told.status.code == "212"
    assert [(r.role, r.name) for r in message_told.recipients] == [("WK", "Buyer SARL")]   # no BT-49: its platform
    assert cdar_rules.validate(next(p for p in told if "_paid_" in p.name).read_bytes()) == []


def test_a_status_message_waits_for_an_older_one_from_the_same_partner(gw, parties) -> None:
    from gateway.flow.process import PUT_OFF, process_exchange
    doc = send_invoice(gw, parties, "F2026-107")
    gw.jobs.process = lambda exchange_id: None          # received now, processed below in the order we say
    first = receive_file(gw, message("F2026-107", "accepted"), channel="api", partner_id=parties["buyer"],
                         filename="cdv-205.xml").id
    second = receive_file(gw, message("F2026-107", "payment_sent"), channel="api", partner_id=parties["buyer"],
                          filename="cdv-211.xml").id
    assert process_exchange(gw, second) == PUT_OFF         # its 211 would be judged before the 205: it waits
    with gw.session() as s:
        assert s.get(Exchange, second).status == "acknowledged"
    assert process_exchange(gw, first) == "processed"
    assert process_exchange(gw, second) == "processed"
    assert _status(gw, doc) == "payment_sent"


def test_a_status_message_that_overtook_the_one_sent_before_it_waits_for_it(gw, parties) -> None:
    """Two flows (or two webhook calls) sent 205 then 211 can arrive 211 first, the 205 not even
    received yet: the 211 is put off, nothing of it set, and applied once the 205 is."""
    from gateway.flow.process import PUT_OFF, process_exchange
    doc = send_invoice(gw, parties, "F2026-108")
    gw.jobs.process = lambda exchange_id: None
    second = receive_file(gw, message("F2026-108", "payment_sent"), channel="api", partner_id=parties["buyer"],
                          filename="cdv-211.xml").id
    assert process_exchange(gw, second) == PUT_OFF
    assert _status(gw, doc) == "received"
    first = receive_file(gw, message("F2026-108", "accepted"), channel="api", partner_id=parties["buyer"],
                         filename="cdv-205.xml").id
    assert process_exchange(gw, first) == "processed" and _status(gw, doc) == "accepted"
    assert process_exchange(gw, second) == "processed" and _status(gw, doc) == "payment_sent"
    with gw.session() as s:
        assert [e.status for e in lifecycle.history(s, doc)][-2:] == ["accepted", "payment_sent"]


# --- the setting, from the command line -------------------------------------------------------------

def test_edigate_partner_status_syntax(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from gateway.cli import main
    from gateway.db import migrate, session_scope
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path}/edigate.db"
    migrate(url)

    def run(*args):
        return CliRunner().invoke(main, list(args))

    def stored():
        with session_scope(url) as s:
            return s.scalar(sa.select(Partner.status_syntax).where(Partner.name == "Vendeur SA"))

    r = run("partner", "add", "Vendeur SA", "--id", f"SIREN:{SIREN}", "--status-syntax", "cdar")
    assert r.exit_code == 0, r.output
    assert stored() == "cdar"
    r = run("partner", "show", "Vendeur SA")
    assert "status syntax" in r.output and "cdar" in r.output
    r = run("partner", "set", "Vendeur SA", "--status-syntax", "xml")
    assert r.exit_code != 0 and "'xml' is not one of aperak, cdar, none" in r.output
    assert stored() == "cdar"
    r = run("partner", "set", "Vendeur SA", "--status-syntax", "")
    assert r.exit_code == 0, r.output
    assert stored() is None


def test_a_public_buyers_refusal_takes_its_own_reasons(gw, parties) -> None:
    doc = send_invoice(gw, parties, "F2026-106")
    chorus = CdarParty("9999", "0238", "CHORUS PRO")
    b2g = message("F2026-106", "refused", reason_code="RETRAIT_MAN_SERV", sender=chorus)
    b2b = b2g.replace(b'<ram:GlobalID schemeID="0238">9999</ram:GlobalID>', b"")
    assert b2b != b2g
    ex = receive(gw, parties, "buyer", b2b, "b2b.xml")
    assert ex.status == "rejected" and "FR-CDV-CL-09_MDT-113_210" in ex.reason      # not a B2B refusal reason
    ex = receive(gw, parties, "buyer", b2g, "b2g.xml")
    assert ex.status == "processed", ex.reason
    assert _status(gw, doc) == "refused"
