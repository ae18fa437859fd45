"""How big an EN 16931 number may be: one table, used wherever a Decimal enters or leaves.

A Decimal holds ``1E+999999999`` in a few bytes, but its plain form (what a
writer puts in a file, what a message shows) has a billion digits. Every
numeric business term has one of the four EN 16931 data types (amount, unit
price amount, quantity, percentage: ``model.datatype``), and no invoice needs
more digits than ``BOUNDS`` allows for its type. Readers refuse what does not
fit, naming the term and the place; the model's JSON reader does the same;
writers refuse it too (a model built some other way), and messages never
expand a number they cannot show in a bounded length (``plain``).

The fraction bounds are not EN 16931's decimal rules: an amount with three
decimals fits here and is reported by BR-DEC, as the standard wants; the
bounds only refuse what is no invoice at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from gateway.model.invoice import datatype


@dataclass(frozen=True)
class Bounds:
    """The most digits before and after the decimal point of a number of one data type."""
    label: str
    integer_digits: int
    fraction_digits: int


# EN 16931 data type -> its bounds. Amounts: 15 integer digits, what the document store keeps
# (NUMERIC(19, 4)); quantities and unit prices may be fine-grained (energy, fuel), hence more
# decimals; a percentage needs few integer digits (a 150 % charge has three).
BOUNDS: dict[str, Bounds] = {
    "amount": Bounds("amount", 15, 10),
    "unit_price": Bounds("unit price amount", 15, 19),
    "quantity": Bounds("quantity", 15, 19),
    "percentage": Bounds("percentage", 6, 10),
}
# the widest of them: a number that does not fit it fits no data type (and a numeric term of no
# listed type, none today, gets it)
DEFAULT = Bounds("number", max(b.integer_digits for b in BOUNDS.values()),
                 max(b.fraction_digits for b in BOUNDS.values()))

_SHOWN = 40                            # characters of an offending text quoted in a message


class NumberError(ValueError):
    """A number that does not fit its term's data type; the message says why."""


def bounds_of(tid: Optional[str]) -> Bounds:
    """The bounds of a business term's data type (``DEFAULT`` for an unknown term)."""
    return BOUNDS.get(datatype(tid or "") or "", DEFAULT)


def integer_digits(value: Decimal) -> int:
    """Digits before the decimal point of the plain form (0 for zero and for |value| < 1)."""
    if not value or not value.is_finite():
        return 0
    return max(0, value.adjusted() + 1)


def fraction_digits(value: Decimal) -> int:
    """Digits after the decimal point as written: ``10.500`` has 3."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def shown(text: str) -> str:
    """A text quoted in a message, cut to a readable length."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def problem(value: Decimal, tid: Optional[str]) -> Optional[str]:
    """What keeps ``value`` from fitting the data type of term ``tid``; None when it fits."""
    b = bounds_of(tid)
    if not value.is_finite():
        return f"is not a finite number (an EN 16931 {b.label} is)"
    n = integer_digits(value)
    if n > b.integer_digits:
        return (f"has {n:,} digits before the decimal point; an EN 16931 {b.label} "
                f"has at most {b.integer_digits}")
    n = fraction_digits(value)
    if n > b.fraction_digits:
        return (f"has {n:,} digits after the decimal point; an EN 16931 {b.label} "
                f"has at most {b.fraction_digits}")
    return None


def checked(value: Decimal, tid: Optional[str], text: Optional[str] = None) -> Decimal:
    """``value`` in plain form (exponent notation resolved: ``1.5E+3`` -> ``1500``).

    Raises ``NumberError`` when it does not fit term ``tid``'s data type;
    ``text`` is the value as written, quoted in the message."""
    why = problem(value, tid)
    if why is not None:
        raise NumberError(f"{shown(text if text is not None else str(value))} {why}")
    if value.as_tuple().exponent > 0:      # bounded above: at most integer_digits digits
        value = value.quantize(Decimal(1))
    return value


def plain(value: Decimal) -> str:
    """The fixed-point text of a number for a person; exponent notation when that would be huge."""
    if value.is_finite() and integer_digits(value) <= DEFAULT.integer_digits * 2 \
            and fraction_digits(value) <= DEFAULT.fraction_digits * 2:
        return format(value, "f")
    return str(value)
