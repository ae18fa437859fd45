"""Numbers no invoice holds: refused where they enter, never expanded where they leave.

``1E+999999999`` is a few bytes of text but a billion digits in plain form: a
reader that accepts it makes every message and writer after it allocate
gigabytes. Every reader (UBL, CII, EDIFACT, CSV, the model's JSON) refuses an
amount, quantity, unit price or percentage out of its data type's bounds
(``gateway/numbers.py``) with an InputError naming the business term and the
place; writers and messages never expand such a number either. The same number posted to a
gateway's REST API is refused there too (tests/integration/test_input_bounds.py).
"""
from __future__ import annotations

import json
import tracemalloc
from decimal import Decimal

import pytest

from gateway.model import json_form as model_json
from gateway.model.errors import InputError
from gateway.syntaxes import read_documents, validate_document, write_document
from gateway.model.numbers import BOUNDS, bounds_of, plain
from gateway.rules.xpath import fmt
from tests.support.invoice_builder import build_invoice

D = Decimal
MB = 1 << 20

# one value per EN 16931 numeric data type, each a text found once in every syntax's output
SENTINELS = {
    "BT-110": ("totals", "total_vat", D("123456.78")),                 # amount
    "BT-129": ("line", "quantity", D("4242")),                         # quantity
    "BT-146": ("price", "net_price", D("31.4159")),                    # unit price amount
    "BT-119": ("breakdown", "rate", D("17.25")),                       # percentage
}
# the place each syntax names for those terms
PLACES = {
    "ubl": {"BT-110": "cbc:TaxAmount", "BT-129": "cbc:InvoicedQuantity", "BT-146": "cbc:PriceAmount",
            "BT-119": "cbc:Percent"},
    "cii": {"BT-110": "ram:TaxTotalAmount", "BT-129": "ram:BilledQuantity", "BT-146": "ram:ChargeAmount",
            "BT-119": "ram:RateApplicablePercent"},
    "edifact-d14b": {"BT-110": "(MOA)", "BT-129": "(QTY)", "BT-146": "(PRI)", "BT-119": "(TAX)"},
    "edifact-d96a": {"BT-110": "(MOA)", "BT-129": "(QTY)", "BT-146": "(PRI)", "BT-119": "(TAX)"},
    "csv-lines": {"BT-110": "column 'Total VAT'", "BT-129": "column 'Quantity'",
                  "BT-146": "column 'Unit Price'", "BT-119": "column 'VAT Breakdown Rate'"},
    "csv-records": {"BT-110": "column 'VAT Total'", "BT-129": "column 'Quantity'",
                    "BT-146": "column 'Net Price'", "BT-119": "column 'VAT Rate'"},
}


def _invoice():
    inv = build_invoice()
    inv.totals.total_vat = SENTINELS["BT-110"][2]
    inv.lines[0].quantity = SENTINELS["BT-129"][2]
    inv.lines[0].price.net_price = SENTINELS["BT-146"][2]
    inv.vat_breakdown[0].rate = SENTINELS["BT-119"][2]
    return inv


def _with(syntax: str, term: str, text: str) -> bytes:
    """The sentinel invoice in ``syntax`` with the value of ``term`` written as ``text``."""
    data = write_document(_invoice(), syntax).data
    sentinel = str(SENTINELS[term][2])
    if syntax == "csv-lines":                          # this dialect writes decimal commas
        sentinel = sentinel.replace(".", ",")
    assert data.count(sentinel.encode()) == 1, (syntax, sentinel)
    return data.replace(sentinel.encode(), text.encode())


def _hostile(syntax: str) -> str:
    # '+' separates EDIFACT data elements; the exponent's sign is optional in every syntax
    return "1E999999999" if syntax.startswith("edifact") else "1E+999999999"


@pytest.mark.parametrize("syntax", sorted(PLACES))
@pytest.mark.parametrize("term", sorted(SENTINELS))
def test_every_reader_refuses_a_huge_exponent_naming_term_and_place(syntax: str, term: str) -> None:
    data = _with(syntax, term, _hostile(syntax))
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as err:
            read_documents(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = str(err.value)
    assert f"{term}: " in text and PLACES[syntax][term] in text, text
    assert "digits before the decimal point" in text and bounds_of(term).label in text, text
    assert len(text) < 1000 and peak < 50 * MB


@pytest.mark.parametrize("syntax", ["ubl", "cii", "csv-records", "edifact-d14b"])
@pytest.mark.parametrize("text, why", [
    ("0." + "0" * 40 + "1", "digits after the decimal point"),
    ("1E-999999999", "digits after the decimal point"),
    ("9" * 40, "digits before the decimal point"),
])
def test_too_many_digits_either_side_are_refused(syntax: str, text: str, why: str) -> None:
    with pytest.raises(InputError) as err:
        read_documents(_with(syntax, "BT-146", text))
    assert "BT-146: " in str(err.value) and why in str(err.value) and PLACES[syntax]["BT-146"] in str(err.value)


@pytest.mark.parametrize("syntax", ["ubl", "cii", "csv-records", "edifact-d14b"])
def test_exponent_notation_in_range_is_read_as_a_plain_number(syntax: str) -> None:
    """1.5E+3 is 1500: held and written in plain form, never as an exponent."""
    text = "1.5E3" if syntax.startswith("edifact") else "1.5E+3"
    (doc,) = read_documents(_with(syntax, "BT-129", text))
    quantity = doc.invoice.lines[0].quantity
    assert quantity == 1500 and quantity.as_tuple().exponent == 0
    assert b">1500<" in write_document(doc.invoice, "ubl").data


def test_bounds_leave_decimal_rules_to_the_rules() -> None:
    """An amount with three decimals fits the data type: BR-DEC reports it, the reader does not refuse it."""
    inv = build_invoice()
    inv.totals.sum_of_line_net_amounts = D("100.001")
    for syntax in ("ubl", "cii", "csv-records"):
        (doc,) = read_documents(write_document(inv, syntax).data)
        assert doc.invoice.totals.sum_of_line_net_amounts == D("100.001")
        assert "BR-DEC-09" in {f.rule for f in validate_document(doc)}, syntax


def test_every_numeric_term_has_bounds_of_its_data_type() -> None:
    from gateway.model.invoice import AMOUNT_TERMS, PERCENTAGE_TERMS, QUANTITY_TERMS, UNIT_PRICE_TERMS
    for terms, kind in ((AMOUNT_TERMS, "amount"), (UNIT_PRICE_TERMS, "unit_price"),
                        (QUANTITY_TERMS, "quantity"), (PERCENTAGE_TERMS, "percentage")):
        assert {bounds_of(t) for t in terms} == {BOUNDS[kind]}


@pytest.mark.parametrize("value", ["1E+999999999", 1e308, "1" * 30, "0E-999999999"])
def test_the_model_json_reader_refuses_numbers_out_of_bounds(value) -> None:
    data = json.loads(json.dumps(model_json.to_dict(_invoice())))
    data["totals"]["total_vat"] = value
    with pytest.raises(model_json.ModelJsonError) as err:
        model_json.from_dict(data)
    assert err.value.path == "totals.total_vat" and "BT-110" in str(err.value) and len(str(err.value)) < 300


@pytest.mark.parametrize("syntax", ["ubl", "cii", "facturx", "edifact-d14b", "csv-lines"])
def test_writers_refuse_a_model_number_out_of_bounds(syntax: str) -> None:
    """A model built around the readers: the writer names the term and the model path, expands nothing."""
    inv = _invoice()
    inv.lines[0].price.net_price = D("1E+999999999")
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as err:
            write_document(inv, syntax)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "BT-146: " in str(err.value) and "lines[0].price.net_price" in str(err.value)
    assert peak < 100 * MB


def test_messages_never_expand_a_huge_number() -> None:
    inv = _invoice()
    inv.totals.total_vat = D("1E+999999999")
    assert fmt(inv.totals.total_vat) == plain(inv.totals.total_vat) == "1E+999999999"
    assert fmt(D("1234.50")) == "1234.50" and fmt(D("1E+2")) == "100"
    from gateway.rules import validate
    findings = validate(inv)
    assert findings and all(len(f.message) < 1000 for f in findings)
