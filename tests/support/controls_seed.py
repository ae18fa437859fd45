"""Invoices for the controls and indicators tests, sent the way production receives them: real
UBL files through ``receive_file`` and the pipeline, on the partners of ``portal_seed`` (the
buyer "Buyer SARL" receives on its portal; "Globex" sends over the API)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa

from gateway.db import DocumentRecord, Exchange
from gateway.flow.receive import receive_file
from gateway.model.invoice import CreditTransfer, PaymentInstructions
from gateway.syntaxes import write_document

from tests.support.invoice_builder import build_invoice
from tests.support.portal_seed import BUYER_VAT, RECIPIENTS

SUPPLIER_VAT = "DE123456789"          # build_invoice's seller
IBAN_A = "FR76 3000 6000 0112 3456 7890 189"
IBAN_B = "DE89 3704 0044 0532 0130 00"


def invoice(number: str, issued: date, net: str = "100.00", *, iban: Optional[str] = IBAN_A,
            rate: Optional[Decimal] = ..., to: str = "buyer", seller_vat: str = SUPPLIER_VAT, due: Optional[date] = None):
    inv = build_invoice(net=Decimal(net)) if rate is ... else build_invoice(net=Decimal(net), rate=rate)
    inv.number, inv.issue_date, inv.due_date = number, issued, due
    inv.seller.vat_identifier = seller_vat
    inv.buyer.name, inv.buyer.vat_identifier = RECIPIENTS[to]
    if iban is not None:
        inv.payment_instructions = PaymentInstructions(means_type_code="58",
                                                       credit_transfers=[CreditTransfer(account_identifier=iban)])
    return inv


def send(gw, sender_id: int, inv, *, syntax: str = "ubl", channel: str = "api",
         outcome: str = "processed") -> DocumentRecord:
    """Receive ``inv`` written in ``syntax``; the document it became (detached). ``outcome``: the
    exchange's status expected (``rejected`` when its only invoice is invalid)."""
    data = write_document(inv, syntax).data
    ex = receive_file(gw, data, channel=channel, partner_id=sender_id, filename=f"{inv.number}.xml")
    with gw.session() as s:
        processed = s.get(Exchange, ex.id)
        assert processed.status == outcome, processed.reason
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        s.expunge(doc)
        return doc


def rules(doc: DocumentRecord) -> list[str]:
    return [f["rule"] for f in doc.findings if f["rule"].startswith("CTRL-")]


__all__ = ["BUYER_VAT", "IBAN_A", "IBAN_B", "SUPPLIER_VAT", "invoice", "rules", "send"]
