"""The profile ``fr-extended`` agrees with the FNFE-MPE EXTENDED-CTC-FR stylesheets (1.4.0.03).

EXTENDED-CTC-FR-UBL.xslt and -CII.xslt are the CEN EN 16931 rules with some
replaced by French versions (BR-FREXT-*). What they judge is what the
profile's ``en16931`` set (without the rules they replace) and its
``fr-extended`` set judge together, so those findings are compared with the
stylesheet's, on the same documents as tests/conformance/test_rules_fr_vs_schematron.py:
the corpus, the French cases written as UBL and as CII, mutants of the French
samples. Compared: the verdict and the fatal rule ids of the rules we
implement; the CEN rules' own UBL/CII differences (``gateway.rules.bindings``)
and those of the French ones (``gateway.rules.fr_extended.bindings``) are
checked in their documented direction only.

A document with EXTENDED-CTC-FR sub-lines (line sub-types GROUP, DETAIL,
INFORMATION) is left out: the stylesheets leave GROUP and INFORMATION lines
out of the totals, and the model, which does not hold sub-types, cannot.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

import pytest

from gateway.rules import covered_rule_ids, validate
from gateway.rules.bindings import CII_DIFFERENCES, CII_STRICTER, DIFFERS, UBL_STRICTER
from gateway.rules.fr.bindings import OURS_STRICTER, THEIRS_STRICTER
from gateway.rules.fr.bindings import DIFFERS as FR_DIFFERS
from gateway.rules.fr_extended import CII_IDS, REPLACED
from gateway.rules.fr_extended.bindings import DIFFERENCES
from tests.support import agreement
from tests.support.agreement import Verdicts
from tests.support.corpus import rel
from tests.support.fr_invoice import CASES, EXTENDED_CASES, build_french_invoice
from tests.support.fr_schematron import FNFE_DIR, stylesheet, xml_of
from tests.conformance.test_rules_fr_vs_schematron import FILES, FRENCH_SAMPLES, _official, mutants, syntax_of

pytestmark = pytest.mark.skipif(not FNFE_DIR.is_dir(), reason=f"FNFE-MPE stylesheets not found at {FNFE_DIR}")

BUDGET = 8
SUB_LINES = (b"LineStatusReasonCode", b"DocumentStatusCode")
_KINDS = {UBL_STRICTER: OURS_STRICTER, CII_STRICTER: THEIRS_STRICTER, DIFFERS: FR_DIFFERS}


def covered() -> set[str]:
    return (covered_rule_ids() - set(REPLACED)) | covered_rule_ids("fr-extended")


def differences(syntax: str) -> dict[str, tuple[str, str]]:
    table = dict(DIFFERENCES.get(syntax, {}))
    if syntax == "CII":
        for rule_id, (kind, why) in CII_DIFFERENCES.items():
            table.setdefault(rule_id, (_KINDS[kind], why))
    return table


def compare(syntax: str, ours: set[str], official: Counter) -> Verdicts:
    return agreement.compare(syntax, ours, official, ours_id=(lambda r: CII_IDS.get(r, r)) if syntax == "CII" else str,
                             covered=covered(), differences=differences(syntax))


def ours_on(inv, syntax: str) -> set[str]:
    """Our fatal ``en16931`` and ``fr-extended`` ids on a model read from (or written as) ``syntax``: on CII
    the EN 16931 rules with a CII variant follow the CII binding."""
    return {f.rule for f in validate(inv, profile="fr-extended", strict=True, syntax=syntax.lower())
            if f.fatal and f.rule_set in ("en16931", "fr-extended")}


@pytest.fixture(scope="session")
def extended_official() -> Callable[[str, bytes], Optional[Counter]]:
    try:
        sheets = {"UBL": stylesheet("UBL", "extended"), "CII": stylesheet("CII", "extended")}
    except Exception as exc:  # noqa: BLE001 - no saxonche, no stylesheet
        pytest.skip(f"the EXTENDED-CTC-FR stylesheets cannot run here: {exc}")
    return _official(sheets)


def judge(data: bytes, syntax: str, official, inv=None) -> Optional[Verdicts]:
    """Both verdicts on a document (``inv``: the model it was written from); None when it has sub-lines, the
    stylesheet stops on it or the reader cannot read it."""
    from gateway.syntaxes import read_document
    if any(marker in data for marker in SUB_LINES):
        return None
    theirs = official(syntax, data)
    if theirs is None:
        return None
    try:
        back = read_document(data).invoice
    except Exception:  # noqa: BLE001 - the reader's tests' business
        return None
    if inv is not None and ours_on(back, syntax) != ours_on(inv, syntax):
        return None                     # the writer cannot express the case
    return compare(syntax, ours_on(back, syntax), theirs)


@pytest.mark.parametrize("path", FILES, ids=[rel(p) for p in FILES])
def test_corpus_file_agrees(path: Path, extended_official) -> None:
    v = judge(xml_of(path), syntax_of(path), extended_official)
    if v is None:
        pytest.skip("sub-lines, or the stylesheet stops on this document, or the reader cannot read it")
    assert not v.problems, f"{rel(path)}:\n  " + "\n  ".join(v.problems)


@pytest.mark.parametrize("syntax", ["UBL", "CII"])
@pytest.mark.parametrize("name,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_case_agrees_when_written(name: str, mutate, expected: set, syntax: str, extended_official) -> None:
    from gateway.syntaxes import write_document
    inv = build_french_invoice()
    mutate(inv)
    v = judge(write_document(inv, syntax.lower()).data, syntax, extended_official, inv)
    if v is None:
        pytest.skip(f"the {syntax} writer cannot express this case")
    assert not v.problems, f"{name} ({syntax}):\n  " + "\n  ".join(v.problems)


@pytest.mark.parametrize("syntax", ["UBL", "CII"])
@pytest.mark.parametrize("name,mutate,fatal,warnings", EXTENDED_CASES, ids=[c[0] for c in EXTENDED_CASES])
def test_extended_case_agrees_when_written(name: str, mutate, fatal: set, warnings: set, syntax: str,
                                           extended_official) -> None:
    from gateway.syntaxes import write_document
    inv = build_french_invoice()
    mutate(inv)
    v = judge(write_document(inv, syntax.lower()).data, syntax, extended_official, inv)
    if v is None:
        pytest.skip(f"the {syntax} writer cannot express this case")
    assert not v.problems, f"{name} ({syntax}):\n  " + "\n  ".join(v.problems)
    if syntax == "UBL":                 # the UBL stylesheet is the one the rules follow: the same fatal ids
        assert fatal <= v.theirs, f"{name}: the stylesheet fires {sorted(v.theirs)}"


def _bases() -> list[Path]:
    if os.environ.get("EDIGATE_FR_FUZZ"):
        return FRENCH_SAMPLES
    return [p for p in FRENCH_SAMPLES if rel(p) in ("fr/ubl/gobl-ubl/france-extended_invoice-standard.xml",
                                                    "fr/cii/gobl-cii/peppol-france-facturx_invoice-standard.xml")]


def _budget() -> Optional[int]:
    raw = os.environ.get("EDIGATE_FR_FUZZ", "")
    if raw == "all":
        return None
    return int(raw) if raw.isascii() and raw.isdigit() else BUDGET


@pytest.mark.parametrize("path", _bases(), ids=[rel(p) for p in _bases()])
def test_mutants_agree(path: Path, extended_official) -> None:
    failures = []
    for what, data in mutants(path, _budget()):
        v = judge(data, syntax_of(path), extended_official)
        if v is not None and v.problems:
            failures.append(f"{what}: " + "; ".join(v.problems))
    assert not failures, f"{rel(path)}: {len(failures)} mutants disagree:\n  " + "\n  ".join(failures[:30])


def agreement_table(budget: Optional[int] = None) -> str:
    """Documents checked, same verdict, same fatal ids, and every difference seen."""
    from gateway.syntaxes import write_document
    official = _official({"UBL": stylesheet("UBL", "extended"), "CII": stylesheet("CII", "extended")})
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
            seen.setdefault(kind, Counter())[t.split(" (")[0][:160]] += 1

    for path in FILES:
        count(f"corpus {syntax_of(path)}", judge(xml_of(path), syntax_of(path), official))
    for mutate in [c[1] for c in CASES] + [c[1] for c in EXTENDED_CASES]:
        for syntax in ("UBL", "CII"):
            inv = build_french_invoice()
            mutate(inv)
            count(f"cases {syntax}", judge(write_document(inv, syntax.lower()).data, syntax, official, inv))
    for path in FRENCH_SAMPLES:
        for _, data in mutants(path, budget):
            count(f"mutants {syntax_of(path)}", judge(data, syntax_of(path), official))
    return agreement.format_table(rows, seen)


if __name__ == "__main__":
    raw = os.environ.get("EDIGATE_FR_FUZZ", "all")
    print(agreement_table(None if raw == "all" else int(raw)))
