"""BR-CO-03 ... BR-CO-26: the conditions and calculations between terms.

The arithmetic is the schematron's, step by step (see ``xpath.py``): sums are
exact decimals rounded with ``round(x * 10 * 10) div 100`` (halves toward
+infinity) exactly where the UBL binding rounds, and compared exactly where
it does not (BR-CO-13 without allowances or charges, BR-CO-16 without
rounding amount). The VAT tax amount check (BR-CO-17) keeps the
schematron's strict +/-1 tolerance.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator, Sequence

from .access import expected_tax, get, items, line_category, totals
from .codelists import literal as _literal
from .registry import NEVER, Hit, register, rule
from .xpath import add, dec, eq, fmt, gt, lt, round2, sub, xabs, xround, xsum


@rule("BR-CO-03", terms=("BT-7", "BT-8"), guard=("groups", "vat_point_date_code"))
def br_co_03(inv: Any) -> Iterator[Hit]:
    """Value added tax point date (BT-7) and Value added tax point date code (BT-8) are mutually exclusive."""
    if getattr(inv, "vat_point_date", None) is not None and getattr(inv, "vat_point_date_code", None) is not None:
        yield Hit("vat_point_date", f"Both a VAT point date (BT-7) {inv.vat_point_date} and a VAT point "
                                    f"date code (BT-8) {fmt(inv.vat_point_date_code)} are given: only one may be.")


@rule("BR-CO-04", terms=("BT-151",))
def br_co_04(inv: Any) -> Iterator[Hit]:
    """Each Invoice line (BG-25) shall be categorized with an Invoiced item VAT category code (BT-151)."""
    for i, line in items(getattr(inv, "lines", None)):
        if line_category(line) is None:
            yield Hit(f"lines[{i}].vat.category_code",
                      f"Invoice line {i + 1} has no Invoiced item VAT category code (BT-151).")


def _never(inv: Any) -> Iterator[Hit]:
    """The schematron asserts ``true()``: reason code and reason text cannot be checked against each other."""
    return iter(())


_REASON_PAIRS = (
    ("BR-CO-05", ("BT-97", "BT-98"), "Document level allowance reason code (BT-98) and reason (BT-97)"),
    ("BR-CO-06", ("BT-104", "BT-105"), "Document level charge reason code (BT-105) and reason (BT-104)"),
    ("BR-CO-07", ("BT-139", "BT-140"), "Invoice line allowance reason code (BT-140) and reason (BT-139)"),
    ("BR-CO-08", ("BT-144", "BT-145"), "Invoice line charge reason code (BT-145) and reason (BT-144)"),
)
for _id, _terms, _what in _REASON_PAIRS:
    register(_id, _never, terms=_terms, guard=NEVER,
             description=f"{_what} shall indicate the same type of allowance or charge "
                         "(the schematron asserts true(): never fires).")


@rule("BR-CO-09", terms=("BT-31", "BT-48", "BT-63"))
def br_co_09(inv: Any) -> Iterator[Hit]:
    """The VAT identifiers (BT-31, BT-48, BT-63) shall have a prefix in accordance with ISO code ISO 3166-1 alpha-2
    (Greece may use EL).

    UBL binding: ``contains(' 1A AD ... ', substring(CompanyID, 1, 2))`` - a
    substring test, so a one-character identifier passes; the list is the
    VAT_ID_PREFIX list of codelists.yaml."""
    literal = _literal("VAT_ID_PREFIX")
    for path, term in (("seller.vat_identifier", "BT-31"), ("buyer.vat_identifier", "BT-48"),
                       ("tax_representative.vat_identifier", "BT-63")):
        vat_id = get(inv, path)
        if vat_id is not None and str(vat_id)[:2] not in literal:
            yield Hit(path, f"The VAT identifier {fmt(vat_id)} ({term}) does not start with a country "
                            "prefix (ISO 3166-1 alpha-2, or EL for Greece).", (term,))


@rule("BR-CO-10", terms=("BT-106", "BT-131"))
def br_co_10(inv: Any) -> Iterator[Hit]:
    """Sum of Invoice line net amount (BT-106) = Σ Invoice line net amount (BT-131)."""
    total = totals(inv).sum_of_line_net_amounts
    expected = round2(xsum(ln.net_amount for _, ln in items(getattr(inv, "lines", None))))
    if not eq(dec(total), expected):
        yield Hit("totals.sum_of_line_net_amounts",
                  f"Sum of invoice line net amounts (BT-106) is {fmt(total)} but the lines add up to {fmt(expected)}.")


def _sum_rule(rule_id: str, field: str, group: str, term: str, part: str, label: str) -> None:
    def check(inv: Any) -> Sequence[Hit]:
        given = getattr(totals(inv), field)
        acs = [ac for _, ac in items(getattr(inv, group, None))]
        if given is None and not acs:
            return ()
        expected = round2(xsum(ac.amount for ac in acs))
        if eq(dec(given), expected):
            return ()
        return [Hit(f"totals.{field}", f"{label} ({term}) is {fmt(given)} but the document level "
                                       f"{group} ({part}) add up to {fmt(expected)}.")]
    register(rule_id, check, terms=(term, part), description=f"{label} ({term}) = Σ {part}.")


_sum_rule("BR-CO-11", "sum_of_allowances", "allowances", "BT-107", "BT-92", "Sum of allowances on document level")
_sum_rule("BR-CO-12", "sum_of_charges", "charges", "BT-108", "BT-99", "Sum of charges on document level")


@rule("BR-CO-13", terms=("BT-109", "BT-106", "BT-107", "BT-108"))
def br_co_13(inv: Any) -> Iterator[Hit]:
    """Invoice total amount without VAT (BT-109) = Σ Invoice line net amount (BT-106) - Sum of allowances on
    document level (BT-107) + Sum of charges on document level (BT-108).

    UBL binding: rounded to two decimals when there are allowances or
    charges, compared exactly when there are neither."""
    t = totals(inv)
    net, allow, charge = dec(t.sum_of_line_net_amounts), dec(t.sum_of_allowances), dec(t.sum_of_charges)
    given = dec(t.total_without_vat)
    if allow is None and charge is None:
        expected = net
    else:
        expected = round2(add(sub(net, allow if allow is not None else Decimal(0)),
                              charge if charge is not None else Decimal(0)))
    if not eq(given, expected):
        yield Hit("totals.total_without_vat",
                  f"Invoice total amount without VAT (BT-109) is {fmt(given)} but BT-106 {fmt(net)} "
                  f"- BT-107 {fmt(allow)} + BT-108 {fmt(charge)} gives {fmt(expected)}.")


@rule("BR-CO-14", terms=("BT-110", "BT-117"))
def br_co_14(inv: Any) -> Iterator[Hit]:
    """Invoice total VAT amount (BT-110) = Σ VAT category tax amount (BT-117)."""
    vbs = [vb for _, vb in items(getattr(inv, "vat_breakdown", None))]
    if not vbs:
        return
    given = dec(totals(inv).total_vat)
    expected = round2(xsum(vb.tax_amount for vb in vbs))
    if not eq(given, expected):
        yield Hit("totals.total_vat", f"Invoice total VAT amount (BT-110) is {fmt(given)} but the VAT "
                                      f"breakdown tax amounts (BT-117) add up to {fmt(expected)}.")


@rule("BR-CO-15", terms=("BT-112", "BT-109", "BT-110"))
def br_co_15(inv: Any) -> Iterator[Hit]:
    """Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) + Invoice total VAT
    amount (BT-110).

    UBL binding: there must be exactly one tax total in the invoice currency
    (so BT-110 is required; the CII binding also accepts BT-112 = BT-109
    without it), and the sum is rounded to two decimals. The model holds at
    most one BT-110, so "exactly one" is "BT-110 is there" (a reader maps a
    single tax total whose currency is both BT-5 and BT-6 to BT-110 and BT-111)."""
    cur = getattr(inv, "currency_code", None)
    if cur is None:
        return
    t = totals(inv)
    if t.total_vat is None:
        yield Hit("totals.total_vat", f"There shall be an Invoice total VAT amount (BT-110) in the invoice "
                                      f"currency {fmt(cur)}.")
        return
    expected = round2(add(dec(t.total_without_vat), dec(t.total_vat)))
    if not eq(dec(t.total_with_vat), expected):
        yield Hit("totals.total_with_vat",
                  f"Invoice total amount with VAT (BT-112) is {fmt(t.total_with_vat)} but BT-109 "
                  f"{fmt(t.total_without_vat)} + BT-110 {fmt(t.total_vat)} gives {fmt(expected)}.")


@rule("BR-CO-16", terms=("BT-115", "BT-112", "BT-113", "BT-114"))
def br_co_16(inv: Any) -> Iterator[Hit]:
    """Amount due for payment (BT-115) = Invoice total amount with VAT (BT-112) - Paid amount (BT-113) + Rounding
    amount (BT-114)."""
    t = totals(inv)
    due, total, paid, rnd = dec(t.amount_due), dec(t.total_with_vat), dec(t.paid_amount), dec(t.rounding_amount)
    if paid is not None and rnd is None:
        ok = eq(due, round2(sub(total, paid)))
    elif paid is None and rnd is None:
        ok = eq(due, total)
    elif paid is not None:
        ok = eq(round2(sub(due, rnd)), round2(sub(total, paid)))
    else:
        ok = eq(round2(sub(due, rnd)), total)
    if not ok:
        yield Hit("totals.amount_due",
                  f"Amount due for payment (BT-115) is {fmt(due)} but BT-112 {fmt(total)} - BT-113 "
                  f"{fmt(paid)} + BT-114 {fmt(rnd)} does not give it.")


@rule("BR-CO-17", terms=("BT-117", "BT-116", "BT-119"))
def br_co_17(inv: Any) -> Iterator[Hit]:
    """VAT category tax amount (BT-117) = VAT category taxable amount (BT-116) x (VAT category rate (BT-119) /
    100), rounded to two decimals.

    As in the schematron: within a tolerance of 1 (strictly); a rate that
    rounds to 0 (or no rate) needs a tax amount that rounds to 0."""
    for j, vb in items(getattr(inv, "vat_breakdown", None)):
        rate, tax, base = dec(vb.rate), dec(vb.tax_amount), dec(vb.taxable_amount)
        expected = expected_tax(inv, j, vb)
        if rate is None:
            ok = eq(xround(tax), 0)
        elif xround(rate) == 0:
            ok = eq(xround(tax), 0)
        else:
            ok = lt(sub(xabs(tax), Decimal(1)), expected) and gt(add(xabs(tax), Decimal(1)), expected)
        if not ok:
            yield Hit(f"vat_breakdown[{j}].tax_amount",
                      f"VAT breakdown {j + 1}: tax amount (BT-117) {fmt(tax)} does not match taxable amount "
                      f"(BT-116) {fmt(base)} x rate (BT-119) {fmt(rate)} % = {fmt(expected)}.")


@rule("BR-CO-18", terms=("BG-23",))
def br_co_18(inv: Any) -> Iterator[Hit]:
    """An Invoice shall at least have one VAT breakdown group (BG-23)."""
    if not any(True for _ in items(getattr(inv, "vat_breakdown", None))):
        yield Hit("vat_breakdown", "An Invoice shall have at least one VAT breakdown (BG-23).")


@rule("BR-CO-19", terms=("BT-73", "BT-74", "BT-8"), guard=("groups", "invoicing_period"))
def br_co_19(inv: Any) -> Iterator[Hit]:
    """If Invoicing period (BG-14) is used, the Invoicing period start date (BT-73) or the Invoicing period end
    date (BT-74) shall be filled, or both."""
    period = get(inv, "delivery.invoicing_period")
    if period is None or period.start_date is not None or period.end_date is not None:
        return
    if getattr(inv, "vat_point_date_code", None) is not None:
        return  # UBL: an InvoicePeriod holding only the VAT point date code (BT-8) is fine
    yield Hit("delivery.invoicing_period", "The Invoicing period (BG-14) has neither a start date (BT-73) "
                                           "nor an end date (BT-74).")


@rule("BR-CO-20", terms=("BT-134", "BT-135"), guard=("groups", "line_periods"))
def br_co_20(inv: Any) -> Iterator[Hit]:
    """If Invoice line period (BG-26) is used, the Invoice line period start date (BT-134) or the Invoice line
    period end date (BT-135) shall be filled, or both."""
    for i, line in items(getattr(inv, "lines", None)):
        period = line.period
        if period is not None and period.start_date is None and period.end_date is None:
            yield Hit(f"lines[{i}].period", f"Invoice line {i + 1}: the line period (BG-26) has neither a "
                                            "start date (BT-134) nor an end date (BT-135).")


def _reason_rule(rule_id: str, group: str, terms: tuple[str, str], label: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        if group.startswith("lines."):
            sub_group = group.split(".", 1)[1]
            found = ((f"lines[{i}].{sub_group}[{k}]", f"Invoice line {i + 1}, {label} {k + 1}", ac)
                     for i, line in items(getattr(inv, "lines", None))
                     for k, ac in items(getattr(line, sub_group, None)))
        else:
            found = ((f"{group}[{k}]", f"Document level {label} {k + 1}", ac)
                     for k, ac in items(getattr(inv, group, None)))
        for path, where, ac in found:
            if ac.reason is None and ac.reason_code is None:
                yield Hit(path, f"{where} has neither a reason ({terms[0]}) nor a reason code ({terms[1]}).")
    register(rule_id, check, terms=terms,
             description=f"Each {label} shall have a reason ({terms[0]}) or a reason code ({terms[1]}), or both.",
             guard=("groups", group.replace("lines.", "line_")))


_reason_rule("BR-CO-21", "allowances", ("BT-97", "BT-98"), "allowance")
_reason_rule("BR-CO-22", "charges", ("BT-104", "BT-105"), "charge")
_reason_rule("BR-CO-23", "lines.allowances", ("BT-139", "BT-140"), "allowance")
_reason_rule("BR-CO-24", "lines.charges", ("BT-144", "BT-145"), "charge")


@rule("BR-CO-26", terms=("BT-29", "BT-30", "BT-31"))
def br_co_26(inv: Any) -> Iterator[Hit]:
    """In order for the buyer to automatically identify a supplier, the Seller identifier (BT-29), the Seller legal
    registration identifier (BT-30) and/or the Seller VAT identifier (BT-31) shall be present.

    UBL binding: a seller identifier with scheme SEPA (a bank assigned
    creditor identifier) does not count."""
    seller = getattr(inv, "seller", None)
    if get(seller, "vat_identifier") is not None or get(seller, "legal_registration_identifier.value") is not None:
        return
    if any(i.value is not None and i.scheme != "SEPA" for _, i in items(get(seller, "identifiers"))):
        return
    yield Hit("seller", "The Seller has no identifier (BT-29), legal registration identifier (BT-30) "
                        "nor VAT identifier (BT-31).")
