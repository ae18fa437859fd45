"""The VAT category rules: BR-S, BR-Z, BR-E, BR-AE, BR-IC, BR-G, BR-O, BR-AF, BR-AG (and BR-B).

Every category has the same ten rules, differing in a few parameters: which
identifiers the parties must (or must not) have, what rate is allowed, how
the taxable amount is checked, whether tax is due and whether an exemption
reason is required. ``CATEGORIES`` holds those parameters, taken from the CEN
UBL schematron 1.3.16, and one generic function per rule number applies them.

Semantics that look odd but are the schematron's, kept on purpose:

* -01: for S, L and M the category must be in the VAT breakdown exactly when
  lines or document allowances/charges use it; for the others, as soon as
  the category appears *anywhere* (breakdown included) the breakdown must
  have it exactly once.
* -02/-03/-04 fire once per invoice (the UBL context is the root), not once
  per line; "Seller tax identifier" means BT-31 *or* BT-32 for S, Z, E, AE,
  L, M (UBL ``PartyTaxScheme/CompanyID`` without a tax scheme filter) but
  only BT-31 for G, K, O.
* -08: S checks each rate within a tolerance of 1 (and a rate nothing uses
  fails), L and M likewise but need invoice lines, the others compare the
  exact sum; ``TaxableAmount - 1`` is computed in double precision.
* -09: S, L, M within +/-1 of round(taxable x rate / 100, 2); others tax = 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Optional

from gateway.model.invoice import is_empty

from .access import (buyer_legal_id, buyer_vat_id, cat, expected_tax, get, items, line_category, line_rate,
                     memo, seller_any_tax_ids, seller_vat_ids)
from .registry import Hit, first_paragraph, register, register_guard
from .xpath import add, dec, double_gt, double_lt, eq, fmt, ge, gt, lt, sub, xabs, xsum

_SELLER_ANY = "the Seller VAT identifier (BT-31), the Seller tax registration identifier (BT-32) " \
              "or the Seller tax representative VAT identifier (BT-63)"
_SELLER_VAT = "the Seller VAT identifier (BT-31) or the Seller tax representative VAT identifier (BT-63)"


@dataclass(frozen=True)
class Category:
    family: str                          # rule id prefix: "S" -> BR-S-nn
    code: str                            # UNTDID 5305 code
    name: str
    presence: str                        # "used-iff-listed" | "listed-once"
    parties: Callable[[Any], bool]       # -02/-03/-04 condition
    parties_text: str
    party_terms: tuple[str, ...]
    rate_ok: Callable[[Optional[Decimal]], bool]
    rate_text: str
    taxable: str                         # "per-rate-S" | "per-rate" | "exact"
    tax: str                             # "rate" | "zero"
    exemption: str                       # "forbidden" | "required"


def _positive(r: Optional[Decimal]) -> bool:
    return gt(r, 0)


def _zero(r: Optional[Decimal]) -> bool:
    return eq(r, 0)


def _not_negative(r: Optional[Decimal]) -> bool:
    return ge(r, 0)


def _absent(r: Optional[Decimal]) -> bool:
    return r is None


def _no_vat_ids(inv: Any) -> bool:
    return not seller_vat_ids(inv) and not buyer_vat_id(inv)


CATEGORIES: tuple[Category, ...] = (
    Category("S", "S", "Standard rated", "used-iff-listed", seller_any_tax_ids,
             f"{_SELLER_ANY} shall be present", ("BT-31", "BT-32", "BT-63"),
             _positive, "greater than zero", "per-rate-S", "rate", "forbidden"),
    Category("Z", "Z", "Zero rated", "listed-once", seller_any_tax_ids,
             f"{_SELLER_ANY} shall be present", ("BT-31", "BT-32", "BT-63"),
             _zero, "0", "exact", "zero", "forbidden"),
    Category("E", "E", "Exempt from VAT", "listed-once", seller_any_tax_ids,
             f"{_SELLER_ANY} shall be present", ("BT-31", "BT-32", "BT-63"),
             _zero, "0", "exact", "zero", "required"),
    Category("AE", "AE", "Reverse charge", "listed-once",
             lambda inv: seller_any_tax_ids(inv) and (buyer_vat_id(inv) or buyer_legal_id(inv)),
             f"{_SELLER_ANY}, and the Buyer VAT identifier (BT-48) or the Buyer legal registration "
             "identifier (BT-47) shall be present", ("BT-31", "BT-32", "BT-63", "BT-48", "BT-47"),
             _zero, "0", "exact", "zero", "required"),
    Category("IC", "K", "Intra-community supply", "listed-once",
             lambda inv: seller_vat_ids(inv) and buyer_vat_id(inv),
             f"{_SELLER_VAT}, and the Buyer VAT identifier (BT-48) shall be present",
             ("BT-31", "BT-63", "BT-48"), _zero, "0", "exact", "zero", "required"),
    Category("G", "G", "Export outside the EU", "listed-once", seller_vat_ids,
             f"{_SELLER_VAT} shall be present", ("BT-31", "BT-63"),
             _zero, "0", "exact", "zero", "required"),
    Category("O", "O", "Not subject to VAT", "listed-once", _no_vat_ids,
             "the Seller VAT identifier (BT-31), the Seller tax representative VAT identifier (BT-63) "
             "and the Buyer VAT identifier (BT-48) shall not be present", ("BT-31", "BT-63", "BT-48"),
             _absent, "absent", "exact", "zero", "required"),
    Category("AF", "L", "IGIC (Canary Islands)", "used-iff-listed", seller_any_tax_ids,
             f"{_SELLER_ANY} shall be present", ("BT-31", "BT-32", "BT-63"),
             _not_negative, "0 or greater", "per-rate", "rate", "forbidden"),
    Category("AG", "M", "IPSI (Ceuta and Melilla)", "used-iff-listed", seller_any_tax_ids,
             f"{_SELLER_ANY} shall be present", ("BT-31", "BT-32", "BT-63"),
             _not_negative, "0 or greater", "per-rate", "rate", "forbidden"),
)


# --- where a category is used -----------------------------------------------------------

# each group's (index, item) by normalised category, gathered once per validate call (access.memo): the
# ten rules of each category used, and BR-IC-11/12, BR-O-11..14, ask for them
_NOTHING: list[tuple[int, Any]] = []


def _by_category(pairs: Iterable[tuple[int, Any, Any]]) -> dict[str, list[tuple[int, Any]]]:
    out: dict[str, list[tuple[int, Any]]] = {}
    for i, obj, code in pairs:
        if code is not None:
            out.setdefault(code, []).append((i, obj))
    return out


def _lines_by_category(inv: Any) -> dict[str, list[tuple[int, Any]]]:
    return _by_category((i, ln, line_category(ln)) for i, ln in items(getattr(inv, "lines", None)))


def _groups_by_category(group: str, field: str) -> Callable[[Any], dict[str, list[tuple[int, Any]]]]:
    def index(inv: Any) -> dict[str, list[tuple[int, Any]]]:
        return _by_category((k, g, cat(getattr(g, field)) if getattr(g, field) is not None else None)
                            for k, g in items(getattr(inv, group, None)))
    return index


_INDEXES = {"allowances": _groups_by_category("allowances", "vat_category_code"),
            "charges": _groups_by_category("charges", "vat_category_code"),
            "vat_breakdown": _groups_by_category("vat_breakdown", "category_code")}


def _lines(inv: Any, code: str) -> list[tuple[int, Any]]:
    """The lines (index, line) whose category (BT-151) is ``code``; do not change the list."""
    return memo(inv, "lines", _lines_by_category).get(code, _NOTHING)


def _acs(inv: Any, group: str, code: str) -> list[tuple[int, Any]]:
    """The document allowances or charges (``group``) whose category is ``code``."""
    return memo(inv, group, _INDEXES[group]).get(code, _NOTHING)


def _breakdowns(inv: Any, code: str) -> list[tuple[int, Any]]:
    """The VAT breakdowns whose category (BT-118) is ``code``."""
    return memo(inv, "vat_breakdown", _INDEXES["vat_breakdown"]).get(code, _NOTHING)


def _rule_id(c: Category, n: int) -> str:
    return f"BR-{c.family}-{n:02d}"


def _label(c: Category) -> str:
    return f"'{c.name}' ({c.code})"


# --- the ten rules ------------------------------------------------------------------------

def _r01(c: Category) -> Callable[[Any], Iterator[Hit]]:
    def check(inv: Any) -> Iterator[Hit]:
        used = len(_lines(inv, c.code)) + len(_acs(inv, "allowances", c.code)) + len(_acs(inv, "charges", c.code))
        listed = len(_breakdowns(inv, c.code))
        if c.presence == "used-iff-listed":
            if (used > 0) != (listed > 0):
                yield Hit("vat_breakdown",
                          f"VAT category {_label(c)} is used by {used} line(s)/allowance(s)/charge(s) "
                          f"but appears in {listed} VAT breakdown(s): it shall be in the breakdown exactly "
                          "when lines, allowances or charges use it.")
        elif (used > 0 or listed > 0) and listed != 1:
            yield Hit("vat_breakdown", f"VAT category {_label(c)} is used but appears in {listed} VAT "
                                       "breakdowns (BG-23): there shall be exactly one.")
    return check


def _r_parties(c: Category, group: str, what: str) -> Callable[[Any], Iterator[Hit]]:
    def check(inv: Any) -> Iterator[Hit]:
        users = _lines(inv, c.code) if group == "lines" else _acs(inv, group, c.code)
        if users and not c.parties(inv):
            first = users[0][0]
            yield Hit("seller" if c.code != "O" else "seller.vat_identifier",
                      f"{what} use VAT category {_label(c)} ({group}[{first}] ...), so {c.parties_text}.")
    return check


def _r_rate(c: Category, group: str, term: tuple[str, str]) -> Callable[[Any], Iterator[Hit]]:
    def check(inv: Any) -> Iterator[Hit]:
        if group == "lines":
            found = [(f"lines[{i}].vat.rate", dec(line_rate(ln))) for i, ln in _lines(inv, c.code)]
        else:
            found = [(f"{group}[{k}].vat_rate", dec(ac.vat_rate)) for k, ac in _acs(inv, group, c.code)]
        for path, rate in found:
            if not c.rate_ok(rate):
                yield Hit(path, f"The VAT rate ({term[1]}) of {path.rsplit('.', 1)[0]} is {fmt(rate)}: "
                                f"for VAT category {_label(c)} it shall be {c.rate_text}.")
    return check


def _rate_key(rate: Optional[Decimal]) -> Any:
    """What ``eq`` compares rates by, as a dict key: a NaN equals nothing, so it gets a key of its own."""
    return object() if rate is not None and rate.is_nan() else rate


class _CategoryUses:
    """The lines, charges and allowances in one VAT category, in document order, also by rate.

    Gathered and summed once per check: summing them again for every VAT breakdown made
    the rule quadratic (3,000 breakdowns of 3,000 lines: minutes)."""

    def __init__(self, inv: Any, code: str):
        self.all: tuple[list, list, list] = ([], [], [])            # lines, charges, allowances
        self.by_rate: dict[Any, tuple[list, list, list]] = {}
        self.summed: dict[Any, tuple[Decimal, Decimal, bool, bool]] = {}
        by_rate = self.by_rate
        for kind, found in ((0, _lines(inv, code)), (1, _acs(inv, "charges", code)),
                            (2, _acs(inv, "allowances", code))):
            every = self.all[kind]
            for _, obj in found:
                r = dec(obj.vat.rate if kind == 0 else obj.vat_rate)
                every.append(obj)
                key = object() if r is not None and r.is_nan() else r      # _rate_key
                bucket = by_rate.get(key)
                if bucket is None:
                    bucket = by_rate[key] = ([], [], [])
                bucket[kind].append(obj)

    def sums(self, rate: Optional[Decimal], per_rate: bool) -> tuple[Decimal, Decimal, bool, bool]:
        """(lines + charges - allowances, charges - allowances, anything uses it, an allowance/charge uses
        it), for the whole category or, ``per_rate``, for the uses whose rate equals ``rate``."""
        key = _rate_key(rate) if per_rate else "all"
        if key not in self.summed:
            if per_rate:
                lines, charges, allows = self.by_rate.get(key, ([], [], [])) if rate is not None else ([], [], [])
            else:
                lines, charges, allows = self.all
            ac = sub(xsum([a.amount for a in charges]), xsum([a.amount for a in allows]))
            full = add(xsum([ln.net_amount for ln in lines]), ac)
            self.summed[key] = (full, ac, bool(lines or charges or allows), bool(charges or allows))
        return self.summed[key]


def _within_one(taxable: Optional[Decimal], value: Decimal) -> bool:
    """``TaxableAmount - 1 < value and TaxableAmount + 1 > value``, the shifts in xs:double
    (``double_shift``), compared exactly."""
    if taxable is None or value is None:
        return False
    try:
        b = float(taxable)
    except (OverflowError, ValueError):
        return False
    return double_lt(b + -1.0, value) and double_gt(b + 1.0, value)


def _r08(c: Category) -> Callable[[Any], Iterator[Hit]]:
    def check(inv: Any) -> Iterator[Hit]:
        has_lines = False
        for _ in items(getattr(inv, "lines", None)):
            has_lines = True
            break
        uses: Optional[_CategoryUses] = None
        for j, vb in _breakdowns(inv, c.code):
            uses = uses or _CategoryUses(inv, c.code)
            taxable, rate = dec(vb.taxable_amount), dec(vb.rate)
            if c.taxable == "exact":
                full, _, _, _ = uses.sums(None, per_rate=False)
                ok = has_lines and eq(taxable, full)
            elif rate is None:
                continue  # ``every $rate in xs:decimal(cbc:Percent)`` over nothing
            else:
                full, ac, any_use, ac_use = uses.sums(rate, per_rate=True)
                if c.taxable == "per-rate-S":
                    ok = (any_use and _within_one(taxable, full)) or (ac_use and _within_one(taxable, ac))
                else:
                    ok = has_lines and _within_one(taxable, full)
            if not ok:
                per = f" at rate {fmt(rate)} %" if c.taxable != "exact" else ""
                yield Hit(f"vat_breakdown[{j}].taxable_amount",
                          f"VAT breakdown {j + 1} ({c.code}{per}): taxable amount (BT-116) {fmt(taxable)} "
                          f"but the lines, charges and allowances of that category{per} add up to {fmt(full)}.")
    return check


def _r09(c: Category) -> Callable[[Any], Iterator[Hit]]:
    def check(inv: Any) -> Iterator[Hit]:
        for j, vb in _breakdowns(inv, c.code):
            tax = dec(vb.tax_amount)
            if c.tax == "zero":
                if not eq(tax, 0):
                    yield Hit(f"vat_breakdown[{j}].tax_amount",
                              f"VAT breakdown {j + 1} ({c.code}): the VAT category tax amount (BT-117) is "
                              f"{fmt(tax)}; it shall be 0 for VAT category {_label(c)}.")
                continue
            expected = expected_tax(inv, j, vb)
            one = Decimal(1)
            if not (lt(sub(xabs(tax), one), expected) and gt(add(xabs(tax), one), expected)):
                yield Hit(f"vat_breakdown[{j}].tax_amount",
                          f"VAT breakdown {j + 1} ({c.code}): tax amount (BT-117) {fmt(tax)} does not match "
                          f"taxable amount (BT-116) {fmt(vb.taxable_amount)} x rate (BT-119) "
                          f"{fmt(vb.rate)} % = {fmt(expected)}.")
    return check


def _r10(c: Category) -> Callable[[Any], Iterator[Hit]]:
    def check(inv: Any) -> Iterator[Hit]:
        for j, vb in _breakdowns(inv, c.code):
            has = vb.exemption_reason is not None or vb.exemption_reason_code is not None
            if c.exemption == "forbidden" and has:
                yield Hit(f"vat_breakdown[{j}]", f"VAT breakdown {j + 1} ({c.code}) shall not have a VAT "
                                                 "exemption reason (BT-120) or reason code (BT-121).")
            elif c.exemption == "required" and not has:
                yield Hit(f"vat_breakdown[{j}]", f"VAT breakdown {j + 1} ({c.code}) shall have a VAT "
                                                 "exemption reason (BT-120) or reason code (BT-121).")
    return check


def vat_categories(inv: Any) -> set[str]:
    """Every VAT category code the invoice uses anywhere (lines, document allowances and charges,
    breakdown), normalised: a category's ten rules cannot fire without it (guard
    ``vat_categories``, see ``registry``)."""
    found = set(memo(inv, "lines", _lines_by_category))       # the rules' own indexes (per validate call)
    for group, index in _INDEXES.items():
        found.update(memo(inv, group, index))
    return found


register_guard("vat_categories", vat_categories)


def _register_category(c: Category) -> None:
    n = _label(c)

    def reg(rule_id: str, check: Callable[[Any], Iterator[Hit]], **kw: Any) -> None:
        register(rule_id, check, guard=("vat_categories", c.code), **kw)
    reg(_rule_id(c, 1), _r01(c), terms=("BG-23", "BT-118", "BT-151", "BT-95", "BT-102"),
        description=f"An Invoice that uses VAT category {n} shall have it in the VAT breakdown (BG-23).")
    reg(_rule_id(c, 2), _r_parties(c, "lines", "Invoice lines"), terms=("BT-151",) + c.party_terms,
        description=f"An Invoice with a line of VAT category {n}: {c.parties_text}.")
    reg(_rule_id(c, 3), _r_parties(c, "allowances", "Document level allowances"), terms=("BT-95",) + c.party_terms,
        description=f"An Invoice with a document level allowance of VAT category {n}: {c.parties_text}.")
    reg(_rule_id(c, 4), _r_parties(c, "charges", "Document level charges"), terms=("BT-102",) + c.party_terms,
        description=f"An Invoice with a document level charge of VAT category {n}: {c.parties_text}.")
    reg(_rule_id(c, 5), _r_rate(c, "lines", ("BT-151", "BT-152")), terms=("BT-151", "BT-152"),
        description=f"In an Invoice line of VAT category {n} the VAT rate (BT-152) shall be {c.rate_text}.")
    reg(_rule_id(c, 6), _r_rate(c, "allowances", ("BT-95", "BT-96")), terms=("BT-95", "BT-96"),
        description=f"In a document level allowance of VAT category {n} the VAT rate (BT-96) shall be {c.rate_text}.")
    reg(_rule_id(c, 7), _r_rate(c, "charges", ("BT-102", "BT-103")), terms=("BT-102", "BT-103"),
        description=f"In a document level charge of VAT category {n} the VAT rate (BT-103) shall be {c.rate_text}.")
    reg(_rule_id(c, 8), _r08(c), terms=("BT-116", "BT-131", "BT-92", "BT-99"),
        description=f"The VAT category taxable amount (BT-116) of VAT category {n} shall equal the sum of the "
                    "line net amounts plus charges minus allowances of that category"
                    + (" and rate." if c.taxable != "exact" else "."))
    reg(_rule_id(c, 9), _r09(c), terms=("BT-117", "BT-116", "BT-119"),
        description=f"The VAT category tax amount (BT-117) of VAT category {n} shall "
                    + ("equal the taxable amount (BT-116) times the rate (BT-119)." if c.tax == "rate" else "be 0."))
    reg(_rule_id(c, 10), _r10(c), terms=("BT-120", "BT-121"),
        description=f"A VAT breakdown of VAT category {n} shall "
                    + ("not " if c.exemption == "forbidden" else "")
                    + "have a VAT exemption reason code (BT-121) or text (BT-120).")


for _c in CATEGORIES:
    _register_category(_c)


# --- rules that only some categories have ------------------------------------------------

def br_ic_11(inv: Any) -> Iterator[Hit]:
    """In an Invoice with a VAT breakdown of category 'Intra-community supply' the Actual delivery date (BT-72) or
    the Invoicing period (BG-14) shall not be blank.

    UBL binding: a delivery date longer than one character, or anything in
    the document InvoicePeriod - which also holds the VAT point date code (BT-8)."""
    if not _breakdowns(inv, "K"):
        return
    delivered = get(inv, "delivery.actual_delivery_date")
    period = get(inv, "delivery.invoicing_period")
    if (delivered is not None and len(str(delivered)) > 1) or getattr(inv, "vat_point_date_code", None) is not None \
            or (period is not None and (period.start_date is not None or period.end_date is not None)):
        return
    yield Hit("delivery", "An intra-community supply (VAT category K) needs the Actual delivery date (BT-72) "
                          "or the Invoicing period (BG-14).")


def br_ic_12(inv: Any) -> Iterator[Hit]:
    """In an Invoice with a VAT breakdown of category 'Intra-community supply' the Deliver to country code (BT-80)
    shall not be blank."""
    if not _breakdowns(inv, "K"):
        return
    country = get(inv, "delivery.deliver_to_address.country_code")
    if country is None or len(country) <= 1:
        yield Hit("delivery.deliver_to_address.country_code",
                  "An intra-community supply (VAT category K) needs the Deliver to country code (BT-80).")


def _o_exclusive(group: str, what: str) -> Callable[[Any], Iterator[Hit]]:
    """BR-O-11 ... BR-O-14: with a 'Not subject to VAT' breakdown nothing may use another category."""
    def check(inv: Any) -> Iterator[Hit]:
        if not _breakdowns(inv, "O"):
            return
        if group == "vat_breakdown":
            others = [(f"vat_breakdown[{j}]", vb.category_code) for j, vb in items(inv.vat_breakdown)
                      if cat(vb.category_code) != "O"]
        elif group == "lines":
            others = [(f"lines[{i}].vat", get(ln, "vat.category_code")) for i, ln in items(inv.lines)
                      if not is_empty(get(ln, "vat")) and cat(ln.vat.category_code) != "O"]
        else:
            others = [(f"{group}[{k}]", ac.vat_category_code) for k, ac in items(getattr(inv, group, None))
                      if (ac.vat_category_code is not None or ac.vat_rate is not None)
                      and cat(ac.vat_category_code) != "O"]
        if others:
            path, code = others[0]
            yield Hit(path, f"The Invoice has a 'Not subject to VAT' (O) VAT breakdown, so {what} may use "
                            f"another VAT category; {path} uses {fmt(code)}.")
    return check


def _b_used(inv: Any, code: str) -> bool:
    """``//cac:TaxCategory/cbc:ID = code or //cac:ClassifiedTaxCategory/cbc:ID = code`` (exact compare)."""
    return any(vb.category_code == code for _, vb in items(getattr(inv, "vat_breakdown", None))) \
        or any(a.vat_category_code == code for _, a in items(getattr(inv, "allowances", None))) \
        or any(a.vat_category_code == code for _, a in items(getattr(inv, "charges", None))) \
        or any(get(ln, "vat.category_code") == code for _, ln in items(getattr(inv, "lines", None)))


def br_b_01(inv: Any) -> Iterator[Hit]:
    """An Invoice where the VAT category code is 'Split payment' (B) shall be a domestic Italian invoice.

    UBL binding: every country code in the invoice (addresses and item
    countries of origin, ``//cbc:IdentificationCode``) shall be IT."""
    if not _b_used(inv, "B"):
        return
    codes = [(f"{p}.country_code", get(inv, f"{p}.country_code"))
             for p in ("seller.postal_address", "buyer.postal_address", "tax_representative.postal_address",
                       "delivery.deliver_to_address")]
    codes += [(f"lines[{i}].item.country_of_origin", get(ln, "item.country_of_origin"))
              for i, ln in items(getattr(inv, "lines", None))]
    foreign = [(p, v) for p, v in codes if v is not None and v != "IT"]
    if foreign:
        yield Hit(foreign[0][0], f"VAT category 'Split payment' (B) is only for domestic Italian invoices, "
                                 f"but {foreign[0][0]} is {fmt(foreign[0][1])}.")


def br_b_02(inv: Any) -> Iterator[Hit]:
    """An Invoice that contains an item, an allowance, or a charge at the document level, where the VAT category
    code is 'Split payment' (B) shall not contain an invoice line, an allowance, or a charge at the document
    level, where the VAT category code is 'Standard rated' (S)."""
    if _b_used(inv, "B") and _b_used(inv, "S"):
        yield Hit("vat_breakdown", "VAT categories 'Split payment' (B) and 'Standard rated' (S) shall not be "
                                   "used in the same Invoice.")


def _doc(fn: Callable[..., Any]) -> str:
    return first_paragraph(fn.__doc__)


# these only fire with a breakdown (O, K) or a use (B) of their category: guarded by it as the ten rules are
_K, _O, _B = ("vat_categories", "K"), ("vat_categories", "O"), ("vat_categories", "B")
register("BR-IC-11", br_ic_11, terms=("BT-72", "BG-14"), description=_doc(br_ic_11), guard=_K)
register("BR-IC-12", br_ic_12, terms=("BT-80",), description=_doc(br_ic_12), guard=_K)
register("BR-O-11", _o_exclusive("vat_breakdown", "no other VAT breakdown"), terms=("BT-118",),
         description="An Invoice with a 'Not subject to VAT' (O) VAT breakdown shall not contain other "
                     "VAT breakdown groups.", guard=_O)
register("BR-O-12", _o_exclusive("lines", "no invoice line"), terms=("BT-151",),
         description="An Invoice with a 'Not subject to VAT' (O) VAT breakdown shall not contain lines of "
                     "another VAT category.", guard=_O)
register("BR-O-13", _o_exclusive("allowances", "no document level allowance"), terms=("BT-95",),
         description="An Invoice with a 'Not subject to VAT' (O) VAT breakdown shall not contain document level "
                     "allowances of another VAT category.", guard=_O)
register("BR-O-14", _o_exclusive("charges", "no document level charge"), terms=("BT-102",),
         description="An Invoice with a 'Not subject to VAT' (O) VAT breakdown shall not contain document level "
                     "charges of another VAT category.", guard=_O)
register("BR-B-01", br_b_01, terms=("BT-118", "BT-151", "BT-40", "BT-55"),
         description=_doc(br_b_01), guard=_B)
register("BR-B-02", br_b_02, terms=("BT-118", "BT-151", "BT-95", "BT-102"),
         description=_doc(br_b_02), guard=_B)
