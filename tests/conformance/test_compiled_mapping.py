"""The compiled mappings read and write exactly what the interpreter does.

``gateway.mapping.read``/``write`` run each mapping compiled once
(``gateway/mapping/compiled.py``: paths without XPath, node facts worked out
once); ``gateway.mapping.engine`` interprets the same files node by node and is
the reference. Every corpus sample of every syntax (UBL, CII, Factur-X, EDIFACT,
and CSV made from UBL and CII) and the seeded mutants the fuzz test makes of
them go through ``read_documents`` once with each, and each model read is
written to every writable flavour with each: the models, the findings (rule,
message, term, model path, location, line), the source maps (model path ->
element and attribute) and the written bytes, dropped terms and findings must
be identical, and an input refused must be refused with the same error.
"""
from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Callable

import pytest

from gateway import mapping
from gateway.mapping import compiled, engine
from gateway.model.errors import InputError
from gateway.syntaxes import read_documents, syntax_of, writable, write_document
from tests.fuzz.seeds import corpus_seeds, mutant
from tests.support.corpus import CORPUS, requires_corpus

pytestmark = requires_corpus

SEED = 20261207
MUTANTS = 16                 # per syntax, from seeds chosen as the fuzz test chooses them
SYNTAXES = ("ubl", "cii", "facturx", "edifact", "csv")
# every flavour that writes through a mapping (a Factur-X PDF carries what its cii flavour writes)
TARGETS = tuple(f for f in writable() if syntax_of(f) != "facturx")
MAX_DOCUMENTS = 3            # invoices of one input written (an interchange or CSV may hold many)
PREPARED = datetime(2026, 1, 2, 3, 4)   # the EDIFACT envelope's date, else the clock's


def _outcome(fn: Callable[[], Any]) -> Any:
    """What a call gives: its value, or the error it raises (type and message)."""
    try:
        return ("ok", fn())
    except (InputError, ValueError, ArithmeticError) as exc:
        return ("error", type(exc).__name__, str(exc))


def _read(data: bytes) -> Any:
    got = _outcome(lambda: read_documents(data))
    if got[0] != "ok":
        return got, []
    docs = got[1]
    shown = [(d.syntax, d.mapping, d.profile, d.invoice, d.findings, _places(d.source_map),
              d.source_map.root is not None) for d in docs]
    return ("ok", shown), [d.invoice for d in docs[:MAX_DOCUMENTS]]


def _places(smap: Any) -> dict:
    """A source map as what it points at: model path -> (the element's XPath and attribute, its line).
    (Elements of two reads are two trees: they are compared by where they are.)"""
    positions = engine.SiblingPositions()
    return {k: (engine.xpath_of(el, attr, positions), el.sourceline) for k, (el, attr) in smap.places.items()}


def _write(invoice: Any) -> list:
    out = []
    for target in TARGETS:
        options = {"prepared": PREPARED} if syntax_of(target) == "edifact" else {}
        got = _outcome(lambda: write_document(invoice, target, **options))
        if got[0] == "ok":
            r = got[1]
            got = ("ok", r.syntax, r.mapping, r.data, r.dropped, r.findings)
        out.append((target, got))
    return out


def _with(read: Callable, write: Callable, monkeypatch: pytest.MonkeyPatch, fn: Callable[[], Any]) -> Any:
    monkeypatch.setattr(mapping, "read", read)
    monkeypatch.setattr(mapping, "write", write)
    try:
        return fn()
    finally:
        monkeypatch.undo()


def _agree(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """('read'/'refused', differences) of one input read and written both ways."""
    ref_read, ref_models = _with(engine.read, engine.write, monkeypatch, lambda: _read(data))
    new_read, new_models = _with(compiled.read, compiled.write, monkeypatch, lambda: _read(data))
    problems = []
    if ref_read != new_read:
        problems.append(_difference("read", ref_read, new_read))
        return "read", problems
    for i, invoice in enumerate(ref_models):
        ref = _with(engine.read, engine.write, monkeypatch, lambda: _write(invoice))
        new = _with(compiled.read, compiled.write, monkeypatch, lambda: _write(invoice))
        for (target, a), (_, b) in zip(ref, new):
            if a != b:
                problems.append(_difference(f"invoice {i} written as {target}", a, b))
    return ("read" if ref_read[0] == "ok" else "refused"), problems


def _difference(what: str, a: Any, b: Any) -> str:
    if a[0] != b[0] or a[0] == "error":
        return f"{what}: interpreter {a[:3]!r:.300} / compiled {b[:3]!r:.300}"
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"{what}: part {i} differs:\n  interpreter {x!r:.600}\n  compiled    {y!r:.600}"
    return f"{what}: differs"


def test_the_production_path_is_the_compiled_one():
    assert mapping.read is compiled.read and mapping.write is compiled.write


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_corpus_samples_read_and_write_alike(syntax, monkeypatch):
    seeds = corpus_seeds(CORPUS, csv_sources=3)[syntax]
    assert seeds, f"no {syntax} sample in the corpus"
    outcomes, problems = [], []
    for name, data in seeds:
        outcome, found = _agree(data, monkeypatch)
        outcomes.append(outcome)
        problems += [f"{name}: {p}" for p in found]
    assert problems == [], "\n".join(problems[:10])
    assert outcomes.count("read") >= len(seeds) // 2, outcomes   # samples, not refusals, were compared


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_fuzz_mutants_read_and_write_alike(syntax, monkeypatch):
    rng = random.Random(f"{SEED}-{syntax}")
    seeds = corpus_seeds(CORPUS, csv_sources=3)[syntax]
    seeds = rng.sample(seeds, min(6, len(seeds)))
    outcomes, problems = [], []
    for i in range(MUTANTS):
        name, seed = rng.choice(seeds)
        outcome, found = _agree(mutant(rng, seed, syntax), monkeypatch)
        outcomes.append(outcome)
        problems += [f"mutant {i} of {name}: {p}" for p in found]
    assert problems == [], "\n".join(problems[:10])
    assert "read" in outcomes, outcomes          # some mutants were read, not all refused
