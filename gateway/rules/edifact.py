"""The CEN EDIFACT binding of the EN 16931 rules whose EDIFACT assert means something else on the model.

The EDIFACT binding is the CEN stylesheet ``EN16931-EDIFACT-validation.xslt``
(2017, on the D16B INVOIC of ISO 20625). Only the rules below are given their
EDIFACT meaning (``registry.register_variant``; ``validate(inv,
syntax="edifact")`` runs them instead of the UBL rules): those where the UBL
binding rejects what EDIFACT allows - an invoice not subject to VAT without an
invoice total VAT amount (BT-110). Every other rule keeps the UBL binding's
meaning on EDIFACT documents (COVERAGE.md).

EDIFACT values are untyped in the stylesheet: arithmetic on them is
``xs:double``, and comparing two of them compares their text.
"""
from __future__ import annotations

from typing import Any, Iterator

from .access import totals
from .registry import EDIFACT, Hit, variant
from .xpath import double, dround, fmt


@variant("BR-CO-14", EDIFACT)
def br_co_14_edifact(inv: Any) -> Iterator[Hit]:
    """EDIFACT binding: the context is an MOA 176 inside a VAT breakdown group (SG54), not the
    invoice total VAT amount of the totals (SG52) that BT-110 is: on BT-110 the rule never fires."""
    return iter(())


@variant("BR-CO-15", EDIFACT)
def br_co_15_edifact(inv: Any) -> Iterator[Hit]:
    """EDIFACT binding (MOA 388, 389, 176 of the totals): BT-112 = BT-109 + BT-110 rounded to two
    decimals, or, without BT-110, BT-112 = BT-109. The values are untyped: the sum is ``xs:double``
    and BT-112 = BT-109 compares the two as written (text)."""
    t = totals(inv)
    with_vat, without_vat, vat = double(t.total_with_vat), double(t.total_without_vat), double(t.total_vat)
    if with_vat is not None and without_vat is not None and vat is not None \
            and with_vat == dround((without_vat + vat) * 100.0) / 100.0:
        return
    if t.total_vat is None and t.total_with_vat is not None and t.total_without_vat is not None \
            and str(t.total_with_vat) == str(t.total_without_vat):
        return
    yield Hit("totals.total_with_vat",
              f"Invoice total amount with VAT (BT-112) is {fmt(t.total_with_vat)} but BT-109 "
              f"{fmt(t.total_without_vat)} + BT-110 {fmt(t.total_vat)} does not give it "
              "(without BT-110, BT-112 shall be BT-109).")
