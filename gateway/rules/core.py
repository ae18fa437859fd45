"""BR-01 ... BR-65: mandatory terms, cardinalities and simple conditions.

Each rule follows the assert of the CEN UBL schematron (1.3.16): where it
tests ``normalize-space(x) != ''`` a blank value fails like a missing one,
where it tests ``exists(x)`` only a missing value fails. Rules whose context
is a group (a line, an allowance, the payee ...) only apply when that group
is there, and fire once per offending group, as the schematron does.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from .access import get, getter, groups, items, totals
from .registry import WARNING, Hit, register, register_guard, rule
from .xpath import blank, dec, fmt, ge, normalize_space, present


register_guard("groups", groups)

# what a check that returns its hits (rather than yielding them) returns when it finds nothing
_NONE: tuple[Hit, ...] = ()


def _require(rule_id: str, path: str, term: str, label: str, *, allow_blank: bool = False) -> None:
    """Register 'the invoice shall have <label> (<term>)' on one document-level value."""
    missing: Callable[[Any], bool] = (lambda v: v is None) if allow_blank else blank
    fetch = getter(path)

    def check(inv: Any) -> Sequence[Hit]:
        if missing(fetch(inv)):
            return [Hit(path, f"An Invoice shall have the {label} ({term}).")]
        return _NONE

    register(rule_id, check, terms=(term,), description=f"An Invoice shall have the {label} ({term}).")


# --- the document -------------------------------------------------------------
_require("BR-01", "process_control.specification_identifier", "BT-24", "Specification identifier")
_require("BR-02", "number", "BT-1", "Invoice number")
_require("BR-03", "issue_date", "BT-2", "Invoice issue date")
_require("BR-04", "type_code", "BT-3", "Invoice type code")
_require("BR-05", "currency_code", "BT-5", "Invoice currency code")
_require("BR-06", "seller.name", "BT-27", "Seller name")
_require("BR-07", "buyer.name", "BT-44", "Buyer name")


_SELLER_POSTAL_ADDRESS = getter("seller.postal_address")
_BUYER_POSTAL_ADDRESS = getter("buyer.postal_address")


@rule("BR-08", terms=("BG-5",))
def br_08(inv: Any) -> Iterator[Hit]:
    """An Invoice shall contain the Seller postal address (BG-5)."""
    if _SELLER_POSTAL_ADDRESS(inv) is None:
        yield Hit("seller.postal_address", "An Invoice shall contain the Seller postal address (BG-5).")


@rule("BR-09", terms=("BT-40",))
def br_09(inv: Any) -> Iterator[Hit]:
    """The Seller postal address (BG-5) shall contain a Seller country code (BT-40)."""
    addr = _SELLER_POSTAL_ADDRESS(inv)
    if addr is not None and blank(addr.country_code):
        yield Hit("seller.postal_address.country_code",
                  "The Seller postal address (BG-5) has no Seller country code (BT-40).")


@rule("BR-10", terms=("BG-8",))
def br_10(inv: Any) -> Iterator[Hit]:
    """An Invoice shall contain the Buyer postal address (BG-8)."""
    if _BUYER_POSTAL_ADDRESS(inv) is None:
        yield Hit("buyer.postal_address", "An Invoice shall contain the Buyer postal address (BG-8).")


@rule("BR-11", terms=("BT-55",))
def br_11(inv: Any) -> Iterator[Hit]:
    """The Buyer postal address (BG-8) shall contain a Buyer country code (BT-55)."""
    addr = _BUYER_POSTAL_ADDRESS(inv)
    if addr is not None and blank(addr.country_code):
        yield Hit("buyer.postal_address.country_code",
                  "The Buyer postal address (BG-8) has no Buyer country code (BT-55).")


def _require_total(rule_id: str, name: str, term: str, label: str) -> None:
    def check(inv: Any) -> Sequence[Hit]:
        if getattr(totals(inv), name) is None:
            return [Hit(f"totals.{name}", f"An Invoice shall have the {label} ({term}).")]
        return _NONE
    register(rule_id, check, terms=(term,), description=f"An Invoice shall have the {label} ({term}).")


_require_total("BR-12", "sum_of_line_net_amounts", "BT-106", "Sum of Invoice line net amount")
_require_total("BR-13", "total_without_vat", "BT-109", "Invoice total amount without VAT")
_require_total("BR-14", "total_with_vat", "BT-112", "Invoice total amount with VAT")
_require_total("BR-15", "amount_due", "BT-115", "Amount due for payment")


@rule("BR-16", terms=("BG-25",))
def br_16(inv: Any) -> Iterator[Hit]:
    """An Invoice shall have at least one Invoice line (BG-25)."""
    if not any(True for _ in items(getattr(inv, "lines", None))):
        yield Hit("lines", "An Invoice shall have at least one Invoice line (BG-25).")


@rule("BR-17", terms=("BT-59", "BT-28", "BT-60", "BT-29"), guard=("groups", "payee"))
def br_17(inv: Any) -> Iterator[Hit]:
    """The Payee name (BT-59) shall be provided if the Payee is different from the Seller.

    UBL binding: the payee name must be there and differ from the seller's
    PartyName (the trading name, BT-28), and no payee identifier may equal a
    seller identifier (BT-29). The CII binding compares with the seller name
    (BT-27) and legal registration identifier (BT-30) instead."""
    payee = getattr(inv, "payee", None)
    if payee is None:
        return
    name = payee.name
    if name is None:
        yield Hit("payee.name", "The Payee (BG-10) has no Payee name (BT-59).")
        return
    if name == get(inv, "seller.trading_name"):
        yield Hit("payee.name", f"The Payee name (BT-59) {fmt(name)} is the Seller's name: "
                                "a Payee is only given when it differs from the Seller.")
        return
    pid = get(payee, "identifier.value")
    seller_ids = [i.value for _, i in items(get(inv, "seller.identifiers"))]
    if pid is not None and pid in seller_ids:
        yield Hit("payee.identifier", f"The Payee identifier (BT-60) {fmt(pid)} is a Seller identifier "
                                      "(BT-29): a Payee is only given when it differs from the Seller.")


@rule("BR-18", terms=("BT-62",), guard=("groups", "tax_representative"))
def br_18(inv: Any) -> Iterator[Hit]:
    """The Seller tax representative name (BT-62) shall be provided if the Seller has one (BG-11)."""
    rep = getattr(inv, "tax_representative", None)
    if rep is not None and blank(rep.name):
        yield Hit("tax_representative.name", "The Seller tax representative (BG-11) has no name (BT-62).")


@rule("BR-19", terms=("BG-12",), guard=("groups", "tax_representative"))
def br_19(inv: Any) -> Iterator[Hit]:
    """The Seller tax representative postal address (BG-12) shall be provided if the Seller has one (BG-11)."""
    rep = getattr(inv, "tax_representative", None)
    if rep is not None and rep.postal_address is None:
        yield Hit("tax_representative.postal_address",
                  "The Seller tax representative (BG-11) has no postal address (BG-12).")


@rule("BR-20", terms=("BT-69",), guard=("groups", "tax_representative"))
def br_20(inv: Any) -> Iterator[Hit]:
    """The Seller tax representative postal address (BG-12) shall contain a country code (BT-69)."""
    addr = get(inv, "tax_representative.postal_address")
    if addr is not None and blank(addr.country_code):
        yield Hit("tax_representative.postal_address.country_code",
                  "The Seller tax representative postal address (BG-12) has no country code (BT-69).")


# --- invoice lines ------------------------------------------------------------------

def _line_rule(rule_id: str, term: str, description: str, fails: Callable[[Any], bool], field: str,
               problem: Callable[[Any], str]) -> None:
    def check(inv: Any) -> list[Hit]:
        return [Hit(f"lines[{i}].{field}", f"Invoice line {i + 1} {problem(line)}.")
                for i, line in items(getattr(inv, "lines", None)) if fails(line)]
    register(rule_id, check, terms=(term,), description=description)


_item_name, _net_price, _gross_price = getter("item.name"), getter("price.net_price"), getter("price.gross_price")
_line_rule("BR-21", "BT-126", "Each Invoice line (BG-25) shall have an Invoice line identifier (BT-126).",
           lambda ln: blank(ln.identifier), "identifier", lambda ln: "has no Invoice line identifier (BT-126)")
_line_rule("BR-22", "BT-129", "Each Invoice line (BG-25) shall have an Invoiced quantity (BT-129).",
           lambda ln: ln.quantity is None, "quantity", lambda ln: "has no Invoiced quantity (BT-129)")
_line_rule("BR-23", "BT-130", "An Invoice line (BG-25) shall have an Invoiced quantity unit of measure code (BT-130).",
           lambda ln: ln.quantity_unit_code is None, "quantity_unit_code",
           lambda ln: "has no Invoiced quantity unit of measure code (BT-130)")
_line_rule("BR-24", "BT-131", "Each Invoice line (BG-25) shall have an Invoice line net amount (BT-131).",
           lambda ln: ln.net_amount is None, "net_amount", lambda ln: "has no Invoice line net amount (BT-131)")
_line_rule("BR-25", "BT-153", "Each Invoice line (BG-25) shall contain the Item name (BT-153).",
           lambda ln: blank(_item_name(ln)), "item.name", lambda ln: "has no Item name (BT-153)")
_line_rule("BR-26", "BT-146", "Each Invoice line (BG-25) shall contain the Item net price (BT-146).",
           lambda ln: _net_price(ln) is None, "price.net_price",
           lambda ln: "has no Item net price (BT-146)")
# ``(cac:Price/cbc:PriceAmount) >= 0``: false when the price is missing, so BR-27 fires with BR-26
_line_rule("BR-27", "BT-146", "The Item net price (BT-146) shall NOT be negative.",
           lambda ln: not ge(dec(_net_price(ln)), 0), "price.net_price",
           lambda ln: f"has a negative or missing Item net price (BT-146): {fmt(get(ln, 'price.net_price'))}")
_line_rule("BR-28", "BT-148", "The Item gross price (BT-148) shall NOT be negative.",
           lambda ln: _gross_price(ln) is not None and not ge(dec(ln.price.gross_price), 0),
           "price.gross_price", lambda ln: f"has a negative Item gross price (BT-148): {fmt(ln.price.gross_price)}")


def _period_check(terms: tuple[str, str], where: str) -> Callable[[Any, str], Iterator[Hit]]:
    def check_period(period: Any, path: str) -> Iterator[Hit]:
        start, end = period.start_date, period.end_date
        if start is not None and end is not None and not end >= start:
            yield Hit(path, f"The {where} end date ({terms[1]}) {end} is before its start date "
                            f"({terms[0]}) {start}.")
    return check_period


_doc_period = _period_check(("BT-73", "BT-74"), "invoicing period")
_line_period = _period_check(("BT-134", "BT-135"), "invoice line period")


@rule("BR-29", terms=("BT-73", "BT-74"), guard=("groups", "invoicing_period"))
def br_29(inv: Any) -> Iterator[Hit]:
    """If both Invoicing period start date (BT-73) and end date (BT-74) are given then the end date shall be later
    or equal to the start date."""
    period = get(inv, "delivery.invoicing_period")
    if period is not None:
        yield from _doc_period(period, "delivery.invoicing_period")


@rule("BR-30", terms=("BT-134", "BT-135"), guard=("groups", "line_periods"))
def br_30(inv: Any) -> Iterator[Hit]:
    """If both Invoice line period start date (BT-134) and end date (BT-135) are given then the end date shall be
    later or equal to the start date."""
    for i, line in items(getattr(inv, "lines", None)):
        if line.period is not None:
            yield from _line_period(line.period, f"lines[{i}].period")


# --- document and line allowances and charges -----------------------------------------

def _ac_rule(rule_id: str, group: str, label: str, term: Any, description: str,
             fails: Callable[[Any], bool], field: str, problem: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        if group.startswith("lines."):
            sub = group.split(".", 1)[1]
            for i, line in items(getattr(inv, "lines", None)):
                for k, ac in items(getattr(line, sub, None)):
                    if fails(ac):
                        yield Hit(f"lines[{i}].{sub}[{k}]" + (f".{field}" if field else ""),
                                  f"Invoice line {i + 1}, {label} {k + 1} {problem}.")
        else:
            for k, ac in items(getattr(inv, group, None)):
                if fails(ac):
                    yield Hit(f"{group}[{k}]" + (f".{field}" if field else ""),
                              f"Document level {label} {k + 1} {problem}.")
    register(rule_id, check, terms=(term,) if isinstance(term, str) else term, description=description,
             guard=("groups", _AC_GROUPS[group]))


# the allowance and charge groups' names for the guard ``groups`` (``access.groups``)
_AC_GROUPS = {"allowances": "allowances", "charges": "charges", "lines.allowances": "line_allowances",
              "lines.charges": "line_charges"}


def _no_reason(ac: Any) -> bool:
    return ac.reason is None and ac.reason_code is None


_ac_rule("BR-31", "allowances", "document level allowance", "BT-92",
         "Each Document level allowance (BG-20) shall have a Document level allowance amount (BT-92).",
         lambda a: a.amount is None, "amount", "has no amount (BT-92)")
_ac_rule("BR-32", "allowances", "document level allowance", "BT-95",
         "Each Document level allowance (BG-20) shall have a Document level allowance VAT category code (BT-95).",
         lambda a: a.vat_category_code is None, "vat_category_code", "has no VAT category code (BT-95)")
_ac_rule("BR-33", "allowances", "document level allowance", ("BT-97", "BT-98"),
         "Each Document level allowance (BG-20) shall have a Document level allowance reason (BT-97) "
         "or a Document level allowance reason code (BT-98).", _no_reason, "",
         "has neither a reason (BT-97) nor a reason code (BT-98)")
_ac_rule("BR-36", "charges", "document level charge", "BT-99",
         "Each Document level charge (BG-21) shall have a Document level charge amount (BT-99).",
         lambda a: a.amount is None, "amount", "has no amount (BT-99)")
_ac_rule("BR-37", "charges", "document level charge", "BT-102",
         "Each Document level charge (BG-21) shall have a Document level charge VAT category code (BT-102).",
         lambda a: a.vat_category_code is None, "vat_category_code", "has no VAT category code (BT-102)")
_ac_rule("BR-38", "charges", "document level charge", ("BT-104", "BT-105"),
         "Each Document level charge (BG-21) shall have a Document level charge reason (BT-104) "
         "or a Document level charge reason code (BT-105).", _no_reason, "",
         "has neither a reason (BT-104) nor a reason code (BT-105)")
_ac_rule("BR-41", "lines.allowances", "allowance", "BT-136",
         "Each Invoice line allowance (BG-27) shall have an Invoice line allowance amount (BT-136).",
         lambda a: a.amount is None, "amount", "has no amount (BT-136)")
_ac_rule("BR-42", "lines.allowances", "allowance", ("BT-139", "BT-140"),
         "Each Invoice line allowance (BG-27) shall have an Invoice line allowance reason (BT-139) "
         "or an Invoice line allowance reason code (BT-140).", _no_reason, "",
         "has neither a reason (BT-139) nor a reason code (BT-140)")
_ac_rule("BR-43", "lines.charges", "charge", "BT-141",
         "Each Invoice line charge (BG-28) shall have an Invoice line charge amount (BT-141).",
         lambda a: a.amount is None, "amount", "has no amount (BT-141)")
_ac_rule("BR-44", "lines.charges", "charge", ("BT-144", "BT-145"),
         "Each Invoice line charge (BG-28) shall have an Invoice line charge reason (BT-144) "
         "or an Invoice line charge reason code (BT-145).", _no_reason, "",
         "has neither a reason (BT-144) nor a reason code (BT-145)")


# --- VAT breakdown -------------------------------------------------------------------------

def _vb_rule(rule_id: str, term: str, description: str, fails: Callable[[Any], bool], field: str,
             problem: str) -> None:
    def check(inv: Any) -> list[Hit]:
        return [Hit(f"vat_breakdown[{j}]" + (f".{field}" if field else ""), f"VAT breakdown {j + 1} {problem}.")
                for j, vb in items(getattr(inv, "vat_breakdown", None)) if fails(vb)]
    register(rule_id, check, terms=(term,), description=description)


_vb_rule("BR-45", "BT-116", "Each VAT breakdown (BG-23) shall have a VAT category taxable amount (BT-116).",
         lambda vb: vb.taxable_amount is None, "taxable_amount", "has no VAT category taxable amount (BT-116)")
_vb_rule("BR-46", "BT-117", "Each VAT breakdown (BG-23) shall have a VAT category tax amount (BT-117).",
         lambda vb: vb.tax_amount is None, "tax_amount", "has no VAT category tax amount (BT-117)")
_vb_rule("BR-47", "BT-118", "Each VAT breakdown (BG-23) shall be defined through a VAT category code (BT-118).",
         lambda vb: vb.category_code is None, "category_code", "has no VAT category code (BT-118)")
_vb_rule("BR-48", "BT-119", "Each VAT breakdown (BG-23) shall have a VAT category rate (BT-119), "
                            "except if the Invoice is not subject to VAT.",
         lambda vb: vb.rate is None and normalize_space(vb.category_code) != "O", "rate",
         "has no VAT category rate (BT-119)")


# --- payment ---------------------------------------------------------------------------------

def _payment_means(pi: Any) -> bool:
    """Whether UBL would have a cac:PaymentMeans for these payment instructions.

    Everything of BG-16 lives in cac:PaymentMeans except the bank assigned
    creditor identifier (BT-90), which UBL puts in the seller's (or payee's)
    PartyIdentification."""
    return any(present(v) for v in (pi.means_type_code, pi.means_text, pi.remittance_information,
                                    get(pi, "direct_debit.mandate_reference"),
                                    get(pi, "direct_debit.debited_account_identifier"))) \
        or any(True for _ in items(pi.credit_transfers)) or pi.payment_card is not None


@rule("BR-49", terms=("BT-81",), guard=("groups", "payment_instructions"))
def br_49(inv: Any) -> Iterator[Hit]:
    """A Payment instruction (BG-16) shall specify the Payment means type code (BT-81).

    UBL binding: every cac:PaymentMeans needs a code, and remittance
    information (BT-83) lives there too, so BG-16 holding only BT-83 fails
    (in CII, BT-83 sits outside the payment means and passes)."""
    pi = getattr(inv, "payment_instructions", None)
    if pi is not None and pi.means_type_code is None and _payment_means(pi):
        yield Hit("payment_instructions.means_type_code",
                  "The Payment instructions (BG-16) have no Payment means type code (BT-81).")


@rule("BR-50", terms=("BT-84",), guard=("groups", "payment_instructions"))
def br_50(inv: Any) -> Iterator[Hit]:
    """A Payment account identifier (BT-84) shall be present if Credit transfer (BG-17) information is provided."""
    pi = getattr(inv, "payment_instructions", None)
    if pi is None or pi.means_type_code not in ("30", "58"):
        return
    for k, ct in items(pi.credit_transfers):
        if blank(ct.account_identifier):
            yield Hit(f"payment_instructions.credit_transfers[{k}].account_identifier",
                      f"Credit transfer {k + 1} has no Payment account identifier (BT-84).")


@rule("BR-51", terms=("BT-87",), severity=WARNING, guard=("groups", "payment_instructions"))
def br_51(inv: Any) -> Iterator[Hit]:
    """The last 4 to 6 digits of the Payment card primary account number (BT-87) shall be present.

    UBL binding: a warning when the number is longer than 10 characters (the
    CII binding makes it fatal)."""
    pan = get(inv, "payment_instructions.payment_card.primary_account_number")
    if pan is not None and len(normalize_space(pan)) > 10:
        yield Hit("payment_instructions.payment_card.primary_account_number",
                  "The Payment card primary account number (BT-87) shall only hold its last 4 to 6 "
                  f"digits, not {len(normalize_space(pan))} characters.")


@rule("BR-61", terms=("BT-84", "BT-81"), guard=("groups", "payment_instructions"))
def br_61(inv: Any) -> Iterator[Hit]:
    """If the Payment means type code (BT-81) means SEPA credit transfer, Local credit transfer or Non-SEPA
    international credit transfer, the Payment account identifier (BT-84) shall be present."""
    pi = getattr(inv, "payment_instructions", None)
    if pi is None or normalize_space(pi.means_type_code) not in ("30", "58"):
        return
    if not any(present(ct.account_identifier) for _, ct in items(pi.credit_transfers)):
        yield Hit("payment_instructions.credit_transfers",
                  f"Payment means type code (BT-81) {fmt(pi.means_type_code)} is a credit transfer "
                  "but no Payment account identifier (BT-84) is given.")


# --- references, attributes, identifiers ----------------------------------------------------------

@rule("BR-52", terms=("BT-122",), guard=("groups", "supporting_documents"))
def br_52(inv: Any) -> Iterator[Hit]:
    """Each Additional supporting document (BG-24) shall contain a Supporting document reference (BT-122)."""
    for k, doc in items(getattr(inv, "supporting_documents", None)):
        if blank(doc.reference):
            yield Hit(f"supporting_documents[{k}].reference",
                      f"Additional supporting document {k + 1} has no Supporting document reference (BT-122).")


@rule("BR-53", terms=("BT-6", "BT-111"), guard=("groups", "vat_accounting_currency_code"))
def br_53(inv: Any) -> Iterator[Hit]:
    """If the VAT accounting currency code (BT-6) is present, then the Invoice total VAT amount in accounting
    currency (BT-111) shall be provided.

    UBL binding: some tax total must be in that currency, so when BT-6
    equals the invoice currency BT-110 satisfies it (the CII binding rejects
    BT-6 = BT-5 outright)."""
    cur = getattr(inv, "vat_accounting_currency_code", None)
    if cur is None:
        return
    t = totals(inv)
    if t.total_vat_in_accounting_currency is not None:
        return
    if cur == getattr(inv, "currency_code", None) and t.total_vat is not None:
        return
    yield Hit("totals.total_vat_in_accounting_currency",
              f"VAT accounting currency {fmt(cur)} (BT-6) is given but no Invoice total VAT amount "
              "in accounting currency (BT-111).")


@rule("BR-54", terms=("BT-160", "BT-161"), guard=("groups", "item_attributes"))
def br_54(inv: Any) -> Iterator[Hit]:
    """Each Item attribute (BG-32) shall contain an Item attribute name (BT-160) and an Item attribute value
    (BT-161)."""
    for i, line in items(getattr(inv, "lines", None)):
        for k, attr in items(get(line, "item.attributes")):
            if attr.name is None or attr.value is None:
                yield Hit(f"lines[{i}].item.attributes[{k}]",
                          f"Invoice line {i + 1}, item attribute {k + 1} needs both a name (BT-160) "
                          "and a value (BT-161).")


@rule("BR-55", terms=("BT-25",), guard=("groups", "preceding_invoices"))
def br_55(inv: Any) -> Iterator[Hit]:
    """Each Preceding Invoice reference (BG-3) shall contain a Preceding Invoice reference (BT-25)."""
    for k, ref in items(getattr(inv, "preceding_invoices", None)):
        if ref.reference is None:
            yield Hit(f"preceding_invoices[{k}].reference",
                      f"Preceding invoice reference {k + 1} (BG-3) has no invoice number (BT-25).")


@rule("BR-56", terms=("BT-63",), guard=("groups", "tax_representative"))
def br_56(inv: Any) -> Iterator[Hit]:
    """Each Seller tax representative party (BG-11) shall have a Seller tax representative VAT identifier (BT-63)."""
    rep = getattr(inv, "tax_representative", None)
    if rep is not None and rep.vat_identifier is None:
        yield Hit("tax_representative.vat_identifier",
                  "The Seller tax representative (BG-11) has no VAT identifier (BT-63).")


@rule("BR-57", terms=("BT-80",), guard=("groups", "deliver_to_address"))
def br_57(inv: Any) -> Iterator[Hit]:
    """Each Deliver to address (BG-15) shall contain a Deliver to country code (BT-80)."""
    addr = get(inv, "delivery.deliver_to_address")
    if addr is not None and addr.country_code is None:
        yield Hit("delivery.deliver_to_address.country_code",
                  "The Deliver to address (BG-15) has no country code (BT-80).")


def _scheme_rule(rule_id: str, term: str, path: str, label: str) -> None:
    def check(inv: Any) -> Sequence[Hit]:
        ident = get(inv, path)
        if ident is not None and ident.value is not None and ident.scheme is None:
            return [Hit(f"{path}.scheme", f"The {label} ({term}) {fmt(ident.value)} has no scheme identifier "
                                          f"({term}-1).")]
        return _NONE
    register(rule_id, check, terms=(term, f"{term}-1"),
             description=f"The {label} ({term}) shall have a Scheme identifier.")


_scheme_rule("BR-62", "BT-34", "seller.electronic_address", "Seller electronic address")
_scheme_rule("BR-63", "BT-49", "buyer.electronic_address", "Buyer electronic address")


@rule("BR-64", terms=("BT-157", "BT-157-1"), guard=("groups", "standard_identifiers"))
def br_64(inv: Any) -> Iterator[Hit]:
    """The Item standard identifier (BT-157) shall have a Scheme identifier."""
    for i, line in items(getattr(inv, "lines", None)):
        sid = get(line, "item.standard_identifier")
        if sid is not None and sid.value is not None and sid.scheme is None:
            yield Hit(f"lines[{i}].item.standard_identifier.scheme",
                      f"Invoice line {i + 1}: the Item standard identifier (BT-157) {fmt(sid.value)} "
                      "has no scheme identifier (BT-157-1).")


@rule("BR-65", terms=("BT-158", "BT-158-1"), guard=("groups", "classifications"))
def br_65(inv: Any) -> Iterator[Hit]:
    """The Item classification identifier (BT-158) shall have a Scheme identifier."""
    for i, line in items(getattr(inv, "lines", None)):
        for k, cid in items(get(line, "item.classification_identifiers")):
            if cid.scheme is None:
                yield Hit(f"lines[{i}].item.classification_identifiers[{k}].scheme",
                          f"Invoice line {i + 1}: the Item classification identifier (BT-158) "
                          f"{fmt(cid.value)} has no scheme identifier (BT-158-1).")
