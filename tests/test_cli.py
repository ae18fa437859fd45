"""The ``edigate`` command line: translate, validate, formats, exit codes, the console script."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.formats import read_document, write_document
from gateway.xml import schematron
from tests.corpus import CORPUS, requires_corpus
from tests.invoice_builder import build_invoice

REPO = Path(__file__).resolve().parents[1]
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

# corpus files used below (all in VALIDATION_BASELINE.txt)
UBL_CLEAN = CORPUS / "ubl/cen-en16931/ubl-tc434-example1.xml"         # PASS, nothing dropped to CII
UBL_DROPS = CORPUS / "ubl/cen-en16931/ubl-tc434-example2.xml"         # PASS, BT-147 dropped to CII
UBL_UPPER = CORPUS / "ubl/cen-en16931/BIS3_Invoice_negativ.XML"       # PASS, upper-case extension
CII_CLEAN = CORPUS / "cii/cen-en16931/CII_example1.xml"                # PASS
CII_INVALID = CORPUS / "cii/facturx-official-samples-via-phive/minimum-factur-x-1.xml"  # FAIL (BR-16 ...)
CII_WARNING = CORPUS / "cii/zugferd-corpus/XRECHNUNG_Einfach.cii.xml"  # PASS with a READ-UNMAPPED warning

XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
       b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&e;</Invoice>\n')
MALFORMED = (b'<?xml version="1.0"?>\n<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">\n'
             b'  <cbc:ID>1</Invoice>\n')


def run(*args: str, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def fatal_rules(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings if f["severity"] == "fatal"}


# --- inputs written here (no corpus needed) -----------------------------------------------

@pytest.fixture
def valid_ubl(tmp_path: Path) -> Path:
    path = tmp_path / "valid.xml"
    path.write_bytes(write_document(build_invoice(), "ubl").data)
    return path


@pytest.fixture
def invalid_ubl(tmp_path: Path) -> Path:
    inv = build_invoice()
    inv.totals.sum_of_line_net_amounts = Decimal("99.00")   # breaks BR-CO-10 (and BR-CO-13)
    path = tmp_path / "invalid.xml"
    path.write_bytes(write_document(inv, "ubl").data)
    return path


@pytest.fixture
def two_contracts(valid_ubl: Path, tmp_path: Path) -> Path:
    """Two contract references (BT-12): our reader keeps the first and warns about the second
    (READ-UNMAPPED); the CEN schematron rejects the document (UBL-SR-01)."""
    root = etree.fromstring(valid_ubl.read_bytes())
    anchor = root.find(f"{{{CAC}}}AccountingSupplierParty")
    for value in ("C-1", "C-2"):
        ref = etree.Element(f"{{{CAC}}}ContractDocumentReference")
        etree.SubElement(ref, f"{{{CBC}}}ID").text = value
        anchor.addprevious(ref)
    path = tmp_path / "two-contracts.xml"
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return path


@pytest.fixture
def xxe(tmp_path: Path) -> Path:
    path = tmp_path / "xxe.xml"
    path.write_bytes(XXE)
    return path


@pytest.fixture
def garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.xml"
    path.write_bytes(b"this is not an invoice\n")
    return path


# --- translate ----------------------------------------------------------------------------

def test_translate_built_invoice_round_trip(valid_ubl: Path, tmp_path: Path):
    cii = tmp_path / "out.cii.xml"
    r = run("translate", valid_ubl, "--to", "cii", "-o", cii)
    assert r.exit_code == 0, r.output
    assert r.stdout == ""                       # written to the file, nothing on stdout
    assert read_document(cii.read_bytes()).syntax == "cii"
    r = run("translate", cii, "--to", "ubl")    # no -o: the document on stdout
    assert r.exit_code == 0, r.output
    assert read_document(r.stdout_bytes).invoice == read_document(valid_ubl.read_bytes()).invoice


@requires_corpus
def test_translate_corpus_ubl_to_cii_and_back(tmp_path: Path):
    cii, back = tmp_path / "example1.cii.xml", tmp_path / "example1.ubl.xml"
    r = run("translate", UBL_CLEAN, "--to", "cii", "-o", cii)
    assert r.exit_code == 0, r.output
    assert r.stderr == ""                       # nothing dropped, nothing invalid: no warning
    out = read_document(cii.read_bytes())
    assert out.syntax == "cii"
    r = run("translate", cii, "--to", "ubl", "-o", back)
    assert r.exit_code == 0, r.output
    assert read_document(back.read_bytes()).invoice == read_document(UBL_CLEAN.read_bytes()).invoice


@requires_corpus
def test_translate_corpus_cii_to_stdout():
    r = run("translate", CII_CLEAN, "--to", "ubl")
    assert r.exit_code == 0, r.output
    out = read_document(r.stdout_bytes)
    assert out.syntax == "ubl"
    # CII -> UBL -> CII gives the same model back
    r2 = write_document(out.invoice, "cii")
    assert read_document(r2.data).invoice == read_document(CII_CLEAN.read_bytes()).invoice


@requires_corpus
def test_translate_warns_about_dropped_terms():
    r = run("translate", UBL_DROPS, "--to", "cii")
    assert r.exit_code == 0, r.output           # a warning, not a failure
    assert "BT-147 (lines[0].price.price_discount) cannot be carried by cii and was dropped" in r.stderr
    assert str(UBL_DROPS) in r.stderr
    assert read_document(r.stdout_bytes).syntax == "cii"    # stdout holds the document only
    quiet = run("translate", UBL_DROPS, "--to", "cii", "--quiet")
    assert quiet.exit_code == 0 and "BT-147" not in quiet.stderr


def test_translate_warns_about_unread_content(two_contracts: Path):
    r = run("translate", two_contracts, "--to", "cii")
    assert r.exit_code == 0, r.output
    assert (f"warning: {two_contracts}: not carried over: [warning] READ-UNMAPPED: element not part of "
            "EN 16931 as mapped by ubl-invoice; its value 'C-2' is kept only in the original") in r.stderr
    assert read_document(r.stdout_bytes).invoice.contract_reference == "C-1"
    assert run("translate", two_contracts, "--to", "cii", "-q").stderr == ""


@requires_corpus
def test_translate_output_failing_the_xsd_exits_1(tmp_path: Path):
    out = tmp_path / "minimum.ubl.xml"
    r = run("translate", CII_INVALID, "--to", "ubl", "-o", out)  # no invoice line: UBL requires one
    assert r.exit_code == 1, r.output
    assert "output fails the ubl XSD" in r.stderr and "InvoiceLine" in r.stderr
    assert out.is_file()                         # still written, to be inspected


def test_translate_folder(valid_ubl: Path, invalid_ubl: Path, tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    shutil.copy(valid_ubl, src / "a.xml")
    shutil.copy(invalid_ubl, src / "sub" / "b.XML")      # business-rule errors do not stop a translation
    (src / "sub" / "notes.txt").write_text("not an input")
    r = run("translate", src, "--to", "cii", "-o", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["a.xml", "sub/b.xml"]
    for p in out.rglob("*.xml"):
        assert read_document(p.read_bytes()).syntax == "cii"
    assert "translating 2 files to cii" in r.stderr      # the progress bar (label only off a terminal)
    assert "2 files: 2 translated, 0 with invalid output, 0 unreadable" in r.stderr
    assert r.stdout == ""


def test_translate_folder_goes_on_after_unreadable_files(valid_ubl: Path, xxe: Path, tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copy(xxe, src / "1-xxe.xml")
    (src / "2-malformed.xml").write_bytes(MALFORMED)
    shutil.copy(valid_ubl, src / "3-good.xml")
    r = run("translate", src, "--to", "cii", "-o", out)
    assert r.exit_code == 2, r.output
    lines = r.stderr.splitlines()
    assert any(str(src / "1-xxe.xml") in l and "DOCTYPE declarations are not accepted" in l for l in lines)
    assert any(str(src / "2-malformed.xml") in l and "line 3, column" in l for l in lines)
    assert "Traceback" not in r.output
    assert (out / "3-good.xml").is_file() and not (out / "1-xxe.xml").exists()
    assert "3 files: 1 translated, 0 with invalid output, 2 unreadable" in r.stderr


def test_translate_folder_usage_errors(valid_ubl: Path, tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(valid_ubl, src / "a.xml")
    r = run("translate", src, "--to", "cii")
    assert r.exit_code == 2 and "-o/--output" in r.stderr
    r = run("translate", src, "--to", "cii", "-o", src)
    assert r.exit_code == 2 and "overwrite" in r.stderr
    assert read_document((src / "a.xml").read_bytes()).syntax == "ubl"    # untouched


def test_translate_output_folder_inside_input_is_not_read_back(valid_ubl: Path, tmp_path: Path):
    src = tmp_path / "in"
    (src / "out").mkdir(parents=True)
    shutil.copy(valid_ubl, src / "a.xml")
    (src / "out" / "old.xml").write_bytes(b"garbage from an earlier run")
    r = run("translate", src, "--to", "cii", "-o", src / "out")
    assert r.exit_code == 0, r.output
    assert "1 file: 1 translated" in r.stderr


def test_translate_unreadable_single_file(garbage: Path):
    r = run("translate", garbage, "--to", "cii")
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: {garbage}: not a document edigate recognises (expected XML, EDIFACT, "
                                "PDF or a CSV export with a known header)")
    assert r.stdout == ""


def test_translate_never_overwrites_its_input(valid_ubl: Path, tmp_path: Path):
    before = valid_ubl.read_bytes()
    r = run("translate", valid_ubl, "--to", "cii", "-o", valid_ubl)
    assert r.exit_code == 2, r.output
    assert "refusing to write" in r.stderr and "the input itself" in r.stderr
    assert valid_ubl.read_bytes() == before
    # two inputs that map to the same output name: the second is refused, not silently overwritten
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(valid_ubl, src / "a.XML")
    shutil.copy(valid_ubl, src / "a.xml")
    if (src / "a.XML").samefile(src / "a.xml"):
        pytest.skip("case-insensitive file system")
    r = run("translate", src, "--to", "cii", "-o", tmp_path / "out")
    assert r.exit_code == 2, r.output
    assert "another input was written there" in r.stderr
    assert "2 files: 1 translated, 0 with invalid output, 1 unreadable" in r.stderr


def test_translate_schematron_missing_is_a_setup_error(valid_ubl: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(schematron.ENV_DIR, str(tmp_path))   # a folder without the stylesheets
    r = run("translate", valid_ubl, "--to", "cii", "--schematron")
    assert r.exit_code == 3, r.output
    assert "EN16931-CII-validation.xslt" in r.stderr


@requires_corpus
def test_translate_with_schematron(tmp_path: Path):
    r = run("translate", UBL_CLEAN, "--to", "cii", "--schematron")
    assert r.exit_code == 0, r.output
    # an output the CEN rules reject: exit 1 and the schematron's findings named
    r = run("translate", CII_INVALID, "--to", "cii", "--schematron")
    assert r.exit_code == 1, r.output
    assert "output fails the CEN schematron: [fatal] schematron BR-16" in r.stderr


# --- validate -----------------------------------------------------------------------------

def test_validate_valid_and_invalid_built_documents(valid_ubl: Path, invalid_ubl: Path):
    r = run("validate", valid_ubl)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"PASS  {valid_ubl} (ubl)", "1 file: 1 valid, 0 invalid, 0 unreadable"]
    r = run("validate", invalid_ubl)
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith(f"FAIL  {invalid_ubl} (ubl, 2 fatal)")
    assert ("  [fatal] BR-CO-10 (BT-106,BT-131): Sum of invoice line net amounts (BT-106) is 99.00 but the "
            "lines add up to 100.00. @ /Invoice/cac:LegalMonetaryTotal/cbc:LineExtensionAmount (line ") in r.stdout
    assert "BR-CO-13" in r.stdout


@requires_corpus
def test_validate_corpus_valid_and_invalid():
    r = run("validate", UBL_CLEAN)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("PASS")
    r = run("validate", CII_INVALID)
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith("FAIL")
    for rule in ("BR-16", "BR-10", "BR-CO-10"):
        assert f"[fatal] {rule} (" in r.stdout
    assert r.stdout.splitlines()[-1] == "1 file: 0 valid, 1 invalid, 0 unreadable"


@requires_corpus
def test_validate_json():
    r = run("validate", "--json", UBL_CLEAN, CII_INVALID)
    assert r.exit_code == 1, r.output
    docs = json.loads(r.stdout)                  # stdout holds the JSON and nothing else
    assert [d["file"] for d in docs] == [str(UBL_CLEAN), str(CII_INVALID)]
    assert [(d["syntax"], d["valid"]) for d in docs] == [("ubl", True), ("cii", False)]
    assert {"BR-16", "BR-10", "BR-CO-10"} <= fatal_rules(docs[1]["findings"])
    assert fatal_rules(docs[0]["findings"]) == set()
    assert "2 files: 1 valid, 1 invalid, 0 unreadable" in r.stderr


def test_validate_json_unreadable(valid_ubl: Path, xxe: Path):
    r = run("validate", "--json", valid_ubl, xxe)
    assert r.exit_code == 2, r.output
    docs = json.loads(r.stdout)
    assert docs[0]["valid"] is True
    assert docs[1]["valid"] is False and docs[1]["syntax"] is None
    assert "DOCTYPE declarations are not accepted" in docs[1]["error"]


def test_validate_unreadable(valid_ubl: Path, invalid_ubl: Path, xxe: Path, garbage: Path, tmp_path: Path):
    malformed = tmp_path / "malformed.xml"
    malformed.write_bytes(MALFORMED)
    r = run("validate", xxe)
    assert r.exit_code == 2, r.output
    assert f"ERROR {xxe}: DOCTYPE declarations are not accepted (XXE / entity expansion protection)" in r.stdout
    r = run("validate", valid_ubl, invalid_ubl, garbage, malformed)
    assert r.exit_code == 2, r.output            # unreadable wins over invalid
    assert f"ERROR {garbage}: not a document edigate recognises" in r.stdout
    assert f"ERROR {malformed}: Malformed XML" in r.stdout and "(line 3, column" in r.stdout
    assert "Traceback" not in r.output
    assert r.stdout.splitlines()[-1] == "4 files: 1 valid, 1 invalid, 2 unreadable"


def test_validate_folder_with_progress(valid_ubl: Path, invalid_ubl: Path, tmp_path: Path):
    folder = tmp_path / "batch"
    (folder / "deep").mkdir(parents=True)
    shutil.copy(valid_ubl, folder / "one.xml")
    shutil.copy(invalid_ubl, folder / "deep" / "two.xml")
    r = run("validate", folder)
    assert r.exit_code == 1, r.output
    assert f"PASS  {folder / 'one.xml'}" in r.stdout and f"FAIL  {folder / 'deep' / 'two.xml'}" in r.stdout
    assert "validating 2 files" in r.stderr       # progress on stderr, not in the report
    assert "validating" not in r.stdout
    single = run("validate", valid_ubl)
    assert single.stderr == ""                    # no progress bar for one file


@requires_corpus
def test_validate_quiet_hides_warnings():
    r = run("validate", CII_WARNING)
    assert r.exit_code == 0, r.output
    assert "[warning] READ-UNMAPPED" in r.stdout
    r = run("validate", "--quiet", CII_WARNING)
    assert r.exit_code == 0
    assert "[warning]" not in r.stdout and r.stdout.startswith("PASS")


@requires_corpus
def test_validate_with_schematron():
    r = run("validate", "--schematron", CII_INVALID)
    assert r.exit_code == 1, r.output
    assert "[fatal] BR-16 (BG-25)" in r.stdout            # ours
    assert "[fatal] schematron BR-16:" in r.stdout         # and CEN's, labelled
    r = run("validate", "--schematron", "--json", CII_INVALID, UBL_CLEAN)
    docs = json.loads(r.stdout)
    assert "BR-16" in fatal_rules(docs[0]["schematron"])
    assert docs[1]["schematron"] == [] and docs[1]["valid"] is True


def test_validate_schematron_findings_count_for_the_verdict(two_contracts: Path):
    """A document our rules accept (a warning only) but the CEN schematron rejects (UBL-SR-01)."""
    path = two_contracts
    assert run("validate", path).exit_code == 0
    r = run("validate", "--schematron", path)
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith(f"FAIL  {path} (ubl, 1 fatal, 1 warning)")
    assert "  [fatal] schematron UBL-SR-01: Contract identifier shall occur maximum once. @ /Invoice[1] (line 2)" \
        in r.stdout.splitlines()
    docs = json.loads(run("validate", "--schematron", "--json", path).stdout)
    assert docs[0]["valid"] is False and fatal_rules(docs[0]["findings"]) == set()
    assert fatal_rules(docs[0]["schematron"]) == {"UBL-SR-01"}


# --- formats, help, the console script ----------------------------------------------------

def test_formats():
    r = run("formats")
    assert r.exit_code == 0, r.output
    for name in ("cii", "ubl-invoice", "ubl-creditnote"):
        assert any(line.split()[:3] == [name, name.split("-")[0], "reads,"] for line in r.stdout.splitlines())
    assert "translate --to: ubl, cii" in r.stdout


def test_help_texts():
    for cmd in ("translate", "validate", "formats"):
        r = run(cmd, "--help")
        assert r.exit_code == 0 and "Usage: " in r.stdout
    assert "Exit codes" in run("validate", "--help").stdout


def test_console_script(valid_ubl: Path, garbage: Path):
    exe = Path(sys.executable).with_name("edigate")
    if not exe.exists():
        exe = REPO / ".venv" / "bin" / "edigate"
    if not exe.exists():
        pytest.skip("the edigate console script is not installed (make install)")
    ok = subprocess.run([str(exe), "translate", str(valid_ubl), "--to", "cii"], capture_output=True, timeout=120)
    assert ok.returncode == 0, ok.stderr.decode()
    assert read_document(ok.stdout).syntax == "cii"
    bad = subprocess.run([str(exe), "validate", str(garbage)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "not a document edigate recognises" in bad.stdout and "Traceback" not in bad.stderr


@requires_corpus
def test_translate_to_facturx_writes_a_pdf_that_reads_back(tmp_path):
    src = CORPUS / "ubl/cen-en16931/ubl-tc434-example1.xml"
    out = tmp_path / "out"
    out.mkdir()
    res = run("translate", src, "--to", "facturx", "-o", out, "--schematron")
    assert res.exit_code == 0, res.output
    pdf = out / "ubl-tc434-example1.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    back = read_document(pdf.read_bytes())
    assert back.syntax == "facturx"
    assert back.invoice == read_document(src.read_bytes()).invoice


@requires_corpus
def test_validate_reads_facturx_pdfs_in_a_folder(tmp_path):
    shutil.copy(CORPUS / "facturx/zugferd-corpus-xmlrechnung/EN16931_Einfach.pdf", tmp_path / "a.pdf")
    shutil.copy(CORPUS / "facturx/fnfe-via-zugferd-corpus/Facture_FR_MINIMUM.pdf", tmp_path / "b.pdf")
    res = run("validate", tmp_path, "--json")
    assert res.exit_code == 1
    report = {Path(r["file"]).name: r for r in json.loads(res.stdout)}
    assert report["a.pdf"]["valid"] and report["a.pdf"]["syntax"] == "facturx"
    assert not report["b.pdf"]["valid"]
    assert "BR-16" in {f["rule"] for f in report["b.pdf"]["findings"]}
