"""Decimal texts and values that need no bounds check, recognised the short way.

Every number read or written is held to the bounds of its term's data type
(``gateway.model.numbers``: digits before and after the point, no exponent a
plain form would expand). Almost every number of an invoice is a short plain
text (``1250.00``) whose digits, as written, are within those bounds; these
tests say so with one regular expression or one ``str`` instead of the full
check, and leave anything else to it.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Optional

from gateway.model.numbers import bounds_of


def plain_number(term: Optional[str]) -> Any:
    """A match of plain decimal texts (``-12.50``) that fit the bounds of ``term``'s data type
    as written: at most its integer digits, at most its fraction digits, no exponent. What it
    matches, ``checked`` would give back unchanged; anything else goes through it."""
    b = bounds_of(term)
    return re.compile(rf"[+-]?[0-9]{{1,{b.integer_digits}}}(?:\.[0-9]{{0,{b.fraction_digits}}})?\Z").match


def plain_text(term: Optional[str]) -> Any:
    """``format(value, "f")`` of a Decimal that fits the bounds of ``term``'s data type, as
    ``_format_value`` checks them, or None when the short way cannot tell (then it must check).
    ``str`` gives the plain form whenever it writes no exponent."""
    b = bounds_of(term)
    whole, fraction = b.integer_digits, b.fraction_digits

    def text(value: Decimal) -> Optional[str]:
        s = str(value)
        if "E" in s or not value.is_finite():
            return None
        i, _, f = s.partition(".")
        if len(i) - (i[0] == "-") > whole or len(f) > fraction:
            return None
        return s
    return text
