"""NL-R-001 ... NL-R-009: Dutch suppliers (the seller's country code is NL)."""
from __future__ import annotations

from typing import Any, Iterator

from .common import (Hit, country_is, get, has_payment_means, is_credit_note, items, normalize_space,
                     payment_means, peppol, xnumber)

FAMILY = "NL"


def _nl(inv: Any) -> bool:
    return country_is(inv, "seller", "NL")


@peppol("NL-R-001", FAMILY, terms=("BT-25",))
def nl_r_001(inv: Any) -> Iterator[Hit]:
    """For suppliers in the Netherlands, if the document is a creditnote, the document MUST contain an invoice reference (cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID)."""
    if get(inv, "type_code") is not None and is_credit_note(inv) and _nl(inv) and \
            not any(ref.reference is not None for _, ref in items(get(inv, "preceding_invoices"))):
        yield Hit("preceding_invoices", "For suppliers in the Netherlands a credit note MUST reference the invoice it "
                                        "corrects (BT-25).")


def _address(rule_id: str, party: str, terms: tuple, text: str, when: Any) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        addr = get(inv, f"{party}.postal_address")
        if addr is None or not when(inv):
            return
        if addr.line1 is None or addr.city is None or addr.post_code is None:
            yield Hit(f"{party}.postal_address", text)
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=terms)(check)


_address("NL-R-002", "seller", ("BT-35", "BT-37", "BT-38"),
         "For suppliers in the Netherlands the supplier's address (cac:AccountingSupplierParty/cac:Party/"
         "cac:PostalAddress) MUST contain street name (cbc:StreetName), city (cbc:CityName) and post code "
         "(cbc:PostalZone)", _nl)
_address("NL-R-004", "buyer", ("BT-50", "BT-52", "BT-53"),
         "For suppliers in the Netherlands, if the customer is in the Netherlands, the customer address "
         "(cac:AccountingCustomerParty/cac:Party/cac:PostalAddress) MUST contain the street name (cbc:StreetName), "
         "the city (cbc:CityName) and post code (cbc:PostalZone)",
         lambda inv: _nl(inv) and country_is(inv, "buyer", "NL"))
_address("NL-R-006", "tax_representative", ("BT-64", "BT-66", "BT-67"),
         "For suppliers in the Netherlands, if the fiscal representative is in the Netherlands, the representative's "
         "address (cac:TaxRepresentativeParty/cac:PostalAddress) MUST contain street name (cbc:StreetName), city "
         "(cbc:CityName) and post code (cbc:PostalZone)",
         lambda inv: _nl(inv) and country_is(inv, "tax_representative", "NL"))


def _legal(rule_id: str, party: str, term: str, text: str, when: Any) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        ident = get(inv, f"{party}.legal_registration_identifier")
        if ident is None or not when(inv):
            return
        schemes = f" {ident.scheme or ''} "       # contains(concat(' ', string-join(@schemeID, ' '), ' '), ' 0106 ')
        if not (" 0106 " in schemes or " 0190 " in schemes) or normalize_space(ident.value) == "":
            yield Hit(f"{party}.legal_registration_identifier", f"{text} ({term} scheme {ident.scheme!r}).")
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=(term,))(check)


_legal("NL-R-003", "seller", "BT-30", "For suppliers in the Netherlands, the legal entity identifier MUST be either a "
       "KVK or OIN number (schemeID 0106 or 0190)", _nl)
_legal("NL-R-005", "buyer", "BT-47", "For suppliers in the Netherlands, if the customer is in the Netherlands, the "
       "customer's legal entity identifier MUST be either a KVK or OIN number (schemeID 0106 or 0190)",
       lambda inv: _nl(inv) and country_is(inv, "buyer", "NL"))


@peppol("NL-R-007", FAMILY, terms=("BG-16", "BT-115"))
def nl_r_007(inv: Any) -> Iterator[Hit]:
    """For suppliers in the Netherlands, the supplier MUST provide a means of payment (cac:PaymentMeans) if the payment is from customer to supplier."""
    if not _nl(inv) or has_payment_means(inv):
        return
    due = xnumber(get(inv, "totals.amount_due"))
    if (not is_credit_note(inv) and due <= 0) or (is_credit_note(inv) and due >= 0):
        return
    yield Hit("payment_instructions", "For suppliers in the Netherlands, payment instructions (BG-16) MUST be given "
                                      "when the customer pays the supplier.")


@peppol("NL-R-008", FAMILY, terms=("BT-81",))
def nl_r_008(inv: Any) -> Iterator[Hit]:
    """For suppliers in the Netherlands, if the customer is in the Netherlands, the payment means code (cac:PaymentMeans/cbc:PaymentMeansCode) MUST be one of 30, 48, 49, 57, 58 or 59."""
    if not (_nl(inv) and country_is(inv, "buyer", "NL")):
        return
    for path, pi, _ in payment_means(inv):
        if normalize_space(pi.means_type_code) not in ("30", "48", "49", "57", "58", "59"):
            yield Hit("payment_instructions.means_type_code",
                      f"Between Dutch parties the payment means code (BT-81) {pi.means_type_code!r} MUST be one of "
                      "30, 48, 49, 57, 58 or 59.")


@peppol("NL-R-009", FAMILY, terms=("BT-132", "BT-13"))
def nl_r_009(inv: Any) -> Iterator[Hit]:
    """For suppliers in the Netherlands, if an order line reference (cac:OrderLineReference/cbc:LineID) is used, there must be an order reference on the document level (cac:OrderReference/cbc:ID)."""
    if not _nl(inv) or get(inv, "purchase_order_reference") is not None or get(inv, "sales_order_reference") is not None:
        return
    for k, line in items(get(inv, "lines")):
        if line.purchase_order_line_reference is not None:
            yield Hit(f"lines[{k}].purchase_order_line_reference",
                      "An order line reference (BT-132) needs an order reference (BT-13) on the document.")
