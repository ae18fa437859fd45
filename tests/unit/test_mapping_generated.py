"""The generated mapping code: every mapping compiles to it, and its short ways say what the long ones say.

``gateway.mapping.gen_read``/``gen_write`` write each mapping's reader and writer
as Python source (one function per group); the corpus agreement test
(tests/conformance/test_compiled_mapping.py) holds them to the interpreter on
real documents. Here: every shipped mapping, also those no corpus sample uses,
compiles to a function for every group; and the plain-number tests
(``mapping.plain``) never let through a number that the full bounds check would
refuse or write differently.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import mapping
from gateway.mapping.compiled import plan_of
from gateway.mapping.engine import _format_value
from gateway.mapping.plain import plain_number, plain_text
from gateway.mapping.spec import GroupNode
from gateway.model.numbers import NumberError, checked


def _groups(node: GroupNode) -> list[GroupNode]:
    out = [node]
    for child in node.children.values():
        if isinstance(child, GroupNode):
            out += _groups(child)
    return out


@pytest.mark.parametrize("name", mapping.available())
def test_every_mapping_has_a_generated_reader_and_writer_for_each_group(name):
    spec = mapping.load(name)
    plan = plan_of(spec)
    readers, writers = plan.readers(), plan.writers()
    groups = _groups(spec.tree)
    assert set(readers) == set(writers) == {id(g) for g in groups}
    assert all(callable(readers[id(g)]) and callable(writers[id(g)]) for g in groups)


TERMS = ("BT-106", "BT-146", "BT-129", "BT-119", None)     # amount, unit price, quantity, percentage, none
TEXTS = ("0", "-0", "+5", "12.50", "1250.0000", "999999999999999", "9999999999999999", "1234567.1234567890",
         "1.12345678901", "0.0000001", "000000000000000001", "100", "1000000", "1e3", "1E+3", ".5", "5.",
         "-12.5", "1,5", "NaN", "Infinity", "١٢", " 1", "")
VALUES = [Decimal(t) for t in ("0", "-0", "12.50", "1E+3", "1.5E+20", "0E-10", "1E-7", "0.000001", "-0.5",
                                "999999999999999", "9999999999999999", "123456.1234567", "1.12345678901234567890",
                                "NaN", "-Infinity", "100", "1000000.00")]


def _checked(text: str, term):
    try:
        return ("ok", str(checked(Decimal(text), term, text)))
    except NumberError:
        return ("refused",)
    except Exception as exc:           # not a number at all
        return ("error", type(exc).__name__)


@pytest.mark.parametrize("term", TERMS)
def test_a_plain_number_is_one_the_bounds_check_gives_back_unchanged(term):
    matches = plain_number(term)
    let_through = 0
    for text in TEXTS:
        if matches(text):
            let_through += 1
            assert _checked(text, term) == ("ok", str(Decimal(text))), text
    assert let_through >= 8          # the short way is taken for the usual texts


class _Spec:
    formats: dict = {}


@pytest.mark.parametrize("term", TERMS)
def test_a_plain_text_is_what_writing_with_the_bounds_check_gives(term):
    text = plain_text(term)
    shortcuts = 0
    for value in VALUES:
        got = text(value)
        try:
            full = _format_value(value, _Spec(), None, None, term)
        except NumberError:
            full = None
        if got is not None:
            shortcuts += 1
            assert got == full, value
    assert shortcuts >= 6


def _edge_invoice():
    """A valid invoice bent where the generated writer takes its short ways: a base quantity without
    the net price it is written with (UBL's 'when'), an item identifier in a scheme the EDIFACT
    mappings list no code for, an identifier scheme, several lines sharing their elements."""
    import dataclasses

    from gateway.model.invoice import ClassificationIdentifier, Identifier
    from tests.support.invoice_builder import build_invoice

    inv = build_invoice()
    line = inv.lines[0]
    item = dataclasses.replace(line.item, standard_identifier=Identifier("4000001000005", "0088"),
                               classification_identifiers=[ClassificationIdentifier("12345", "STI", "v1")])
    bent = dataclasses.replace(line, item=item,
                               price=dataclasses.replace(line.price, net_price=None, base_quantity=Decimal("2"),
                                                         base_quantity_unit_code="C62"))
    scheme = dataclasses.replace(line, identifier="2", item=dataclasses.replace(
        line.item, standard_identifier=Identifier("X-1", "0160")))
    return dataclasses.replace(inv, lines=[bent, scheme])


@pytest.mark.parametrize("name", [n for n in mapping.available() if mapping.load(n).root_tag])
def test_generated_writer_writes_what_the_interpreter_writes(name):
    """Conditional places, sub-terms and constants written in line drop and write what the
    interpreter drops and writes (same tree, same dropped terms)."""
    from lxml import etree

    from gateway.mapping import compiled, engine

    spec = mapping.load(name)
    inv = _edge_invoice()
    want, got = engine.write(spec, inv), compiled.write(spec, inv)
    assert etree.tostring(got.root) == etree.tostring(want.root)
    assert got.dropped == want.dropped and got.findings == want.findings
    if name == "ubl-invoice":           # the base quantity has no place without the net price
        assert "lines[0].price.base_quantity" in {d.path for d in got.dropped}
