"""A French invoice that passes every rule of the ``fr`` profile, and the ways to break each French rule.

``build_french_invoice()`` is a B2B invoice between two French companies as
the reform wants it from 2026: SIREN of both (scheme 0002), electronic
addresses of the French directory (scheme 0225), the invoicing framework
("cadre de facturation", BT-23 = S1: services), the notes on recovery costs,
late payment penalties and discount (PMT, PMD, AAB) and the B2B treatment
(BAR). ``CASES`` are (name, mutation, the ``fr`` rule ids it must make fire):
tests/unit/test_rules_fr.py checks our rules on the model, and
tests/conformance/test_rules_fr_vs_schematron.py has each written as UBL and as CII
and judged by the official FNFE-MPE stylesheets.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Callable

from gateway.model.invoice import (Buyer, BuyerPostalAddress, CreditTransfer, DeliverToAddress, DeliveryInformation,
                                   DocumentAllowance, DocumentTotals, Identifier, InvoiceLine, Invoice, InvoiceNote,
                                   InvoicingPeriod, ItemAttribute, ItemInformation, LineVatInformation, Payee,
                                   PaymentInstructions, PrecedingInvoiceReference, PriceDetails, ProcessControl,
                                   Seller, SellerPostalAddress, SellerTaxRepresentative, SupportingDocument,
                                   TaxRepresentativePostalAddress, VatBreakdown)

D = Decimal
SELLER_SIREN = "356000000"
BUYER_SIREN = "732829320"


def build_french_invoice() -> Invoice:
    """A French B2B invoice of one line at 20 % that passes EN 16931 and every BR-FR rule."""
    net, rate = D("100.00"), D("20")
    tax = D("20.00")
    return Invoice(
        number="FA-2026-001",
        issue_date=date(2026, 9, 1),
        due_date=date(2026, 10, 1),
        type_code="380",
        currency_code="EUR",
        process_control=ProcessControl(business_process="S1", specification_identifier="urn:cen.eu:en16931:2017"),
        notes=[InvoiceNote("PMT", "Indemnité forfaitaire pour frais de recouvrement : 40 EUR."),
               InvoiceNote("PMD", "Pénalités de retard : trois fois le taux d'intérêt légal."),
               InvoiceNote("AAB", "Pas d'escompte pour paiement anticipé."),
               InvoiceNote("BAR", "B2B")],
        seller=Seller(name="Fournisseur SARL", vat_identifier="FR39356000000",
                      legal_registration_identifier=Identifier(SELLER_SIREN, "0002"),
                      electronic_address=Identifier(SELLER_SIREN, "0225"),
                      postal_address=SellerPostalAddress(line1="1 rue de la Paix", city="Paris", post_code="75002",
                                                         country_code="FR")),
        buyer=Buyer(name="Client SAS", vat_identifier="FR44732829320",
                    legal_registration_identifier=Identifier(BUYER_SIREN, "0002"),
                    electronic_address=Identifier(BUYER_SIREN, "0225"),
                    postal_address=BuyerPostalAddress(line1="2 avenue Foch", city="Lyon", post_code="69006",
                                                      country_code="FR")),
        payment_instructions=PaymentInstructions(means_type_code="30", credit_transfers=[
            CreditTransfer(account_identifier="FR7630006000011234567890189")]),
        lines=[InvoiceLine(identifier="1", quantity=D("2"), quantity_unit_code="C62", net_amount=net,
                           price=PriceDetails(net_price=D("50.00")),
                           vat=LineVatInformation(category_code="S", rate=rate),
                           item=ItemInformation(name="Prestation de conseil"))],
        vat_breakdown=[VatBreakdown(taxable_amount=net, tax_amount=tax, category_code="S", rate=rate)],
        totals=DocumentTotals(sum_of_line_net_amounts=net, total_without_vat=net, total_vat=tax,
                              total_with_vat=net + tax, amount_due=net + tax),
    )


# --- mutations ------------------------------------------------------------------------------------

def _set_rate(rate: Decimal, category: str = "S") -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.lines[0].vat = LineVatInformation(category_code=category, rate=rate)
        vb = inv.vat_breakdown[0]
        vb.category_code, vb.rate = category, rate
        vb.tax_amount = (vb.taxable_amount * rate / 100).quantize(D("0.01"))
        inv.totals.total_vat = vb.tax_amount
        inv.totals.total_with_vat = inv.totals.amount_due = inv.totals.total_without_vat + vb.tax_amount
    return m


def _notes(*notes: tuple) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.notes = [InvoiceNote(code, text) for code, text in notes]
    return m


_MANDATORY = (("PMT", "40 EUR."), ("PMD", "Taux légal x 3."), ("AAB", "Pas d'escompte."))


def _seq(*steps: Callable[[Invoice], None]) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        for step in steps:
            step(inv)
    return m


def _type(code: str) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.type_code = code
    return m


def _framework(code) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.process_control.business_process = code
    return m


def _preceding(ref: str = "FA-2026-000") -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.preceding_invoices = [PrecedingInvoiceReference(ref, date(2026, 8, 1))]
    return m


def _seller_ids(*ids: tuple) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.seller.identifiers = [Identifier(v, s) for v, s in ids]
    return m


def _paid(inv: Invoice) -> None:
    inv.process_control.business_process = "S2"


def _tax_rep_member(inv: Invoice) -> None:
    inv.seller.identifiers = [Identifier("356000000", "0231")]


def _single_taxable(inv: Invoice) -> None:
    _tax_rep_member(inv)
    inv.notes.append(InvoiceNote("TXD", "MEMBRE_ASSUJETTI_UNIQUE"))
    inv.tax_representative = SellerTaxRepresentative(
        name="Assujetti unique SA", vat_identifier="FR61552000000",
        postal_address=TaxRepresentativePostalAddress(city="Paris", country_code="FR"))


def _delivery(location: Identifier) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.delivery = DeliveryInformation(
            deliver_to_party_name="Entrepôt Client", deliver_to_location_identifier=location,
            deliver_to_address=DeliverToAddress(line1="ZI des Portes", city="Vénissieux", post_code="69200",
                                                country_code="FR"))
    return m


def _document(*descriptions: str) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.supporting_documents = [SupportingDocument(reference=f"PJ-{k}", description=d)
                                    for k, d in enumerate(descriptions, 1)]
    return m


def _allowance(category: str, rate) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.allowances = [DocumentAllowance(amount=D("0.00"), vat_category_code=category, vat_rate=rate,
                                            reason="Remise", reason_code="95")]
        inv.totals.sum_of_allowances = D("0.00")
    return m


def _line_attribute(name, value) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        inv.lines[0].item.attributes = [ItemAttribute(name=name, value=value)]
    return m


def _do(fn: Callable[[Invoice], object]) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        fn(inv)
    return m


Case = tuple[str, Callable[[Invoice], None], set]

CASES: list[Case] = [
    ("valid", _do(lambda inv: None), set()),
    ("buyer SIREN dropped", _do(lambda inv: setattr(inv.buyer, "legal_registration_identifier", None)),
     {"BR-FR-11_BT-47"}),
    ("buyer SIREN of eight digits", _do(lambda inv: setattr(inv.buyer, "legal_registration_identifier",
                                                            Identifier("73282932", "0002"))),
     {"BR-FR-11_BT-47", "BR-FR-32-LEGALID"}),
    ("buyer SIREN without the B2B note", _seq(_notes(*_MANDATORY), _do(
        lambda inv: setattr(inv.buyer, "legal_registration_identifier", None))), set()),
    ("seller SIREN dropped", _do(lambda inv: setattr(inv.seller, "legal_registration_identifier", None)),
     {"BR-FR-10_BT-30"}),
    ("seller legal identifier of another scheme", _do(
        lambda inv: setattr(inv.seller, "legal_registration_identifier", Identifier("RCS Paris 356000000", "0199"))),
     {"BR-FR-10_BT-30"}),
    ("no invoicing framework", _framework(None), {"BR-FR-08_BT-23"}),
    ("invoicing framework X1", _framework("X1"), {"BR-FR-08_BT-23"}),
    ("invoicing framework B1 (goods)", _framework("B1"), set()),
    ("invoicing framework M1 (goods and services)", _framework("M1"), set()),
    ("bidirectional framework B9 on an invoice", _framework("B9"), {"BR-FR-MV-BD_BT-3"}),
    ("multi-vendor framework S8 on a self-billed invoice", _seq(_framework("S8"), _type("389")), {"BR-FR-MV-13_BT-3"}),
    ("no note PMT", _notes(("PMD", "x"), ("AAB", "y"), ("BAR", "B2B")), {"BR-FR-05_BT-22-1"}),
    ("no notes at all", _notes(), {"BR-FR-05_BT-22-1", "BR-FR-05_BT-22-2", "BR-FR-05_BT-22-3"}),
    ("two notes PMD", _notes(*_MANDATORY, ("PMD", "encore"), ("BAR", "B2B")), {"BR-FR-06_BT-21-2"}),
    ("two notes TXD", _notes(*_MANDATORY, ("TXD", "a"), ("TXD", "b")), {"BR-FR-06_BT-21-4"}),
    ("BAR note XYZ", _notes(*_MANDATORY, ("BAR", "XYZ")), {"BR-FR-20_BT-21"}),
    ("BAR notes B2B and B2C", _notes(*_MANDATORY, ("BAR", "B2B"), ("BAR", "B2C")), {"BR-FR-30_BT-21"}),
    ("B2C invoice without buyer SIREN", _seq(_notes(*_MANDATORY, ("BAR", "B2C")), _do(
        lambda inv: setattr(inv.buyer, "legal_registration_identifier", None))), set()),
    ("B2B buyer address of another scheme", _do(lambda inv: setattr(inv.buyer, "electronic_address",
                                                                    Identifier("client@example.fr", "EM"))),
     {"BR-FR-21_BT-49"}),
    ("B2B buyer address not beginning with the SIREN", _do(
        lambda inv: setattr(inv.buyer, "electronic_address", Identifier("999999999", "0225"))), {"BR-FR-21_BT-49"}),
    ("self-billed B2C with a seller address of another scheme", _seq(
        _notes(*_MANDATORY, ("BAR", "B2C")), _type("389"),
        _do(lambda inv: setattr(inv.seller, "electronic_address", Identifier("f@example.fr", "EM")))),
     {"BR-FR-22_BT-34"}),
    ("invoice number with a space", _do(lambda inv: setattr(inv, "number", "FA 2026 001")),
     {"BR-FR-01_BT-1-2", "BR-FR-02_BT-1"}),
    ("invoice number with a hash", _do(lambda inv: setattr(inv, "number", "FA#2026")),
     {"BR-FR-01_BT-1-2", "BR-FR-02_BT-1"}),
    ("invoice number of 36 characters", _do(lambda inv: setattr(inv, "number", "F" * 36)), {"BR-FR-01_BT-1-1"}),
    ("issue date in 1999", _do(lambda inv: setattr(inv, "issue_date", date(1999, 12, 31))),
     {"BR-FR-03_BT-2"}),
    ("due date in 2100", _do(lambda inv: setattr(inv, "due_date", date(2100, 1, 1))), {"BR-FR-03_BT-9"}),
    ("type code 326 (partial invoice)", _type("326"), {"BR-FR-04_BT-3"}),
    ("corrective invoice without preceding invoice", _type("384"), {"BR-FR-CO-04_BT-3"}),
    ("corrective invoice with its preceding invoice", _seq(_type("384"), _preceding()), set()),
    ("corrective invoice with a preceding reference holding a slash", _seq(_type("384"), _preceding("FA/2026/000")),
     set()),
    ("corrective invoice with a preceding reference holding a dot", _seq(_type("384"), _preceding("FA.2026.000")),
     {"BR-FR-01_BT-25-2", "BR-FR-02_BT-25"}),
    ("credit note without preceding invoice", _type("381"), {"BR-FR-CO-05_BT-3"}),
    ("credit note with its preceding invoice", _seq(_type("381"), _preceding()), set()),
    ("global discount credit note without contract", _type("262"), {"BR-FR-CO-03_BT-3"}),
    ("due date before the issue date", _do(lambda inv: setattr(inv, "due_date", date(2026, 8, 1))),
     {"BR-FR-CO-07_BT-9"}),
    ("prepayment invoice due before its issue date", _seq(_type("386"), _do(
        lambda inv: setattr(inv, "due_date", date(2026, 8, 1)))), set()),
    ("paid invoice (S2) still due", _paid, {"BR-FR-CO-09_BT-23-1", "BR-FR-CO-09_BT-23-2"}),
    ("paid invoice (S2) without a due date", _seq(_paid, _do(lambda inv: setattr(inv, "due_date", None))),
     {"BR-FR-CO-09_BT-23-1", "BR-FR-CO-09_BT-23-2", "BR-FR-CO-09_BT-23-3"}),
    ("final invoice after prepayments (B4) of prepayment type", _seq(_framework("B4"), _type("386")),
     {"BR-FR-CO-08_BT-23"}),
    ("invoice in US dollars without accounting currency", _do(lambda inv: setattr(inv, "currency_code", "USD")),
     {"BR-FR-CO-12_BT-5"}),
    ("member of a single taxable person without note nor representative", _tax_rep_member,
     {"BR-FR-CO-14_BT-29-1", "BR-FR-CO-15_BT-29-1"}),
    ("member of a single taxable person with note and representative", _single_taxable, set()),
    ("seller identifier without scheme", _seller_ids(("FOURN-001", None)), {"BR-FR-CO-10_BT-29-1"}),
    ("two seller identifiers of scheme 0224", _seller_ids(("A-1", "0224"), ("A-2", "0224")),
     {"BR-FR-CO-10_BT-29-2"}),
    ("seller SIRET of the seller's SIREN", _seller_ids(("35600000000012", "0009")), set()),
    ("seller SIRET of another SIREN", _seller_ids(("99900000000012", "0009")), {"BR-FR-09_BT-29"}),
    ("seller SIRET of 13 digits", _seller_ids(("3560000000001", "0009")), {"BR-FR-09_BT-29"}),
    ("seller private identifier with an at sign", _seller_ids(("fourn@001", "0224")), {"BR-FR-24_BT-29"}),
    ("seller private identifier of 101 characters", _seller_ids(("P" * 101, "0224")), {"BR-FR-26_BT-29"}),
    ("seller identifier of scheme 0002 with letters", _seller_ids(("35600000A", "0002")), {"BR-FR-32-ID"}),
    ("buyer identifier without scheme", _do(lambda inv: setattr(inv.buyer, "identifier", Identifier("CLI-9", None))),
     {"BR-FR-CO-10_BT-46-1"}),
    ("buyer SIRET of another SIREN", _do(lambda inv: setattr(inv.buyer, "identifier",
                                                             Identifier("35600000000012", "0009"))),
     {"BR-FR-09_BT-46"}),
    ("buyer private identifier with a space", _do(lambda inv: setattr(inv.buyer, "identifier",
                                                                      Identifier("CLI 9", "0224"))),
     {"BR-FR-24_BT-46"}),
    ("seller address of scheme 0225 with an at sign", _do(
        lambda inv: setattr(inv.seller, "electronic_address", Identifier("356000000@x", "0225"))),
     {"BR-FR-23_BT-34"}),
    ("buyer address of 126 characters", _do(lambda inv: setattr(inv.buyer, "electronic_address",
                                                                Identifier(BUYER_SIREN + "x" * 117, "0225"))),
     {"BR-FR-25_BT-49"}),
    ("no buyer electronic address", _do(lambda inv: setattr(inv.buyer, "electronic_address", None)),
     {"BR-FR-12_BT-49", "BR-FR-21_BT-49"}),
    ("no seller electronic address", _do(lambda inv: setattr(inv.seller, "electronic_address", None)),
     {"BR-FR-13_BT-34"}),
    ("VAT rate 19 %", _set_rate(D("19")), {"BR-FR-16_BT-119", "BR-FR-16_BT-152"}),
    ("VAT rate 5.5 %", _set_rate(D("5.5")), set()),
    ("VAT rate 20.000 %", _set_rate(D("20.000")),
     {"BR-FR-16_BT-119", "BR-FR-16_BT-152", "BR-FR-DEC-04_BT-119", "BR-FR-DEC-04_BT-152"}),
    ("VAT category L (Canary Islands)", _set_rate(D("7"), "L"),
     {"BR-FR-15_BT-118-1", "BR-FR-15_BT-118-2", "BR-FR-15_BT-151-1", "BR-FR-08_BT-151-2"}),
    ("allowance in VAT category M", _allowance("M", D("20")),
     {"BR-FR-15_BT-95_BT-102-1", "BR-FR-15_BT-95_BT-102-2"}),
    ("allowance at 19.6 %", _allowance("S", D("19.6")), set()),
    ("allowance at 33 %", _allowance("S", D("33")), {"BR-FR-16_BT-96"}),
    ("line net amount with three decimals", _do(lambda inv: setattr(inv.lines[0], "net_amount", D("100.000"))),
     {"BR-FR-DEC-01_BT-131"}),
    ("total VAT with three decimals", _do(lambda inv: setattr(inv.totals, "total_vat", D("20.000"))),
     {"BR-FR-DEC-01_BT-110"}),
    ("negative unit price", _do(lambda inv: setattr(inv.lines[0].price, "net_price", D("-50.00"))),
     {"BR-FR-DEC-03_BT-146"}),
    ("negative unit price in a bidirectional self-billed invoice", _seq(
        _framework("B9"), _type("389"), _do(lambda inv: setattr(inv.lines[0].price, "net_price", D("-50.00")))),
     set()),
    ("unit price with seven decimals", _do(lambda inv: setattr(inv.lines[0].price, "net_price", D("50.0000000"))),
     {"BR-FR-DEC-03_BT-146"}),
    ("quantity with five decimals", _do(lambda inv: setattr(inv.lines[0], "quantity", D("2.00000"))),
     {"BR-FR-DEC-02_BT-129"}),
    ("supporting document described FOO", _document("FOO"), {"BR-FR-17_BT-123"}),
    ("two readable copies (LISIBLE)", _document("LISIBLE", "LISIBLE"), {"BR-FR-18_BT-123"}),
    ("a bank details attachment (RIB)", _document("RIB"), set()),
    ("differing delivery address", _delivery(Identifier("73282932000029", "0009")), set()),
    ("delivery to a SIRET of 13 digits", _delivery(Identifier("7328293200002", "0009")), {"BR-FR-09_BT-71"}),
    ("delivery location without scheme", _delivery(Identifier("QUAI-3", None)), {"BR-FR-CO-10_BT-71-1"}),
    ("payee SIRET of 15 digits", _do(lambda inv: setattr(inv, "payee", Payee(
        name="Affactureur SA", identifier=Identifier("552000000000123", "0009")))), {"BR-FR-09_BT-60"}),
    ("payee without SIREN, SIRET of 14 digits", _do(lambda inv: setattr(inv, "payee", Payee(
        name="Affactureur SA", identifier=Identifier("55200000000012", "0009")))), set()),
    ("invoiced object AFL", _do(lambda inv: setattr(inv, "invoiced_object_identifier", Identifier("SF-1", "AFL"))),
     set()),
    ("line attribute without value", _line_attribute("Couleur", None), {"BR-FR-28-Value"}),
    ("line attribute without name", _line_attribute(None, "Bleu"), {"BR-FR-27_BG-32"}),
    ("global discount credit note with contract and period", _seq(
        _type("262"), _do(lambda inv: setattr(inv, "contract_reference", "CT-2026")),
        _do(lambda inv: setattr(inv, "delivery", DeliveryInformation(
            invoicing_period=InvoicingPeriod(date(2026, 1, 1), date(2026, 6, 30)))))), set()),
]


# --- EXTENDED-CTC-FR: what the fr-extended set judges otherwise than EN 16931 ----------------------------

def _plus(path: str, delta: str) -> Callable[[Invoice], None]:
    def m(inv: Invoice) -> None:
        group, name = path.split(".")
        obj = inv.totals if group == "totals" else inv.vat_breakdown[0]
        setattr(obj, name, getattr(obj, name) + D(delta))
    return m


# (name, mutation, fatal ids of the fr-extended set, warning ids of the fr-extended set)
EXTENDED_CASES: list[tuple[str, Callable[[Invoice], None], set, set]] = [
    ("valid", _do(lambda inv: None), set(), set()),
    ("sum of line net amounts off by 0.01 (one line)", _plus("totals.sum_of_line_net_amounts", "0.01"), set(), set()),
    ("sum of line net amounts off by 0.02 (one line)", _plus("totals.sum_of_line_net_amounts", "0.02"),
     {"BR-FREXT-CO-10"}, set()),
    ("total without VAT off by 0.01", _seq(_plus("totals.total_without_vat", "0.01"),
                                           _plus("totals.total_with_vat", "0.01"), _plus("totals.amount_due", "0.01")),
     set(), set()),
    ("total with VAT off by 0.02", _seq(_plus("totals.total_with_vat", "0.02"), _plus("totals.amount_due", "0.02")),
     {"BR-FREXT-CO-15"}, set()),
    # the UBL stylesheet sums in xs:double: 100.01 - 100.0 is 0.010000000000005116, just over the tolerance
    ("taxable amount off by 0.01", _plus("vat_breakdown.taxable_amount", "0.01"),
     {"BR-FREXT-S-08"}, {"BR-FREXT-S-08ini", "BR-FREXT-S-08rev"}),
    ("taxable amount off by 0.05", _plus("vat_breakdown.taxable_amount", "0.05"),
     {"BR-FREXT-S-08"}, {"BR-FREXT-S-08ini", "BR-FREXT-S-08rev"}),
    ("tax amount off by 0.02", _seq(_plus("vat_breakdown.tax_amount", "0.02"), _plus("totals.total_vat", "0.02"),
                                    _plus("totals.total_with_vat", "0.02"), _plus("totals.amount_due", "0.02")),
     {"BR-FREXT-S-09"}, set()),
    ("a line of category Z without its breakdown", _do(lambda inv: inv.lines.append(InvoiceLine(
        identifier="2", quantity=D("1"), quantity_unit_code="C62", net_amount=D("0.00"),
        price=PriceDetails(net_price=D("0.00")), vat=LineVatInformation(category_code="Z", rate=D("0")),
        item=ItemInformation(name="Gratuit")))), {"BR-FREXT-Z-01"}, set()),
    ("an attribute without name", _line_attribute(None, "Bleu"), {"BR-FREXT-54-1"}, set()),
    ("a seller identifier of scheme BY", _seller_ids(("BY-1", "BY")), set(), set()),
    ("a seller identifier of scheme XX", _seller_ids(("XX-1", "XX")), {"BR-FREXT-CL-10"}, set()),
    ("amount due without due date nor payment terms", _do(lambda inv: setattr(inv, "due_date", None)),
     {"BR-CO-25"}, set()),
]
