"""Minimal valid EN 16931 invoices, built on the model, for rule tests.

``build_invoice()`` gives an invoice that passes every business rule: one
line, one VAT breakdown, totals that add up. ``category=`` switches the whole
invoice to another VAT category with whatever that category requires
(exemption reason, no VAT identifiers for 'O', delivery data for 'K' ...), so
a test can break exactly one thing and expect exactly one rule to fire.
"""
from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Optional

from gateway.model.invoice import (Buyer, BuyerPostalAddress, DeliverToAddress, DeliveryInformation,
                                   DocumentTotals, Identifier, InvoiceLine, Invoice, ItemInformation,
                                   LineVatInformation, PriceDetails, ProcessControl, Seller,
                                   SellerPostalAddress, VatBreakdown)

D = Decimal

# VAT category code -> default rate used by build_invoice
DEFAULT_RATES: dict[str, Optional[Decimal]] = {
    "S": D("19"), "Z": D("0"), "E": D("0"), "AE": D("0"), "K": D("0"), "G": D("0"),
    "O": None, "L": D("7"), "M": D("10"),
}
EXEMPT = {"E", "AE", "K", "G", "O"}  # categories whose breakdown needs an exemption reason


def build_invoice(category: str = "S", rate: Optional[Decimal] = ..., net: Decimal = D("100.00")) -> Invoice:
    """A minimal invoice passing every rule, all in VAT category ``category``."""
    if rate is ...:
        rate = DEFAULT_RATES[category]
    tax = D("0.00") if rate is None else (net * rate / 100).quantize(D("0.01"))
    inv = Invoice(
        number="INV-2024-001",
        issue_date=date(2024, 3, 1),
        type_code="380",
        currency_code="EUR",
        process_control=ProcessControl(specification_identifier="urn:cen.eu:en16931:2017"),
        seller=Seller(name="Seller AG", vat_identifier="DE123456789",
                      electronic_address=Identifier("seller@example.com", "EM"),
                      postal_address=SellerPostalAddress(city="Berlin", country_code="DE")),
        buyer=Buyer(name="Buyer SARL", vat_identifier="FR12345678901",
                    postal_address=BuyerPostalAddress(city="Paris", country_code="FR")),
        lines=[InvoiceLine(
            identifier="1", quantity=D("2"), quantity_unit_code="C62", net_amount=net,
            price=PriceDetails(net_price=net / 2),
            vat=LineVatInformation(category_code=category, rate=rate),
            item=ItemInformation(name="Widget"))],
        vat_breakdown=[VatBreakdown(taxable_amount=net, tax_amount=tax, category_code=category, rate=rate)],
        totals=DocumentTotals(sum_of_line_net_amounts=net, total_without_vat=net, total_vat=tax,
                              total_with_vat=net + tax, amount_due=net + tax),
    )
    if category in EXEMPT:
        inv.vat_breakdown[0].exemption_reason = "Exempt"
    if category == "O":
        inv.seller.vat_identifier = None
        inv.buyer.vat_identifier = None
        inv.seller.legal_registration_identifier = Identifier("HRB 1234", None)
    if category == "K":
        inv.delivery = DeliveryInformation(actual_delivery_date=date(2024, 2, 28),
                                           deliver_to_address=DeliverToAddress(country_code="FR"))
    return inv


def clone(inv: Invoice) -> Invoice:
    return copy.deepcopy(inv)


def _refresh_totals(inv: Invoice) -> None:
    """Recompute BG-22 and the (single) VAT breakdown from lines, allowances and charges."""
    net = sum((ln.net_amount for ln in inv.lines), D("0.00"))
    allow = sum((a.amount for a in inv.allowances), D("0.00"))
    charge = sum((c.amount for c in inv.charges), D("0.00"))
    vb = inv.vat_breakdown[0]
    vb.taxable_amount = net - allow + charge
    vb.tax_amount = D("0.00") if vb.rate is None else (vb.taxable_amount * vb.rate / 100).quantize(D("0.01"))
    t = inv.totals
    t.sum_of_line_net_amounts = net
    t.sum_of_allowances = allow if inv.allowances else None
    t.sum_of_charges = charge if inv.charges else None
    t.total_without_vat = net - allow + charge
    t.total_vat = vb.tax_amount
    t.total_with_vat = t.total_without_vat + t.total_vat
    t.amount_due = t.total_with_vat


def add_allowance(inv: Invoice, amount: Decimal = D("10.00")) -> Invoice:
    """A valid document level allowance in the invoice's VAT category, totals adjusted."""
    from gateway.model.invoice import DocumentAllowance
    line_vat = inv.lines[0].vat
    inv.allowances.append(DocumentAllowance(amount=amount, vat_category_code=line_vat.category_code,
                                            vat_rate=line_vat.rate, reason="Discount", reason_code="95"))
    _refresh_totals(inv)
    return inv


def add_charge(inv: Invoice, amount: Decimal = D("5.00")) -> Invoice:
    """A valid document level charge in the invoice's VAT category, totals adjusted."""
    from gateway.model.invoice import DocumentCharge
    line_vat = inv.lines[0].vat
    inv.charges.append(DocumentCharge(amount=amount, vat_category_code=line_vat.category_code,
                                      vat_rate=line_vat.rate, reason="Freight", reason_code="FC"))
    _refresh_totals(inv)
    return inv


def build_rich_invoice() -> Invoice:
    """A valid invoice using most EN 16931 terms: notes, references, both parties in full with
    contacts, payee, delivery, payment by credit transfer, a document allowance and charge, two
    lines (one with a line allowance, a gross price and full item details) in two VAT rates."""
    from gateway.model.invoice import (BuyerContact, CreditTransfer, DocumentAllowance, DocumentCharge,
                                       InvoiceNote, InvoicingPeriod, ItemAttribute, LineAllowance, LinePeriod,
                                       ClassificationIdentifier, Payee, PaymentInstructions,
                                       PrecedingInvoiceReference, SellerContact)
    lines = [
        InvoiceLine(identifier="1", note="First line", quantity=D("10"), quantity_unit_code="C62",
                    net_amount=D("90.00"), purchase_order_line_reference="7", buyer_accounting_reference="6000",
                    period=LinePeriod(date(2024, 2, 1), date(2024, 2, 29)),
                    allowances=[LineAllowance(amount=D("10.00"), reason="Volume", reason_code="95")],
                    price=PriceDetails(net_price=D("10.00"), price_discount=D("2.00"), gross_price=D("12.00")),
                    vat=LineVatInformation(category_code="S", rate=D("20")),
                    item=ItemInformation(name="Widget", description="A blue widget", sellers_identifier="W-1",
                                         buyers_identifier="B-W-1",
                                         standard_identifier=Identifier("4012345000009", "0160"),
                                         classification_identifiers=[ClassificationIdentifier("43211503", "STI")],
                                         country_of_origin="DE",
                                         attributes=[ItemAttribute("Colour", "blue")])),
        InvoiceLine(identifier="2", quantity=D("2"), quantity_unit_code="HUR", net_amount=D("100.00"),
                    price=PriceDetails(net_price=D("50.00")),
                    vat=LineVatInformation(category_code="S", rate=D("10")),
                    item=ItemInformation(name="Service hour")),
    ]
    inv = Invoice(
        number="RICH-2024-42", issue_date=date(2024, 3, 1), type_code="380", currency_code="EUR",
        due_date=date(2024, 3, 31), buyer_reference="BR-77", project_reference="PRJ-1",
        contract_reference="CT-9", purchase_order_reference="PO-123", sales_order_reference="SO-5",
        receiving_advice_reference="RA-1", despatch_advice_reference="DA-1",
        buyer_accounting_reference="4000", payment_terms="30 days net",
        notes=[InvoiceNote(subject_code="AAI", note="Thank you for your order")],
        process_control=ProcessControl(business_process="urn:fdc:peppol.eu:2017:poa:billing:01:1.0",
                                       specification_identifier="urn:cen.eu:en16931:2017"),
        preceding_invoices=[PrecedingInvoiceReference("INV-2024-000", date(2024, 1, 15))],
        seller=Seller(name="Vendeur SAS", trading_name="Vendeur", identifiers=[Identifier("4000001000005", "0088")],
                      legal_registration_identifier=Identifier("732829320", "0002"), vat_identifier="FR40732829320",
                      additional_legal_information="SAS au capital de 10 000 EUR",
                      electronic_address=Identifier("732829320", "0225"),
                      postal_address=SellerPostalAddress(line1="1 rue de la Paix", city="Paris", post_code="75002",
                                                         country_code="FR"),
                      contact=SellerContact(point="Service client", telephone="+33 1 00 00 00 00",
                                            email="factures@vendeur.example")),
        buyer=Buyer(name="Acheteur SARL", identifier=Identifier("4000001000012", "0088"),
                    legal_registration_identifier=Identifier("552100554", "0002"), vat_identifier="FR28552100554",
                    electronic_address=Identifier("552100554", "0225"),
                    postal_address=BuyerPostalAddress(line1="2 avenue Foch", city="Lyon", post_code="69006",
                                                      country_code="FR"),
                    contact=BuyerContact(point="Comptabilité", email="compta@acheteur.example")),
        payee=Payee(name="Affactureur SA", legal_registration_identifier=Identifier("380129866", "0002")),
        delivery=DeliveryInformation(deliver_to_party_name="Entrepôt Lyon", actual_delivery_date=date(2024, 2, 28),
                                     invoicing_period=InvoicingPeriod(date(2024, 2, 1), date(2024, 2, 29)),
                                     deliver_to_address=DeliverToAddress(city="Lyon", post_code="69007",
                                                                         country_code="FR")),
        payment_instructions=PaymentInstructions(
            means_type_code="30", remittance_information="RICH-2024-42",
            credit_transfers=[CreditTransfer("FR7630006000011234567890189", "Affactureur SA", "AGRIFRPP")]),
        allowances=[DocumentAllowance(amount=D("5.00"), vat_category_code="S", vat_rate=D("20"),
                                      reason="Loyalty", reason_code="95")],
        charges=[DocumentCharge(amount=D("15.00"), vat_category_code="S", vat_rate=D("20"),
                                reason="Freight", reason_code="FC")],
        lines=lines,
        vat_breakdown=[VatBreakdown(taxable_amount=D("100.00"), tax_amount=D("20.00"), category_code="S",
                                    rate=D("20")),
                       VatBreakdown(taxable_amount=D("100.00"), tax_amount=D("10.00"), category_code="S",
                                    rate=D("10"))],
        totals=DocumentTotals(sum_of_line_net_amounts=D("190.00"), sum_of_allowances=D("5.00"),
                              sum_of_charges=D("15.00"), total_without_vat=D("200.00"), total_vat=D("30.00"),
                              total_with_vat=D("230.00"), paid_amount=D("30.00"), amount_due=D("200.00")),
    )
    return inv


def build_every_term_invoice() -> Invoice:
    """An invoice with a value in every term of the model (two of each repeating group), to see
    where each term goes. Not a valid invoice: its amounts do not add up."""
    import dataclasses
    from gateway.model import invoice as m

    codes = {"BT-3": "380", "BT-5": "EUR", "BT-6": "USD", "BT-8": "3", "BT-40": "FR", "BT-55": "DE",
             "BT-69": "FR", "BT-80": "FR", "BT-159": "FR", "BT-130": "C62", "BT-150": "C62", "BT-151": "S",
             "BT-118": "S", "BT-95": "S", "BT-102": "S", "BT-81": "58", "BT-98": "95", "BT-105": "FC",
             "BT-140": "95", "BT-145": "FC", "BT-121": "VATEX-EU-G", "BT-21": "AAI", "BT-18-1": "AAA",
             "BT-128-1": "AAA", "BT-125-1": "application/pdf", "BT-125-2": "a.pdf", "BT-29-1": "0088",
             "BT-30-1": "0002", "BT-34-1": "EM", "BT-46-1": "0088", "BT-47-1": "0002", "BT-49-1": "EM",
             "BT-60-1": "0088", "BT-61-1": "0002", "BT-71-1": "0088", "BT-157-1": "0160", "BT-158-1": "STI",
             "BT-158-2": "1", "BT-84": "FR7630006000011234567890189", "BT-86": "AGRIFRPP"}

    def fill(cls, owner: str = ""):
        values = {}
        for f in m.term_fields(cls):
            tid = owner + f.term if f.term.startswith("-") or not f.term else f.term
            made = []
            for i in range(2 if f.repeats else 1):
                if dataclasses.is_dataclass(f.type):
                    made.append(fill(f.type, tid if m.is_compound(f.type) else ""))
                elif f.type is date:
                    made.append(date(2024, 3, 1 + i))
                elif f.type is Decimal:
                    made.append(D("10.00"))
                elif f.type is bytes:
                    made.append(b"%PDF-1.4")
                else:
                    made.append(codes.get(tid, f"V{tid}-{i}"))
            values[f.name] = made if f.repeats else made[0]
        return cls(**values)

    return fill(Invoice)
