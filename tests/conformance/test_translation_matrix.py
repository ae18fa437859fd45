"""Every directed pair of syntaxes, on a handful of rich corpus invoices.

For each source syntax S and target T (S != T): the invoice is first written
in S (from a corpus UBL/CII original), read, written in T, read again. Claims:

* nothing changes between the S model and the T model except exactly the
  terms the S -> T write reported as dropped (loss is never silent);
* T outputs with official artefacts pass them: UBL and CII (and the XML of a
  Factur-X PDF) the XSD, and the CEN EN 16931 schematron finds no error our
  rules did not already find in the source model (zero fatal for a valid source;
  the corpus originals are all valid, see test_translate_corpus.py).

The set of syntaxes is whatever ``gateway.syntaxes.writable()`` offers, so a new
syntax joins the matrix by being registered. Every directed pair is taken between one
flavour of each syntax (its first, in the order of the mapping files: ``ubl``, ``cii``,
``facturx``, ``edifact-d14b`` the CEN binding, ``csv-lines``); each other flavour of a syntax
(the other EDIFACT directories and EANCOM, ``csv-records``) goes to and from UBL and to and
from its syntax's first flavour. Flavours of one syntax share their reader and writer and
differ by their mapping, which those four hops prove; every pair of them would cost four
times more for the same code. The Factur-X profiles (``cii-minimum`` ...
``facturx-extended-ctc-fr``, twelve flavours) join it against UBL only, both ways (a profile
without lines, which UBL cannot hold, goes to its twin instead: ``facturx-minimum`` to
``cii-minimum`` and back),
each output judged by its profile's own schematron: every pair of them would cost 20 times
more and test the same CII writer (every profile with every CII and Factur-X sample is
tests/conformance/test_facturx_profiles.py).
"""
from __future__ import annotations

import copy
import itertools
from functools import lru_cache

import pytest

from gateway import mapping
from gateway.model import invoice as model
from gateway.syntaxes import facturx, read_document, syntax_of, writable, write_document
from gateway.rules import validate
from gateway.xml import schematron
from tests.support.corpus import CORPUS, requires_corpus

pytestmark = requires_corpus

SOURCES = [
    "ubl/cen-en16931/ubl-tc434-example1.xml",          # 20 lines, two VAT rates
    "ubl/cen-en16931/ubl-tc434-example2.xml",          # NOK, allowances and charges, payee, tax representative
    "cii/zugferd-corpus/EN16931_Gutschrift.cii.xml",   # self-billed credit, notes
    "ubl/cen-en16931-testfiles/CreditNote-Min_content_with_VAT.xml",
    "cii/xrechnung-testsuite/01.13a-INVOICE_uncefact.xml",
]
WRITABLE = writable()
PROFILED = tuple(f for f in WRITABLE if facturx.of_flavour(f) is not None)     # a Factur-X profile's flavours
CORE = tuple(f for f in WRITABLE if f not in PROFILED)
FIRST = {"edifact": "edifact-d14b"}         # the syntax's flavour the CEN binding describes


def _first_of(flavour: str) -> str:
    """The flavour that stands for ``flavour``'s syntax in the full matrix."""
    syntax = syntax_of(flavour)
    return FIRST.get(syntax) or next(f for f in CORE if syntax_of(f) == syntax)


FIRSTS = tuple(dict.fromkeys(_first_of(f) for f in CORE))
OTHERS = tuple(f for f in CORE if f not in FIRSTS)


def _from_profile(flavour: str) -> str:
    """Where a profile's output goes: UBL, or, for a profile without lines, its twin flavour."""
    profile = facturx.PROFILES[facturx.of_flavour(flavour)]
    if "BG-25" in mapping.load(profile.carried).tree.children:
        return "ubl"
    return profile.carried if flavour == profile.flavour else profile.flavour


PAIRS = ([(s, t) for s, t in itertools.permutations(FIRSTS, 2)]
         + [pair for f in OTHERS for pair in (("ubl", f), (f, "ubl"), (_first_of(f), f), (f, _first_of(f)))
            if pair[0] != pair[1]]
         + [(s, t) for p in PROFILED for s, t in (("ubl", p), (p, _from_profile(p)))])


def _terms(inv: model.Invoice) -> dict:
    return {(t, p): v for t, p, v in model.iter_terms(inv)}


@lru_cache(maxsize=None)
def _in_syntax(source: str, syntax: str):
    """(bytes in `syntax`, the model read back from them) for a corpus invoice. Read once per source
    and syntax, not once per target: a second read must give the same model (reading keeps no state)."""
    original = read_document((CORPUS / source).read_bytes()).invoice
    data = write_document(original, syntax).data
    read = read_document(data).invoice
    assert read_document(data).invoice == read
    return data, read


@lru_cache(maxsize=None)
def _fatal_rules(source: str, syntax: str) -> frozenset[str]:
    """Our rules' fatal findings on the model of ``_in_syntax(source, syntax)``, once per source and syntax."""
    return frozenset(f.rule for f in validate(_in_syntax(source, syntax)[1]) if f.fatal)


@lru_cache(maxsize=None)
def _judge(flavour: str):
    """The official schematron for what ``flavour`` writes: its Factur-X profile's, else CEN's; None
    for syntaxes without one."""
    level = facturx.of_flavour(flavour)
    if level is not None:
        return facturx.profile_schematron(level)
    syntax = syntax_of(flavour)
    if syntax not in ("ubl", "cii", "facturx"):
        return None
    return schematron.cen_ubl() if syntax == "ubl" else schematron.cen_cii()


def _beyond_cen(flavour: str, invoice: model.Invoice) -> set[str]:
    """What a profile's schematron finds that our rules, like CEN 1.3.16, leave alone: EXTENDED and
    EXTENDED-CTC-FR still apply BR-CO-25 (an amount due needs a due date or payment terms)."""
    level = facturx.of_flavour(flavour)
    if level in ("extended", "extended-ctc-fr") and not (invoice.due_date or invoice.payment_terms) \
            and invoice.totals and (invoice.totals.amount_due or 0) > 0:
        return {"BR-CO-25"}
    return set()


def test_matrix_covers_every_syntax():
    assert {"ubl", "cii", "facturx", "csv-lines", "csv-records"} <= set(WRITABLE)
    assert {f"{s}-{p}" for s in ("cii", "facturx") for p in facturx.profiles()} == set(PROFILED)
    assert {"ubl", "cii", "facturx", "edifact-d14b", "csv-lines"} == set(FIRSTS)
    assert {syntax_of(f) for f in FIRSTS} == {syntax_of(f) for f in WRITABLE}
    covered = {f for pair in PAIRS for f in pair}
    assert covered == set(WRITABLE)                     # every flavour, both ways
    assert {t for _, t in PAIRS} == {s for s, _ in PAIRS} == set(WRITABLE)
    assert len(PAIRS) == len(set(PAIRS)) == (len(FIRSTS) * (len(FIRSTS) - 1) + 4 * len(OTHERS)
                                             + 2 * len(PROFILED))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("src_syntax, dst_syntax", PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
def test_directed_pair(source, src_syntax, dst_syntax):
    _, src_model = _in_syntax(source, src_syntax)
    invoice = copy.deepcopy(src_model)                  # the S model as read (once), this test's own copy
    out = write_document(invoice, dst_syntax, validate=True)
    assert [str(f) for f in out.findings if f.fatal] == []
    if _judge(dst_syntax) is not None:
        # A translation adds no error: whatever the official schematron finds in the output, our
        # rules (which agree with it) already found in the source model. A source that lost a
        # term in an earlier, reported, hop (e.g. a scheme EDIFACT has no code for) may be invalid.
        xml = getattr(out, "xml", None) or out.data
        fatal = {f.rule for f in _judge(dst_syntax).run(xml) if f.fatal} - _beyond_cen(dst_syntax, invoice)
        already = _fatal_rules(source, src_syntax)
        if already:   # an invalid model may also break the syntax's own form of the same rule
            fatal = {r for r in fatal if not r.startswith(("UBL-", "CII-"))}
        assert fatal <= already, (sorted(fatal - already), sorted(already))
    before, after = _terms(invoice), _terms(read_document(out.data).invoice)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    dropped = {(d.term, d.path) for d in out.dropped}
    # a value the target can only carry altered (EDIFACT text: line breaks become spaces) is a warning
    altered = {(f.terms[0], f.path) for f in out.findings if f.terms and f.path and not f.fatal}
    assert dropped <= changed <= dropped | altered
