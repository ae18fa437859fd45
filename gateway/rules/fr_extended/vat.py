"""BR-FREXT-x-01, BR-FREXT-x-08 (with their -ini and -rev warnings) and BR-FREXT-S-09: the VAT breakdown.

EXTENDED-CTC-FR allows several breakdowns (BG-23) per VAT category, one per
exemption reason, and checks each within a tolerance of 0.01 per element
summed. Each breakdown's taxable amount is compared twice: with the lines,
allowances and charges of its category and rate ("ini", without exemption
reasons), and with those that also have its exemption reason ("rev"); it is
wrong (fatal) only when both are, and each failing comparison is a warning.
The lines' and allowances' own exemption reasons are not EN 16931 terms: on
the model they have none, so "rev" sums them only into a breakdown without
an exemption reason.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

from ..access import get, items
from .common import (CATEGORIES, WARNING, Hit, frext, le, minus, normalize_space, plus, tolerance, to_decimal, xabs,
                     xround2, xsum)

FAMILY = "BR-FREXT-VAT"
_NAMES = {"S": "Standard rated", "Z": "Zero rated", "E": "Exempt from VAT", "AE": "VAT reverse charge",
          "K": "Intra-community supply", "G": "Export outside the EU", "O": "Not subject to VAT",
          "L": "IGIC (Canary Islands)", "M": "IPSI (Ceuta and Melilla)"}


def _allowance_charges(inv: Any) -> Iterator[tuple[bool, Any]]:
    for _, a in items(get(inv, "allowances")):
        yield False, a
    for _, c in items(get(inv, "charges")):
        yield True, c


def _x01(family: str, code: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        used = any(normalize_space(ac.vat_category_code) == code for _, ac in _allowance_charges(inv)) or any(
            normalize_space(get(ln, "vat.category_code")) == code for _, ln in items(get(inv, "lines")))
        broken_down = any(normalize_space(b.category_code) == code for _, b in items(get(inv, "vat_breakdown")))
        if used != broken_down:
            yield Hit("vat_breakdown", f"VAT category {code} is {'used' if used else 'not used'} by a line, allowance "
                                       f"or charge and {'not ' if not broken_down else ''}in the VAT breakdown (BG-23).")
    check.__doc__ = (f"An invoice with a line, allowance or charge of VAT category {code} ({_NAMES[code]}) has at "
                     f"least one VAT breakdown (BG-23) of that category, and one with such a breakdown has such a "
                     f"line, allowance or charge. — Une facture contenant une ligne, une remise ou une charge de "
                     f"catégorie « {code} » doit contenir dans la ventilation TVA au moins une catégorie « {code} ».")
    frext(f"BR-FREXT-{family}-01", FAMILY, terms=("BT-118", "BT-151", "BT-95", "BT-102"))(check)


class _Sums:
    """The stylesheet's variables for one breakdown: with (``rev``) or without (``ini``) exemption reasons."""

    def __init__(self, inv: Any, breakdown: Any, code: str, with_reasons: bool):
        rate = breakdown.rate
        reasons_blank = normalize_space(breakdown.exemption_reason) == "" and \
            normalize_space(breakdown.exemption_reason_code) == ""
        if with_reasons and not reasons_blank:       # the model's lines and allowances have no exemption reason
            lines, acs = [], []
        else:
            lines = [ln for _, ln in items(get(inv, "lines")) if self._matches(get(ln, "vat.category_code"),
                                                                               get(ln, "vat.rate"), code, rate)]
            acs = [(is_charge, ac) for is_charge, ac in _allowance_charges(inv)
                   if self._matches(ac.vat_category_code, ac.vat_rate, code, rate)]
        net = [ln.net_amount for ln in lines if ln.net_amount is not None]
        self.lines = xround2(xsum(net))
        self.n_lines = len(net)
        self.allowances = to_decimal(xround2(xsum(ac.amount for c, ac in acs if not c)))
        self.charges = to_decimal(xround2(xsum(ac.amount for c, ac in acs if c)))
        self.n_allowances_charges = sum(1 for _, ac in acs if ac.amount is not None)

    @staticmethod
    def _matches(category: Any, rate: Any, code: str, breakdown_rate: Any) -> bool:
        if normalize_space(category) != code:
            return False
        return code == "O" or (rate is not None and breakdown_rate is not None and rate == breakdown_rate)

    def agrees(self, basis: Any) -> bool:
        """``abs(basis - lines + allowances - charges) le 0.01 * (lines + allowances and charges)``."""
        gap = xabs(minus(plus(minus(basis, self.lines), self.allowances), self.charges))
        return le(gap, tolerance(self.n_lines + self.n_allowances_charges))


def _breakdowns(inv: Any, code: str) -> Iterator[tuple[str, Any]]:
    for k, b in items(get(inv, "vat_breakdown")):
        if normalize_space(b.category_code) == code:
            yield f"vat_breakdown[{k}].taxable_amount", b


def _x08(family: str, code: str) -> None:
    name = _NAMES[code]

    def fatal(inv: Any) -> Iterator[Hit]:
        for path, b in _breakdowns(inv, code):
            if not (_Sums(inv, b, code, True).agrees(b.taxable_amount)
                    or _Sums(inv, b, code, False).agrees(b.taxable_amount)):
                yield Hit(path, f"The taxable amount (BT-116) {b.taxable_amount} of the VAT breakdown of category "
                                f"{code} is not the lines' net amounts plus charges minus allowances of that category"
                                f"{'' if code == 'O' else ' and rate'}, within 0.01 per element.")

    def ini(inv: Any) -> Iterator[Hit]:
        for path, b in _breakdowns(inv, code):
            if not _Sums(inv, b, code, False).agrees(b.taxable_amount):
                yield Hit(path, f"Without exemption reasons, the taxable amount (BT-116) {b.taxable_amount} of the "
                                f"VAT breakdown of category {code} does not match its lines, allowances and charges.")

    def rev(inv: Any) -> Iterator[Hit]:
        for path, b in _breakdowns(inv, code):
            if not _Sums(inv, b, code, True).agrees(b.taxable_amount):
                yield Hit(path, f"With exemption reasons, the taxable amount (BT-116) {b.taxable_amount} of the VAT "
                                f"breakdown of category {code} does not match its lines, allowances and charges.")

    rate = "" if code == "O" else " and rate (BT-119)"
    fatal.__doc__ = (f"In a VAT breakdown (BG-23) of category {code} ({name}), the taxable amount (BT-116) equals the "
                     f"line net amounts (BT-131) plus charges (BT-99) minus allowances (BT-92) of that category{rate}"
                     f", within 0.01 per element, with or without the exemption reasons. — Dans une ventilation TVA, "
                     f"pour la catégorie « {code} », l'écart absolu entre le montant taxable (BT-116) et la somme des "
                     f"montants nets ligne (BT-131) + charges (BT-99) - remises (BT-92) doit être ≤ 0,01 € * nombre "
                     f"total d'éléments concernés.")
    ini.__doc__ = (f"The check of BR-FREXT-{family}-08 without exemption reasons (a warning). — Sans raisons "
                   f"d'exemption : écart du montant taxable de la catégorie « {code} ».")
    rev.__doc__ = (f"The check of BR-FREXT-{family}-08 with exemption reasons (a warning). — Avec raisons "
                   f"d'exemption : écart du montant taxable de la catégorie « {code} ».")
    terms = ("BT-116", "BT-131", "BT-92", "BT-99")
    frext(f"BR-FREXT-{family}-08", FAMILY, terms=terms)(fatal)
    frext(f"BR-FREXT-{family}-08ini", FAMILY, terms=terms, severity=WARNING)(ini)
    frext(f"BR-FREXT-{family}-08rev", FAMILY, terms=terms, severity=WARNING)(rev)


for _family, _code in CATEGORIES.items():
    _x01(_family, _code)
for _family, _code in CATEGORIES.items():
    _x08(_family, _code)


@frext("BR-FREXT-S-09", FAMILY, terms=("BT-117", "BT-116", "BT-119"))
def br_frext_s_09(inv: Any) -> Iterator[Hit]:
    """In a VAT breakdown (BG-23) of category S, the tax amount (BT-117) equals the taxable amount (BT-116) times
    the rate (BT-119), within 0.01 per element. — Dans une ventilation TVA, pour la catégorie « S », l'écart
    absolu entre le montant de TVA (BT-117) et le produit du montant taxable (BT-116) par le taux (BT-119) doit
    être ≤ 0,01 € * nombre total d'éléments concernés."""
    for k, b in items(get(inv, "vat_breakdown")):
        if normalize_space(b.category_code) != "S":
            continue
        sums = _Sums(inv, b, "S", True)
        calculated = None
        if b.taxable_amount is not None and b.rate is not None:
            calculated = xround2(b.taxable_amount * b.rate / Decimal(100))
        gap = None if b.tax_amount is None or calculated is None else abs(b.tax_amount - calculated)
        if not le(gap, tolerance(sums.n_lines + sums.n_allowances_charges)):
            yield Hit(f"vat_breakdown[{k}].tax_amount",
                      f"The tax amount (BT-117) {b.tax_amount} of the VAT breakdown of category S is not its taxable "
                      f"amount (BT-116) {b.taxable_amount} times its rate (BT-119) {b.rate} ({calculated}).")
