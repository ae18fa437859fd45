"""Our French rules (rule set ``fr``) agree with the FNFE-MPE Flux 2 stylesheets (1.4.0.03).

Three kinds of documents, each judged twice: by the ``fr`` rule set on the
model read from it, and by the official stylesheet of its syntax
(BR-FR-Flux2-Schematron-UBL.xslt or -CII.xslt, saxonche) on the document
itself. Compared: the verdict (some fatal BR-FR finding or none) and the set
of fatal rule ids, the official ones translated to ours
(``bindings.CII_IDS``) and restricted to the rules the set implements
(``NOT_IMPLEMENTED`` lists the others, with why).

* every UBL and CII file of the corpus (ubl/, cii/, fr/ubl/, fr/cii/) and the
  CII inside the Factur-X PDFs of fr/facturx/;
* the cases of tests/support/fr_invoice.py (a French invoice broken one
  French way at a time: the buyer's SIREN dropped, another invoicing
  framework, a differing delivery address ...), written as UBL and as CII;
* mutants of the French samples, one element or value changed as
  tests/conformance/test_rules_fuzz.py does.

Where the two bindings mean different things (``bindings.DIFFERENCES``) only
the documented direction is checked; FR-COVERAGE.md explains each.

The official verdict on a document is computed once per session (``fr_official``).
By default the mutants of two French samples run (``BUDGET`` each);
``EDIGATE_FR_FUZZ=<mutants per file>`` (``all``: every mutant) runs them on
every French sample. ``python -m tests.conformance.test_rules_fr_vs_schematron``
prints the agreement table. Everything skips cleanly without the corpus or
saxonche.
"""
from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest
from lxml import etree

from gateway.rules import validate
from gateway.rules.codelists import code_set
from gateway.rules.fr import NOT_IMPLEMENTED
from gateway.rules.fr.bindings import DIFFERENCES, UBL_ONLY, ours as our_id
from tests.support import agreement
from tests.support.agreement import Verdicts
from tests.support.corpus import CORPUS, rel
from tests.support.fr_invoice import CASES, build_french_invoice
from tests.support.fr_schematron import FNFE_DIR, stylesheet, xml_of

pytestmark = pytest.mark.skipif(not FNFE_DIR.is_dir(), reason=f"FNFE-MPE stylesheets not found at {FNFE_DIR}")

BUDGET = 12


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    xml = sorted(p for top in ("ubl", "cii", "fr/ubl", "fr/cii") for p in (CORPUS / top).rglob("*")
                 if p.is_file() and p.suffix.lower() == ".xml")
    pdf = sorted(p for p in (CORPUS / "fr" / "facturx").rglob("*.pdf")) if (CORPUS / "fr" / "facturx").is_dir() else []
    return xml + pdf


FILES = _files()
FRENCH_SAMPLES = [p for p in FILES if rel(p).startswith(("fr/ubl/", "fr/cii/"))]


def syntax_of(path: Path) -> str:
    return "UBL" if rel(path).startswith(("ubl/", "fr/ubl/")) else "CII"


# --- the comparison --------------------------------------------------------------------------

def compare(syntax: str, ours: set[str], official: Counter) -> Verdicts:
    """Our fatal ``fr`` ids against the official ones: ``problems`` is empty when they agree or differ only as
    ``bindings.DIFFERENCES`` says they may."""
    return agreement.compare(syntax, ours, official, ours_id=lambda r: our_id(syntax, r),
                             left_to_them=NOT_IMPLEMENTED, only_ours=UBL_ONLY if syntax == "CII" else (),
                             differences=DIFFERENCES.get(syntax, {}))


def ours_on(inv, syntax: str) -> set[str]:
    """Our fatal ``fr`` ids on a model read from (or written as) ``syntax`` (UBL, CII)."""
    return {f.rule for f in validate(inv, profile="fr", strict=True, syntax=syntax.lower())
            if f.rule_set == "fr" and f.fatal}


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def fr_stylesheets():
    """The two Flux 2 stylesheets, compiled once (skips without saxonche or the stylesheets)."""
    try:
        return {"UBL": stylesheet("UBL"), "CII": stylesheet("CII")}
    except Exception as exc:  # noqa: BLE001 - no saxonche, no stylesheet
        pytest.skip(f"the FNFE-MPE stylesheets cannot run here: {exc}")


def _official(sheets: dict) -> Callable[[str, bytes], Optional[Counter]]:
    cache: dict[str, Optional[Counter]] = {}

    def official(syntax: str, data: bytes) -> Optional[Counter]:
        """The stylesheet's fatal ids with counts; None when it stops on the document (a type error on
        values it did not expect, e.g. two due dates in CII)."""
        key = syntax + hashlib.sha256(data).hexdigest()
        if key not in cache:
            try:
                cache[key] = Counter(f.rule for f in sheets[syntax].run(data) if f.fatal)
            except Exception:  # noqa: BLE001 - reported as "the stylesheet stops"
                cache[key] = None
        return cache[key]
    return official


@pytest.fixture(scope="session")
def fr_official(fr_stylesheets) -> Callable[[str, bytes], Optional[Counter]]:
    """The official fatal ids of a document, each document run once a session."""
    return _official(fr_stylesheets)


# --- the corpus ------------------------------------------------------------------------------------

def judge_file(path: Path, official: Callable[[str, bytes], Optional[Counter]]) -> Optional[Verdicts]:
    """Both verdicts on a corpus file; None when the stylesheet stops on it or the reader cannot read it."""
    from gateway.syntaxes import read_document
    syntax = syntax_of(path)
    data = xml_of(path)
    theirs = official(syntax, data)
    if theirs is None:
        return None
    try:
        inv = read_document(path.read_bytes()).invoice
    except Exception:  # noqa: BLE001 - a reader problem, the reader's tests' business
        return None
    return compare(syntax, ours_on(inv, syntax), theirs)


@pytest.mark.parametrize("path", FILES, ids=[rel(p) for p in FILES])
def test_corpus_file_agrees(path: Path, fr_official) -> None:
    v = judge_file(path, fr_official)
    if v is None:
        pytest.skip("the stylesheet stops on this document, or the reader cannot read it")
    assert not v.problems, f"{rel(path)} ({v.syntax}):\n  " + "\n  ".join(v.problems)


# --- the French cases, written -----------------------------------------------------------------------

def judge_case(mutate, syntax: str, official) -> Optional[Verdicts]:
    """Both verdicts on a case written in ``syntax``; None when the writer cannot express it (read back, the
    document does not give our findings on the model it was written from)."""
    from gateway.syntaxes import read_document, write_document
    inv = build_french_invoice()
    mutate(inv)
    mine = ours_on(inv, syntax)
    data = write_document(inv, syntax.lower()).data
    if ours_on(read_document(data).invoice, syntax) != mine:
        return None
    theirs = official(syntax, data)
    if theirs is None:
        return None
    return compare(syntax, mine, theirs)


@pytest.mark.parametrize("syntax", ["UBL", "CII"])
@pytest.mark.parametrize("name,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_case_agrees_when_written(name: str, mutate, expected: set, syntax: str, fr_official) -> None:
    v = judge_case(mutate, syntax, fr_official)
    if v is None:
        pytest.skip(f"the {syntax} writer cannot express this case")
    assert not v.problems, f"{name} ({syntax}):\n  " + "\n  ".join(v.problems)


def test_the_cases_make_the_stylesheets_fire_what_they_are_about(fr_official) -> None:
    """The written cases are not idle: the official stylesheets fire, between them, the rules each case is
    about (a case the writer cannot express is left out)."""
    missing = []
    for name, mutate, expected in CASES:
        fired = set()
        for syntax in ("UBL", "CII"):
            v = judge_case(mutate, syntax, fr_official)
            if v is not None:
                fired |= v.theirs
        if not expected <= fired:
            missing.append(f"{name}: the stylesheets fire {sorted(fired)}, not all of {sorted(expected)}")
    assert not missing, "\n".join(missing)


# --- mutants of the French samples ------------------------------------------------------------------

def _budget() -> Optional[int]:
    raw = os.environ.get("EDIGATE_FR_FUZZ", "")
    if raw == "all":
        return None
    return int(raw) if raw.isascii() and raw.isdigit() else BUDGET


def _bases() -> list[Path]:
    if os.environ.get("EDIGATE_FR_FUZZ"):
        return FRENCH_SAMPLES
    return [p for p in FRENCH_SAMPLES if rel(p) in ("fr/ubl/gobl-ubl/france-cius_invoice-standard.xml",
                                                    "fr/cii/gobl-cii/peppol-france-cius_invoice-standard.xml")]


SCHEMES = ("0002", "0009", "0224", "0225", "0231", "0088", "AFL", "AVV")
FRAMEWORKS = ("B1", "S2", "M2", "B4", "S5", "S8", "B9", "M9", "X1")
TYPES = ("380", "381", "384", "386", "389", "262", "471", "500", "503", "326")
NOTES = ("#BAR#B2B", "#BAR#B2C", "#BAR#XYZ", "#TXD#MEMBRE_ASSUJETTI_UNIQUE", "#PMT#", "texte #PMD# libre")
_FRAMEWORK_PARENTS = ("BusinessProcessSpecifiedDocumentContextParameter",)


def french_mutations(root: etree._Element) -> Iterator[tuple[str, int, Optional[str], Optional[str]]]:
    """Mutations aimed at the French rules, in test_rules_fuzz's form: identifier schemes set to the French
    ones, another invoicing framework (BT-23), another invoice type (BT-3), notes with the French subject
    codes, a SIREN of eight digits."""
    from tests.conformance.test_rules_fuzz import _excluded
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for i, el in enumerate(elements):
        tag = etree.QName(el).localname
        parent = etree.QName(el.getparent()).localname if el.getparent() is not None else ""
        if "schemeID" in el.attrib and not _excluded(el, "attr", "schemeID"):
            yield from (("attr", i, "schemeID", s) for s in SCHEMES if s != el.get("schemeID"))
        if len(el):
            continue
        if tag == "ProfileID" or (tag == "ID" and parent in _FRAMEWORK_PARENTS):
            yield from (("text", i, None, f) for f in FRAMEWORKS)
        if tag == "TypeCode" and parent == "ExchangedDocument":
            yield from (("text", i, None, t) for t in TYPES)
        if tag in ("InvoiceTypeCode", "CreditNoteTypeCode"):     # UBL: a type its root takes (BR-CL-01)
            allowed = code_set("UNTDID_1001_INVOICE" if tag == "InvoiceTypeCode" else "UNTDID_1001_CREDIT_NOTE")
            yield from (("text", i, None, t) for t in TYPES if t in allowed)
        if tag == "Note" and parent in ("Invoice", "CreditNote"):
            yield from (("text", i, None, n) for n in NOTES)
        if tag == "Content" and parent == "IncludedNote":
            yield from (("text", i, None, n.rsplit("#", 1)[-1] or "B2B") for n in NOTES)
        if el.get("schemeID") == "0002":
            yield "text", i, None, (el.text or "").strip()[:8]


def _without_indicator(elements: list, m: tuple) -> bool:
    """Deleting a UBL allowance's or charge's cbc:ChargeIndicator: the model holds allowances (BG-20) and charges
    (BG-21) apart, and a group that is neither is not read, while the stylesheets count its VAT category."""
    return m[0] == "del" and etree.QName(elements[m[1]]).localname == "ChargeIndicator"


def mutants(path: Path, budget: Optional[int]) -> Iterator[tuple[str, bytes]]:
    """(what, bytes) of the mutants of a sample: the generic ones of test_rules_fuzz and the French ones,
    ``budget`` of each sampled (None: all)."""
    from tests.conformance.test_rules_fuzz import mutate, mutations
    data = path.read_bytes()
    root = etree.fromstring(data)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    generic = [m for m in mutations(root) if not _without_indicator(elements, m)]
    for todo in (generic, list(french_mutations(root))):
        if budget is not None and len(todo) > budget:
            todo = random.Random(rel(path)).sample(todo, budget)
        for m in todo:
            mutant, what = mutate(data, m)
            yield what, mutant


def judge_mutant(data: bytes, syntax: str, official) -> Optional[Verdicts]:
    from gateway.syntaxes import read_document
    theirs = official(syntax, data)
    if theirs is None:
        return None
    try:
        inv = read_document(data).invoice
    except Exception:  # noqa: BLE001 - reader refusals are the reader's tests' business
        return None
    return compare(syntax, ours_on(inv, syntax), theirs)


@pytest.mark.parametrize("path", _bases(), ids=[rel(p) for p in _bases()])
def test_mutants_agree(path: Path, fr_official) -> None:
    failures = []
    for what, data in mutants(path, _budget()):
        v = judge_mutant(data, syntax_of(path), fr_official)
        if v is not None and v.problems:
            failures.append(f"{what}: " + "; ".join(v.problems))
    assert not failures, f"{rel(path)}: {len(failures)} mutants disagree:\n  " + "\n  ".join(failures[:30])


# --- the comparison itself can fail ------------------------------------------------------------------

@pytest.mark.parametrize("syntax,ours,official,problems", [
    ("UBL", {"BR-FR-08_BT-23"}, Counter({"BR-FR-08_BT-23": 2}), 0),
    ("UBL", {"BR-FR-08_BT-23"}, Counter(), 1),
    ("UBL", set(), Counter({"BR-FR-10_BT-30": 1}), 1),
    ("UBL", set(), Counter({"BR-FR-MV-01_EXT-FR-FE-163": 1}), 0),                 # not implemented: left to it
    ("CII", {"BR-FR-05_BT-22-1"}, Counter({"BR-FR-05_BT-22_PMT": 1}), 0),         # CII ids translated
    ("CII", {"BR-FR-01_BT-1-2", "BR-FR-02_BT-1"}, Counter({"BR-FR-02_BT-1": 1}), 0),  # UBL-only assert
    ("CII", {"BR-FR-CO-10_BT-29-1"}, Counter(), 0),                               # ours stricter, documented
    ("CII", set(), Counter({"BR-FR-CO-10_BT-29-1": 1}), 1),                       # ... not the other way
    ("UBL", {"BR-FR-CO-10_BT-29-1"}, Counter(), 1),
])
def test_compare(syntax: str, ours: set, official: Counter, problems: int) -> None:
    assert len(compare(syntax, ours, official).problems) == problems


# --- the agreement table, on demand ---------------------------------------------------------------

def agreement_table(budget: Optional[int] = None) -> str:
    """Files and mutants checked, same verdict, same fatal ids, and every difference seen, per syntax."""
    official = _official({"UBL": stylesheet("UBL"), "CII": stylesheet("CII")})
    rows: dict[str, Counter] = {}
    seen: dict[str, Counter] = {}

    def count(kind: str, v: Optional[Verdicts]) -> None:
        c = rows.setdefault(kind, Counter())
        if v is None:
            c["skipped"] += 1
            return
        c["checked"] += 1
        c["same verdict"] += v.same_verdict
        c["same fatal ids"] += v.same_ids
        c["problems"] += bool(v.problems)
        for t in v.tolerated + v.problems:
            seen.setdefault(kind, Counter())[t.split(" (")[0]] += 1

    for path in FILES:
        count(f"corpus {syntax_of(path)}", judge_file(path, official))
    for _, mutate, _ in CASES:
        for syntax in ("UBL", "CII"):
            count(f"cases {syntax}", judge_case(mutate, syntax, official))
    for path in FRENCH_SAMPLES:
        for _, data in mutants(path, budget):
            count(f"mutants {syntax_of(path)}", judge_mutant(data, syntax_of(path), official))
    return agreement.format_table(rows, seen)


if __name__ == "__main__":
    raw = os.environ.get("EDIGATE_FR_FUZZ", "all")
    print(agreement_table(None if raw == "all" else int(raw)))
