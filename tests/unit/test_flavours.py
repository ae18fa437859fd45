"""Flavours are found from the mapping files on the search path, not from lists in code.

The shipped ``mappings/`` folder, then the overlay folders of EDIGATE_MAPPINGS: a file in
an overlay adds a flavour (a partner's CSV dialect, its own UBL) or replaces a shipped
one by name; translate --to, a partner's preferred format, the help and ``edigate
formats`` see it, and reading recognises it where it differs from the shipped ones.
A partner taking such a flavour on a gateway's home is tested in tests/integration/test_flavours.py.
"""
from __future__ import annotations

import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway import mapping
from gateway.cli import main
from gateway.db.partners import Partner
from gateway.model.errors import MappingError
from gateway.syntaxes import (extension, flavour, read_document, read_documents, registry, syntax_of, writable,
                              write_document)
from gateway.syntaxes.edifact import invoic
from tests.support.invoice_builder import build_invoice

PROFILES = ("basic", "basicwl", "en16931", "extended-ctc-fr", "extended", "minimum")   # Factur-X, in file order
SHIPPED = ("ubl", "cii", *(f"cii-{p}" for p in PROFILES), "facturx", *(f"facturx-{p}" for p in PROFILES),
           "edifact-d01b", "edifact-d07a", "edifact-d10a", "edifact-d14b",
           "edifact-d93a", "edifact-d96a", "edifact-d97a", "edifact-eancom-d01b", "edifact-eancom",
           "csv-lines", "csv-records")

ACME_CSV = """
    name: acme-csv
    extends: csv-lines
    summary: ACME's ERP export (tabs, ISO dates)
    csv: {delimiter: "\\t"}
    formats: {date: "%Y-%m-%d"}
    """


def overlay(folder: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], *more: Path) -> Path:
    """``folder`` holding ``files`` (name -> YAML), made the (last) overlay."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    monkeypatch.setenv("EDIGATE_MAPPINGS", os.pathsep.join(str(f) for f in (*more, folder)))
    return folder


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_shipped_flavours_come_from_the_shipped_files(monkeypatch):
    monkeypatch.delenv("EDIGATE_MAPPINGS", raising=False)
    assert writable() == SHIPPED
    assert {f.name: (f.syntax, f.mappings) for f in registry.flavours()} == {
        "ubl": ("ubl", ("ubl-creditnote", "ubl-invoice")), "cii": ("cii", ("cii",)),
        "facturx": ("facturx", ("cii",)),
        **{f"cii-{p}": ("cii", (f"cii-{p}",)) for p in PROFILES},
        **{f"facturx-{p}": ("facturx", (f"cii-{p}",)) for p in PROFILES},
        **{n: ("edifact", (n.replace("edifact-", "edifact-invoic-"),)) for n in SHIPPED if n.startswith("edifact")},
        "csv-lines": ("csv", ("csv-lines",)), "csv-records": ("csv", ("csv-records",))}
    assert [extension(n) for n in SHIPPED] == [".xml"] * 8 + [".pdf"] * 7 + [".edi"] * 9 + [".csv"] * 2
    assert {f.name: f.carries for f in registry.of_syntax("facturx")} == {
        "facturx": "cii", **{f"facturx-{p}": f"cii-{p}" for p in PROFILES}}
    assert extension("json") is None and syntax_of("nothing") is None
    assert mapping.folders() == (mapping.builtin_dir(),)


def test_an_overlay_adds_a_partner_flavour(tmp_path, monkeypatch):
    folder = overlay(tmp_path / "partners", monkeypatch, {"acme-csv": ACME_CSV})
    assert writable() == SHIPPED + ("acme-csv",)
    acme = flavour("acme-csv")
    assert (acme.syntax, acme.mappings, acme.summary) == ("csv", ("acme-csv",), "ACME's ERP export (tabs, ISO dates)")
    assert registry.mapping_file("acme-csv").path == folder / "acme-csv.yaml"
    invoice = build_invoice()
    data = write_document(invoice, "acme-csv").data
    assert data.startswith(b"\xef\xbb\xbfInvoice Number\tInvoice Date\t")
    assert b"\t2026-" in data or b"\t2025-" in data or b"\t20" in data
    doc = read_document(data)                       # recognised by its own header row
    assert (doc.syntax, doc.mapping) == ("acme-csv", "acme-csv")
    assert doc.invoice == read_document(write_document(invoice, "csv-lines").data).invoice


def test_translate_to_a_partner_flavour_and_the_listings_show_it(tmp_path, monkeypatch):
    folder = overlay(tmp_path / "partners", monkeypatch, {"acme-csv": ACME_CSV})
    source = tmp_path / "invoice.xml"
    source.write_bytes(write_document(build_invoice(), "ubl").data)
    r = run("translate", source, "--to", "acme-csv", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out").read_bytes().startswith(b"\xef\xbb\xbfInvoice Number\tInvoice Date\t")
    out_dir = tmp_path / "batch"
    r = run("translate", tmp_path / "invoice.xml", "--to", "ACME-CSV", "-o", out_dir.mkdir() or out_dir)
    assert r.exit_code == 0 and (out_dir / "invoice.csv").is_file(), r.output
    r = run("formats")
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.stdout.splitlines() if ln.split()[:1] == ["acme-csv"])
    assert line.split()[:4] == ["acme-csv", "csv", "reads,", "writes"] and f"from {folder}" in line
    assert f"then {folder}" in r.stdout.splitlines()[0]
    assert "csv-records, acme-csv. Input syntax" in r.stdout
    assert re.search(r"\n +acme-csv +ACME's ERP export \(tabs, ISO dates\)\n", run("--help").stdout)
    assert "acme-csv" in run("translate", "--help").stdout


def test_an_overlay_replaces_one_shipped_flavour_by_name(tmp_path, monkeypatch):
    invoice = build_invoice()
    before = {n: write_document(invoice, n).data for n in ("csv-lines", "csv-records", "ubl")}
    read_before = read_document(before["csv-lines"]).invoice
    overlay(tmp_path / "ours", monkeypatch, {"csv-lines": """
        name: csv-lines
        extends: csv-lines          # the shipped one, before this file on the path
        csv: {delimiter: "|"}
        """})
    assert writable() == SHIPPED
    data = write_document(invoice, "csv-lines").data
    assert data == before["csv-lines"].replace(b";", b"|")
    assert read_document(data).invoice == read_before
    assert {n: write_document(invoice, n).data for n in ("csv-records", "ubl")} == \
        {n: before[n] for n in ("csv-records", "ubl")}
    monkeypatch.delenv("EDIGATE_MAPPINGS")
    assert write_document(invoice, "csv-lines").data == before["csv-lines"]


def test_a_later_overlay_wins(tmp_path, monkeypatch):
    first = overlay(tmp_path / "first", monkeypatch, {"acme-csv": ACME_CSV})
    second = overlay(tmp_path / "second", monkeypatch, {"acme-csv": ACME_CSV.replace('"\\t"', '"|"')}, first)
    assert write_document(build_invoice(), "acme-csv").data.startswith(b"\xef\xbb\xbfInvoice Number|")
    monkeypatch.setenv("EDIGATE_MAPPINGS", os.pathsep.join([str(second), str(first)]))
    assert write_document(build_invoice(), "acme-csv").data.startswith(b"\xef\xbb\xbfInvoice Number\t")


def test_a_folder_copying_every_shipped_file_works_as_before(tmp_path, monkeypatch):
    """EDIGATE_MAPPINGS once replaced the whole folder: such a copy still works, file by file."""
    copy = tmp_path / "copy"
    shutil.copytree(mapping.builtin_dir(), copy)
    lines = copy / "csv-lines.yaml"
    lines.write_text(lines.read_text(encoding="utf-8").replace('delimiter: ";"', 'delimiter: "|"'), encoding="utf-8")
    monkeypatch.setenv("EDIGATE_MAPPINGS", str(copy))
    assert writable() == SHIPPED
    assert all(mapping.find(n).parent == copy for n in mapping.available())
    assert write_document(build_invoice(), "csv-lines").data.startswith(b"\xef\xbb\xbfInvoice Number|")


def test_a_partner_may_name_its_own_flavour(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="preferred format 'acme-csv' is not one of"):
        Partner(name="ACME", preferred_format="acme-csv")
    overlay(tmp_path / "partners", monkeypatch, {"acme-csv": ACME_CSV})
    assert Partner(name="ACME", preferred_format="acme-csv").preferred_format == "acme-csv"
    assert Partner(name="B", preferred_format="edifact-eancom").preferred_format == "edifact-eancom"


def test_a_partner_xml_flavour_writes_its_way_and_ubl_still_reads_it(tmp_path, monkeypatch):
    overlay(tmp_path / "partners", monkeypatch, {"acme-ubl": """
        name: acme-ubl
        extends: ubl-invoice
        terms:
          BT-10: ~                   # ACME's system refuses a buyer reference
        """})
    invoice = build_invoice()
    invoice.buyer_reference = "REF-1"
    written = write_document(invoice, "acme-ubl", validate=True)
    assert (written.syntax, written.mapping, written.findings) == ("acme-ubl", "acme-ubl", [])
    assert [d.term for d in written.dropped] == ["BT-10"]
    doc = read_document(written.data)
    assert (doc.syntax, doc.mapping, doc.invoice.buyer_reference) == ("ubl", "ubl-invoice", None)


def test_a_partner_edifact_flavour_is_read_by_its_association_code(tmp_path, monkeypatch):
    overlay(tmp_path / "partners", monkeypatch, {"acme-d96a": """
        name: acme-d96a
        extends: edifact-invoic-d96a
        unh: {association: ACME01}
        """})
    assert invoic.flavour_for("INVOIC", "D", "96A", "ACME02") == "acme-d96a"
    assert invoic.flavour_for("INVOIC", "D", "96A", "EAN008") == "edifact-eancom"
    assert invoic.flavour_for("INVOIC", "D", "96A", "") == "edifact-d96a"
    data = write_document(build_invoice(), "acme-d96a").data
    assert b"UNH+1+INVOIC:D:96A:UN:ACME01" in data
    assert [(d.syntax, d.mapping) for d in read_documents(data)] == [("edifact", "acme-d96a")]


def test_a_broken_overlay_file_is_reported_and_the_others_work(tmp_path, monkeypatch):
    folder = overlay(tmp_path / "partners", monkeypatch, {"acme-csv": ACME_CSV, "beta-csv": """
        name: beta-csv
        extends: csv-lines
        csv: {delimiter: ";", quote: "''"}
        """})
    assert writable() == SHIPPED + ("acme-csv",)
    with pytest.raises(MappingError) as err:
        write_document(build_invoice(), "beta-csv")
    assert str(err.value) == f"{folder / 'beta-csv.yaml'}: csv/quote: \"''\" is too long (line 3)"
    r = run("formats")
    assert r.exit_code == 1
    line = next(ln for ln in r.stdout.splitlines() if ln.split()[:1] == ["beta-csv"])
    assert line.split(None, 2)[1:] == ["error:", str(err.value)]
    with pytest.raises(ValueError, match="preferred format 'beta-csv' is not one of"):
        Partner(name="Beta", preferred_format="beta-csv")


def test_files_that_cannot_serve_a_flavour_are_refused(tmp_path, monkeypatch):
    overlay(tmp_path / "partners", monkeypatch, {
        "one": "name: one\nflavour: mixed\nextends: csv-lines\n",
        "two": "name: two\nflavour: mixed\nextends: cii\n",
        "three": "name: three\nflavour: double\nextends: csv-lines\n",
        "four": "name: four\nflavour: double\nextends: csv-records\n",
        "five": "name: five\nflavour: facturx\nextends: cii\n",
        "six": "name: other\nextends: csv-lines\n",
    })
    with pytest.raises(MappingError, match=r"flavour 'mixed': its files \(one.yaml, two.yaml\) are of different"):
        flavour("mixed")
    with pytest.raises(MappingError, match="flavour 'double' has several files"):
        flavour("double")
    assert "flavour 'facturx' is the name of the syntax that carries cii" in str(registry.registry().broken["five"])
    assert flavour("facturx").carries == "cii"
    with pytest.raises(MappingError, match="name 'other' differs from the file's name 'six'"):
        write_document(build_invoice(), "six")
    assert writable() == SHIPPED + ("six",)


def test_files_are_read_once_until_forgotten(tmp_path, monkeypatch):
    folder = overlay(tmp_path / "partners", monkeypatch, {})
    assert writable() == SHIPPED
    (folder / "acme-csv.yaml").write_text(textwrap.dedent(ACME_CSV), encoding="utf-8")
    assert writable() == SHIPPED
    registry.forget()
    assert writable() == SHIPPED + ("acme-csv",)


def test_the_search_path_must_name_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("EDIGATE_MAPPINGS", str(tmp_path / "missing"))
    with pytest.raises(MappingError, match="EDIGATE_MAPPINGS: .*missing is not a folder"):
        writable()
    monkeypatch.setenv("EDIGATE_MAPPINGS", os.pathsep)
    assert writable() == SHIPPED
