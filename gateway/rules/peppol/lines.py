"""PEPPOL-EN16931-R04x, R110-R130: allowances and charges, invoice lines, prices and periods.

Allowance and charge contexts follow the stylesheet's priorities: an
allowance or charge with a percentage but no base amount is checked by R041
only, one with a base amount but no percentage by R042 only, the others by
R040 (their contexts shadow each other in the same pattern). Price level
allowances (``cac:Price/cac:AllowanceCharge``) are R046's.
"""
from __future__ import annotations

from decimal import ROUND_HALF_DOWN, Decimal, localcontext
from typing import Any, Iterator, Optional

from gateway.rules.xpath import _CTX, dec, fmt, xround

from .common import Hit, get, items, peppol

FAMILY = "PEPPOL-EN16931"
SLACK = Decimal("0.02")


def _allowances_and_charges(inv: Any) -> Iterator[tuple[str, Any, tuple[str, str, str]]]:
    """(path, group, (amount term, base term, percentage term)) for every document and line level
    allowance and charge, in document order as UBL writes them."""
    for i, a in items(get(inv, "allowances")):
        yield f"allowances[{i}]", a, ("BT-92", "BT-93", "BT-94")
    for i, c in items(get(inv, "charges")):
        yield f"charges[{i}]", c, ("BT-99", "BT-100", "BT-101")
    for k, line in items(get(inv, "lines")):
        for i, a in items(line.allowances):
            yield f"lines[{k}].allowances[{i}]", a, ("BT-136", "BT-137", "BT-138")
        for i, c in items(line.charges):
            yield f"lines[{k}].charges[{i}]", c, ("BT-141", "BT-142", "BT-143")


def _slack(exp: Optional[Decimal], val: Optional[Decimal], slack: Decimal = SLACK) -> bool:
    """``u:slack(exp, val, slack)``: ``exp - slack <= val <= exp + slack``."""
    if exp is None or val is None:
        return False
    with localcontext(_CTX):
        return exp + slack >= val and exp - slack <= val


def _div(a: Decimal, b: Decimal) -> Decimal:
    """xs:decimal ``div``: exact when it terminates, else to 18 places at least (as Saxon divides)."""
    with localcontext(_CTX):
        q = a / b
        if q * b == a:
            return q
        scale = max(18, -min(a.as_tuple().exponent, b.as_tuple().exponent, 0))
        return q.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_DOWN)


@peppol("PEPPOL-EN16931-R041", FAMILY, terms=("BT-93", "BT-100", "BT-137", "BT-142"))
def r041(inv: Any) -> Iterator[Hit]:
    """Allowance/charge base amount MUST be provided when allowance/charge percentage is provided."""
    for path, ac, (_, base, pct) in _allowances_and_charges(inv):
        if ac.percentage is not None and ac.base_amount is None:
            yield Hit(f"{path}.base_amount", f"Allowance/charge base amount ({base}) MUST be provided when the "
                                             f"percentage ({pct}) is.", (base, pct))


@peppol("PEPPOL-EN16931-R042", FAMILY, terms=("BT-94", "BT-101", "BT-138", "BT-143"))
def r042(inv: Any) -> Iterator[Hit]:
    """Allowance/charge percentage MUST be provided when allowance/charge base amount is provided."""
    for path, ac, (_, base, pct) in _allowances_and_charges(inv):
        if ac.percentage is None and ac.base_amount is not None:
            yield Hit(f"{path}.percentage", f"Allowance/charge percentage ({pct}) MUST be provided when the base "
                                            f"amount ({base}) is.", (base, pct))


@peppol("PEPPOL-EN16931-R040", FAMILY, terms=("BT-92", "BT-99", "BT-136", "BT-141"))
def r040(inv: Any) -> Iterator[Hit]:
    """Allowance/charge amount must equal base amount * percentage/100 if base amount and percentage exists."""
    for path, ac, (amount, base, pct) in _allowances_and_charges(inv):
        if ac.percentage is None or ac.base_amount is None:
            continue
        with localcontext(_CTX):
            expected = dec(ac.base_amount) * dec(ac.percentage) / Decimal(100)
        given = dec(ac.amount) if ac.amount is not None else Decimal(0)
        if not _slack(given, expected):
            yield Hit(f"{path}.amount", f"Allowance/charge amount ({amount}) {fmt(ac.amount)} must equal base amount "
                                        f"* percentage / 100 = {fmt(expected)}.", (amount, base, pct))


@peppol("PEPPOL-EN16931-R046", FAMILY, terms=("BT-146", "BT-147", "BT-148"))
def r046(inv: Any) -> Iterator[Hit]:
    """Item net price MUST equal (Gross price - Allowance amount) when gross price is provided."""
    for k, line in items(get(inv, "lines")):
        price = line.price
        if price is None or price.gross_price is None:
            continue
        discount = dec(price.price_discount) if price.price_discount is not None else Decimal(0)
        with localcontext(_CTX):
            expected = dec(price.gross_price) - discount
        if price.net_price is None or dec(price.net_price) != expected:
            yield Hit(f"lines[{k}].price.net_price",
                      f"Item net price (BT-146) {fmt(price.net_price)} MUST equal gross price (BT-148) - price "
                      f"discount (BT-147) = {fmt(expected)}.")


def _period_rule(rule_id: str, name: str, term: str, doc_term: str, later: bool, text: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        bound = get(inv, f"delivery.invoicing_period.{name}")
        if bound is None:
            return
        for k, line in items(get(inv, "lines")):
            value = get(line, f"period.{name}")
            if value is None:
                continue
            if (value < bound) if later else (value > bound):
                yield Hit(f"lines[{k}].period.{name}", f"{text} ({term} {value.isoformat()}, {doc_term} "
                                                       f"{bound.isoformat()}).")
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=(term, doc_term))(check)


_period_rule("PEPPOL-EN16931-R110", "start_date", "BT-134", "BT-73", True,
             "Start date of line period MUST be within invoice period.")
_period_rule("PEPPOL-EN16931-R111", "end_date", "BT-135", "BT-74", False,
             "End date of line period MUST be within invoice period.")


def _sum2(values: list) -> Decimal:
    """``round(sum(x) * 10 * 10) div 100``."""
    with localcontext(_CTX):
        total = sum((dec(v) for v in values if v is not None), Decimal(0))
        return xround(total * 100) / Decimal(100)


@peppol("PEPPOL-EN16931-R120", FAMILY, terms=("BT-131", "BT-129", "BT-146", "BT-149", "BT-136", "BT-141"))
def r120(inv: Any) -> Iterator[Hit]:
    """Invoice line net amount MUST equal (Invoiced quantity * (Item net price/item price base quantity) + Sum of invoice line charge amount - sum of invoice line allowance amount."""
    for k, line in items(get(inv, "lines")):
        net = dec(line.net_amount) if line.net_amount is not None else Decimal(0)
        quantity = dec(line.quantity) if line.quantity is not None else Decimal(1)
        price = dec(get(line, "price.net_price"))
        price = price if price is not None else Decimal(0)
        base = dec(get(line, "price.base_quantity"))
        base = base if base is not None and base != 0 else Decimal(1)
        allowances = [a.amount for _, a in items(line.allowances)]
        charges = [c.amount for _, c in items(line.charges)]
        with localcontext(_CTX):
            expected = quantity * _div(price, base) + (_sum2(charges) if charges else 0) - \
                (_sum2(allowances) if allowances else 0)
        if not _slack(net, expected):
            yield Hit(f"lines[{k}].net_amount",
                      f"Invoice line net amount (BT-131) {fmt(line.net_amount)} MUST equal quantity * (net price / "
                      f"base quantity) + charges - allowances = {fmt(expected)}.")


@peppol("PEPPOL-EN16931-R121", FAMILY, terms=("BT-149",))
def r121(inv: Any) -> Iterator[Hit]:
    """Base quantity MUST be a positive number above zero."""
    for k, line in items(get(inv, "lines")):
        base = get(line, "price.base_quantity")
        if base is not None and not dec(base) > 0:
            yield Hit(f"lines[{k}].price.base_quantity",
                      f"Base quantity (BT-149) {fmt(base)} MUST be a positive number above zero.")


@peppol("PEPPOL-EN16931-R130", FAMILY, terms=("BT-150", "BT-130"))
def r130(inv: Any) -> Iterator[Hit]:
    """Unit code of price base quantity MUST be same as invoiced quantity."""
    for k, line in items(get(inv, "lines")):
        unit = get(line, "price.base_quantity_unit_code")
        if unit is None:
            continue
        has_quantity = line.quantity is not None or line.quantity_unit_code is not None
        if has_quantity and unit != line.quantity_unit_code:
            yield Hit(f"lines[{k}].price.base_quantity_unit_code",
                      f"Unit code of price base quantity (BT-150) {unit!r} MUST be the invoiced quantity's "
                      f"(BT-130) {line.quantity_unit_code!r}.")
