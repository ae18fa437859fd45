"""A rule set of the tests' own (``example``), registered when imported, as a national rule set
would be: the profile tests point a profiles file at it."""
from __future__ import annotations

from gateway.rules.registry import WARNING, Hit, rule


@rule("EX-01", terms=("BT-10",), rule_set="example")
def buyer_reference_required(inv):
    """An invoice shall have a buyer reference (BT-10)."""
    if not (inv.buyer_reference or "").strip():
        yield Hit("buyer_reference", "the invoice has no buyer reference (BT-10)")


@rule("EX-02", terms=("BT-22",), severity=WARNING, rule_set="example")
def note_advised(inv):
    """An invoice should have a note (BT-22)."""
    if not inv.notes:
        yield Hit("notes", "the invoice has no note (BT-22)")


@rule("BR-02", terms=("BT-1",), rule_set="example")
def number_is_not_zero(inv):
    """A redefinition of BR-02 for the tests: the invoice number (BT-1) shall not be 0."""
    if (inv.number or "").strip() in ("", "0"):
        yield Hit("number", "the invoice number is missing or 0")
