"""The fast EDIFACT message tree is the reference tree, element for element.

``tree.build_tree`` writes a message out as XML text for lxml's parser and keeps
each element's place as a tuple worded on demand; ``tree.build_tree_reference``
makes the same tree one ``SubElement`` and one ``Place`` at a time and is the
reference. For every INVOIC message of the corpus, the fuzz test's seeded
mutants of them and hand-made awkward segments (markup characters, line breaks,
CR, control characters, data beyond the layout, repetitions, unknown and
misplaced segments, source lines beyond lxml's 16 bits), both must give the same
elements (tag, text, source line, place) in document order and the same
findings, or the same error.
"""
from __future__ import annotations

import random
from typing import Any

import pytest

from gateway.model.errors import InputError
from gateway.syntaxes.edifact import grammar as grammars
from gateway.syntaxes.edifact import invoic
from gateway.syntaxes.edifact.syntax import read_interchange
from gateway.syntaxes.edifact.tree import MAX_SOURCELINE, Segment, adapt, build_tree, build_tree_reference
from tests.fuzz.seeds import corpus_seeds, mutant
from tests.support.corpus import CORPUS, requires_corpus

SEED = 20261208


def _shape(build: Any, segments: list, grammar: grammars.Grammar) -> Any:
    """What a builder gives: every element with its place, and the findings; or the error."""
    try:
        tree = build(segments, grammar)
    except (ValueError, InputError) as exc:
        return ("error", type(exc).__name__, str(exc))
    elements = [(el.tag, el.text or "", el.sourceline, tree.place(el), tree.describe(el)) for el in tree.root.iter()]
    return ("ok", elements, tree.findings, {(el.tag, p) for el, p in tree.places.items()})


def _agree(segments: list, grammar: grammars.Grammar) -> None:
    ref = _shape(build_tree_reference, segments, grammar)
    new = _shape(build_tree, segments, grammar)
    if ref[0] == "ok" and new[0] == "ok":
        for a, b in zip(ref[1], new[1]):
            assert a == b
        assert len(ref[1]) == len(new[1])
    assert new == ref


def _messages(data: bytes) -> list:
    try:
        interchange = read_interchange(data)
    except InputError:
        return []
    out = []
    for m in interchange.messages:
        if m.type != "INVOIC":
            continue
        unh = next((adapt(s) for s in m.segments if s.tag == "UNH"), None)
        try:
            spec = invoic.spec_for(invoic.flavour_for(*invoic._s009(unh)))
        except (InputError, ValueError, AttributeError):
            continue
        out.append((m.segments, invoic.grammar_of(spec)))
    return out


@requires_corpus
def test_corpus_messages_build_alike():
    seeds = corpus_seeds(CORPUS)["edifact"]
    compared = 0
    for name, data in seeds:
        for segments, grammar in _messages(data):
            _agree(segments, grammar)
            compared += 1
    assert compared >= len(seeds) - 2      # a seed or two is not an INVOIC this binding reads


@requires_corpus
def test_fuzz_mutants_build_alike():
    rng = random.Random(SEED)
    seeds = corpus_seeds(CORPUS)["edifact"]
    compared = 0
    for _ in range(60):
        name, seed = rng.choice(seeds)
        for segments, grammar in _messages(mutant(rng, seed, "edifact")):
            _agree(segments, grammar)
            compared += 1
    assert compared > 20


D14B = grammars.load("invoic-d14b")
UNH = Segment.of("UNH", "1", ["INVOIC", "D", "14B", "UN"])


@pytest.mark.parametrize("segments", [
    [UNH, Segment.of("BGM", "380", "A&B<1>"), Segment.of("NAD", "SE", None, None, ["Smith & <Co>", "x]]>y"])],
    [UNH, Segment.of("BGM", "380", "line\nbreak"), Segment.of("FTX", "AAI", None, None, ["a\r\nb", "c\rd"])],
    [UNH, Segment.of("BGM", "380", "bell\x07")],                                # lxml refuses it: the same error
    [UNH, Segment.of("BGM", "380", "\ufffe")],
    [UNH, Segment.of("BGM", "380", "1", "9", "AB", "extra", ["x", "", "y"]),     # beyond the layout
     Segment.of("MOA", ["77", "12,50", "EUR", "x", "y"]), Segment.of("DTM", ["137", "20240101", "102"], "more")],
    [UNH, Segment.of("ZZZ", "unknown", ["a", "b"]), Segment.of("NAD", "SE"), Segment.of("BGM", "380", "late"),
     Segment.of("LIN", "1"), Segment.of("NAD", "BY")],                           # unknown, misplaced, groups
    [UNH, Segment("COM", [["1", "TE"]], repeats={1: [["1", "TE"], ["", ""], ["x@y", "EM"], ["2", "TE"]]})],
    [UNH, Segment.of("IM46:SA", "1"), Segment.of("A.B", "2"), Segment.of("BGM", "380", "1")],  # odd tags
    [UNH, Segment.of("BGM", "380", "1"), Segment.of("TAX", "7", ["VAT"], None, None, ["", "", "", "20,5"])],
], ids=["markup", "line-breaks", "control", "non-character", "beyond-layout", "structure", "repeats", "tags", "numeric"])
def test_awkward_segments_build_alike(segments):
    _agree(segments, D14B)


def test_source_lines_as_the_reference_sets_them():
    segments = [Segment("UNH", UNH.elements, line=3), Segment.of("BGM", "380", "1", line=MAX_SOURCELINE - 1),
                Segment.of("NAD", "SE", line=MAX_SOURCELINE + 1), Segment.of("FTX", "AAI", line=None),
                Segment.of("DTM", ["137", "20240101", "102"], line=1)]
    _agree(segments, D14B)
    tree = build_tree(segments, D14B)
    lines = {el.tag: el.sourceline for el in tree.root.iter()}
    assert lines["S_UNH"] == 3 and lines["S_BGM"] == MAX_SOURCELINE - 1 and lines["G_SG2"] is None
    assert lines["S_DTM"] == 1 and lines["D_1004"] is None
    assert tree._places is None, "the fast builder made every place up front"


def test_threads_build_alike():
    """Each thread parses with its own parser: trees built side by side are each the reference's."""
    import threading
    segments = [UNH, Segment.of("BGM", "380", "A&B"), Segment.of("NAD", "SE", None, None, ["Smith & Co"]),
                Segment.of("MOA", ["77", "12,50", "EUR"])]
    want = _shape(build_tree_reference, segments, D14B)
    got: list = []

    def work() -> None:
        for _ in range(50):
            got.append(_shape(build_tree, segments, D14B))
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 200 and all(g == want for g in got)
