"""BR-FR-DEC-01 ... BR-FR-DEC-04: how amounts, quantities, unit prices and rates are written.

The French platforms store numbers in fixed columns: at most 19 characters
besides the decimal point (the minus sign counts), amounts with 2 decimals,
quantities with 4, unit prices with 6, VAT rates with 2 and 4 digits. The
model keeps each number as written in the source (``common.lexical``), so
these rules read it as the stylesheet does.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from .common import (Hit, bidirectional, decimal_19_2, decimal_19_4, decimal_19_6, decimal_19_6_positive, fr, get,
                     items, percent_4_2, text)


def _register(rule_id: str, terms: tuple[str, ...], values: Callable[[Any], Iterator[tuple[str, Any]]],
              valid: Callable[[Any, Any], bool], what: str, doc: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        for path, value in values(inv):
            if value is not None and not valid(inv, value):
                yield Hit(path, f"{'/'.join(terms)}: {text(value)!r} {what}")
    check.__doc__ = doc
    fr(rule_id, terms=terms)(check)


_AMOUNT = ("is not an amount with at most 2 decimals, a point as separator and 19 characters besides it. — Le "
           "montant est invalide : au plus 2 décimales, un point comme séparateur, 19 caractères au plus.")
_AMOUNT_DOC = ("The {what} ({terms}) has at most 2 decimals, a point as decimal separator and 19 characters besides "
               "it (a minus sign allowed). — Le montant doit comporter au plus 2 décimales, être exprimé avec un "
               "point comme séparateur, et ne pas dépasser 19 caractères (hors séparateur).")


def _amount(rule_id: str, terms: tuple[str, ...], what: str, values: Callable[[Any], Iterator[tuple[str, Any]]],
            extra: str = "") -> None:
    _register(rule_id, terms, values, lambda inv, v: decimal_19_2(v), _AMOUNT,
              _AMOUNT_DOC.format(what=what, terms=", ".join(terms)) + extra)


def _doc_level(field: str) -> Callable[[Any], Iterator[tuple[str, Any]]]:
    def values(inv: Any) -> Iterator[tuple[str, Any]]:
        for kind in ("allowances", "charges"):
            for k, ac in items(get(inv, kind)):
                yield f"{kind}[{k}].{field}", getattr(ac, field)
    return values


def _total(*fields: str) -> Callable[[Any], Iterator[tuple[str, Any]]]:
    def values(inv: Any) -> Iterator[tuple[str, Any]]:
        for f in fields:
            yield f"totals.{f}", get(inv, f"totals.{f}")
    return values


def _breakdown(field: str) -> Callable[[Any], Iterator[tuple[str, Any]]]:
    def values(inv: Any) -> Iterator[tuple[str, Any]]:
        for k, b in items(get(inv, "vat_breakdown")):
            yield f"vat_breakdown[{k}].{field}", getattr(b, field)
    return values


def _line(dotted: str) -> Callable[[Any], Iterator[tuple[str, Any]]]:
    def values(inv: Any) -> Iterator[tuple[str, Any]]:
        for k, line in items(get(inv, "lines")):
            yield f"lines[{k}].{dotted}", get(line, dotted)
    return values


def _line_allowance_charges(field: str) -> Callable[[Any], Iterator[tuple[str, Any]]]:
    def values(inv: Any) -> Iterator[tuple[str, Any]]:
        for k, line in items(get(inv, "lines")):
            for kind in ("allowances", "charges"):
                for j, ac in items(getattr(line, kind, None)):
                    yield f"lines[{k}].{kind}[{j}].{field}", getattr(ac, field)
    return values


# --- BR-FR-DEC-01: amounts ---------------------------------------------------------------------------

_amount("BR-FR-DEC-01_BT-93_BT-100", ("BT-93", "BT-100"), "base amount of a document level allowance or charge",
        _doc_level("base_amount"))
_amount("BR-FR-DEC-01_BT-92_BT-99", ("BT-92", "BT-99"), "amount of a document level allowance or charge",
        _doc_level("amount"))
for _n, _f, _what in ((106, "sum_of_line_net_amounts", "sum of invoice line net amounts"),
                      (107, "sum_of_allowances", "sum of allowances on document level"),
                      (108, "sum_of_charges", "sum of charges on document level"),
                      (109, "total_without_vat", "invoice total amount without VAT")):
    _amount(f"BR-FR-DEC-01_BT-{_n}", (f"BT-{_n}",), _what, _total(_f))
_amount("BR-FR-DEC-01_BT-110", ("BT-110", "BT-111"), "invoice total VAT amount", _total("total_vat",
        "total_vat_in_accounting_currency"),
        "\n\nBoth stylesheets check every total VAT amount here, in the invoice currency (BT-110) and in the "
        "accounting currency (BT-111): their rule BR-FR-DEC-01_BT-111 has the same context in the same pattern "
        "and never fires.")
for _n, _f, _what in ((112, "total_with_vat", "invoice total amount with VAT"),
                      (113, "paid_amount", "paid amount"),
                      (114, "rounding_amount", "rounding amount"),
                      (115, "amount_due", "amount due for payment")):
    _amount(f"BR-FR-DEC-01_BT-{_n}", (f"BT-{_n}",), _what, _total(_f))
_amount("BR-FR-DEC-01_BT-116", ("BT-116",), "VAT category taxable amount", _breakdown("taxable_amount"))
_amount("BR-FR-DEC-01_BT-117", ("BT-117",), "VAT category tax amount", _breakdown("tax_amount"))
_amount("BR-FR-DEC-01_BT-131", ("BT-131",), "invoice line net amount", _line("net_amount"))
_amount("BR-FR-DEC-01_BT-136_BT-141", ("BT-136", "BT-141"), "amount of a line allowance or charge",
        _line_allowance_charges("amount"))
_amount("BR-FR-DEC-01_BT-137_BT-142", ("BT-137", "BT-142"), "base amount of a line allowance or charge",
        _line_allowance_charges("base_amount"))


# --- BR-FR-DEC-02: quantities --------------------------------------------------------------------------

_QUANTITY = ("is not a quantity with at most 4 decimals, a point as separator and 19 characters besides it. — La "
             "quantité est invalide : au plus 4 décimales, 19 caractères au plus.")
for _id, _term, _dotted, _what in (("BR-FR-DEC-02_BT-129", "BT-129", "quantity", "invoiced quantity"),
                                   ("BR-FR-DEC-02_BT-149", "BT-149", "price.base_quantity", "item price base quantity")):
    _register(_id, (_term,), _line(_dotted), lambda inv, v: decimal_19_4(v), _QUANTITY,
              f"The {_what} ({_term}) has at most 4 decimals, a point as decimal separator and 19 characters "
              "besides it (a minus sign allowed). — La quantité doit être un nombre avec au plus 4 décimales "
              "(séparateur « . ») et contenir au maximum 19 caractères (hors séparateur).")


# --- BR-FR-DEC-03: unit prices ---------------------------------------------------------------------------

def _unit_price(inv: Any, value: Any) -> bool:
    return decimal_19_6(value) if bidirectional(inv) else decimal_19_6_positive(value)


_PRICE = ("is not a unit price with at most 6 decimals, no minus sign (but in a bidirectional invoice, BT-23 S9, B9, "
          "M9) and 19 characters besides the point. — Le montant est invalide : strictement positif, au plus 6 "
          "décimales, 19 caractères au plus.")
for _id, _term, _dotted, _what in (("BR-FR-DEC-03_BT-146", "BT-146", "price.net_price", "item net price"),
                                   ("BR-FR-DEC-03_BT-147", "BT-147", "price.price_discount", "item price discount"),
                                   ("BR-FR-DEC-03_BT-148", "BT-148", "price.gross_price", "item gross price")):
    _register(_id, (_term,), _line(_dotted), _unit_price, _PRICE,
              f"The {_what} ({_term}) has at most 6 decimals, a point as decimal separator, 19 characters besides "
              "it and no minus sign, unless the invoicing framework (BT-23) is bidirectional (S9, B9, M9). — Le "
              "montant doit être positif (sauf cadre de facturation S9, B9, M9), comporter au plus 6 décimales et "
              "ne pas dépasser 19 caractères (hors séparateur).")


# --- BR-FR-DEC-04: VAT rates -------------------------------------------------------------------------------

_RATE = ("is not a rate with at most 2 decimals, 4 digits and no sign. — Le taux de TVA est invalide : au plus 2 "
         "décimales, 4 caractères au plus, sans signe.")
_RATE_DOC = ("The VAT rate of {what} ({terms}) has at most 2 decimals, 4 digits and no sign. — Le taux de TVA doit "
             "être positif, comporter au plus 2 décimales et 4 caractères (hors séparateur).")
_register("BR-FR-DEC-04_BT-96_BT-103", ("BT-96", "BT-103"), _doc_level("vat_rate"), lambda inv, v: percent_4_2(v),
          _RATE, _RATE_DOC.format(what="a document level allowance or charge", terms="BT-96, BT-103"))
_register("BR-FR-DEC-04_BT-119", ("BT-119",), _breakdown("rate"), lambda inv, v: percent_4_2(v), _RATE,
          _RATE_DOC.format(what="a VAT breakdown", terms="BT-119"))
_register("BR-FR-DEC-04_BT-152", ("BT-152",), _line("vat.rate"), lambda inv, v: percent_4_2(v), _RATE,
          _RATE_DOC.format(what="an invoice line", terms="BT-152"))
