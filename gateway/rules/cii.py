"""The CII binding of the EN 16931 rules whose CII assert means something else than the UBL one.

The rules of this package follow the UBL binding of the CEN schematron
1.3.16. For the rule ids below the CII stylesheet (``EN16931-CII-validation.xslt``)
tests something else - another context, another tolerance, another list - and
each function here is that test on the model, registered as the rule's CII
variant (``registry.register_variant``): ``validate(inv, syntax="cii")`` (and
``facturx``) runs it instead of the UBL rule. ``bindings.CII_DIFFERENCES``
keeps the differences no variant resolves; COVERAGE.md lists both.

What the model holds of a CII document, and so what these variants assume:

* texts are read trimmed, an empty element as absent (as for every rule);
* BT-110 is the ``TaxTotalAmount`` in the invoice currency, BT-111 the one in
  BT-6 (the reader identifies them by ``currencyID``);
* a party identifier with a scheme (BT-29, BT-46, BT-60) is a ``ram:GlobalID``,
  one without a ``ram:ID`` (as the writer writes them);
* CII compares VAT category codes exactly (``ram:CategoryCode = 'O'``), which
  on the trimmed model is ``code == 'O'``;
* the templates of the VAT breakdowns of category O, L and M match the
  ``ram:ApplicableTradeTax`` element itself and so *shadow* the generic
  breakdown template (BR-45, 46, 48, BR-CO-03, BR-CO-17, BR-DEC-19, 20 never
  fire on those breakdowns);
* amounts the stylesheet uses untyped (``ram:BasisAmount - 1``,
  ``sum(ram:CalculatedAmount)``) are ``xs:double`` there, and here.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Optional

from .access import expected_tax, get, items, memo, totals
from .codelists import cii_code_set, list_check
from .registry import CII, FATAL, RULES, Hit, register_variant, variant
from .vat import CATEGORIES, Category, _b_used, _CategoryUses, _label, _positive, _r_rate, _rate_key, _rule_id
from .xpath import (add, blank, dec, double, dround, dround2, dsum, eq, fmt, ge, le, round2, sub, xabs, xround,
                    xsum)

SHADOWED = ("O", "L", "M")       # breakdown categories whose own template hides the generic one


# facts of the model several variants need, gathered once per validate call (access.memo); do not
# change the lists they give

def _all_breakdowns(inv: Any) -> list[tuple[int, Any]]:
    return list(items(getattr(inv, "vat_breakdown", None)))


def _breakdowns(inv: Any) -> list[tuple[int, Any]]:
    return memo(inv, "cii:breakdowns", _all_breakdowns)


def _unshadowed_breakdowns(inv: Any) -> list[tuple[int, Any]]:
    return [(j, vb) for j, vb in _breakdowns(inv) if vb.category_code not in SHADOWED]


def _unshadowed(inv: Any) -> list[tuple[int, Any]]:
    """The VAT breakdowns the generic ``ram:ApplicableTradeTax`` template sees (not O, L, M)."""
    return memo(inv, "cii:unshadowed", _unshadowed_breakdowns)


def _exact_index(group: str) -> Callable[[Any], dict[Any, list[tuple[int, Any]]]]:
    """Lines (their BT-151), document allowances or charges, or breakdowns by their category as written."""
    def index(inv: Any) -> dict[Any, list[tuple[int, Any]]]:
        out: dict[Any, list[tuple[int, Any]]] = {}
        if group == "lines":
            found = ((i, ln, get(ln, "vat.category_code")) for i, ln in items(getattr(inv, "lines", None)))
        else:
            field = "category_code" if group == "vat_breakdown" else "vat_category_code"
            found = ((k, g, getattr(g, field)) for k, g in items(getattr(inv, group, None)))
        for k, g, code in found:
            out.setdefault(code, []).append((k, g))
        return out
    return index


_EXACT = {group: _exact_index(group) for group in ("lines", "allowances", "charges", "vat_breakdown")}
_NONE: list[tuple[int, Any]] = []


def _of_category(inv: Any, group: str, code: str) -> list[tuple[int, Any]]:
    """Lines (their BT-151), document allowances or charges, or breakdowns whose category is exactly ``code``."""
    return memo(inv, ("cii:exact", group), _EXACT[group]).get(code, _NONE)


def _any_shadowed(inv: Any) -> bool:
    return any(vb.category_code in SHADOWED for _, vb in _breakdowns(inv))


def _ubl_hits_on_unshadowed(rule_id: str, inv: Any) -> Iterable[Hit]:
    """The UBL rule's hits on the breakdowns not shadowed (its hits are on ``vat_breakdown[j]...``)."""
    if not memo(inv, "cii:any-shadowed", _any_shadowed):
        return RULES[rule_id].check(inv)
    kept = {f"vat_breakdown[{j}]" for j, _ in _unshadowed(inv)}
    return [hit for hit in RULES[rule_id].check(inv)
            if hit.path is not None and hit.path.split(".", 1)[0] in kept]


# --- parties and their addresses ---------------------------------------------------------------

@variant("BR-09", CII)
def br_09(inv: Any) -> Iterator[Hit]:
    """CII: checked at the root, so also when the seller has no postal address."""
    if blank(get(inv, "seller.postal_address.country_code")):
        yield Hit("seller.postal_address.country_code", "The Seller postal address (BG-5) has no Seller country "
                                                        "code (BT-40).")


@variant("BR-11", CII)
def br_11(inv: Any) -> Iterator[Hit]:
    """CII: checked at the root, so also when the buyer has no postal address."""
    if blank(get(inv, "buyer.postal_address.country_code")):
        yield Hit("buyer.postal_address.country_code", "The Buyer postal address (BG-8) has no Buyer country "
                                                       "code (BT-55).")


@variant("BR-20", CII)
def br_20(inv: Any) -> Iterator[Hit]:
    """CII: checked on the tax representative, so also when it has no postal address."""
    rep = getattr(inv, "tax_representative", None)
    if rep is not None and blank(get(rep, "postal_address.country_code")):
        yield Hit("tax_representative.postal_address.country_code",
                  "The Seller tax representative postal address (BG-12) has no country code (BT-69).")


@variant("BR-17", CII)
def br_17(inv: Any) -> Iterator[Hit]:
    """CII: the payee name is compared with the seller name (BT-27), the payee's ``ram:ID`` with the
    seller's ``ram:ID`` (identifiers without a scheme) and the legal registration identifiers
    (BT-61, BT-30) with each other."""
    payee = getattr(inv, "payee", None)
    if payee is None:
        return
    name = payee.name
    if name is None:
        yield Hit("payee.name", "The Payee (BG-10) has no Payee name (BT-59).")
        return
    if name == get(inv, "seller.name"):
        yield Hit("payee.name", f"The Payee name (BT-59) {fmt(name)} is the Seller name (BT-27): "
                                "a Payee is only given when it differs from the Seller.")
        return
    pid = payee.identifier
    seller_ids = [i.value for _, i in items(get(inv, "seller.identifiers")) if i.scheme is None]
    if pid is not None and pid.scheme is None and pid.value is not None and pid.value in seller_ids:
        yield Hit("payee.identifier", f"The Payee identifier (BT-60) {fmt(pid.value)} is a Seller identifier "
                                      "(BT-29): a Payee is only given when it differs from the Seller.")
        return
    legal = get(payee, "legal_registration_identifier.value")
    if legal is not None and legal == get(inv, "seller.legal_registration_identifier.value"):
        yield Hit("payee.legal_registration_identifier",
                  f"The Payee legal registration identifier (BT-61) {fmt(legal)} is the Seller's (BT-30): "
                  "a Payee is only given when it differs from the Seller.")


@variant("BR-56", CII)
def br_56(inv: Any) -> Iterator[Hit]:
    """CII: a blank VAT identifier fails like a missing one."""
    rep = getattr(inv, "tax_representative", None)
    if rep is not None and blank(rep.vat_identifier):
        yield Hit("tax_representative.vat_identifier",
                  "The Seller tax representative (BG-11) has no VAT identifier (BT-63).")


@variant("BR-57", CII)
def br_57(inv: Any) -> Iterator[Hit]:
    """CII: a blank country code fails like a missing one."""
    addr = get(inv, "delivery.deliver_to_address")
    if addr is not None and blank(addr.country_code):
        yield Hit("delivery.deliver_to_address.country_code",
                  "The Deliver to address (BG-15) has no country code (BT-80).")


def _electronic_address(rule_id: str, path: str, term: str, label: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        ident = get(inv, path)
        if ident is not None and blank(ident.scheme):
            yield Hit(f"{path}.scheme", f"The {label} ({term}) {fmt(ident.value)} has no scheme identifier "
                                        f"({term}-1).")
    check.__doc__ = "CII: a blank scheme identifier fails like a missing one."
    register_variant(rule_id, CII, check)


_electronic_address("BR-62", "seller.electronic_address", "BT-34", "Seller electronic address")
_electronic_address("BR-63", "buyer.electronic_address", "BT-49", "Buyer electronic address")


@variant("BR-64", CII)
def br_64(inv: Any) -> Iterator[Hit]:
    """CII: a blank scheme identifier fails like a missing one."""
    for i, line in items(getattr(inv, "lines", None)):
        sid = get(line, "item.standard_identifier")
        if sid is not None and blank(sid.scheme):
            yield Hit(f"lines[{i}].item.standard_identifier.scheme",
                      f"Invoice line {i + 1}: the Item standard identifier (BT-157) {fmt(sid.value)} "
                      "has no scheme identifier (BT-157-1).")


@variant("BR-65", CII)
def br_65(inv: Any) -> Iterator[Hit]:
    """CII: a blank scheme identifier fails like a missing one."""
    for i, line in items(getattr(inv, "lines", None)):
        for k, cid in items(get(line, "item.classification_identifiers")):
            if blank(cid.scheme):
                yield Hit(f"lines[{i}].item.classification_identifiers[{k}].scheme",
                          f"Invoice line {i + 1}: the Item classification identifier (BT-158) "
                          f"{fmt(cid.value)} has no scheme identifier (BT-158-1).")


@variant("BR-55", CII)
def br_55(inv: Any) -> Iterator[Hit]:
    """CII: a blank preceding invoice reference fails like a missing one."""
    for k, ref in items(getattr(inv, "preceding_invoices", None)):
        if blank(ref.reference):
            yield Hit(f"preceding_invoices[{k}].reference",
                      f"Preceding invoice reference {k + 1} (BG-3) has no invoice number (BT-25).")


@variant("BR-CO-26", CII)
def br_co_26(inv: Any) -> Iterator[Hit]:
    """CII: any seller identifier counts, a bank assigned creditor identifier (scheme SEPA) too."""
    seller = getattr(inv, "seller", None)
    if get(seller, "vat_identifier") is not None or get(seller, "legal_registration_identifier") is not None:
        return
    if any(True for _ in items(get(seller, "identifiers"))):
        return
    yield Hit("seller", "The Seller has no identifier (BT-29), legal registration identifier (BT-30) "
                        "nor VAT identifier (BT-31).")


@variant("BR-CO-09", CII)
def br_co_09(inv: Any) -> Iterator[Hit]:
    """CII: the first two characters shall be a whole code of the CII list (which has AN, not SS)."""
    prefixes = cii_code_set("VAT_ID_PREFIX")
    for path, term in (("seller.vat_identifier", "BT-31"), ("buyer.vat_identifier", "BT-48"),
                       ("tax_representative.vat_identifier", "BT-63")):
        vat_id = get(inv, path)
        if vat_id is not None and str(vat_id)[:2] not in prefixes:
            yield Hit(path, f"The VAT identifier {fmt(vat_id)} ({term}) does not start with a country "
                            "prefix (ISO 3166-1 alpha-2, or EL for Greece).", (term,))


# --- payment -------------------------------------------------------------------------------------

@variant("BR-49", CII)
def br_49(inv: Any) -> Iterator[Hit]:
    """CII: the remittance information (BT-83), the creditor identifier (BT-90) and the mandate
    reference (BT-89) sit outside ``ram:SpecifiedTradeSettlementPaymentMeans``: only a payment means
    holding its text, an account, a card or the debited account needs a code."""
    pi = getattr(inv, "payment_instructions", None)
    if pi is None or pi.means_type_code is not None:
        return
    if pi.means_text is not None or any(True for _ in items(pi.credit_transfers)) or pi.payment_card is not None \
            or get(pi, "direct_debit.debited_account_identifier") is not None:
        yield Hit("payment_instructions.means_type_code",
                  "The Payment instructions (BG-16) have no Payment means type code (BT-81).")


register_variant("BR-51", CII, RULES["BR-51"].check, severity=FATAL)


@variant("BR-61", CII)
def br_61(inv: Any) -> Iterator[Hit]:
    """CII: each account (BG-17) of a payment means whose code is 30 or 58 needs its identifier
    (BT-84); a credit transfer without any account is not checked. (The reader takes an ``IBANID``
    that is not shaped like an IBAN for no identifier, where CII sees one: ``bindings``.)"""
    pi = getattr(inv, "payment_instructions", None)
    if pi is None or pi.means_type_code not in ("30", "58"):
        return
    for k, ct in items(pi.credit_transfers):
        if ct.account_identifier is None:
            yield Hit(f"payment_instructions.credit_transfers[{k}].account_identifier",
                      f"Payment means type code (BT-81) {fmt(pi.means_type_code)} is a credit transfer but "
                      f"credit transfer {k + 1} has no Payment account identifier (BT-84).")


# --- totals ------------------------------------------------------------------------------------

@variant("BR-CO-13", CII)
def br_co_13(inv: Any) -> Iterator[Hit]:
    """CII: rounded to two decimals also without allowances and charges."""
    t = totals(inv)
    net, allow, charge = dec(t.sum_of_line_net_amounts), dec(t.sum_of_allowances), dec(t.sum_of_charges)
    given = dec(t.total_without_vat)
    # of the assert's four branches, the one whose allowances and charges are those there can hold
    if allow is not None:
        expected = round2(add(sub(net, allow), charge)) if charge is not None else round2(sub(net, allow))
    else:
        expected = round2(add(net, charge)) if charge is not None else round2(net)
    if eq(given, expected):
        return
    yield Hit("totals.total_without_vat",
              f"Invoice total amount without VAT (BT-109) is {fmt(given)} but BT-106 {fmt(net)} "
              f"- BT-107 {fmt(allow)} + BT-108 {fmt(charge)} does not give it.")


@variant("BR-CO-14", CII)
def br_co_14(inv: Any) -> Iterator[Hit]:
    """CII: the context is BT-110 (``TaxTotalAmount`` in the invoice currency), so an invoice without
    it is not checked, and one without VAT breakdown is (the sum of nothing is 0); the values are
    untyped, so the sum and its rounding are ``xs:double``."""
    given = totals(inv).total_vat
    if getattr(inv, "currency_code", None) is None or given is None:
        return
    expected = dround2(dsum(vb.tax_amount for _, vb in _breakdowns(inv)))
    if double(given) != expected:
        yield Hit("totals.total_vat", f"Invoice total VAT amount (BT-110) is {fmt(given)} but the VAT "
                                      f"breakdown tax amounts (BT-117) add up to {expected:.2f}.")


@variant("BR-CO-15", CII)
def br_co_15(inv: Any) -> Iterator[Hit]:
    """CII: BT-112 = BT-109 + BT-110 rounded to two decimals, or BT-112 = BT-109 - so an invoice
    without BT-110 (not subject to VAT) passes when BT-112 = BT-109."""
    cur = getattr(inv, "currency_code", None)
    if cur is None:
        return
    t = totals(inv)
    with_vat, without_vat = dec(t.total_with_vat), dec(t.total_without_vat)
    expected = round2(add(without_vat, dec(t.total_vat)))
    if (t.total_vat is not None and eq(with_vat, expected)) or eq(with_vat, without_vat):
        return
    yield Hit("totals.total_with_vat",
              f"Invoice total amount with VAT (BT-112) is {fmt(t.total_with_vat)} but BT-109 "
              f"{fmt(t.total_without_vat)} + BT-110 {fmt(t.total_vat)} gives {fmt(expected)} (without "
              "BT-110, BT-112 shall be BT-109).")


@variant("BR-CO-16", CII)
def br_co_16(inv: Any) -> Iterator[Hit]:
    """CII: compared exactly, without rounding."""
    t = totals(inv)
    due, total, paid, rnd = dec(t.amount_due), dec(t.total_with_vat), dec(t.paid_amount), dec(t.rounding_amount)
    if eq(due, add(sub(total, paid), rnd)) or (paid is None and eq(due, add(total, rnd))) \
            or (rnd is None and eq(due, sub(total, paid))) or (paid is None and rnd is None and eq(due, total)):
        return
    yield Hit("totals.amount_due",
              f"Amount due for payment (BT-115) is {fmt(due)} but BT-112 {fmt(total)} - BT-113 "
              f"{fmt(paid)} + BT-114 {fmt(rnd)} does not give it.")


@variant("BR-DEC-13", CII, guard=None)
def br_dec_13(inv: Any) -> Iterator[Hit]:
    """CII: BT-110 shall equal itself rounded to two decimals (``. = round(. * 100) div 100``, on
    ``xs:double``), unless a tax total in another currency (BT-111) is there."""
    t = totals(inv)
    value = double(t.total_vat)
    if getattr(inv, "currency_code", None) is None or value is None \
            or t.total_vat_in_accounting_currency is not None:
        return
    if dround(value * 100.0) / 100.0 != value:
        yield Hit("totals.total_vat", f"The Invoice total VAT amount (BT-110) {fmt(t.total_vat)} has more than "
                                      "2 decimals.")


@variant("BR-DEC-15", CII, guard=("groups", "vat_accounting_currency_code"))
def br_dec_15(inv: Any) -> Iterator[Hit]:
    """CII: with a VAT accounting currency (BT-6) and some tax total, there shall be a tax total in
    BT-6 (BT-111) equal to itself rounded to two decimals (``xs:double``). (A BT-6 equal to the invoice
    currency, which the reader does not keep, is not seen: ``bindings``.)"""
    t = totals(inv)
    if getattr(inv, "vat_accounting_currency_code", None) is None \
            or (t.total_vat is None and t.total_vat_in_accounting_currency is None):
        return
    value = double(t.total_vat_in_accounting_currency)
    if value is not None and dround(value * 100.0) / 100.0 == value:
        return
    yield Hit("totals.total_vat_in_accounting_currency",
              f"The Invoice total VAT amount in accounting currency (BT-111) {fmt(t.total_vat_in_accounting_currency)} "
              "is missing or has more than 2 decimals.")


# --- the VAT breakdown ---------------------------------------------------------------------------

def _unshadowed_rule(rule_id: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        return _ubl_hits_on_unshadowed(rule_id, inv)
    check.__doc__ = ("CII: not on VAT breakdowns of category O, L or M, whose own template shadows the "
                     "generic one.")
    register_variant(rule_id, CII, check)


for _rid in ("BR-45", "BR-46", "BR-DEC-19", "BR-DEC-20"):
    _unshadowed_rule(_rid)


@variant("BR-48", CII)
def br_48(inv: Any) -> Iterator[Hit]:
    """CII: not on VAT breakdowns of category O, L or M (shadowed)."""
    for j, vb in _unshadowed(inv):
        if vb.rate is None:
            yield Hit(f"vat_breakdown[{j}].rate", f"VAT breakdown {j + 1} has no VAT category rate (BT-119).")


@variant("BR-CO-03", CII)
def br_co_03(inv: Any) -> Iterator[Hit]:
    """CII: checked on each VAT breakdown the generic template sees (not O, L, M), so an invoice
    without one is not checked."""
    if getattr(inv, "vat_point_date", None) is None or getattr(inv, "vat_point_date_code", None) is None:
        return
    for j, _ in _unshadowed(inv):
        yield Hit(f"vat_breakdown[{j}]", f"Both a VAT point date (BT-7) {inv.vat_point_date} and a VAT point "
                                         f"date code (BT-8) {fmt(inv.vat_point_date_code)} are given: only one "
                                         "may be.")


@variant("BR-CO-17", CII)
def br_co_17(inv: Any) -> Iterator[Hit]:
    """CII: the +/-1 tolerance is inclusive, and breakdowns of category O, L and M are not checked."""
    one = Decimal(1)
    for j, vb in _unshadowed(inv):
        rate, tax, base = dec(vb.rate), dec(vb.tax_amount), dec(vb.taxable_amount)
        expected = expected_tax(inv, j, vb)
        if rate is None or xround(rate) == 0:
            ok = eq(xround(tax), 0)
        else:
            ok = le(sub(xabs(tax), one), expected) and ge(add(xabs(tax), one), expected)
        if not ok:
            yield Hit(f"vat_breakdown[{j}].tax_amount",
                      f"VAT breakdown {j + 1}: tax amount (BT-117) {fmt(tax)} does not match taxable amount "
                      f"(BT-116) {fmt(base)} x rate (BT-119) {fmt(rate)} % = {fmt(expected)}.")


@variant("BR-CO-18", CII)
def br_co_18(inv: Any) -> Iterator[Hit]:
    """CII: checked on each invoice line, so an invoice without lines is not checked."""
    if _breakdowns(inv):
        return
    for i, _ in items(getattr(inv, "lines", None)):
        yield Hit(f"lines[{i}]", f"Invoice line {i + 1}: the Invoice has no VAT breakdown (BG-23).")


@variant("BR-CO-19", CII)
def br_co_19(inv: Any) -> Iterator[Hit]:
    """CII: the VAT point date code (BT-8) is not part of the invoicing period."""
    period = get(inv, "delivery.invoicing_period")
    if period is not None and period.start_date is None and period.end_date is None:
        yield Hit("delivery.invoicing_period", "The Invoicing period (BG-14) has neither a start date (BT-73) "
                                               "nor an end date (BT-74).")


# --- code lists --------------------------------------------------------------------------------------

def _cii_list_rule(rule_id: str, list_name: str, specs: list[tuple[str, str]], label: str) -> None:
    check = list_check(list_name, specs, label, cii=True)
    check.__doc__ = f"CII: {label} against the CII stylesheet's {list_name} list."
    register_variant(rule_id, CII, check)


_cii_list_rule("BR-CL-08", "UNTDID_4451", [("notes[].subject_code", "BT-21")], "Invoice note subject code")
_cii_list_rule("BR-CL-10", "ISO_6523_ICD", [("seller.identifiers[].scheme", "BT-29-1"),
                                            ("buyer.identifier.scheme", "BT-46-1"),
                                            ("payee.identifier.scheme", "BT-60-1")],
               "Identifier scheme identifier")
_cii_list_rule("BR-CL-14", "ISO_3166", [("seller.postal_address.country_code", "BT-40"),
                                        ("buyer.postal_address.country_code", "BT-55"),
                                        ("tax_representative.postal_address.country_code", "BT-69"),
                                        ("delivery.deliver_to_address.country_code", "BT-80")], "Country code")
_cii_list_rule("BR-CL-15", "ISO_3166", [("lines[].item.country_of_origin", "BT-159")], "Item country of origin")
_cii_list_rule("BR-CL-17", "UNTDID_5305", [("allowances[].vat_category_code", "BT-95"),
                                           ("charges[].vat_category_code", "BT-102")], "VAT category code")
_cii_list_rule("BR-CL-18", "UNTDID_5305", [("lines[].vat.category_code", "BT-151"),
                                           ("vat_breakdown[].category_code", "BT-118")], "VAT category code")


# --- VAT categories ----------------------------------------------------------------------------------

def _r01(c: Category) -> Callable[[Any], Iterator[Hit]]:
    """CII's -01: counts of lines (L), allowances and charges (A) and breakdowns (B) of the category."""
    def check(inv: Any) -> Iterator[Hit]:
        lines = len(_of_category(inv, "lines", c.code))
        acs = len(_of_category(inv, "allowances", c.code)) + len(_of_category(inv, "charges", c.code))
        listed = len(_of_category(inv, "vat_breakdown", c.code))
        if c.presence == "used-iff-listed":       # S, L, M: (L + B >= 2 or no L) and (A + B >= 2 or no A)
            ok = (lines + listed >= 2 or not lines) and (acs + listed >= 2 or not acs)
        elif c.code == "O":                         # no O breakdown, or one that something uses
            ok = listed == 0 or (listed == 1 and (lines or acs))
        else:                                       # nothing of the category, or one breakdown that is used
            ok = (listed == 0 and not lines and not acs) or (listed == 1 and bool(lines or acs))
        if not ok:
            yield Hit("vat_breakdown", f"VAT category {_label(c)}: {lines} line(s), {acs} allowance(s)/charge(s) "
                                       f"and {listed} VAT breakdown(s) of it do not match.")
    check.__doc__ = "CII: the category's lines, allowances, charges and breakdowns counted as the CII assert does."
    return check


def _within_one(taxable: Any, value: Decimal) -> bool:
    """``BasisAmount - 1 < value and BasisAmount + 1 > value`` with an untyped BasisAmount: ``xs:double``."""
    b = double(taxable)
    return b is not None and (b - 1.0) < float(value) and (b + 1.0) > float(value)


def _r08(c: Category) -> Callable[[Any], Iterator[Hit]]:
    """CII's -08: each partial sum (lines, charges, allowances) rounded to two decimals; per rate and
    exact for S; within +/-1 and over the whole category for Z, E, AE, K, G; exact for O."""
    per_rate = c.code == "S"

    def check(inv: Any) -> Iterator[Hit]:
        uses: Optional[_CategoryUses] = None
        for j, vb in _of_category(inv, "vat_breakdown", c.code):
            uses = uses or _ExactUses(inv, c.code)
            rate = dec(vb.rate)
            if per_rate and rate is None:
                continue                    # ``every $rate in ../ram:RateApplicablePercent`` over nothing
            expected = uses.rounded(rate if per_rate else None)
            base = double(vb.taxable_amount)
            if per_rate or c.code == "O":
                ok = base is not None and base == float(expected)
            else:
                ok = _within_one(vb.taxable_amount, expected)
            if not ok:
                per = f" at rate {fmt(rate)} %" if per_rate else ""
                yield Hit(f"vat_breakdown[{j}].taxable_amount",
                          f"VAT breakdown {j + 1} ({c.code}{per}): taxable amount (BT-116) {fmt(vb.taxable_amount)} "
                          f"but the lines, charges and allowances of that category{per}, each sum rounded, "
                          f"give {fmt(expected)}.")
    check.__doc__ = _r08.__doc__
    return check


class _ExactUses(_CategoryUses):
    """The category's uses as CII selects them (exact code compare, which on the trimmed model is
    ``cat``'s), summed as CII does: each of the three sums rounded to two decimals."""

    def rounded(self, rate: Optional[Decimal]) -> Decimal:
        if rate is None:
            lines, charges, allows = self.all
        else:
            lines, charges, allows = self.by_rate.get(_rate_key(rate), ([], [], []))
        return sub(add(round2(xsum(ln.net_amount for ln in lines)), round2(xsum(a.amount for a in charges))),
                   round2(xsum(a.amount for a in allows)))


def _never(inv: Any) -> Iterator[Hit]:
    """CII asserts ``true()``."""
    return iter(())


def _never_08(inv: Any) -> Iterator[Hit]:
    """CII: the context is the VAT breakdown (``ram:ApplicableTradeTax``), so ``../ram:RateApplicablePercent``
    is looked for in the settlement, where there is none: ``every $rate in ()`` holds, the rule never fires."""
    return iter(())


def _ic_11(inv: Any) -> Iterator[Hit]:
    """CII: on each K breakdown, the actual delivery date (BT-72) or an invoicing period date (BT-73,
    BT-74); the VAT point date code (BT-8) does not count."""
    if get(inv, "delivery.actual_delivery_date") is not None:
        return
    period = get(inv, "delivery.invoicing_period")
    if period is not None and (period.start_date is not None or period.end_date is not None):
        return
    for j, _ in _of_category(inv, "vat_breakdown", "K"):
        yield Hit("delivery", "An intra-community supply (VAT category K) needs the Actual delivery date (BT-72) "
                              "or the Invoicing period (BG-14).")


def _ic_12(inv: Any) -> Iterator[Hit]:
    """CII: on each K breakdown, a deliver to country code (BT-80), of any length."""
    if get(inv, "delivery.deliver_to_address.country_code") is not None:
        return
    for j, _ in _of_category(inv, "vat_breakdown", "K"):
        yield Hit("delivery.deliver_to_address.country_code",
                  "An intra-community supply (VAT category K) needs the Deliver to country code (BT-80).")


def _o_exclusive(where: str) -> Callable[[Any], Iterator[Hit]]:
    """CII's BR-O-11/12 (``where`` "tax": no line or breakdown of another category) and BR-O-13/14
    ("allowances and charges": no document allowance or charge of another category), on each O breakdown."""
    def check(inv: Any) -> Iterator[Hit]:
        if where == "tax":
            others = [(f"lines[{i}].vat", get(ln, "vat.category_code")) for i, ln in items(getattr(inv, "lines", None))]
            others += [(f"vat_breakdown[{j}]", vb.category_code) for j, vb in _breakdowns(inv)]
        else:
            others = [(f"{g}[{k}]", ac.vat_category_code) for g in ("allowances", "charges")
                      for k, ac in items(getattr(inv, g, None))]
        others = [(p, code) for p, code in others if code is not None and code != "O"]
        if not others:
            return
        path, code = others[0]
        for j, _ in _of_category(inv, "vat_breakdown", "O"):
            yield Hit(path, f"The Invoice has a 'Not subject to VAT' (O) VAT breakdown, so nothing may use "
                            f"another VAT category; {path} uses {fmt(code)}.")
    check.__doc__ = _o_exclusive.__doc__
    return check


def _b_01(inv: Any) -> Iterator[Hit]:
    """CII: every ``ram:CountryID`` (the addresses, not the items' countries of origin) shall be IT."""
    if not _b_used(inv, "B"):
        return
    for p in ("seller.postal_address", "buyer.postal_address", "tax_representative.postal_address",
              "delivery.deliver_to_address"):
        code = get(inv, f"{p}.country_code")
        if code is not None and code != "IT":
            yield Hit(f"{p}.country_code", f"VAT category 'Split payment' (B) is only for domestic Italian "
                                           f"invoices, but {p}.country_code is {fmt(code)}.")
            return


for _c in CATEGORIES:
    register_variant(_rule_id(_c, 1), CII, _r01(_c))
    # L and M: the context is the breakdown itself, so ``every $rate in ../ram:RateApplicablePercent`` looks
    # for a rate in the settlement, finds none and holds: BR-AF-08 and BR-AG-08 never fire
    register_variant(_rule_id(_c, 8), CII, _never_08 if _c.code in ("L", "M") else _r08(_c))
    if _c.code == "L":
        _above_zero = dataclasses.replace(_c, rate_ok=_positive, rate_text="greater than zero")
        register_variant(_rule_id(_c, 5), CII, _r_rate(_above_zero, "lines", ("BT-151", "BT-152")))
        register_variant(_rule_id(_c, 6), CII, _r_rate(_above_zero, "allowances", ("BT-95", "BT-96")))
        register_variant(_rule_id(_c, 7), CII, _r_rate(_above_zero, "charges", ("BT-102", "BT-103")))
    if _c.code in ("L", "M"):
        register_variant(_rule_id(_c, 9), CII, _never)

register_variant("BR-IC-11", CII, _ic_11)
register_variant("BR-IC-12", CII, _ic_12)
register_variant("BR-O-11", CII, _o_exclusive("tax"))
register_variant("BR-O-12", CII, _o_exclusive("tax"))
register_variant("BR-O-13", CII, _o_exclusive("allowances and charges"))
register_variant("BR-O-14", CII, _o_exclusive("allowances and charges"))
register_variant("BR-B-01", CII, _b_01)
