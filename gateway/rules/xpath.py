"""XPath 2.0 value semantics, reproduced on model values.

The official EN 16931 rules are XPath expressions; to agree with them on
every input - not only on tidy ones - the rules here compute the way XPath
does:

* a missing value is an *empty sequence*: arithmetic on it gives empty, and
  every comparison with it is false (so ``xs:decimal(BT-106) = ...`` fails
  when BT-106 is absent). ``None`` plays the empty sequence here: the
  arithmetic helpers propagate it and the comparison helpers return False.
* ``round()`` rounds half toward positive infinity (``round(-2.5) = -2``),
  unlike Python's ``round`` (half to even).
* ``xs:decimal`` arithmetic is exact; an *untyped* value in arithmetic
  (``cbc:TaxableAmount - 1``) is first converted to ``xs:double``, and a double
  cast back to ``xs:decimal`` keeps the binary value exactly (that is what
  Saxon does), so ``double_minus`` reproduces that conversion.
* ``normalize-space`` only knows the four XML white-space characters.
"""
from __future__ import annotations

import math
import re
from decimal import ROUND_FLOOR, Context, Decimal
from typing import Any, Iterable, Optional

from gateway.model.numbers import plain

Num = Optional[Decimal]

# wide enough that no product or sum of invoice amounts is ever rounded
_CTX = Context(prec=80)
_WS = re.compile(r"[ \t\r\n]+")


def normalize_space(value: Any) -> str:
    """XPath normalize-space(): '' for a missing value."""
    if value is None:
        return ""
    text = value if value.__class__ is str else str(value)
    if "\t" in text or "\n" in text or "\r" in text or "  " in text:
        return _WS.sub(" ", text).strip(" ")
    return text.strip(" ")


def blank(value: Any) -> bool:
    """``normalize-space(x) = ''``: missing, empty, or only white space."""
    return value is None or not (value if value.__class__ is str else str(value)).strip(" \t\r\n")


def present(value: Any) -> bool:
    """``exists(x)``: the element is there, even if empty."""
    return value is not None


def dec(value: Any) -> Num:
    """``xs:decimal(x)`` on a model value (Decimal, int or numeric string)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).strip())
    except Exception:  # noqa: BLE001 - not a number: behaves as absent
        return None


# the context's own methods compute in it without switching the thread's context (``localcontext``
# per operation cost more than the operation)
_add, _subtract, _multiply, _divide = _CTX.add, _CTX.subtract, _CTX.multiply, _CTX.divide
_ZERO, _HALF, _HUNDRED, _CENT = Decimal(0), Decimal("0.5"), Decimal(100), Decimal("0.01")


def add(*values: Num) -> Num:
    total = _ZERO
    for v in values:
        if v is None:
            return None
        total = _add(total, v)
    return total


def sub(a: Num, b: Num) -> Num:
    if a is None or b is None:
        return None
    return _subtract(a, b)


def mul(a: Num, b: Num) -> Num:
    if a is None or b is None:
        return None
    return _multiply(a, b)


def div100(a: Num) -> Num:
    """``x div 100`` on xs:decimal: exact."""
    if a is None:
        return None
    return _divide(a, _HUNDRED)


def xabs(a: Num) -> Num:
    return None if a is None else abs(a)


def xsum(values: Iterable[Any]) -> Decimal:
    """``sum()``: absent items contribute nothing; the sum of nothing is 0."""
    total = _ZERO
    for v in values:
        if v.__class__ is not Decimal:
            v = dec(v)
            if v is None:
                continue
        total = _add(total, v)
    return total


def xround(a: Num) -> Num:
    """XPath ``round()``: the nearest integer, halves toward +infinity."""
    if a is None:
        return None
    return _add(a, _HALF).to_integral_value(rounding=ROUND_FLOOR, context=_CTX)


def round2(a: Num) -> Num:
    """``round(x * 10 * 10) div 100``: the schematron's two-decimal rounding.

    Written with two decimals (exact: it is an integer divided by 100), so
    messages show 100.00 rather than 1E+2."""
    if a is None:
        return None
    return _divide(xround(_multiply(a, _HUNDRED)), _HUNDRED).quantize(_CENT, context=_CTX)


def double(value: Any) -> Optional[float]:
    """An untyped value used as a number (``sum(ram:CalculatedAmount)``): ``xs:double``, None when absent
    or not a number."""
    d = dec(value)
    if d is None:
        return None
    try:
        return float(d)
    except (OverflowError, ValueError):
        return None


def dsum(values: Iterable[Any]) -> float:
    """``sum()`` of untyped values: each cast to ``xs:double``, added in order (absent items count nothing)."""
    total = 0.0
    for v in values:
        d = double(v)
        if d is not None:
            total += d
    return total


def dround(x: float) -> float:
    """XPath ``round()`` on an ``xs:double``: the nearest integer, halves toward +infinity, computed
    exactly (as Saxon's ``Math.round``; ``floor(x + 0.5)`` would round 0.49999999999999994 up)."""
    if x != x or x in (float("inf"), float("-inf")):
        return x
    f = math.floor(x)
    return float(f + 1 if x - f >= 0.5 else f)


def dround2(x: float) -> float:
    """``round(x * 10 * 10) div 100`` on an ``xs:double``."""
    return dround(x * 10.0 * 10.0) / 100.0


def double_shift(a: Num, delta: int) -> Num:
    """``xs:decimal(untyped + delta)``: the sum computed in xs:double.

    The schematron writes ``../xs:decimal(cbc:TaxableAmount - 1)``: the
    subtraction happens on doubles, and the result is cast back to decimal
    keeping the binary value exactly."""
    if a is None:
        return None
    try:
        return Decimal(float(a) + float(delta))
    except (OverflowError, ValueError):
        return None


def double_lt(x: float, d: Decimal) -> bool:
    """``xs:decimal(x) < d`` for a double ``x``, exactly (``x`` is ``double_shift``'s double): when the
    two are apart as doubles, the doubles tell (``float(d)`` is the double nearest ``d``), so no
    Decimal of ``x`` is made; NaN and infinities take the exact way, as before."""
    f = float(d)
    if x != f and x - x == 0.0 and f - f == 0.0:
        return x < f
    return Decimal(x) < d


def double_gt(x: float, d: Decimal) -> bool:
    """``xs:decimal(x) > d`` for a double ``x``, exactly (see ``double_lt``)."""
    f = float(d)
    if x != f and x - x == 0.0 and f - f == 0.0:
        return x > f
    return Decimal(x) > d


def eq(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a == b


def ne(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a != b


def lt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a < b


def le(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a <= b


def gt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a > b


def ge(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a >= b


def fraction_digits(value: Any) -> int:
    """``string-length(substring-after(x, '.'))``: decimals *as written*.

    The model keeps each Decimal exactly as it was written in the source
    (``Decimal('10.500')`` has exponent -3), so the exponent tells how many
    characters followed the decimal point."""
    if value is None:
        return 0
    if value.__class__ is Decimal:      # its text, unless in exponent notation (faster than as_tuple)
        text = str(value)
        if "E" not in text:
            dot = text.find(".")
            return len(text) - dot - 1 if dot >= 0 else 0
    if isinstance(value, Decimal):
        if not value.is_finite():
            return 0
        exp = value.as_tuple().exponent
        return -exp if isinstance(exp, int) and exp < 0 else 0
    text = str(value)
    return len(text.split(".", 1)[1]) if "." in text else 0


def fmt(value: Any) -> str:
    """A value as a person reads it in a message."""
    if value is None:
        return "(none)"
    if isinstance(value, Decimal):
        return plain(value)           # bounded: exponent notation for what would be huge
    return repr(value) if isinstance(value, str) else str(value)
