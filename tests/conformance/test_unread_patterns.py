"""What no mapping term read is the same whether structural patterns are matched per value or searched.

``SourceMap.unread`` judges each value left over against the mapping's ``structural``
patterns compiled to tests of one node (``gateway/mapping/structural.py``);
``unread_reference`` searches the whole tree with each pattern's XPath. On every corpus
sample of every syntax and on the fuzz test's seeded mutants, both must name the same
values in the same order; hand-made trees cover ``//`` inside a pattern, predicates,
wildcards and attributes, and a pattern outside the compiled form falls back to XPath.
"""
from __future__ import annotations

import random

import pytest
from lxml import etree

from gateway import mapping
from gateway.mapping.engine import SourceMap
from gateway.mapping.spec import Structural
from gateway.model.errors import InputError
from gateway.syntaxes import read_documents
from tests.fuzz.seeds import corpus_seeds, mutant
from tests.support.corpus import CORPUS, requires_corpus

SEED = 20261209
SYNTAXES = ("ubl", "cii", "facturx", "edifact", "csv")


def _compare(data: bytes) -> int:
    try:
        docs = read_documents(data)
    except (InputError, ValueError, ArithmeticError):
        return 0
    for doc in docs:
        structural = mapping.load(doc.mapping).structural
        assert isinstance(structural, Structural)
        assert doc.source_map.unread(structural) == doc.source_map.unread_reference(structural)
    return len(docs)


@requires_corpus
@pytest.mark.parametrize("syntax", SYNTAXES)
def test_corpus_and_mutants_leave_the_same_values_unread(syntax):
    seeds = corpus_seeds(CORPUS, csv_sources=3)[syntax]
    assert seeds
    compared = sum(_compare(data) for _, data in seeds)
    rng = random.Random(f"{SEED}-{syntax}")
    for _ in range(12):
        compared += _compare(mutant(rng, rng.choice(seeds)[1], syntax))
    assert compared >= len(seeds) // 2       # documents, not refusals, were compared


def test_every_shipped_mapping_compiles_its_patterns():
    for name in mapping.available():
        structural = mapping.load(name).structural
        assert structural.patterns() is not None, name


NS = {"a": "urn:a", "b": "urn:b"}
TREE = etree.fromstring(b"""<r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <a:H><a:K><a:ID>1</a:ID><a:N>n</a:N></a:K><a:ID cur="EUR">2</a:ID></a:H>
  <a:T><a:C q="x"><a:V>9</a:V><b:W>w</b:W></a:C><a:C><a:V>0</a:V></a:C></a:T>
  <a:Z xsi:type="t">z</a:Z><a:S><a:D>3</a:D><a:E>4</a:E></a:S>
</r>""")


@pytest.mark.parametrize("patterns", [
    ["//a:H//a:ID", "//@cur"],
    ["//a:K/*", "//a:C[@q='x']/a:V", "//a:C/b:*"],
    ["//a:S[a:D='3']/a:E", "//a:T//a:V[.='0']", "//a:C/@q"],
    ["//a:V[number(.)=0]", "//*[local-name()='N']"],
    ["//a:S/a:D[position()=1]"],                  # positional: XPath evaluates every pattern
    ["/r/a:Z"],                                    # not "//": XPath
    [],
])
def test_hand_made_patterns(patterns):
    xpaths = [etree.XPath(p, namespaces=NS) for p in patterns]
    structural = Structural(xpaths, patterns, NS)
    smap = SourceMap(root=TREE)
    smap.add("x", TREE.find("{urn:a}T/{urn:a}C/{urn:a}V"))
    assert smap.unread(structural) == smap.unread_reference(xpaths)
    assert (structural.patterns() is None) == any("position" in p or not p.startswith("//") for p in patterns)
