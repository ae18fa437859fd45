"""Our Peppol BIS Billing 3.0 rules agree with OpenPeppol's schematron on the shared corpus.

For every UBL invoice and credit note of ../shared/corpus (ubl/, fr/ubl/, and
the invoices inside the Peppol SBDH samples of peppol/): read it into the
model, run the ``peppol`` rule set (``validate(invoice, profile="peppol")``,
findings of the ``peppol`` set), run ``PEPPOL-EN16931-UBL.xslt`` (saxonche) on
the invoice itself, and compare, both sides restricted to the rules the set
implements (``covered_rule_ids("peppol")``; the others are listed with the
reason in ``gateway.rules.peppol.NOT_IMPLEMENTED``):

* the verdict: some fatal finding or none;
* the fatal rule ids, each fired the same number of times;
* the warning rule ids.

Differences the model cannot avoid are listed in ``KNOWN``, file by file,
with the reason (PEPPOL-COVERAGE.md explains them); a listed difference that
no longer happens fails the test, so the list stays true. The schematron's
verdict on a file is computed once per session (``peppol_official``), and the
mutation test (test_peppol_rules_fuzz.py) shares it. Everything skips
cleanly without the corpus or saxonche.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

import pytest
from lxml import etree

from gateway.rules import covered_rule_ids, validate
from gateway.rules.peppol import NOT_IMPLEMENTED

from tests.support.corpus import CORPUS, rel, ubl_invoice, ubl_invoices

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")

STYLESHEET = CORPUS / "schematron" / "PEPPOL-EN16931-UBL.xslt"


payload = ubl_invoice
FILES = list(ubl_invoices())

# rel path -> {rule id: why our count differs there}. Each entry must still differ (see below).
_NA = ("the purchase order reference 'NA' (Peppol's placeholder for 'no order') is read as no purchase order "
       "reference (BT-13), so R003 fires on the model; the schematron sees an order reference")
KNOWN: dict[str, dict[str, str]] = {
    "fr/ubl/gobl-ubl/france-cius_credit-note.xml": {"PEPPOL-EN16931-R003": _NA},
    "fr/ubl/gobl-ubl/france-cius_invoice-standard.xml": {"PEPPOL-EN16931-R003": _NA},
    "fr/ubl/gobl-ubl/france-extended_credit-note.xml": {"PEPPOL-EN16931-R003": _NA},
    "fr/ubl/gobl-ubl/france-extended_invoice-standard.xml": {"PEPPOL-EN16931-R003": _NA},
}


def read(data: bytes):
    from gateway.syntaxes import read_document
    return read_document(data).invoice


def ours(data: bytes) -> tuple[Counter, Counter]:
    """Our Peppol (fatal, warning) rule ids with counts."""
    found = validate(read(data), profile="peppol", rule_sets=("peppol",), strict=True)
    assert {f.rule_set for f in found} <= {"peppol"}
    return Counter(f.rule for f in found if f.fatal), Counter(f.rule for f in found if not f.fatal)


def compare(mine: tuple[Counter, Counter], official: tuple[Counter, Counter],
            known: Optional[dict[str, str]] = None, *, must_differ: bool = True) -> list[str]:
    """What is wrong between our verdict and the schematron's (empty: they agree). The rules of
    ``known`` may differ (and, with ``must_differ``, must: a listed difference that went away
    is reported so the list stays true); with some, the verdict is not compared."""
    covered = covered_rule_ids("peppol")
    known = known or {}
    (fatal, warning), (their_fatal, their_warning) = mine, official
    their_fatal = Counter({r: n for r, n in their_fatal.items() if r in covered})
    their_warning = Counter({r: n for r, n in their_warning.items() if r in covered})
    problems = []
    differing = set()
    for kind, a, b in (("fatal", fatal, their_fatal), ("warning", warning, their_warning)):
        for rule_id in sorted(set(a) | set(b)):
            if a[rule_id] != b[rule_id]:
                differing.add(rule_id)
                if rule_id not in known:
                    problems.append(f"{rule_id} ({kind}): we fire {a[rule_id]}x, the schematron {b[rule_id]}x")
    for rule_id in sorted(set(known) - differing if must_differ else ()):
        problems.append(f"{rule_id} is listed as a known difference but we agree: remove it from KNOWN")
    if not known and bool(+fatal) != bool(+their_fatal):
        problems.append(f"verdict: we say {'invalid' if fatal else 'valid'}, the schematron "
                        f"{'invalid' if their_fatal else 'valid'}")
    return problems


@pytest.fixture(scope="session")
def peppol_schematron():
    """OpenPeppol's stylesheet, compiled once (skips without saxonche or the stylesheet)."""
    try:
        from gateway.xml.schematron import peppol_ubl
        return peppol_ubl()
    except Exception as exc:  # noqa: BLE001 - no saxonche, no stylesheet
        pytest.skip(f"the Peppol schematron cannot run here: {exc}")


@pytest.fixture(scope="session")
def peppol_official(peppol_schematron) -> Callable[[bytes], tuple[Counter, Counter]]:
    """The schematron's (fatal, warning) rule ids for a document, each document run once a session."""
    cache: dict[str, tuple[Counter, Counter]] = {}

    def official(data: bytes) -> tuple[Counter, Counter]:
        key = hashlib.sha256(data).hexdigest()
        if key not in cache:
            found = peppol_schematron.run(data)
            cache[key] = (Counter(f.rule for f in found if f.fatal), Counter(f.rule for f in found if not f.fatal))
        return cache[key]
    return official


@pytest.mark.parametrize("path", FILES, ids=[rel(p) for p in FILES])
def test_agrees_with_the_peppol_schematron(path: Path, peppol_official) -> None:
    data = payload(path)
    problems = compare(ours(data), peppol_official(data), KNOWN.get(rel(path)))
    assert not problems, f"{rel(path)}:\n  " + "\n  ".join(problems)


def test_the_corpus_exercises_the_rules(peppol_official) -> None:
    """The corpus is not only valid files: the schematron and we fire a good share of the rules."""
    fired = set()
    for path in FILES:
        fatal, warning = peppol_official(payload(path))
        fired |= set(fatal) | set(warning)
    assert len(FILES) >= 60 and len(fired & covered_rule_ids("peppol")) >= 20, (len(FILES), sorted(fired))


@pytest.mark.parametrize("mine,official,known,ok", [
    ((Counter({"PEPPOL-EN16931-R010": 1}), Counter()), (Counter({"PEPPOL-EN16931-R010": 1,
                                                                 "PEPPOL-EN16931-R008": 2}), Counter()), None, True),
    ((Counter({"PEPPOL-EN16931-R010": 2}), Counter()), (Counter({"PEPPOL-EN16931-R010": 1}), Counter()), None, False),
    ((Counter(), Counter()), (Counter({"NL-R-003": 1}), Counter()), None, False),
    ((Counter(), Counter({"NO-R-002": 1})), (Counter(), Counter()), None, False),
    ((Counter({"PEPPOL-EN16931-R003": 1}), Counter()), (Counter(), Counter()), {"PEPPOL-EN16931-R003": "x"}, True),
    ((Counter(), Counter()), (Counter(), Counter()), {"PEPPOL-EN16931-R003": "x"}, False),
])
def test_compare(mine, official, known, ok) -> None:
    assert (compare(mine, official, known) == []) is ok


# --- the rule set against the stylesheet ------------------------------------------------------------

def _stylesheet_asserts() -> dict[str, tuple[str, str]]:
    """{rule id: (flag, message)} of every assert of the stylesheet."""
    xsl, svrl = "http://www.w3.org/1999/XSL/Transform", "http://purl.oclc.org/dsdl/svrl"
    out = {}
    for el in etree.parse(str(STYLESHEET)).iter(f"{{{svrl}}}failed-assert"):
        attrs = {a.get("name"): "".join(a.itertext()).strip() for a in el.findall(f"{{{xsl}}}attribute")}
        text = " ".join("".join(el.find(f"{{{svrl}}}text").itertext()).split())
        out[attrs["id"]] = (attrs["flag"], re.sub(r"^\[[^\]]+\]\s*-\s*", "", text))
    return out


@pytest.mark.skipif(not STYLESHEET.is_file(), reason="the Peppol stylesheet is not in the corpus")
def test_every_rule_of_the_stylesheet_is_implemented_or_listed_with_its_severity() -> None:
    from gateway.rules import RULE_SETS, load_rule_set
    load_rule_set("peppol")
    asserts = _stylesheet_asserts()
    implemented = RULE_SETS["peppol"]
    assert set(implemented) | set(NOT_IMPLEMENTED) == set(asserts)
    assert not set(implemented) & set(NOT_IMPLEMENTED)
    wrong = {r: (implemented[r].severity, flag) for r, (flag, _) in asserts.items()
             if r in implemented and implemented[r].severity != flag}
    assert not wrong
    # each rule's description is the stylesheet's message (its first sentence at least)
    for rule_id, r in implemented.items():
        head = asserts[rule_id][1].split(". ")[0].rstrip(".")[:60]
        assert " ".join(r.description.split()).startswith(head), (rule_id, r.description, asserts[rule_id][1])


def test_code_lists_are_current_with_the_stylesheet() -> None:
    """gateway/rules/peppol/codelists.yaml is what tools/extract_peppol_codelists.py makes of the stylesheet."""
    if not STYLESHEET.is_file():
        pytest.skip("the Peppol stylesheet is not in the corpus")
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, str(repo / "tools" / "extract_peppol_codelists.py"), "--check",
                        "--xslt", str(STYLESHEET)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# --- the command line ----------------------------------------------------------------------------------

def test_validate_with_the_peppol_profile(tmp_path, peppol_official) -> None:
    """``edigate validate --profile peppol``: exit 0 for a valid Peppol invoice, 1 for one our Peppol rules
    refuse (as the schematron does, also with --schematron), 2 for an unreadable file."""
    import json

    from click.testing import CliRunner

    from gateway.cli import main
    good = CORPUS / "ubl/peppol-bis3/base-example.xml"
    bad = CORPUS / "ubl/cen-en16931/guide-example1.xml"      # EN 16931-valid, not Peppol-valid
    if not (good.is_file() and bad.is_file()):
        pytest.skip("the corpus samples are not there")
    assert not peppol_official(good.read_bytes())[0] and peppol_official(bad.read_bytes())[0]

    def run(*args):
        return CliRunner().invoke(main, ["validate", *map(str, args)])

    assert run(bad).exit_code == 0                               # EN 16931 alone: valid
    r = run("--profile", "peppol", good)
    assert r.exit_code == 0 and "(profile peppol)" in r.output, r.output
    r = run("--profile", "peppol", "--json", bad)
    assert r.exit_code == 1
    (report,) = json.loads(r.stdout)
    assert report["profile"] == "peppol" and not report["valid"]
    ours_fatal = {f["rule"] for f in report["findings"] if f["severity"] == "fatal" and f.get("rule_set") == "peppol"}
    assert ours_fatal == set(peppol_official(bad.read_bytes())[0]) & covered_rule_ids("peppol")
    r = run("--profile", "peppol", "--schematron", "--json", bad)
    assert r.exit_code == 1
    assert {f["rule"] for f in json.loads(r.stdout)[0]["schematron"]} >= ours_fatal
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<Invoice")
    assert run("--profile", "peppol", broken).exit_code == 2
