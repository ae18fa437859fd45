"""Seeded fuzzing of every readable syntax: mutants of the shared corpus read, validated, written everywhere.

For each of EDIFACT, UBL, CII, CSV and Factur-X, ``PER_SYNTAX`` mutants of
corpus seeds (``tests/fuzz/seeds.py``: elements, segments and rows deleted or
duplicated up to thousands of times, hostile values such as 1E+999999999,
impossible dates, 70,000-character tokens, bidi and control characters, deep
nesting, byte flips, truncation, invalid encodings) go through
``tests/fuzz/oracle.py``: each must be read or refused with an ``InputError``,
then validated and written to every writable syntax without any other
exception. The seed is fixed, so a failure names an input that can be made
again; ``make fuzz`` runs the long coverage-guided search. The first readable
mutant of each syntax is laid out as a real PDF (once: every Factur-X profile lays
out the same rendering), the others with a fixed page (the layout is bounded on its
own, tests/integration/test_render_limits.py), which keeps the whole test under a minute.

The crashes found so far are kept below as regression cases, each input made
here (corpus files are not copied into the repository).
"""
from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from gateway.model.invoice import Identifier
from gateway.syntaxes import read_documents, syntax_of, writable, write_document

from tests.support.corpus import CORPUS, requires_corpus
from tests.fuzz.oracle import SYNTAXES, check
from tests.fuzz.seeds import corpus_seeds, mutant
from tests.support.invoice_builder import build_invoice
from tests.support.work import line_events

SEED = 20261207
PER_SYNTAX = 16
SEEDS_PER_SYNTAX = 6        # corpus files mutated per syntax (a seeded sample)
# Every flavour, but a Factur-X profile as its XML (cii-<profile>): the PDF around it is the same
# code for every profile, written here as plain facturx (make fuzz writes every PDF flavour too).
TARGETS = tuple(f for f in writable() if syntax_of(f) != "facturx" or f == "facturx")


def _report(crashes: list) -> str:
    return "\n\n".join(f"mutant {i} of {name}: {c.phase}: {c.type}: {c.message}\n  at {c.where}\n{c.traceback}"
                       for name, i, c in crashes)


@requires_corpus
@pytest.mark.parametrize("syntax", SYNTAXES)
def test_mutants_are_read_or_refused_cleanly_then_validated_and_written_everywhere(syntax):
    rng = random.Random(f"{SEED}-{syntax}")
    seeds = corpus_seeds(CORPUS, csv_sources=3)[syntax]
    assert seeds, f"no {syntax} seed in the corpus"
    seeds = rng.sample(seeds, min(SEEDS_PER_SYNTAX, len(seeds)))
    outcomes: Counter = Counter()
    crashes, known = [], []
    laid_out = False
    for i in range(PER_SYNTAX):
        name, seed = rng.choice(seeds)
        out = check(mutant(rng, seed, syntax), syntax, layout=not laid_out, targets=TARGETS)
        laid_out = laid_out or out.documents > 0
        outcomes["read" if out.documents else "refused" if out.refused else "crashed"] += 1
        if out.crash is not None:
            (known if out.crash.known else crashes).append((name, i, out.crash))
    assert not crashes, _report(crashes)
    # both ways out were taken: the mutants are neither all harmless nor all garbage
    assert outcomes["read"] and outcomes["refused"], dict(outcomes)


# --- regression cases: what the fuzzing found ------------------------------------------------------

def _breakdowns_and_lines(n: int):
    """An invoice whose ``n`` lines each came with a VAT breakdown: what a CSV export whose row
    was duplicated reads as (csv-lines lists document-level groups down the rows)."""
    inv = build_invoice()
    inv.lines = [inv.lines[0]] * n
    inv.vat_breakdown = [inv.vat_breakdown[0]] * n
    return inv


def test_the_vat_breakdown_rules_sum_each_category_once_not_once_per_breakdown(monkeypatch):
    # 3,000 duplicated CSV rows took minutes in BR-S-08 and its kin: each breakdown summed every line
    from gateway.rules import validate, vat
    summed = Counter()
    real = vat.xsum

    def counting(values):
        values = list(values)
        summed["items"] += len(values)
        return real(values)

    monkeypatch.setattr(vat, "xsum", counting)
    findings = validate(_breakdowns_and_lines(300))
    assert summed["items"] <= 3 * 300, summed        # one pass per category, not 300 x 300
    # the verdict is the one the sums give: 300 breakdowns each claiming the whole category's 100.00
    assert any(f.rule == "BR-S-08" for f in findings)


def _rich_lines_and_breakdowns(n: int):
    """``_breakdowns_and_lines(n)`` whose line fills many columns (each row holds many cells)."""
    inv = _breakdowns_and_lines(1)
    line = inv.lines[0]
    line.note, line.purchase_order_line_reference, line.buyer_accounting_reference = "Note", "PO-1", "ACC-1"
    line.object_identifier = Identifier("OBJ-1", "AAA")
    item = line.item
    item.description, item.sellers_identifier, item.buyers_identifier = "A widget", "S-1", "B-1"
    item.standard_identifier, item.country_of_origin = Identifier("4000001000005", "0160"), "DE"
    line.price.gross_price, line.price.price_discount = Decimal("55"), Decimal("5")
    inv.lines, inv.vat_breakdown = [line] * n, inv.vat_breakdown * n
    return inv


def test_csv_lines_puts_the_nth_group_item_in_the_nth_row_without_looking_into_the_rows():
    # the duplicated CSV again: writing csv-lines looked for "the first row without a VAT breakdown"
    # for every breakdown, reading every cell of every row (3,000 of each: minutes); the n-th item
    # now goes to the n-th row ($position). Work counted, not timed: 4x the rows, about 4x the
    # Python lines run (the search in every row was quadratic: 16x). The larger file counted is
    # then read back whole: every row holds its line and its breakdown (writing and reading 3,000
    # rows on top took 12 s of CPU and checked nothing the growth of the work does not).
    write_document(_rich_lines_and_breakdowns(2), "csv-lines")          # warm: the mapping loaded once
    written: dict[int, bytes] = {}

    def work(n: int) -> int:
        inv = _rich_lines_and_breakdowns(n)

        def write() -> None:
            written[n] = write_document(inv, "csv-lines").data
        return line_events(write)
    ratio = work(400) / work(100)
    assert ratio < 6, f"4x the rows took {ratio:.1f}x the work (linear: ~4, quadratic: ~16)"
    back = read_documents(written[400])[0].invoice
    assert (len(back.lines), len(back.vat_breakdown), back.lines[399].item.buyers_identifier) == (400, 400, "B-1")
