"""BR-DEC-*: amounts shall have at most two decimals, *as written*.

The schematron counts the characters after the decimal point
(``string-length(substring-after(x, '.')) <= 2``), so ``10.500`` fails even
though it equals 10.50. The model keeps each Decimal exactly as written, and
its exponent gives that count (``xpath.fraction_digits``).

BR-DEC-13 (BT-110) and BR-DEC-15 (BT-111) never fire in the UBL binding: its
test filters ``TaxAmount[@currencyID = cbc:DocumentCurrencyCode]`` where
``cbc:DocumentCurrencyCode`` is read relative to the TaxAmount and is always
empty (verified with Saxon on a UBL invoice with BT-110 = 20.735: only
UBL-DT-01 fires). They are registered as rules that never fire, to agree;
the CII binding checks the *value* (``. = round(. * 100) div 100``) instead.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

from .access import items, totals
from .registry import NEVER, Hit, register
from .xpath import fmt, fraction_digits

_LABELS = {
    "BT-92": "Document level allowance amount", "BT-93": "Document level allowance base amount",
    "BT-99": "Document level charge amount", "BT-100": "Document level charge base amount",
    "BT-106": "Sum of Invoice line net amount", "BT-107": "Sum of allowances on document level",
    "BT-108": "Sum of charges on document level", "BT-109": "Invoice total amount without VAT",
    "BT-110": "Invoice total VAT amount", "BT-111": "Invoice total VAT amount in accounting currency",
    "BT-112": "Invoice total amount with VAT", "BT-113": "Paid amount", "BT-114": "Rounding amount",
    "BT-115": "Amount due for payment", "BT-116": "VAT category taxable amount",
    "BT-117": "VAT category tax amount", "BT-131": "Invoice line net amount",
    "BT-136": "Invoice line allowance amount", "BT-137": "Invoice line allowance base amount",
    "BT-141": "Invoice line charge amount", "BT-142": "Invoice line charge base amount",
}


def _paths(inv: Any, where: str, field: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of ``field`` in every group of kind ``where``."""
    if where == "totals":
        yield f"totals.{field}", getattr(totals(inv), field)
    elif where in ("allowances", "charges", "vat_breakdown"):
        for k, g in items(getattr(inv, where, None)):
            yield f"{where}[{k}].{field}", getattr(g, field)
    elif where == "lines":
        for i, line in items(getattr(inv, "lines", None)):
            yield f"lines[{i}].{field}", getattr(line, field)
    else:  # lines.allowances / lines.charges
        sub = where.split(".", 1)[1]
        for i, line in items(getattr(inv, "lines", None)):
            for k, g in items(getattr(line, sub, None)):
                yield f"lines[{i}].{sub}[{k}].{field}", getattr(g, field)


def _dec_rule(rule_id: str, term: str, where: str, field: str) -> None:
    label = _LABELS[term]

    def hit(path: str, value: Any) -> Hit:
        return Hit(path, f"The {label} ({term}) {fmt(value)} has {fraction_digits(value)} "
                         "decimals: at most 2 are allowed.")

    if where == "totals":           # one value: no walk
        path = f"totals.{field}"

        def check(inv: Any) -> Sequence[Hit]:
            value = getattr(totals(inv), field)
            return [hit(path, value)] if value is not None and fraction_digits(value) > 2 else ()
    elif where in ("allowances", "charges", "vat_breakdown", "lines"):     # one group: a plain loop
        def check(inv: Any) -> Sequence[Hit]:
            found = None
            for k, g in items(getattr(inv, where, None)):
                value = getattr(g, field)
                if value is not None and fraction_digits(value) > 2:
                    found = found or []
                    found.append(hit(f"{where}[{k}].{field}", value))
            return found or ()
    else:
        def check(inv: Any) -> Sequence[Hit]:
            return [hit(path, value) for path, value in _paths(inv, where, field)
                    if value is not None and fraction_digits(value) > 2]
    group = _GROUPS.get(where) or (_GROUPS.get(field) if where == "totals" else None)
    register(rule_id, check, terms=(term,),
             description=f"The allowed maximum number of decimals for the {label} ({term}) is 2.",
             guard=("groups", group) if group else None)


# the optional groups' (and totals') names for the guard ``groups`` (``access.groups``)
_GROUPS = {"allowances": "allowances", "charges": "charges", "lines.allowances": "line_allowances",
           "lines.charges": "line_charges", "sum_of_allowances": "sum_of_allowances",
           "sum_of_charges": "sum_of_charges", "paid_amount": "paid_amount", "rounding_amount": "rounding_amount"}


for _rid, _term, _where, _field in (
        ("BR-DEC-01", "BT-92", "allowances", "amount"),
        ("BR-DEC-02", "BT-93", "allowances", "base_amount"),
        ("BR-DEC-05", "BT-99", "charges", "amount"),
        ("BR-DEC-06", "BT-100", "charges", "base_amount"),
        ("BR-DEC-09", "BT-106", "totals", "sum_of_line_net_amounts"),
        ("BR-DEC-10", "BT-107", "totals", "sum_of_allowances"),
        ("BR-DEC-11", "BT-108", "totals", "sum_of_charges"),
        ("BR-DEC-12", "BT-109", "totals", "total_without_vat"),
        ("BR-DEC-14", "BT-112", "totals", "total_with_vat"),
        ("BR-DEC-16", "BT-113", "totals", "paid_amount"),
        ("BR-DEC-17", "BT-114", "totals", "rounding_amount"),
        ("BR-DEC-18", "BT-115", "totals", "amount_due"),
        ("BR-DEC-19", "BT-116", "vat_breakdown", "taxable_amount"),
        ("BR-DEC-20", "BT-117", "vat_breakdown", "tax_amount"),
        ("BR-DEC-23", "BT-131", "lines", "net_amount"),
        ("BR-DEC-24", "BT-136", "lines.allowances", "amount"),
        ("BR-DEC-25", "BT-137", "lines.allowances", "base_amount"),
        ("BR-DEC-27", "BT-141", "lines.charges", "amount"),
        ("BR-DEC-28", "BT-142", "lines.charges", "base_amount")):
    _dec_rule(_rid, _term, _where, _field)


def _never(inv: Any) -> Iterator[Hit]:
    """Never fires in the UBL binding (see the module docstring)."""
    return iter(())


register("BR-DEC-13", _never, terms=("BT-110",), guard=NEVER,
         description="The allowed maximum number of decimals for the Invoice total VAT amount (BT-110) is 2 "
                     "(never fires in the UBL binding).")
register("BR-DEC-15", _never, terms=("BT-111",), guard=NEVER,
         description="The allowed maximum number of decimals for the Invoice total VAT amount in accounting "
                     "currency (BT-111) is 2 (never fires in the UBL binding).")
