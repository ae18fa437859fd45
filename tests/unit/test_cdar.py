"""CDAR life-cycle messages (gateway.syntaxes.cdar): what is written for a status change, read
back into the same status record, what the writer refuses, and the reader's bounds."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lxml import etree

from gateway.delivery import statuses as lifecycle
from gateway.model.errors import HostileInputError, InputError
from gateway.syntaxes import cdar
from gateway.syntaxes.cdar import CdarParty, Characteristic, StatusChange

SELLER = CdarParty("100000009", "0002", "VENDEUR", "SE", "100000009_STATUTS", "0225")
BUYER = CdarParty("200000008", "0002", "ACHETEUR", "BY", "200000008_STATUTS", "0225")
AT = datetime(2026, 9, 2, 10, 30, 5, tzinfo=timezone.utc)


def change(status: str = "accepted", **kw) -> StatusChange:
    values = dict(status=status, at=AT, invoice_number="F2026-001", invoice_date=date(2026, 9, 1), seller=SELLER,
                  recipients=(SELLER,), issuer=BUYER)
    values.update(kw)
    return StatusChange(**values)


def xpath(data: bytes, path: str) -> list[str]:
    root = etree.fromstring(data)
    return [x if isinstance(x, str) else x.text for x in root.xpath(path, namespaces=cdar.NS)]


def test_a_buyers_refusal_as_written() -> None:
    data = cdar.build_cdar(change("refused", reason_code="TX_TVA_ERR", reason="TVA à 10 %, 20 % attendus",
                                  action_code="NIN", invoice_type="381"))
    assert xpath(data, "//rsm:AcknowledgementDocument/ram:TypeCode") == ["23"]
    assert xpath(data, "//ram:ReferenceReferencedDocument/ram:ProcessConditionCode") == ["210"]
    assert xpath(data, "//ram:ReferenceReferencedDocument/ram:ProcessCondition") == ["Refusée"]
    assert xpath(data, "//ram:ReferenceReferencedDocument/ram:StatusCode") == ["50"]
    assert xpath(data, "//ram:ReferenceReferencedDocument/ram:IssuerAssignedID") == ["F2026-001"]
    assert xpath(data, "//ram:ReferenceReferencedDocument/ram:TypeCode") == ["381"]
    assert xpath(data, "//ram:FormattedIssueDateTime/qdt:DateTimeString") == ["20260901"]
    assert xpath(data, "//ram:ReferenceReferencedDocument/ram:IssuerTradeParty/ram:GlobalID") == ["100000009"]
    assert xpath(data, "//rsm:ExchangedDocument/ram:IssuerTradeParty/ram:RoleCode") == ["BY"]
    assert xpath(data, "//rsm:ExchangedDocument/ram:IssuerTradeParty/ram:GlobalID/@schemeID") == ["0002"]
    assert xpath(data, "//rsm:ExchangedDocument/ram:RecipientTradeParty/ram:URIUniversalCommunication/ram:URIID") \
        == ["100000009_STATUTS"]
    assert xpath(data, "//ram:SpecifiedDocumentStatus/ram:ReasonCode") == ["TX_TVA_ERR"]
    assert xpath(data, "//ram:SpecifiedDocumentStatus/ram:Reason") == ["TVA à 10 %, 20 % attendus"]
    assert xpath(data, "//ram:SpecifiedDocumentStatus/ram:RequestedAction") == ["Émettre une facture rectificative"]
    assert xpath(data, "//rsm:AcknowledgementDocument/ram:IssueDateTime/udt:DateTimeString") == ["20260902103005"]
    assert xpath(data, "//rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") \
        == ["urn.cpro.gouv.fr:1p0:CDV:invoice"]
    assert data == cdar.build_cdar(change("refused", reason_code="TX_TVA_ERR", reason="TVA à 10 %, 20 % attendus",
                                          action_code="NIN", invoice_type="381"))      # no clock in it


def test_a_platforms_status_is_set_by_the_platform_and_the_ppf_copy() -> None:
    data = cdar.build_cdar(change("deposited", issuer=None, recipients=(SELLER,)))
    assert xpath(data, "//rsm:AcknowledgementDocument/ram:TypeCode") == ["305"]
    assert xpath(data, "//rsm:ExchangedDocument/ram:IssuerTradeParty/ram:RoleCode") == ["WK"]
    assert xpath(data, "//rsm:ExchangedDocument/ram:IssuerTradeParty/ram:GlobalID") == []
    ppf = cdar.build_cdar(change("deposited", issuer=None, to_ppf=True))
    assert xpath(ppf, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == \
        ["urn.cpro.gouv.fr:1p0:CDV:einvoicingF2"]
    assert xpath(ppf, "//rsm:ExchangedDocument/ram:RecipientTradeParty/ram:GlobalID") == ["0000"]
    assert xpath(ppf, "//ram:BusinessProcessSpecifiedDocumentContextParameter") == []


@pytest.mark.parametrize("name", lifecycle.NAMES)
def test_every_status_is_read_back_as_written(name: str) -> None:
    st = lifecycle.STATUSES[name]
    rules = cdar.spec()["statuses"][st.code]
    issuer = {"BY": BUYER, "SE": SELLER, "PE": CdarParty("300000007", "0002", "FACTOR", "PE")}.get(rules["issuer"])
    reason = (st.reasons or ["AUTRE"])[-1] if st.reason_code_required else None
    chars = (Characteristic("MEN", amount=Decimal("120.00"), currency="EUR", percent=Decimal("20.00")),) \
        if st.code == "212" else ()
    written = change(name, issuer=issuer, recipients=(BUYER if rules["issuer"] == "SE" else SELLER,),
                     reason_code=reason, characteristics=chars, received_at=AT - timedelta(hours=1))
    msg = cdar.read_cdar(cdar.build_cdar(written))
    rec = msg.status
    assert (rec.status, rec.code, rec.label, rec.status_code) == (name, st.code, st.fr, rules["status"])
    assert (rec.invoice_number, rec.invoice_date, rec.invoice_type) == ("F2026-001", date(2026, 9, 1), "380")
    assert (rec.seller.id, rec.seller.scheme) == ("100000009", "0002")
    assert rec.reason_code == reason and rec.received_at == AT - timedelta(hours=1)
    assert msg.at == AT and msg.phase == rules["phase"] and msg.multiple is False
    assert msg.issuer.role == rules["issuer"] and msg.sender.role == "WK"
    if rules["phase"] == "23":
        assert msg.issuer.id == issuer.id
    if chars:
        assert rec.details[0].characteristics == chars


@pytest.mark.parametrize("kw, message", [
    (dict(status="lost"), "no French life-cycle code for status 'lost'"),
    (dict(status="disputed"), "status 207 \\(En litige\\) needs a reason code"),
    (dict(status="refused", reason_code="AUTRE"), "reason code 'AUTRE' is not one status 210 takes"),
    (dict(status="paid", issuer=SELLER, recipients=(BUYER,)), "needs a MEN detail with its amount and VAT rate"),
    (dict(invoice_date=None), "issue date"),
    (dict(invoice_number=" "), "invoice number"),
    (dict(seller=CdarParty(name="no SIREN")), "MDT-129"),
    (dict(issuer=CdarParty(role="BY")), "give its identifier"),
    (dict(recipients=(replace(SELLER, uri=None),)), "electronic address"),
    (dict(recipients=()), "give its recipients"),
    (dict(action_code="XYZ"), "action code 'XYZ'"),
    (dict(business_process="B2B"), "business process 'B2B'"),
    (dict(at=datetime(2026, 9, 2, 10, 30)), "naive datetime"),
])
def test_what_the_writer_refuses(kw, message) -> None:
    with pytest.raises(ValueError, match=message):
        cdar.build_cdar(change(**kw))


def test_a_public_buyer_refuses_with_its_own_reasons() -> None:
    chorus = CdarParty("9999", "0238", "CHORUS PRO", "WK")
    data = cdar.build_cdar(change("refused", sender=chorus, reason_code="AUTRE"))
    msg = cdar.read_cdar(data)
    assert msg.status.reason_code == "AUTRE" and (msg.sender.id, msg.sender.scheme) == ("9999", "0238")
    with pytest.raises(ValueError, match="'AUTRE' is not one status 210 takes"):
        cdar.build_cdar(change("refused", reason_code="AUTRE"))


def test_a_bom_and_a_multi_message_are_read() -> None:
    data = cdar.build_cdar(change("accepted"))
    root = etree.fromstring(data)
    ack = root.find("rsm:AcknowledgementDocument", cdar.NS)
    second = etree.fromstring(etree.tostring(ack.find("ram:ReferenceReferencedDocument", cdar.NS)))
    second.find("ram:IssuerAssignedID", cdar.NS).text = "F2026-002"
    ack.append(second)
    msg = cdar.read_cdar(b"\xef\xbb\xbf" + etree.tostring(root))
    assert [s.invoice_number for s in msg.statuses] == ["F2026-001", "F2026-002"]


def test_unknown_codes_are_read_as_codes() -> None:
    data = cdar.build_cdar(change("accepted")).replace(b"<ram:ProcessConditionCode>205<",
                                                       b"<ram:ProcessConditionCode>601<")
    rec = cdar.read_cdar(data).status
    assert (rec.code, rec.status) == ("601", None)


@pytest.mark.parametrize("data, error, message", [
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>", HostileInputError, "DOCTYPE"),
    (b"<Invoice/>", InputError, "not a CDAR message"),
    (b"<rsm:CrossDomainAcknowledgementAndResponse xmlns:rsm='" + cdar.NS["rsm"].encode() + b"'/>", InputError,
     "without its ExchangedDocument"),
    (b"<a>" * 5, InputError, "Malformed XML"),
    (b" " * (cdar.MAX_BYTES + 1), HostileInputError, "bytes accepted"),
])
def test_what_the_reader_refuses(data: bytes, error, message: str) -> None:
    with pytest.raises(error, match=message):
        cdar.read_cdar(data)


def test_the_reader_is_bounded() -> None:
    root = etree.fromstring(cdar.build_cdar(change("accepted")))
    ack = root.find("rsm:AcknowledgementDocument", cdar.NS)
    ref = etree.tostring(ack.find("ram:ReferenceReferencedDocument", cdar.NS))
    for _ in range(cdar.MAX_REFERENCES):
        ack.append(etree.fromstring(ref))
    with pytest.raises(InputError, match=f"more than {cdar.MAX_REFERENCES} invoices"):
        cdar.read_cdar(etree.tostring(root))
    nested = b"<a>" * (cdar.MAX_DEPTH + 1) + b"</a>" * (cdar.MAX_DEPTH + 1)
    with pytest.raises(HostileInputError, match="nesting deeper"):
        cdar.read_cdar(nested)


def test_bad_dates_are_told_with_their_line() -> None:
    data = cdar.build_cdar(change("accepted")).replace(b">20260901<", b">20261301<")
    with pytest.raises(InputError, match="'20261301' is not a date") as e:
        cdar.read_cdar(data)
    assert e.value.line is not None
