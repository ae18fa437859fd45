"""What the peppol channel reads from a document to address its envelope: an invoice's seller,
buyer and country, and an Invoice Response's sender, receiver and the country its sender's scheme
stands for, each with the document type and process Peppol routes it under."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gateway.channels.peppol import DOCTYPES, PROCESSES, ubl_facts
from gateway.model.invoice import Identifier
from gateway.networks.peppol import identifiers as ids
from gateway.syntaxes import write_document
from gateway.syntaxes.invoice_response import IrParty, build_invoice_response, for_status
from tests.support.invoice_builder import build_invoice


def _response(sender_scheme: str) -> bytes:
    return build_invoice_response(for_status(
        "refused", at=datetime(2026, 9, 2, 10, 0, tzinfo=timezone.utc), response_id="IR-1",
        invoice_number="F2026-001", invoice_date=date(2026, 9, 1), reason_code="TX_TVA_ERR", reason="TVA",
        buyer=IrParty(endpoint_id="732829320", endpoint_scheme=sender_scheme, name="Acheteur SA"),
        seller=IrParty(endpoint_id="0192837465", endpoint_scheme="0208", name="Vendeur SA")))


def test_an_invoice_is_addressed_by_its_seller_and_buyer() -> None:
    invoice = build_invoice()
    invoice.seller.electronic_address = Identifier("0192837465", "0208")
    invoice.buyer.electronic_address = Identifier("0123456789", "0208")
    facts = ubl_facts(write_document(invoice, "ubl").data)
    assert (facts.root, facts.seller, facts.buyer, facts.country) == ("Invoice", "0208:0192837465",
                                                                      "0208:0123456789", "DE")
    assert (DOCTYPES[facts.root], PROCESSES[facts.root]) == (ids.BIS3_INVOICE, ids.BIS3_PROCESS)


def test_an_invoice_response_is_addressed_by_its_sender_and_receiver() -> None:
    facts = ubl_facts(_response("0002"))
    assert (facts.root, facts.seller, facts.buyer, facts.country) == \
        ("ApplicationResponse", "0002:732829320", "0208:0192837465", "FR")
    assert (DOCTYPES[facts.root], PROCESSES[facts.root]) == (ids.INVOICE_RESPONSE, ids.INVOICE_RESPONSE_PROCESS)
    assert ubl_facts(_response("0088")).country is None       # a GLN says no country: the send says so


def test_another_document_is_refused() -> None:
    with pytest.raises(ValueError, match="not a UBL Invoice, CreditNote or ApplicationResponse"):
        ubl_facts(b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>')
