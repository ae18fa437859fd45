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
