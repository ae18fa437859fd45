"""The EN 16931 semantic model: the one thing every syntax meets.

Each dataclass is a business group (BG-n) and each field a business term
(BT-n), named after EN 16931-1 and tagged with its identifier in the field
metadata, so mapping files can speak in BT/BG ids and never in Python names.
Amounts, quantities and rates are ``Decimal``; dates are ``datetime.date``;
codes are the strings of the code lists EN 16931 names (UNTDID, ISO ...).

This module imports nothing of ours: formats, rules and routing depend on it,
never the other way round.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Iterator, Optional

# Invoice type codes (UNTDID 1001) that EN 16931 treats as credit notes: a
# syntax with a separate credit-note root (UBL) uses it for these. The list is the
# CEN UBL schematron's for cbc:CreditNoteTypeCode (BR-CL-01), 502 and 503 included
# (self-billed and factored credit notes, which the French rules use).
CREDIT_NOTE_TYPE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "502",
                                    "503", "532"})


def term(tid: str, *, default: Any = None) -> Any:
    """A business term (or group) held once."""
    return field(default=default, metadata={"term": tid})


def terms(tid: str) -> Any:
    """A business term (or group) that may repeat: a list, empty when absent."""
    return field(default_factory=list, metadata={"term": tid})


# --- compound values: a term together with its qualifying sub-terms ----------
# Their fields carry *suffixes*: "" is the term itself, "-1" its scheme (for
# BT-29 the scheme is BT-29-1), and so on.

@dataclass
class Identifier:
    """An identifier with an optional scheme (BT-n and BT-n-1)."""
    value: Optional[str] = term("")
    scheme: Optional[str] = term("-1")


@dataclass
class ClassificationIdentifier:
    """BT-158: item classification with list id (BT-158-1) and version (BT-158-2)."""
    value: Optional[str] = term("")
    scheme: Optional[str] = term("-1")
    version: Optional[str] = term("-2")


@dataclass
class BinaryObject:
    """BT-125: an embedded attachment with its MIME code and file name."""
    content: Optional[bytes] = term("")
    mime_code: Optional[str] = term("-1")
    filename: Optional[str] = term("-2")


# --- groups --------------------------------------------------------------------

@dataclass
class InvoiceNote:  # BG-1
    subject_code: Optional[str] = term("BT-21")
    note: Optional[str] = term("BT-22")


@dataclass
class ProcessControl:  # BG-2
    business_process: Optional[str] = term("BT-23")
    specification_identifier: Optional[str] = term("BT-24")


@dataclass
class PrecedingInvoiceReference:  # BG-3
    reference: Optional[str] = term("BT-25")
    issue_date: Optional[date] = term("BT-26")


@dataclass
class SellerPostalAddress:  # BG-5
    line1: Optional[str] = term("BT-35")
    line2: Optional[str] = term("BT-36")
    line3: Optional[str] = term("BT-162")
    city: Optional[str] = term("BT-37")
    post_code: Optional[str] = term("BT-38")
    subdivision: Optional[str] = term("BT-39")
    country_code: Optional[str] = term("BT-40")


@dataclass
class SellerContact:  # BG-6
    point: Optional[str] = term("BT-41")
    telephone: Optional[str] = term("BT-42")
    email: Optional[str] = term("BT-43")


@dataclass
class Seller:  # BG-4
    name: Optional[str] = term("BT-27")
    trading_name: Optional[str] = term("BT-28")
    identifiers: list[Identifier] = terms("BT-29")
    legal_registration_identifier: Optional[Identifier] = term("BT-30")
    vat_identifier: Optional[str] = term("BT-31")
    tax_registration_identifier: Optional[str] = term("BT-32")
    additional_legal_information: Optional[str] = term("BT-33")
    electronic_address: Optional[Identifier] = term("BT-34")
    postal_address: Optional[SellerPostalAddress] = term("BG-5")
    contact: Optional[SellerContact] = term("BG-6")


@dataclass
class BuyerPostalAddress:  # BG-8
    line1: Optional[str] = term("BT-50")
    line2: Optional[str] = term("BT-51")
    line3: Optional[str] = term("BT-163")
    city: Optional[str] = term("BT-52")
    post_code: Optional[str] = term("BT-53")
    subdivision: Optional[str] = term("BT-54")
    country_code: Optional[str] = term("BT-55")


@dataclass
class BuyerContact:  # BG-9
    point: Optional[str] = term("BT-56")
    telephone: Optional[str] = term("BT-57")
    email: Optional[str] = term("BT-58")


@dataclass
class Buyer:  # BG-7
    name: Optional[str] = term("BT-44")
    trading_name: Optional[str] = term("BT-45")
    identifier: Optional[Identifier] = term("BT-46")
    legal_registration_identifier: Optional[Identifier] = term("BT-47")
    vat_identifier: Optional[str] = term("BT-48")
    electronic_address: Optional[Identifier] = term("BT-49")
    postal_address: Optional[BuyerPostalAddress] = term("BG-8")
    contact: Optional[BuyerContact] = term("BG-9")


@dataclass
class Payee:  # BG-10
    name: Optional[str] = term("BT-59")
    identifier: Optional[Identifier] = term("BT-60")
    legal_registration_identifier: Optional[Identifier] = term("BT-61")


@dataclass
class TaxRepresentativePostalAddress:  # BG-12
    line1: Optional[str] = term("BT-64")
    line2: Optional[str] = term("BT-65")
    line3: Optional[str] = term("BT-164")
    city: Optional[str] = term("BT-66")
    post_code: Optional[str] = term("BT-67")
    subdivision: Optional[str] = term("BT-68")
    country_code: Optional[str] = term("BT-69")


@dataclass
class SellerTaxRepresentative:  # BG-11
    name: Optional[str] = term("BT-62")
    vat_identifier: Optional[str] = term("BT-63")
    postal_address: Optional[TaxRepresentativePostalAddress] = term("BG-12")


@dataclass
class InvoicingPeriod:  # BG-14
    start_date: Optional[date] = term("BT-73")
    end_date: Optional[date] = term("BT-74")


@dataclass
class DeliverToAddress:  # BG-15
    line1: Optional[str] = term("BT-75")
    line2: Optional[str] = term("BT-76")
    line3: Optional[str] = term("BT-165")
    city: Optional[str] = term("BT-77")
    post_code: Optional[str] = term("BT-78")
    subdivision: Optional[str] = term("BT-79")
    country_code: Optional[str] = term("BT-80")


@dataclass
class DeliveryInformation:  # BG-13
    deliver_to_party_name: Optional[str] = term("BT-70")
    deliver_to_location_identifier: Optional[Identifier] = term("BT-71")
    actual_delivery_date: Optional[date] = term("BT-72")
    invoicing_period: Optional[InvoicingPeriod] = term("BG-14")
    deliver_to_address: Optional[DeliverToAddress] = term("BG-15")


@dataclass
class CreditTransfer:  # BG-17
    account_identifier: Optional[str] = term("BT-84")
    account_name: Optional[str] = term("BT-85")
    service_provider_identifier: Optional[str] = term("BT-86")


@dataclass
class PaymentCard:  # BG-18
    primary_account_number: Optional[str] = term("BT-87")
    holder_name: Optional[str] = term("BT-88")


@dataclass
class DirectDebit:  # BG-19
    mandate_reference: Optional[str] = term("BT-89")
    creditor_identifier: Optional[str] = term("BT-90")
    debited_account_identifier: Optional[str] = term("BT-91")


@dataclass
class PaymentInstructions:  # BG-16
    means_type_code: Optional[str] = term("BT-81")
    means_text: Optional[str] = term("BT-82")
    remittance_information: Optional[str] = term("BT-83")
    credit_transfers: list[CreditTransfer] = terms("BG-17")
    payment_card: Optional[PaymentCard] = term("BG-18")
    direct_debit: Optional[DirectDebit] = term("BG-19")


@dataclass
class DocumentAllowance:  # BG-20
    amount: Optional[Decimal] = term("BT-92")
    base_amount: Optional[Decimal] = term("BT-93")
    percentage: Optional[Decimal] = term("BT-94")
    vat_category_code: Optional[str] = term("BT-95")
    vat_rate: Optional[Decimal] = term("BT-96")
    reason: Optional[str] = term("BT-97")
    reason_code: Optional[str] = term("BT-98")


@dataclass
class DocumentCharge:  # BG-21
    amount: Optional[Decimal] = term("BT-99")
    base_amount: Optional[Decimal] = term("BT-100")
    percentage: Optional[Decimal] = term("BT-101")
    vat_category_code: Optional[str] = term("BT-102")
    vat_rate: Optional[Decimal] = term("BT-103")
    reason: Optional[str] = term("BT-104")
    reason_code: Optional[str] = term("BT-105")


@dataclass
class DocumentTotals:  # BG-22
    sum_of_line_net_amounts: Optional[Decimal] = term("BT-106")
    sum_of_allowances: Optional[Decimal] = term("BT-107")
    sum_of_charges: Optional[Decimal] = term("BT-108")
    total_without_vat: Optional[Decimal] = term("BT-109")
    total_vat: Optional[Decimal] = term("BT-110")
    total_vat_in_accounting_currency: Optional[Decimal] = term("BT-111")
    total_with_vat: Optional[Decimal] = term("BT-112")
    paid_amount: Optional[Decimal] = term("BT-113")
    rounding_amount: Optional[Decimal] = term("BT-114")
    amount_due: Optional[Decimal] = term("BT-115")


@dataclass
class VatBreakdown:  # BG-23
    taxable_amount: Optional[Decimal] = term("BT-116")
    tax_amount: Optional[Decimal] = term("BT-117")
    category_code: Optional[str] = term("BT-118")
    rate: Optional[Decimal] = term("BT-119")
    exemption_reason: Optional[str] = term("BT-120")
    exemption_reason_code: Optional[str] = term("BT-121")


@dataclass
class SupportingDocument:  # BG-24
    reference: Optional[str] = term("BT-122")
    description: Optional[str] = term("BT-123")
    external_location: Optional[str] = term("BT-124")
    attachment: Optional[BinaryObject] = term("BT-125")


@dataclass
class LinePeriod:  # BG-26
    start_date: Optional[date] = term("BT-134")
    end_date: Optional[date] = term("BT-135")


@dataclass
class LineAllowance:  # BG-27
    amount: Optional[Decimal] = term("BT-136")
    base_amount: Optional[Decimal] = term("BT-137")
    percentage: Optional[Decimal] = term("BT-138")
    reason: Optional[str] = term("BT-139")
    reason_code: Optional[str] = term("BT-140")


@dataclass
class LineCharge:  # BG-28
    amount: Optional[Decimal] = term("BT-141")
    base_amount: Optional[Decimal] = term("BT-142")
    percentage: Optional[Decimal] = term("BT-143")
    reason: Optional[str] = term("BT-144")
    reason_code: Optional[str] = term("BT-145")


@dataclass
class PriceDetails:  # BG-29
    net_price: Optional[Decimal] = term("BT-146")
    price_discount: Optional[Decimal] = term("BT-147")
    gross_price: Optional[Decimal] = term("BT-148")
    base_quantity: Optional[Decimal] = term("BT-149")
    base_quantity_unit_code: Optional[str] = term("BT-150")


@dataclass
class LineVatInformation:  # BG-30
    category_code: Optional[str] = term("BT-151")
    rate: Optional[Decimal] = term("BT-152")


@dataclass
class ItemAttribute:  # BG-32
    name: Optional[str] = term("BT-160")
    value: Optional[str] = term("BT-161")


@dataclass
class ItemInformation:  # BG-31
    name: Optional[str] = term("BT-153")
    description: Optional[str] = term("BT-154")
    sellers_identifier: Optional[str] = term("BT-155")
    buyers_identifier: Optional[str] = term("BT-156")
    standard_identifier: Optional[Identifier] = term("BT-157")
    classification_identifiers: list[ClassificationIdentifier] = terms("BT-158")
    country_of_origin: Optional[str] = term("BT-159")
    attributes: list[ItemAttribute] = terms("BG-32")


@dataclass
class InvoiceLine:  # BG-25
    identifier: Optional[str] = term("BT-126")
    note: Optional[str] = term("BT-127")
    object_identifier: Optional[Identifier] = term("BT-128")
    quantity: Optional[Decimal] = term("BT-129")
    quantity_unit_code: Optional[str] = term("BT-130")
    net_amount: Optional[Decimal] = term("BT-131")
    purchase_order_line_reference: Optional[str] = term("BT-132")
    buyer_accounting_reference: Optional[str] = term("BT-133")
    period: Optional[LinePeriod] = term("BG-26")
    allowances: list[LineAllowance] = terms("BG-27")
    charges: list[LineCharge] = terms("BG-28")
    price: Optional[PriceDetails] = term("BG-29")
    vat: Optional[LineVatInformation] = term("BG-30")
    item: Optional[ItemInformation] = term("BG-31")


@dataclass
class Invoice:  # the document: BT-1 ... BG-25
    number: Optional[str] = term("BT-1")
    issue_date: Optional[date] = term("BT-2")
    type_code: Optional[str] = term("BT-3")
    currency_code: Optional[str] = term("BT-5")
    vat_accounting_currency_code: Optional[str] = term("BT-6")
    vat_point_date: Optional[date] = term("BT-7")
    vat_point_date_code: Optional[str] = term("BT-8")
    due_date: Optional[date] = term("BT-9")
    buyer_reference: Optional[str] = term("BT-10")
    project_reference: Optional[str] = term("BT-11")
    contract_reference: Optional[str] = term("BT-12")
    purchase_order_reference: Optional[str] = term("BT-13")
    sales_order_reference: Optional[str] = term("BT-14")
    receiving_advice_reference: Optional[str] = term("BT-15")
    despatch_advice_reference: Optional[str] = term("BT-16")
    tender_or_lot_reference: Optional[str] = term("BT-17")
    invoiced_object_identifier: Optional[Identifier] = term("BT-18")
    buyer_accounting_reference: Optional[str] = term("BT-19")
    payment_terms: Optional[str] = term("BT-20")
    notes: list[InvoiceNote] = terms("BG-1")
    process_control: Optional[ProcessControl] = term("BG-2")
    preceding_invoices: list[PrecedingInvoiceReference] = terms("BG-3")
    seller: Optional[Seller] = term("BG-4")
    buyer: Optional[Buyer] = term("BG-7")
    payee: Optional[Payee] = term("BG-10")
    tax_representative: Optional[SellerTaxRepresentative] = term("BG-11")
    delivery: Optional[DeliveryInformation] = term("BG-13")
    payment_instructions: Optional[PaymentInstructions] = term("BG-16")
    allowances: list[DocumentAllowance] = terms("BG-20")
    charges: list[DocumentCharge] = terms("BG-21")
    totals: Optional[DocumentTotals] = term("BG-22")
    vat_breakdown: list[VatBreakdown] = terms("BG-23")
    supporting_documents: list[SupportingDocument] = terms("BG-24")
    lines: list[InvoiceLine] = terms("BG-25")

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in CREDIT_NOTE_TYPE_CODES


# --- introspection: what mapping engines and rules walk ---------------------------

@dataclass(frozen=True)
class TermField:
    """One field of a model dataclass as the mapping engine sees it."""
    term: str            # "BT-1", "BG-4", or a suffix ("", "-1") in compound values
    name: str            # Python attribute name
    type: Any            # the item type (for lists: the element type)
    repeats: bool


_FIELDS: dict[type, tuple[TermField, ...]] = {}


def term_fields(cls: type) -> tuple[TermField, ...]:
    """The term-tagged fields of a model dataclass, in declaration order."""
    cached = _FIELDS.get(cls)
    if cached is not None:
        return cached
    import typing
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tid = f.metadata.get("term")
        if tid is None:
            continue
        hint = hints[f.name]
        repeats = typing.get_origin(hint) is list
        if repeats:
            item = typing.get_args(hint)[0]
        else:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            item = args[0] if args else hint
        out.append(TermField(tid, f.name, item, repeats))
    _FIELDS[cls] = tuple(out)
    return _FIELDS[cls]


_NO_DEFAULT = object()


def term_value(obj: Any, tid: str, default: Any = _NO_DEFAULT) -> Any:
    """The value of the field tagged ``tid`` on a model object (KeyError without a default)."""
    for f in term_fields(type(obj)):
        if f.term == tid:
            return getattr(obj, f.name)
    if default is _NO_DEFAULT:
        raise KeyError(tid)
    return default


def is_compound(cls: Any) -> bool:
    """A compound value (Identifier, BinaryObject...) rather than a group."""
    return dataclasses.is_dataclass(cls) and any(f.term == "" for f in term_fields(cls))


def is_empty(value: Any) -> bool:
    """True for None, empty strings/lists and groups with nothing in them."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, list)):
        return len(value) == 0 if not isinstance(value, list) else all(is_empty(v) for v in value)
    if dataclasses.is_dataclass(value):
        return all(is_empty(getattr(value, f.name)) for f in term_fields(type(value)))
    return False


def iter_terms(obj: Any, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yield (term id, model path, value) for every non-empty leaf term.

    Model paths look like ``lines[2].price.net_price``; term ids of compound
    sub-values are full ids (``BT-29-1``). Used for loss reporting and for
    comparing documents term by term.
    """
    for f in term_fields(type(obj)):
        value = getattr(obj, f.name)
        path = f"{prefix}.{f.name}" if prefix else f.name
        items = list(enumerate(value)) if f.repeats else [(None, value)]
        for idx, item in items:
            if is_empty(item):
                continue
            p = f"{path}[{idx}]" if idx is not None else path
            if is_compound(type(item)):
                for sub in term_fields(type(item)):
                    sv = getattr(item, sub.name)
                    if not is_empty(sv):
                        yield (f.term + sub.term, p + ("" if sub.term == "" else "." + sub.name), sv)
            elif dataclasses.is_dataclass(item):
                yield from iter_terms(item, p)
            else:
                yield (f.term, p, item)


# --- EN 16931 semantic data types of the numeric terms ---------------------------
# (EN 16931-1 §6.5): syntaxes attach different things to each (UBL puts a
# currencyID on amounts and unit prices), and the decimal rules BR-DEC apply to amounts.
AMOUNT_TERMS = frozenset(
    f"BT-{n}" for n in (92, 93, 99, 100, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115,
                        116, 117, 131, 136, 137, 141, 142))
UNIT_PRICE_TERMS = frozenset({"BT-146", "BT-147", "BT-148"})
QUANTITY_TERMS = frozenset({"BT-129", "BT-149"})
PERCENTAGE_TERMS = frozenset(f"BT-{n}" for n in (94, 96, 101, 103, 119, 138, 143, 152))


def datatype(tid: str) -> Optional[str]:
    """EN 16931 data type of a numeric term: amount, unit_price, quantity, percentage."""
    if tid in AMOUNT_TERMS:
        return "amount"
    if tid in UNIT_PRICE_TERMS:
        return "unit_price"
    if tid in QUANTITY_TERMS:
        return "quantity"
    if tid in PERCENTAGE_TERMS:
        return "percentage"
    return None
