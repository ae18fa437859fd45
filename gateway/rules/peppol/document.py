"""PEPPOL-EN16931-R0xx on the document: business process, specification, references, tax totals, parties.

Each rule reproduces the assert of OpenPeppol's PEPPOL-EN16931-UBL.xslt (its
context, so one finding per offending element, and its test) on the model.
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import (Hit, code_set, country_is, get, items, normalize_space, payment_means, peppol, profile,
                     xnumber)

FAMILY = "PEPPOL-EN16931"
SPECIFICATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"


def _both_german(inv: Any) -> bool:
    """``$supplierCountryIsDE and $customerCountryIsDE``: both postal addresses in Germany."""
    return country_is(inv, "seller", "DE") and country_is(inv, "buyer", "DE")


@peppol("PEPPOL-EN16931-R001", FAMILY, terms=("BT-23",))
def r001(inv: Any) -> Iterator[Hit]:
    """Business process MUST be provided."""
    if get(inv, "process_control.business_process") is None:
        yield Hit("process_control.business_process", "Business process (BT-23) MUST be provided.")


@peppol("PEPPOL-EN16931-R007", FAMILY, terms=("BT-23",))
def r007(inv: Any) -> Iterator[Hit]:
    """Business process MUST have an approved identifier."""
    if profile(inv) == "Unknown":
        yield Hit("process_control.business_process",
                  f"Business process (BT-23) {normalize_space(get(inv, 'process_control.business_process'))!r} "
                  "is not an approved identifier.")


@peppol("PEPPOL-EN16931-R002", FAMILY, terms=("BG-1",))
def r002(inv: Any) -> Iterator[Hit]:
    """No more than one note is allowed on document level, unless both the buyer and seller are German organizations."""
    notes = [n for _, n in items(get(inv, "notes"))]
    if len(notes) > 1 and not _both_german(inv):
        yield Hit("notes", f"{len(notes)} notes (BG-1) on document level: no more than one is allowed, "
                           "unless both the buyer and seller are German organizations.")


@peppol("PEPPOL-EN16931-R003", FAMILY, terms=("BT-10", "BT-13"))
def r003(inv: Any) -> Iterator[Hit]:
    """A buyer reference or purchase order reference MUST be provided.

    UBL: ``cbc:BuyerReference or cac:OrderReference/cbc:ID``; a sales order
    reference (BT-14) alone is written with the order reference 'NA', which counts."""
    if all(get(inv, p) is None for p in ("buyer_reference", "purchase_order_reference", "sales_order_reference")):
        yield Hit("buyer_reference", "A buyer reference (BT-10) or purchase order reference (BT-13) MUST be provided.")


@peppol("PEPPOL-EN16931-R004", FAMILY, terms=("BT-24",))
def r004(inv: Any) -> Iterator[Hit]:
    """Specification identifier MUST begin with the value 'urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0' and follow the format rules for the identifier."""
    spec = normalize_space(get(inv, "process_control.specification_identifier"))
    if not spec.startswith(SPECIFICATION) or "::" in spec:
        yield Hit("process_control.specification_identifier",
                  f"Specification identifier (BT-24) {spec!r} MUST begin with {SPECIFICATION!r} and follow the "
                  "format rules for the identifier.")


@peppol("PEPPOL-EN16931-R053", FAMILY, terms=("BT-110", "BG-23"))
def r053(inv: Any) -> Iterator[Hit]:
    """Only one tax total with tax subtotals MUST be provided.

    On the model: the VAT breakdown (BG-23, the tax subtotals) is there; UBL
    documents with two tax totals that both hold subtotals are read into one
    breakdown (PEPPOL-COVERAGE.md)."""
    if not any(True for _ in items(get(inv, "vat_breakdown"))):
        yield Hit("vat_breakdown", "Only one tax total with tax subtotals MUST be provided: there is none.")


@peppol("PEPPOL-EN16931-R054", FAMILY, terms=("BT-6", "BT-111"))
def r054(inv: Any) -> Iterator[Hit]:
    """Only one tax total without tax subtotals MUST be provided when tax currency code is provided.

    UBL: ``count(cac:TaxTotal[not(cac:TaxSubtotal)])`` is 1 with a tax currency
    code (BT-6), else 0. On the model, the tax totals without subtotals are:
    with a VAT breakdown, the one in the accounting currency (BT-111) when that
    currency is not the document's; without a breakdown, every tax total read
    (BT-110 and a separate BT-111)."""
    bt6 = get(inv, "vat_accounting_currency_code")
    bt110 = get(inv, "totals.total_vat")
    bt111 = get(inv, "totals.total_vat_in_accounting_currency")
    separate = bt6 is not None and normalize_space(bt6) != normalize_space(get(inv, "currency_code"))
    if any(True for _ in items(get(inv, "vat_breakdown"))):
        count = 1 if bt111 is not None and separate else 0
    else:
        count = (1 if bt110 is not None else 0) + (1 if bt111 is not None and (separate or bt110 is None) else 0)
    expected = 1 if bt6 is not None else 0
    if count != expected:
        yield Hit("totals.total_vat_in_accounting_currency",
                  f"{count} tax total(s) without tax subtotals: exactly {expected} MUST be provided "
                  f"{'when' if expected else 'unless'} the tax currency code (BT-6) is.")


@peppol("PEPPOL-EN16931-R055", FAMILY, terms=("BT-110", "BT-111"))
def r055(inv: Any) -> Iterator[Hit]:
    """Invoice total VAT amount and Invoice total VAT amount in accounting currency MUST have the same operational sign."""
    if get(inv, "vat_accounting_currency_code") is None:
        return
    accounting = get(inv, "totals.total_vat_in_accounting_currency")
    document = get(inv, "totals.total_vat")
    same_currency = normalize_space(get(inv, "vat_accounting_currency_code")) == \
        normalize_space(get(inv, "currency_code"))
    # each side is the TaxAmount(s) whose currencyID is that currency; with BT-6 = BT-5 both are both
    a = [v for v in (accounting, document if same_currency else None) if v is not None]
    d = [v for v in (document, accounting if same_currency else None) if v is not None]
    a_num, d_num = [xnumber(v) for v in a], [xnumber(v) for v in d]
    if (any(x <= 0 for x in a_num) and any(x <= 0 for x in d_num)) or \
            (any(x >= 0 for x in a_num) and any(x >= 0 for x in d_num)):
        return
    yield Hit("totals.total_vat_in_accounting_currency",
              "Invoice total VAT amount (BT-110) and Invoice total VAT amount in accounting currency (BT-111) "
              "MUST have the same operational sign.")


@peppol("PEPPOL-EN16931-R005", FAMILY, terms=("BT-6", "BT-5"))
def r005(inv: Any) -> Iterator[Hit]:
    """VAT accounting currency code MUST be different from invoice currency code when provided."""
    bt6 = get(inv, "vat_accounting_currency_code")
    if bt6 is not None and normalize_space(bt6) == normalize_space(get(inv, "currency_code")):
        yield Hit("vat_accounting_currency_code",
                  f"VAT accounting currency code (BT-6) {normalize_space(bt6)!r} MUST be different from the invoice "
                  "currency code (BT-5).")


@peppol("PEPPOL-EN16931-R010", FAMILY, terms=("BT-49",))
def r010(inv: Any) -> Iterator[Hit]:
    """Buyer electronic address MUST be provided."""
    if get(inv, "buyer.electronic_address") is None:
        yield Hit("buyer.electronic_address", "Buyer electronic address (BT-49) MUST be provided.")


@peppol("PEPPOL-EN16931-R020", FAMILY, terms=("BT-34",))
def r020(inv: Any) -> Iterator[Hit]:
    """Seller electronic address MUST be provided."""
    if get(inv, "seller.electronic_address") is None:
        yield Hit("seller.electronic_address", "Seller electronic address (BT-34) MUST be provided.")


@peppol("PEPPOL-EN16931-R061", FAMILY, terms=("BT-81", "BT-89"))
def r061(inv: Any) -> Iterator[Hit]:
    """Mandate reference MUST be provided for direct debit.

    Context: a ``cac:PaymentMeans`` whose code (BT-81) is 49 or 59."""
    for path, pi, _ in payment_means(inv):
        if normalize_space(pi.means_type_code) in code_set("DIRECT_DEBIT_CODES") and \
                get(pi, "direct_debit.mandate_reference") is None:
            yield Hit("payment_instructions.direct_debit.mandate_reference",
                      f"Mandate reference (BT-89) MUST be provided for direct debit (payment means "
                      f"{normalize_space(pi.means_type_code)}).")

