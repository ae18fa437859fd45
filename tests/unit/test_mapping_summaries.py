"""A flavour's one-line summary is read in the reader's language: ``summary`` (English) and
``summary_fr`` beside it in each mapping file, checked by the schema; an older file with only
``summary`` still reads, in English. The registration page's format choice (its French page in
tests/integration/test_onboarding_web_i18n.py) and ``edigate --help`` show it."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gateway import mapping
from gateway.cli import main
from gateway.mapping.spec import read_file
from gateway.model.errors import MappingError
from gateway.syntaxes import flavour, flavours
from onboarding.web import messages
from tests.unit.test_flavours import overlay

SHIPPED = sorted(mapping.builtin_dir().glob("*.yaml"))


@pytest.fixture(autouse=True)
def english_again():
    """A ``--language fr`` run must not leave its language to the next test."""
    yield
    from gateway.cli import words
    words.ask(None)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_mapping_file_has_its_summary_in_english_and_in_french(path: Path) -> None:
    own = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(own.get("summary"), str) and own["summary"].strip()
    assert isinstance(own.get("summary_fr"), str) and own["summary_fr"].strip()
    assert read_file(path)["summary_fr"] == own["summary_fr"]          # the schema takes it


def test_every_flavour_reads_in_french_and_the_words_differ_where_they_should() -> None:
    for f in flavours():
        assert f.summary_in("fr") and f.summary_in("en") == f.summary
    assert flavour("cii-basic").summary_in("fr") == "CII D16B, profil Factur-X BASIC"
    assert flavour("cii-basic").summary_in("en") == "CII D16B, Factur-X BASIC profile"
    assert flavour("facturx-minimum").summary_in("fr") == "PDF/A-3 Factur-X / ZUGFeRD avec son XML CII, profil MINIMUM"
    assert flavour("ubl").summary_in("fr") == "OASIS UBL 2.1, facture et avoir (Peppol BIS 3)"


def test_a_file_without_french_reads_in_english_and_a_wrong_one_is_refused(tmp_path, monkeypatch) -> None:
    overlay(tmp_path / "partners", monkeypatch, {
        "acme-csv": """
            name: acme-csv
            extends: csv-lines
            summary: ACME's ERP export (tabs)
            csv: {delimiter: "\\t"}
            """})
    mapping.forget()
    try:
        from gateway.syntaxes import registry
        registry.forget()
        acme = flavour("acme-csv")
        assert acme.summary_in("fr") == "ACME's ERP export (tabs)"        # nothing said in French: the English
        assert flavour("csv-lines").summary_in("fr").startswith("Export CSV d'un ERP")   # not inherited either way
        bad = tmp_path / "bad" / "bad.yaml"
        bad.parent.mkdir()
        bad.write_text(textwrap.dedent("""
            name: bad
            extends: csv-lines
            summary_fr: [pas, une, ligne]
            """).lstrip(), encoding="utf-8")
        with pytest.raises(MappingError, match="summary_fr"):
            read_file(bad)
    finally:
        monkeypatch.delenv("EDIGATE_MAPPINGS")
        registry.forget()


@pytest.mark.parametrize("lang, said, unsaid", [
    ("fr", "CII D16B, profil Factur-X BASIC", "CII D16B, Factur-X BASIC profile"),
    ("en", "CII D16B, Factur-X BASIC profile", "CII D16B, profil Factur-X BASIC")])
def test_the_command_lines_list_of_flavours_is_in_the_runs_language(lang, said, unsaid) -> None:
    r = CliRunner().invoke(main, ["--language", lang, "--help"])
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.split()[:1] == ["cii-basic"])
    assert said in line and unsaid not in r.output


def test_the_registration_pages_format_labels_are_the_summaries_in_the_pages_language() -> None:
    labels = messages.format_labels("fr", ["ubl", "facturx", "edifact-d97a", "nonsense"])
    assert labels == {"ubl": "OASIS UBL 2.1, facture et avoir (Peppol BIS 3)",
                      "facturx": "PDF/A-3 Factur-X / ZUGFeRD avec son XML CII",
                      "edifact-d97a": "UN/EDIFACT INVOIC D97A", "nonsense": "nonsense"}
    assert messages.format_labels("en", ["ubl", "facturx"]) == {
        "ubl": "OASIS UBL 2.1 Invoice/CreditNote (Peppol BIS 3)",
        "facturx": "Factur-X / ZUGFeRD PDF/A-3 with its CII XML"}
