"""The ``edigate`` command line in this process: translate, validate, formats, exit codes (the console
script run as a program is tested in tests/integration/test_cli.py)."""
from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.syntaxes import read_document, write_document
from gateway.xml import schematron
from tests.support.corpus import CORPUS, requires_corpus
from tests.support.invoice_builder import build_invoice

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


@pytest.mark.parametrize("source, to", [("ubl", "cii"), ("cii", "ubl"), ("csv-records", "ubl")])
def test_translate_reports_the_sources_fatal_findings_first(source: str, to: str, tmp_path: Path):
    """A source without an invoice number (BR-02): its own finding, by rule, term and place, comes
    before what the output's XSD says about the consequence; the output is still written, exit 1."""
    inv = build_invoice()
    inv.number = None
    src, out = tmp_path / f"no-number.{source}", tmp_path / "out"
    src.write_bytes(write_document(inv, source).data)
    for args in ((), ("--quiet",)):                    # fatal findings are no warnings: always shown
        r = run("translate", src, "--to", to, "-o", out, *args)
        assert r.exit_code == 1, r.output
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert errors[0].startswith(f"error: {src}: the source breaks EN 16931: [fatal] BR-02 (BT-1): "), errors
        assert " @ " in errors[0]                       # the place in the source
        own = [i for i, line in enumerate(errors) if "the source breaks EN 16931" in line]
        xsd = [i for i, line in enumerate(errors) if "output fails the" in line and "XSD" in line]
        assert xsd and min(xsd) > max(own)              # the consequence (no ID element) comes after
        assert read_document(out.read_bytes()).syntax == to


def test_translate_folder(valid_ubl: Path, invalid_ubl: Path, tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    shutil.copy(valid_ubl, src / "a.xml")
    shutil.copy(invalid_ubl, src / "sub" / "b.XML")      # business-rule errors do not stop a translation,
    (src / "sub" / "notes.txt").write_text("not an input")   # they are reported (exit 1)
    r = run("translate", src, "--to", "cii", "-o", out)
    assert r.exit_code == 1, r.output
    assert f"error: {src / 'sub' / 'b.XML'}: the source breaks EN 16931: [fatal] BR-CO-10 (BT-106" in r.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["a.xml", "sub/b.xml"]
    for p in out.rglob("*.xml"):
        assert read_document(p.read_bytes()).syntax == "cii"
    assert "translating 2 files to cii" in r.stderr      # the progress bar (label only off a terminal)
    assert "2 files: 1 translated, 1 with findings or invalid output, 0 unreadable" in r.stderr
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
    assert "3 files: 1 translated, 0 with findings or invalid output, 2 unreadable" in r.stderr


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
    assert "2 files: 1 translated, 0 with findings or invalid output, 1 unreadable" in r.stderr


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
    for name, syntax, to in (("edifact-invoic-d14b", "edifact", "edifact-d14b"), ("csv-lines", "csv", "csv-lines")):
        assert any(line.split()[:5] == [name, syntax, "reads,", "writes", f"({to})"] for line in r.stdout.splitlines())
    assert "translate --to: ubl, cii" in r.stdout
    assert "EDIFACT INVOIC interchanges" in r.stdout and "not readable yet" not in r.stdout
    # a table: each description starts in the same column, however long a mapping's flavours are
    from gateway import mapping
    starts = {line.index(mapping.load(line.split()[0]).description)
              for line in r.stdout.splitlines()[1:] if line.startswith("  ")}
    assert len(starts) == 1, starts


def test_help_texts():
    for cmd in ("translate", "validate", "formats", "ack"):
        r = run(cmd, "--help")
        assert r.exit_code == 0 and "Usage: " in r.stdout
    assert "Exit codes" in run("validate", "--help").stdout
    assert "Exit codes: 0 accepted, 1 rejected" in run("ack", "--help").stdout
    group = run("--help").stdout
    for syntax in ("ubl", "cii", "facturx", "edifact-d14b", "edifact-eancom", "csv-lines", "csv-records"):
        assert syntax in group


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


# --- files of several invoices, EDIFACT and CSV, ack ---------------------------------------

from gateway.syntaxes import csv_syntax  # noqa: E402
from gateway.syntaxes.edifact import invoic  # noqa: E402
from gateway.syntaxes.edifact.contrl import read_contrl  # noqa: E402
from gateway.syntaxes.edifact.syntax import Party, new_interchange, write_interchange  # noqa: E402
from gateway.xml import schemas  # noqa: E402

BOTS_TWO_INVOIC = CORPUS / "edifact/bots-plugins/json_to_invoice_invoic01.edi"    # 2 INVOIC (EANCOM)


def invoices(*numbers: str):
    """Valid invoices (each in another VAT category, so they differ) with these numbers, and
    nothing INVOIC D14B cannot carry (no BT-34), so they survive an interchange unchanged."""
    out = []
    for number, category in zip(numbers, ["S", "Z", "E", "S", "Z"]):
        inv = build_invoice(category)
        inv.number = number
        inv.seller.electronic_address = None
        out.append(inv)
    return out


def interchange(*invs, line_break: str = "\n") -> bytes:
    """One INVOIC D14B interchange holding a message per invoice (references 1, 2, ...)."""
    messages = [invoic.write_message(inv, "edifact-d14b", reference=str(i)).message() for i, inv in enumerate(invs, 1)]
    ic = new_interchange(sender=Party("4000001000005", "14"), recipient=Party("4000001000012", "14"), control_ref="IC42",
                         line_break=line_break, messages=messages)
    return write_interchange(ic)


def xsd_errors(data: bytes) -> list:
    root = etree.fromstring(data)
    return schemas.for_root_tag(root.tag).validate(root)


def clear(invoice, path: str) -> None:
    """Set the model value at ``path`` (``seller.electronic_address``, ``lines[0].note``) to None."""
    obj, *steps = [invoice] + path.replace("]", "").replace("[", ".").split(".")
    for step in steps[:-1]:
        obj = obj[int(step)] if step.isdigit() else getattr(obj, step)
        if obj is None:
            return
    last = steps[-1]
    if last.isdigit():
        obj[int(last)] = None
    else:
        setattr(obj, last, None)


def dropped_paths(stderr: str) -> list[str]:
    import re
    return re.findall(r"BT-[\w-]+ \(([^)]+)\) cannot be carried by", stderr)


@pytest.fixture
def multi_edi(tmp_path: Path) -> tuple[Path, list]:
    """Three invoices in one interchange: an ordinary number, one with a '/', and a duplicate number."""
    invs = invoices("INV-1", "2024/002", "INV-1")
    path = tmp_path / "multi.edi"
    path.write_bytes(interchange(*invs))
    return path, invs


def test_translate_interchange_of_several_invoices_gives_one_file_each(multi_edi, tmp_path: Path):
    path, invs = multi_edi
    out = tmp_path / "out"
    r = run("translate", path, "--to", "ubl", "-o", out)
    assert r.exit_code == 0, r.output
    # named by invoice number, sanitised; the duplicate falls back to its position in the file
    assert sorted(p.name for p in out.iterdir()) == ["multi-2024_002.xml", "multi-3.xml", "multi-INV-1.xml"]
    for name, inv in (("multi-INV-1.xml", invs[0]), ("multi-2024_002.xml", invs[1]), ("multi-3.xml", invs[2])):
        data = (out / name).read_bytes()
        assert xsd_errors(data) == []
        assert read_document(data).invoice == inv
    assert "1 file (3 invoices): 3 translated, 0 with findings or invalid output, 0 unreadable" in r.stderr
    assert r.stdout == ""


def test_translate_several_invoices_needs_an_output_folder(multi_edi, tmp_path: Path):
    path, _ = multi_edi
    r = run("translate", path, "--to", "ubl")                 # stdout takes one invoice only
    assert r.exit_code == 2 and "holds several invoices" in r.stderr and "-o/--output" in r.stderr
    assert r.stdout == ""
    existing = tmp_path / "file.xml"
    existing.write_text("keep me")
    r = run("translate", path, "--to", "ubl", "-o", existing)
    assert r.exit_code == 2 and "not a folder" in r.stderr
    assert existing.read_text() == "keep me"


@requires_corpus
def test_translate_corpus_interchange_of_two_invoic(tmp_path: Path):
    """The bots EANCOM interchange holds 2 INVOIC: 2 UBL files named by invoice number. The
    messages carry no amount due (BT-115: no MOA 9/388 in EANCOM's summary section), which the
    UBL XSD requires (PayableAmount): each output is written, reads back, and fails the XSD (exit 1)."""
    out = tmp_path / "out"
    r = run("translate", BOTS_TWO_INVOIC, "--to", "ubl", "-o", out, "-q")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["json_to_invoice_invoic01-20051098.xml", "json_to_invoice_invoic01-20051099.xml"]
    for name, number in zip(names, ("20051098", "20051099")):
        data = (out / name).read_bytes()
        doc = read_document(data)
        assert doc.syntax == "ubl" and doc.invoice.number == number
        assert doc.invoice.totals.amount_due is None
        errors = xsd_errors(data)
        assert errors and all("LegalMonetaryTotal" in f.message and "PayableAmount" in f.message for f in errors)
        assert f"{BOTS_TWO_INVOIC}#{names.index(name) + 1} (invoice {number}): output fails the ubl XSD" in r.stderr
    assert r.exit_code == 1, r.output


def test_translate_csv_export_of_several_invoices(tmp_path: Path):
    invs = invoices("A-1", "B-2")
    src = tmp_path / "export.csv"
    src.write_bytes(csv_syntax.dialect("csv-lines").write_all(invs).data)
    out = tmp_path / "out"
    r = run("translate", src, "--to", "ubl", "-o", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["export-A-1.xml", "export-B-2.xml"]
    for inv in invs:
        data = (out / f"export-{inv.number}.xml").read_bytes()
        assert xsd_errors(data) == []
        assert read_document(data).invoice == inv
    r = run("validate", src)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"PASS  {src}#1 (invoice A-1) (csv-lines)", f"PASS  {src}#2 (invoice B-2) (csv-lines)",
                                     "1 file (2 invoices): 2 valid, 0 invalid, 0 unreadable"]


def test_translate_to_edifact_and_back_loses_only_what_is_reported(valid_ubl: Path, tmp_path: Path):
    edi, back = tmp_path / "invoice.edi", tmp_path / "back.xml"
    r = run("translate", valid_ubl, "--to", "edifact-d14b", "-o", edi)
    assert r.exit_code == 0, r.output
    assert edi.read_bytes().startswith(b"UNA:+.?*'\nUNB+UNOC:4+")       # bytes as the writer made them
    drops = dropped_paths(r.stderr)
    assert "seller.electronic_address" in drops                          # BT-34 has no place in D14B
    r2 = run("translate", edi, "--to", "ubl", "-o", back)
    assert r2.exit_code == 0, r2.output
    assert xsd_errors(back.read_bytes()) == []
    expected = read_document(valid_ubl.read_bytes()).invoice
    for path in drops:
        clear(expected, path)
    assert read_document(back.read_bytes()).invoice == expected


def test_translate_prints_writer_warnings_and_fails_on_fatal_writer_findings(tmp_path: Path, monkeypatch):
    from gateway.model.invoice import InvoiceNote
    inv = build_invoice()
    inv.notes = [InvoiceNote(note="first line\nsecond line")]      # EDIFACT text has no line breaks
    src = tmp_path / "note.xml"
    src.write_bytes(write_document(inv, "ubl").data)
    r = run("translate", src, "--to", "edifact-d14b")
    assert r.exit_code == 0, r.output
    assert f"warning: {src}: edifact-d14b output: [warning] EDIFACT-TEXT" in r.stderr
    assert run("translate", src, "--to", "edifact-d14b", "-q").stderr == ""
    # a fatal finding of the writer is an invalid output: written, and exit 1
    import gateway.syntaxes as formats
    from gateway.model.findings import Finding
    real = formats.write_document

    def broken(invoice, syntax, **kw):
        rendering = real(invoice, syntax, **kw)
        rendering.findings.append(Finding(rule="EDIFACT-STRUCTURE", message="no room for it"))
        return rendering

    monkeypatch.setattr(formats, "write_document", broken)
    out = tmp_path / "out.edi"
    r = run("translate", src, "--to", "edifact-d14b", "-o", out)
    assert r.exit_code == 1, r.output
    assert f"error: {src}: invalid edifact-d14b output: [fatal] EDIFACT-STRUCTURE: no room for it" in r.stderr
    assert out.read_bytes().startswith(b"UNA")


def test_translate_schematron_is_for_xml_targets(valid_ubl: Path):
    r = run("translate", valid_ubl, "--to", "edifact-d14b", "--schematron")
    assert r.exit_code == 2 and "--schematron checks XML outputs" in r.stderr


def test_validate_reports_each_invoice_and_edifact_syntax_findings(tmp_path: Path):
    invs = invoices("INV-1", "INV-2", "INV-3")
    data = interchange(*invs)
    # message 2's UNT count is wrong: that message (only) is rejected
    second = data.index(b"UNH+2+")
    unt = data.index(b"UNT+", second)
    data = data[:unt] + b"UNT+99" + data[data.index(b"+", unt + 4):]
    path = tmp_path / "three.edi"
    path.write_bytes(data)
    r = run("validate", path)
    assert r.exit_code == 1, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"PASS  {path}#1 (invoice INV-1) (edifact)"
    assert lines[1] == f"FAIL  {path}#2 (message 2) (edifact, 1 fatal)"
    assert lines[2].startswith("  [fatal] EDIFACT-29: UNT says 99 segments, message 2 has ")
    assert lines[3] == f"PASS  {path}#3 (invoice INV-3) (edifact)"
    assert lines[-1] == "1 file (3 invoices): 2 valid, 1 invalid, 0 unreadable"
    docs = json.loads(run("validate", "--json", path).stdout)
    assert [(d["index"], d.get("invoice"), d["valid"]) for d in docs] == [(1, "INV-1", True), (2, None, False),
                                                                           (3, "INV-3", True)]
    assert fatal_rules(docs[1]["findings"]) == {"EDIFACT-29"}
    # translate: the rejected message is not translated (exit 2), the others are
    out = tmp_path / "out"
    r = run("translate", path, "--to", "cii", "-o", out)
    assert r.exit_code == 2, r.output
    assert f"error: {path}#2 (message 2): message 2 (INVOIC) rejected by the EDIFACT syntax checks" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["three-INV-1.xml", "three-INV-3.xml"]
    assert "1 file (3 invoices): 2 translated, 0 with findings or invalid output, 1 unreadable" in r.stderr


def test_an_interchange_rejected_by_its_envelope_fails_every_invoice(tmp_path: Path):
    data = interchange(*invoices("INV-1", "INV-2")).replace(b"UNZ+2+IC42", b"UNZ+5+IC42")
    path = tmp_path / "count.edi"
    path.write_bytes(data)
    r = run("validate", path)
    assert r.exit_code == 1, r.output
    assert r.stdout.count("[fatal] EDIFACT-29: ") == 2
    assert f"FAIL  {path}#1 (invoice INV-1) (edifact, 1 fatal)" in r.stdout
    out = tmp_path / "out"
    r = run("translate", path, "--to", "ubl", "-o", out)
    assert r.exit_code == 1, r.output                # outputs written, but from a rejected interchange
    assert f"error: {path}: interchange rejected: [fatal] EDIFACT-29" in r.stderr
    assert len(list(out.iterdir())) == 2


def test_folders_give_edifact_csv_and_edifact_txt_files(tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.edi").write_bytes(interchange(*invoices("A-1", "A-2")))
    (folder / "b.TXT").write_bytes(write_document(build_invoice(), "edifact-d14b").data)
    (folder / "c.csv").write_bytes(write_document(build_invoice(), "csv-records").data)
    (folder / "notes.txt").write_text("not EDIFACT, not collected")
    r = run("validate", folder)
    assert r.exit_code == 0, r.output
    assert [l.split()[1] for l in r.stdout.splitlines()[:-1]] == [
        f"{folder / 'a.edi'}#1", f"{folder / 'a.edi'}#2", str(folder / "b.TXT"), str(folder / "c.csv")]
    assert r.stdout.splitlines()[-1] == "3 files (4 invoices): 4 valid, 0 invalid, 0 unreadable"
    out = tmp_path / "out"
    r = run("translate", folder, "--to", "ubl", "-o", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["a-A-1.xml", "a-A-2.xml", "b.xml", "c.xml"]


# --- ack ----------------------------------------------------------------------------------

@pytest.fixture
def good_edi(tmp_path: Path) -> Path:
    path = tmp_path / "good.edi"
    path.write_bytes(interchange(*invoices("INV-1", "INV-2")))
    return path


def test_ack_accepted_interchange(good_edi: Path):
    r = run("ack", good_edi, "--our-id", "4000001000012:14", "--control-ref", "C1")
    assert r.exit_code == 0, r.output
    [report] = read_contrl(r.stdout_bytes)
    assert report.accepted and report.action == "7"
    assert report.interchange_ref == "IC42" and report.sender.id == "4000001000005"
    assert report.envelope.sender.id == "4000001000012" and report.envelope.control_ref == "C1"
    assert r.stderr.strip() == f"{good_edi}: accepted: interchange IC42 from 4000001000005:14, 2 messages"


def test_ack_wrong_unt_count_rejects_that_message(good_edi: Path, tmp_path: Path):
    data = good_edi.read_bytes()
    unt = data.index(b"UNT+", data.index(b"UNH+2+"))
    good_edi.write_bytes(data[:unt] + b"UNT+3" + data[data.index(b"+", unt + 4):])
    out = tmp_path / "contrl.edi"
    r = run("ack", good_edi, "-o", out)
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    [report] = read_contrl(out.read_bytes())
    assert not report.accepted and report.action == "7"            # the interchange itself is fine
    assert report.rejected_refs == ["2"]
    assert report.message("2").codes == ["29"]
    assert "rejected: interchange IC42 from 4000001000005:14: 1 of 2 messages rejected: 2 (29)" in r.stderr


def test_ack_truncated_interchange_is_rejected(good_edi: Path):
    data = good_edi.read_bytes()
    good_edi.write_bytes(data[:len(data) * 2 // 3])
    r = run("ack", good_edi)
    assert r.exit_code == 1, r.output
    [report] = read_contrl(r.stdout_bytes)
    assert not report.accepted and report.action == "4" and report.code == "13"
    assert "rejected: interchange IC42" in r.stderr and "interchange rejected (code 13)" in r.stderr


# --- a UNZ reference that is not the UNB's: refused, unless tolerated ----------------------------

def test_a_unz_reference_that_is_not_the_unb_s_is_refused_unless_tolerated(good_edi: Path, tmp_path: Path):
    good_edi.write_bytes(good_edi.read_bytes().replace(b"UNZ+2+IC42", b"UNZ+2+INV-1"))
    place = "interchange segment"
    r = run("validate", good_edi)
    assert r.exit_code == 1, r.output
    assert r.stdout.count("[fatal] EDIFACT-28: UNZ reference 'INV-1' does not match 'IC42' @ " + place) == 2
    assert "--tolerate-unz-reference" in r.stderr
    r = run("validate", good_edi, "--tolerate-unz-reference", "--json")
    assert r.exit_code == 0, r.output
    for report in json.loads(r.stdout):
        [finding] = [f for f in report["findings"] if f["rule"] == "EDIFACT-28"]
        assert finding["severity"] == "warning" and "(UNZ), element 2" in finding["location"]
        assert finding["extra"]["code"] == "28" and finding["extra"]["tolerated"] is True
    out = tmp_path / "out"
    r = run("translate", good_edi, "--to", "ubl", "-o", out)
    assert r.exit_code == 1 and "interchange rejected: [fatal] EDIFACT-28" in r.stderr, r.output
    r = run("translate", good_edi, "--to", "ubl", "-o", out, "--tolerate-unz-reference")
    assert r.exit_code == 0, r.output
    assert f"warning: {good_edi}: input: [warning] EDIFACT-28: UNZ reference 'INV-1'" in r.stderr
    assert "interchange rejected" not in r.stderr and len(list(out.iterdir())) == 2
    r = run("ack", good_edi, "--control-ref", "C1")
    assert r.exit_code == 1, r.output
    [report] = read_contrl(r.stdout_bytes)
    assert (report.action, report.code, report.tag, report.element) == ("4", "28", "UNZ", 2)
    r = run("ack", good_edi, "--control-ref", "C1", "--tolerate-unz-reference")
    assert r.exit_code == 0, r.output
    [report] = read_contrl(r.stdout_bytes)
    assert report.accepted and (report.action, report.code, report.tag, report.element) == ("7", "28", "UNZ", 2)
    assert "accepted: interchange IC42" in r.stderr and "tolerated, reported in the CONTRL: code 28" in r.stderr


CEN_EDIFACT = CORPUS / "edifact/cen-en16931"


@requires_corpus
@pytest.mark.parametrize("name", ["EDIFACT_EXAMPLE1.TXT", "EDIFACT_EXAMPLE4.TXT"])
def test_cen_examples_are_refused_by_default_and_translate_to_valid_ubl_when_tolerated(name, tmp_path: Path):
    """Examples 1 and 4 have nothing else wrong (2 and 6 break BR-CO-09 in their data, 8 carries a
    cp1252 octet in UNOW, 0 and 0a keep example 1's UNT count)."""
    path = CEN_EDIFACT / name
    r = run("validate", path)
    assert r.exit_code == 1 and "[fatal] EDIFACT-28: UNZ reference" in r.stdout, r.output
    r = run("validate", path, "--tolerate-unz-reference", "--schematron")
    assert r.exit_code == 0, r.output
    assert "[warning] EDIFACT-28: UNZ reference" in r.stdout and "(UNZ), element 2" in r.stdout
    out = tmp_path / "out.xml"
    r = run("translate", path, "--to", "ubl", "-o", out, "--schematron")
    assert r.exit_code == 1 and "interchange rejected: [fatal] EDIFACT-28" in r.stderr, r.output
    r = run("translate", path, "--to", "ubl", "-o", out, "--schematron", "--tolerate-unz-reference")
    assert r.exit_code == 0, r.output
    assert "input: [warning] EDIFACT-28" in r.stderr and "error:" not in r.stderr
    assert read_document(out.read_bytes()).invoice.payment_instructions.credit_transfers


def test_ack_refuses_what_is_not_edifact(valid_ubl: Path, garbage: Path):
    for path in (valid_ubl, garbage):
        r = run("ack", path)
        assert r.exit_code == 2, r.output
        assert r.stdout == "" and r.stderr.startswith(f"error: {path}: ")
        assert "Traceback" not in r.output


def test_translate_interchange_whose_segments_lie_past_line_65535(tmp_path: Path):
    """Large interchanges written a segment per line put messages past line 65535, which lxml
    cannot hold as a source line; the invoices there must still be read."""
    data = interchange(*invoices("FAR-1", "FAR-2"))
    unb_end = data.index(b"'\n", data.index(b"UNB+")) + 2
    path = tmp_path / "far.edi"
    path.write_bytes(data[:unb_end] + b"\n" * 70_000 + data[unb_end:])    # blank lines between segments
    out = tmp_path / "out"
    r = run("translate", path, "--to", "ubl", "-o", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["far-FAR-1.xml", "far-FAR-2.xml"]
