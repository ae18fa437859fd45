"""``edigate validate --profile fr`` end to end: the French rules on French invoices, from the command line.

Exit codes as for any profile: 0 every invoice valid, 1 some invoice breaks a
rule (each BR-FR finding named with its terms, its place in the file and the
rule set), 2 some file unreadable. Built invoices (always) and the French
samples of the shared corpus (when it is there).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.syntaxes import write_document
from tests.support.corpus import CORPUS, requires_corpus
from tests.support.fr_invoice import build_french_invoice


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def french(tmp_path: Path) -> dict[str, Path]:
    """A valid French invoice as UBL and CII, the same without the buyer's SIREN, and a file that is no invoice."""
    out = {}
    for syntax in ("ubl", "cii"):
        out[syntax] = tmp_path / f"facture.{syntax}.xml"
        out[syntax].write_bytes(write_document(build_french_invoice(), syntax).data)
    inv = build_french_invoice()
    inv.buyer.legal_registration_identifier = None
    out["no-siren"] = tmp_path / "sans-siren.xml"
    out["no-siren"].write_bytes(write_document(inv, "cii").data)
    out["garbage"] = tmp_path / "notes.xml"
    out["garbage"].write_bytes(b"\x00\x01 not an invoice")
    return out


def test_a_valid_french_invoice_passes(french: dict[str, Path]) -> None:
    r = run("validate", "--profile", "fr", french["ubl"], french["cii"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "2 files: 2 valid, 0 invalid, 0 unreadable (profile fr)"


def test_the_buyer_siren_missing_fails_with_the_rule_its_terms_and_place(french: dict[str, Path]) -> None:
    assert run("validate", french["no-siren"]).exit_code == 0         # EN 16931 alone has nothing against it
    r = run("validate", "--profile", "fr", french["no-siren"])
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith(f"FAIL  {french['no-siren']} (cii, 1 fatal)")
    line = next(ln for ln in r.stdout.splitlines() if "BR-FR-11_BT-47" in ln)
    assert "[fatal] fr:BR-FR-11_BT-47 (BT-47,BT-22)" in line and "SIREN" in line and "@ " in line
    docs = json.loads(run("validate", "--json", "--profile", "fr", french["no-siren"]).stdout)
    (finding,) = [f for f in docs[0]["findings"] if f["rule"] == "BR-FR-11_BT-47"]
    assert finding["rule_set"] == "fr" and docs[0]["profile"] == "fr"


def test_the_transition_profile_warns_instead(french: dict[str, Path]) -> None:
    r = run("validate", "--profile", "fr-warning", french["no-siren"])
    assert r.exit_code == 0, r.output
    assert "[warning] fr-warning:BR-FR-11_BT-47" in r.stdout


def test_an_unreadable_file_wins(french: dict[str, Path]) -> None:
    r = run("validate", "--profile", "fr", french["ubl"], french["no-siren"], french["garbage"])
    assert r.exit_code == 2, r.output
    assert r.stdout.splitlines()[-1] == "3 files: 1 valid, 1 invalid, 1 unreadable (profile fr)"


FR = CORPUS / "fr"
VALID = ["ubl/gobl-ubl/france-cius_invoice-standard.xml", "ubl/gobl-ubl/france-cius_credit-note.xml",
         "ubl/gobl-ubl/france-extended_invoice-standard.xml", "cii/gobl-cii/peppol-france-cius_invoice-standard.xml",
         "cii/gobl-cii/peppol-france-facturx_invoice-standard.xml"]
INVALID = {"ubl/gobl-ubl/france-extended_invoice-fr-extended.xml": {"BR-FR-08_BT-23", "BR-FR-10_BT-30"},
           "cii/gobl-cii/choruspro_invoice-fr-fr-choruspro.xml": {"BR-FR-05_BT-22-1", "BR-FR-12_BT-49"},
           "facturx/mustang/Facture_F20180027.pdf": {"BR-FR-08_BT-23", "BR-FR-10_BT-30"}}


@requires_corpus
@pytest.mark.parametrize("name", VALID)
def test_french_sample_passes(name: str) -> None:
    r = run("validate", "--profile", "fr", FR / name)
    assert r.exit_code == 0, r.output


@requires_corpus
@pytest.mark.parametrize("name,rules", INVALID.items(), ids=list(INVALID))
def test_french_sample_fails_with_its_french_rules(name: str, rules: set) -> None:
    r = run("validate", "--json", "--profile", "fr", FR / name)
    assert r.exit_code == 1, r.output
    fired = {f["rule"] for d in json.loads(r.stdout) for f in d["findings"] if f["severity"] == "fatal"}
    assert rules <= fired


@requires_corpus
def test_a_folder_of_french_samples() -> None:
    r = run("validate", "--profile", "fr", FR / "ubl", FR / "cii")
    assert r.exit_code == 1, r.output
    assert r.stdout.splitlines()[-1].endswith(" unreadable (profile fr)")
