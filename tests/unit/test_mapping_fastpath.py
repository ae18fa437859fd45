"""Compiled mapping paths select what lxml's XPath selects, with and without the per-read tables.

``fastpath.FastPath.select`` answers a predicate that compares a relative path with a
literal from a table of the children by that path's values, made once per parent for a
whole read (the ``kids`` cache); without the cache it tests each child. Both must give
XPath's node-set, in document order, each node once.
"""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.mapping.fastpath import FastPath
from gateway.mapping.paths import Path

DOC = etree.fromstring(b"""<M>
  <G><S><Q>SE</Q><Q>BY</Q></S><V>1</V></G>
  <G><S><Q>BY</Q></S><V>2</V><V>3</V></G>
  <G><S><Q> SE</Q></S><V>4</V></G>
  <G k="x"><S><Q>SE</Q><Q>SE</Q></S><V>5</V></G>
  <G k="y"><S><Q>PE</Q></S></G>
  <G>SE<V>6</V></G>
  <H><Q>SE</Q></H>
</M>""")

PATHS = [
    "G[S/Q='SE']/V",
    "G[S/Q='BY']/V",
    "G[S/Q=\"PE\"]",
    "G[S/Q='SE'][V='5']/V",
    "G[V='3'][S/Q='BY']",
    "G[@k='y']",
    "G[.='SE6']/V",
    "G[S/Q='none']/V",
    "G[S/Q='SE' or S/Q='PE']",
    "G[not(S/Q='SE')]/V",
    "H[Q='SE']/Q",
    "*[self::G or self::H]/Q",
    "*[self::H]/Q",
    "*[not(self::G)]",
    "*[self::G='SE6']/V",
]


def _ids(nodes: list) -> list:
    return [id(n) if not isinstance(n, str) else str(n) for n in nodes]


@pytest.mark.parametrize("text", PATHS)
def test_selects_as_xpath(text):
    path = Path(text, {})
    fast = FastPath(path)
    want = path.select(DOC, DOC, {})
    assert _ids(fast.select(DOC, DOC, {})) == _ids(want)
    kids: dict = {}
    assert _ids(fast.select(DOC, DOC, {}, kids)) == _ids(want)
    assert _ids(fast.select(DOC, DOC, {}, kids)) == _ids(want)      # again, from the tables


def test_self_name_tests_are_compiled():
    """``self::name`` in a predicate is a test of the candidate's own name, not an XPath call."""
    step = FastPath(Path("*[self::G or self::H]/Q", {})).steps[0]
    assert step.predicates and "_xpath_predicate" not in step.predicates[0].__qualname__


def test_literal_comparisons_are_looked_up():
    fast = FastPath(Path("G[S/Q='SE'][V='5']/V", {}))
    step = fast.steps[0]
    assert step.literal == "SE" and len(step.rest) == 1
    kids: dict = {}
    fast.select(DOC, DOC, {}, kids)
    tables = [k for k in kids if isinstance(k, tuple)]
    assert len(tables) == 1
    other = FastPath(Path("G[S/Q='BY']/V", {}))
    other.select(DOC, DOC, {}, kids)
    assert [k for k in kids if isinstance(k, tuple)] == tables      # one table serves every qualifier
