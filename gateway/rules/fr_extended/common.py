"""What the EXTENDED-CTC-FR rules share: registration and XPath's typed arithmetic.

The EXTENDED-CTC-FR stylesheets (FNFE-MPE 1.4.0.03) compare totals within a
tolerance of 0.01 per element summed, and compute those sums with
``sum()`` over untyped values, that is in ``xs:double``; a double cast to
``xs:decimal`` keeps its binary value. ``Num`` reproduces that: an operation
with a double is a double, decimals stay exact, so an amount exactly at the
tolerance is judged as the stylesheet judges it.

On the model every invoice line counts in the sums: the line sub-types
(EXT-FR-FE-163, GROUP and INFORMATION lines left out of the sums) are not
EN 16931 terms, and a line without one is a DETAIL line.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Callable, Iterable, Optional, Union

from ..registry import FATAL, WARNING, Check, Hit, rule
from ..xpath import normalize_space

__all__ = ["RULE_SET", "frext", "FATAL", "WARNING", "Hit", "Num", "xsum", "xround2", "to_decimal", "minus", "plus",
           "xabs", "le", "CATEGORIES", "normalize_space"]

RULE_SET = "fr-extended"

Num = Union[Decimal, float, None]

# the VAT categories of the BR-FREXT-x rules: family letter -> category code
CATEGORIES = {"S": "S", "Z": "Z", "E": "E", "AE": "AE", "IC": "K", "G": "G", "O": "O", "AF": "L", "AG": "M"}


def frext(rule_id: str, family: str, *, terms: Iterable[str], severity: str = FATAL,
          description: Optional[str] = None) -> Callable[[Check], Check]:
    """``@rule`` for the ``fr-extended`` rule set."""
    return rule(rule_id, terms=terms, severity=severity, description=description, rule_set=RULE_SET,
                family=family)


def xsum(values: Iterable[Any]) -> Num:
    """``sum()`` of untyped values: an ``xs:double`` (the integer 0 for nothing, kept as Decimal 0)."""
    found = [float(v) for v in values if v is not None]
    if not found:
        return Decimal(0)
    total = 0.0
    for v in found:
        total += v
    return total


def _round(x: Num) -> Num:
    """XPath ``round()``: halves toward +infinity."""
    if x is None:
        return None
    if isinstance(x, float):
        return float(math.floor(x + 0.5)) if math.isfinite(x) else x
    return (x + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR")


def xround2(x: Num) -> Num:
    """``round(x * 100) div 100``."""
    if x is None:
        return None
    if isinstance(x, float):
        r = _round(x * 100.0)
        return r / 100.0
    return _round(x * 100) / Decimal(100)


def to_decimal(x: Num) -> Num:
    """``xs:decimal(x)``: a double keeps its binary value exactly."""
    if x is None or isinstance(x, Decimal):
        return x
    return Decimal(x) if math.isfinite(x) else None


def _op(a: Num, b: Num, fn: Callable[[Any, Any], Any]) -> Num:
    if a is None or b is None:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return fn(float(a), float(b))
    return fn(a, b)


def minus(a: Num, b: Num) -> Num:
    return _op(a, b, lambda x, y: x - y)


def plus(a: Num, b: Num) -> Num:
    return _op(a, b, lambda x, y: x + y)


def xabs(a: Num) -> Num:
    return None if a is None else abs(a)


def le(a: Num, b: Num) -> bool:
    """``a le b``: false when either is the empty sequence."""
    if a is None or b is None:
        return False
    if isinstance(a, float) or isinstance(b, float):
        return float(a) <= float(b)
    return a <= b


def tolerance(n: int) -> Decimal:
    """``n * 0.01`` (an xs:decimal)."""
    return Decimal("0.01") * n
