"""BR-FREXT-CO-10 ... BR-FREXT-CO-15 and BR-CO-25: the document totals, within a tolerance.

EXTENDED-CTC-FR replaces the exact EN 16931 total rules (BR-CO-10 to 13,
BR-CO-15) by ones allowing 0.01 per element summed, and brings back BR-CO-25.
"""
from __future__ import annotations

from typing import Any, Iterator

from ..access import get, items, totals
from .common import (Hit, frext, le, minus, plus, tolerance, to_decimal, xabs, xround2, xsum)

FAMILY = "BR-FREXT-CO"


def _lines(inv: Any) -> tuple[Any, int]:
    """(``$calculatedAmountBT131``, ``$nbLineItems``): the lines' net amounts summed and rounded, and how
    many there are."""
    amounts = [ln.net_amount for _, ln in items(get(inv, "lines")) if ln.net_amount is not None]
    return xround2(xsum(amounts)), len(amounts)


def _doc_level(inv: Any, kind: str) -> tuple[Any, int]:
    """(``$calculatedAmountBT92`` or ``BT99``, how many allowances or charges): their amounts summed and
    rounded, as an xs:decimal."""
    groups = [g for _, g in items(get(inv, kind))]
    return to_decimal(xround2(xsum(g.amount for g in groups))), len(groups)


@frext("BR-FREXT-CO-10", FAMILY, terms=("BT-106", "BT-131"))
def br_frext_co_10(inv: Any) -> Iterator[Hit]:
    """The sum of line net amounts (BT-106) equals the lines' net amounts (BT-131) summed, within 0.01 per line.
    — Écart absolu entre le montant total des lignes (BT-106) et la somme des montants nets ligne (BT-131)
    ≤ 0,01 € * nombre de lignes."""
    calc, n = _lines(inv)
    result = xround2(xabs(minus(totals(inv).sum_of_line_net_amounts, calc)))
    if not le(result, tolerance(n)):
        yield Hit("totals.sum_of_line_net_amounts",
                  f"The sum of line net amounts (BT-106) {totals(inv).sum_of_line_net_amounts} is not the lines' "
                  f"net amounts summed ({calc}) within 0.01 per line ({n}).")


def _sum_rule(rule_id: str, kind: str, field: str, term: str, each: str, fr_text: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        total = getattr(totals(inv), field)
        calc, n = _doc_level(inv, kind)
        if total is None and n == 0:
            return
        if not le(xabs(minus(total, calc)), tolerance(n)):
            yield Hit(f"totals.{field}", f"The sum of {kind} ({term}) {total} is not their amounts ({each}) "
                                         f"summed ({calc}) within 0.01 per {kind[:-1]} ({n}).")
    check.__doc__ = (f"The sum of document level {kind} ({term}) equals their amounts ({each}) summed, within 0.01 "
                     f"per {kind[:-1]}. — {fr_text}")
    frext(rule_id, FAMILY, terms=(term, each))(check)


_sum_rule("BR-FREXT-CO-11", "allowances", "sum_of_allowances", "BT-107", "BT-92",
          "Écart absolu entre le total des remises (BT-107) et la somme des montants de remise (BT-92) ≤ 0,01 € * "
          "nombre de remises.")
_sum_rule("BR-FREXT-CO-12", "charges", "sum_of_charges", "BT-108", "BT-99",
          "Écart absolu entre le total des charges (BT-108) et la somme des montants de charge (BT-99) ≤ 0,01 € * "
          "nombre de charges.")


@frext("BR-FREXT-CO-13", FAMILY, terms=("BT-109", "BT-131", "BT-92", "BT-99"))
def br_frext_co_13(inv: Any) -> Iterator[Hit]:
    """The total without VAT (BT-109) equals the lines' net amounts minus the allowances plus the charges, within
    0.01 per element. — Écart absolu entre le montant total hors TVA (BT-109) et la somme des BT-131, BT-92 et
    BT-99 ≤ 0,01 € * nombre total d'éléments."""
    lines, n_lines = _lines(inv)
    allowances, n_allowances = _doc_level(inv, "allowances")
    charges, n_charges = _doc_level(inv, "charges")
    result = xround2(xabs(minus(plus(minus(totals(inv).total_without_vat, lines), allowances), charges)))
    if not le(result, tolerance(n_lines + n_allowances + n_charges)):
        yield Hit("totals.total_without_vat",
                  f"The total without VAT (BT-109) {totals(inv).total_without_vat} is not the lines ({lines}) minus "
                  f"allowances ({allowances}) plus charges ({charges}) within 0.01 per element.")


@frext("BR-FREXT-CO-15", FAMILY, terms=("BT-112", "BT-109", "BT-110"))
def br_frext_co_15(inv: Any) -> Iterator[Hit]:
    """When there is a total VAT (BT-110), the total with VAT (BT-112) equals the total without VAT (BT-109) plus
    it, within 0.01 per element. — Si le montant de TVA (BT-110) est présent, l'écart absolu entre le montant
    TTC (BT-112) et la somme HT + TVA (BT-109 + BT-110) doit être ≤ 0,01 € * nombre total d'éléments."""
    t = totals(inv)
    if t.total_vat is None:
        return
    n = sum(1 for _, ln in items(get(inv, "lines")) if ln.net_amount is not None) + \
        sum(1 for _ in items(get(inv, "allowances"))) + sum(1 for _ in items(get(inv, "charges")))
    gap = None if None in (t.total_with_vat, t.total_without_vat) else abs(t.total_with_vat - t.total_vat
                                                                             - t.total_without_vat)
    if not le(gap, tolerance(n)):
        yield Hit("totals.total_with_vat", f"The total with VAT (BT-112) {t.total_with_vat} is not the total without "
                                           f"VAT (BT-109) {t.total_without_vat} plus the total VAT (BT-110) "
                                           f"{t.total_vat} within 0.01 per element ({n}).")


@frext("BR-CO-25", "BR-CO", terms=("BT-115", "BT-9", "BT-20"))
def br_co_25(inv: Any) -> Iterator[Hit]:
    """In case the amount due for payment (BT-115) is positive, either the payment due date (BT-9) or the payment
    terms (BT-20) shall be present. — Si le montant à payer (BT-115) est positif, la date d'échéance (BT-9) ou
    les conditions de paiement (BT-20) doivent être présentes.

    EN 16931 1.3.16 no longer has it; EXTENDED-CTC-FR does. The UBL stylesheet checks Invoice documents only
    (not a CreditNote)."""
    due = totals(inv).amount_due
    if due is None or getattr(inv, "is_credit_note", False):
        return
    if float(due) > 0 and get(inv, "due_date") is None and get(inv, "payment_terms") is None:
        yield Hit("totals.amount_due", f"The amount due (BT-115) {due} is positive: the payment due date (BT-9) or "
                                       "the payment terms (BT-20) shall be present.")
