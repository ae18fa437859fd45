"""Factur-X / ZUGFeRD 2.x: reading the XML out of PDFs, writing PDF/A-3 invoices.

Every written PDF is checked twice: as the default engine draws it (``pdf_layout``) and as the
reference engine (WeasyPrint + the factur-x package) makes it.

Judged by independent tools where there are some: qpdf (structure), poppler's
pdffonts / pdftoppm / pdftotext (fonts, pixels, text), the factur-x package's
own reader and XSD check, pypdf for the PDF/A objects, the CEN EN 16931 CII
schematron for the embedded XML. The corpus (../shared/corpus) provides the
Factur-X / ZUGFeRD samples; tests needing it skip without it.
"""
from __future__ import annotations

import dataclasses
import io
import random
import re
import shutil
import subprocess
import tracemalloc
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.model import invoice as model
from gateway.model.errors import HostileInputError, InputError, UnknownFormatError
from gateway.syntaxes import facturx, read_document, render
from gateway.xml import safe, schematron
from tests.support.corpus import CORPUS, baseline, corpus_files, rel, requires_corpus
from tests.support.invoice_builder import build_invoice

D = Decimal

# --- corpus selections -------------------------------------------------------------------------

ZUGFERD1 = "facturx/intarsys-via-zugferd-corpus/ZUGFeRD_1p0_COMFORT_Einfach.pdf"
NEGATIVE = "facturx/mustang-via-zugferd-corpus/NEGATIVE_factur-x-invalid-xml-encoding-attribute.pdf"
READABLE = [p for p in corpus_files("facturx/**/*.pdf") if rel(p) not in (ZUGFERD1, NEGATIVE)]

# the same invoice as a PDF and as the CII file extracted from it (SOURCES.md, "Cross-format families").
# Not XRECHNUNG_Einfach: its .cii.xml is a later revision (XRechnung 3.0, other dates and notes)
# than the XML in the PDF (XRechnung 2.1), whatever SOURCES.md says.
PAIRS = [("facturx/zugferd-corpus-xmlrechnung/EN16931_Einfach.pdf", "cii/zugferd-corpus/EN16931_Einfach.cii.xml"),
         ("facturx/zugferd-corpus-xmlrechnung/EN16931_Gutschrift.pdf", "cii/zugferd-corpus/EN16931_Gutschrift.cii.xml")]

# sources written as Factur-X: UBL and CII, an invoice over two pages, allowances and charges,
# payee and tax representative, a credit note, and a Factur-X with a French buyer
SOURCES = ["ubl/cen-en16931/ubl-tc434-example1.xml",
           "ubl/cen-en16931/ubl-tc434-example2.xml",
           "ubl/cen-en16931-testfiles/CreditNote-Min_content_with_VAT.xml",
           "ubl/xrechnung-testsuite/01.01a-INVOICE_ubl.xml",
           "cii/cen-en16931/CII_example4.xml",
           "cii/zugferd-corpus/EN16931_Einfach.cii.xml",
           "facturx/gpfacturx-via-zugferd-corpus/sample_inofficial_20190125_atgp_factur-x_v_1_0.pdf"]

FX_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
NS = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "dc": "http://purl.org/dc/elements/1.1/",
      "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
      "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#", "pdf": "http://ns.adobe.com/pdf/1.3/",
      "xmp": "http://ns.adobe.com/xap/1.0/", "fx": FX_NS}


def _read_source(path: str):
    data = (CORPUS / path).read_bytes()
    return facturx.read(data) if path.endswith(".pdf") else read_document(data)


def _embedded_xml(pdf: bytes) -> tuple[str, bytes]:
    """The first embedded file, taken out with pypdf directly (independently of facturx.read)."""
    from pypdf import PdfReader
    f = next(iter(PdfReader(io.BytesIO(pdf)).attachment_list))
    return f.name, f.content


def _terms(invoice: model.Invoice) -> dict:
    return {(t, p): v for t, p, v in model.iter_terms(invoice)}


def _changed_terms(before: model.Invoice, after: model.Invoice) -> set:
    a, b = _terms(before), _terms(after)
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (see packaging/debian-packages.txt)")
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, timeout=60)


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    _tool("pdftotext", "poppler-utils")
    f = tmp_path / "doc.pdf"
    f.write_bytes(pdf)
    out = _run("pdftotext", "-enc", "UTF-8", "-layout", str(f), "-")
    assert out.returncode == 0, out.stderr
    # poppler writes the narrow no-break space as is: make comparisons simple
    return out.stdout.decode("utf-8").replace("\u202f", " ").replace("\u00a0", " ")


# --- generated documents, made once per module ---------------------------------------------------

@pytest.fixture(scope="module", params=render.ENGINES)
def generated(request):
    """Factur-X PDFs written by each engine: the page drawn directly (the default) and laid out by
    WeasyPrint (the reference); every check below holds for both."""
    cache: dict = {}
    engine = request.param

    def get(path: str, **kwargs):
        key = (path, tuple(sorted(kwargs.items())))
        if key not in cache:
            src = _read_source(path)
            cache[key] = (src, facturx.write(src.invoice, engine=engine, **kwargs))
        return cache[key]
    return get


# ============================================================================================
# (a) reading
# ============================================================================================

@requires_corpus
def test_corpus_has_the_factur_x_samples():
    assert len(READABLE) >= 12
    assert (CORPUS / ZUGFERD1).is_file() and (CORPUS / NEGATIVE).is_file()


@requires_corpus
@pytest.mark.parametrize("path", READABLE, ids=[rel(p) for p in READABLE])
def test_every_factur_x_pdf_reads_as_its_embedded_xml(path):
    data = path.read_bytes()
    doc = facturx.read(data)
    assert doc.syntax == "facturx" and doc.mapping == "cii"
    assert doc.invoice.number and doc.invoice.issue_date and doc.invoice.seller.name
    # the same XML, taken out with pypdf and read as plain CII, gives the same model
    name, xml = _embedded_xml(data)
    assert name.lower() in facturx.XML_NAMES
    plain = read_document(xml)
    assert plain.syntax == "cii"
    assert doc.invoice == plain.invoice
    # the XMP profile and BT-24 agree in every corpus sample: no profile warning
    assert [f for f in doc.findings if f.rule == "FACTURX-PROFILE"] == []


@requires_corpus
@pytest.mark.parametrize("pdf, xml", PAIRS, ids=[p for p, _ in PAIRS])
def test_pdf_reads_like_the_corpus_cii_file_of_the_same_invoice(pdf, xml):
    from_pdf = facturx.read((CORPUS / pdf).read_bytes())
    from_xml = read_document((CORPUS / xml).read_bytes())
    assert from_pdf.invoice == from_xml.invoice
    assert len(from_pdf.invoice.lines) == 2


@requires_corpus
def test_xml_starting_with_a_byte_order_mark_is_read():
    bom = CORPUS / "facturx/mustang-via-zugferd-corpus/MustangGnuaccountingBeispielRE-20201121_508_withBOM.pdf"
    assert _embedded_xml(bom.read_bytes())[1].startswith(b"\xef\xbb\xbf")
    plain = CORPUS / "facturx/mustang-via-zugferd-corpus/MustangGnuaccountingBeispielRE-20201121_508.pdf"
    assert facturx.read(bom.read_bytes()).invoice == facturx.read(plain.read_bytes()).invoice


@requires_corpus
def test_zugferd_1_is_refused_with_a_clear_message():
    with pytest.raises(UnknownFormatError) as err:
        facturx.read((CORPUS / ZUGFERD1).read_bytes())
    assert "ZUGFeRD 1.0 is not supported" in str(err.value)
    assert "ZUGFeRD 2.x / Factur-X" in str(err.value)


@requires_corpus
def test_negative_sample_with_malformed_xml_declaration_names_line_and_column():
    with pytest.raises(InputError) as err:
        facturx.read((CORPUS / NEGATIVE).read_bytes())
    e = err.value
    assert not isinstance(e, HostileInputError)
    assert "factur-x.xml" in e.message and "not readable XML" in e.message
    assert (e.line, e.column) == (1, 38)
    assert "line 1, column 38" in str(e)


@requires_corpus
@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9, 0.999])
def test_truncated_pdf_is_refused(fraction):
    data = (CORPUS / PAIRS[0][0]).read_bytes()
    with pytest.raises(InputError) as err:
        facturx.read(data[: int(len(data) * fraction)])
    assert "truncated" in str(err.value)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"GIF89a\x01\x00", "not a document"),
    (b'<?xml version="1.0"?><Invoice/>', "not a PDF"),
    (b"UNA:+.? 'UNB+UNOC:3'", "not a PDF"),
])
def test_non_pdf_input_is_refused(data, message):
    with pytest.raises(UnknownFormatError) as err:
        facturx.read(data)
    assert message in str(err.value)


def test_a_pdf_header_on_garbage_is_a_damaged_pdf():
    with pytest.raises(InputError) as err:
        facturx.read(b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n")
    assert "damaged" in str(err.value) or "no Factur-X" in str(err.value)


# --- made-up hostile or odd PDFs -------------------------------------------------------------

@pytest.fixture(scope="module")
def simple_facturx():
    return facturx.write(build_invoice())


def _pdf_with_attachment(name: str, stream_data: bytes, *, flate: bool = True) -> bytes:
    """A one-page PDF with one embedded file (its stream given raw, optionally flate-compressed)."""
    from pypdf import PdfWriter
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, NameObject,
                               StreamObject, TextStringObject)
    w = PdfWriter()
    w.add_blank_page(595, 842)
    if flate:
        stream = StreamObject()
        stream._data = zlib.compress(stream_data, 9)
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    else:
        stream = DecodedStreamObject()
        stream.set_data(stream_data)
    stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
    ref = w._add_object(stream)
    spec = w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject(name),
        NameObject("/UF"): TextStringObject(name),
        NameObject("/EF"): DictionaryObject({NameObject("/F"): ref})}))
    w._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/EmbeddedFiles"): DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject(name), spec])})})
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_encrypted_pdf_is_refused(simple_facturx):
    from pypdf import PdfReader, PdfWriter
    for user_password in ("secret", ""):          # also when it opens without a password
        w = PdfWriter(clone_from=PdfReader(io.BytesIO(simple_facturx.data)))
        w.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
        out = io.BytesIO()
        w.write(out)
        with pytest.raises(InputError) as err:
            facturx.read(out.getvalue())
        assert "encrypted" in str(err.value)


@pytest.mark.parametrize("engine", render.ENGINES)
def test_pdf_without_embedded_xml_is_refused(engine):
    plain = render.render_pdf(build_invoice(), lang="en", engine=engine)
    with pytest.raises(UnknownFormatError) as err:
        facturx.read(plain)
    assert "no Factur-X / ZUGFeRD invoice XML" in str(err.value)
    with pytest.raises(UnknownFormatError) as err:
        facturx.read(_pdf_with_attachment("photo.jpg", b"\xff\xd8\xff"))
    assert "photo.jpg" in str(err.value)


def test_oversize_pdf_is_refused_unread():
    data = b"%PDF-1.7\n" + b"%" * 5000 + b"\n%%EOF\n"
    with pytest.raises(HostileInputError) as err:
        facturx.read(data, max_bytes=1000)
    assert "1,000 bytes accepted" in str(err.value)


def test_pdf_bomb_is_stopped_at_the_decompression_limit():
    # 60 MB of spaces compress to ~60 KB: a small file that would balloon in memory.
    # The message tells that pypdf stopped decompressing at our limit (not that the
    # whole stream was inflated and measured afterwards), and memory says so too: the reader
    # never held the 60 MB the stream inflates to (measured, not timed).
    bomb = _pdf_with_attachment("factur-x.xml", b"<a>" + b" " * 60_000_000 + b"</a>")
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(HostileInputError) as err:
            facturx.read(bomb)                       # default limit: MAX_XML_BYTES (20 MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "decompresses beyond the 20,971,520 bytes" in str(err.value)
    assert peak < 60_000_000, f"{peak:,} bytes held while refusing a bomb of 60,000,007 inflated bytes"
    small = _pdf_with_attachment("factur-x.xml", b"<a>" + b" " * 5_000_000 + b"</a>")
    with pytest.raises(HostileInputError) as err:
        facturx.read(small, max_xml_bytes=1_000_000)
    assert "decompresses beyond the 1,000,000 bytes" in str(err.value)


def test_embedded_xml_with_a_doctype_is_hostile():
    xxe = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">'
           b'&e;</rsm:CrossIndustryInvoice>')
    with pytest.raises(HostileInputError) as err:
        facturx.read(_pdf_with_attachment("factur-x.xml", xxe))
    assert "DOCTYPE" in str(err.value)


def test_embedded_xml_that_is_not_cii_is_refused():
    ubl = b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
    with pytest.raises(UnknownFormatError) as err:
        facturx.read(_pdf_with_attachment("factur-x.xml", ubl))
    assert "not a CII CrossIndustryInvoice" in str(err.value)


def test_corrupted_pdfs_never_escape_as_anything_but_input_errors(simple_facturx):
    rng = random.Random(20261122)
    data = simple_facturx.data
    outcomes = set()
    for _ in range(60):
        buf = bytearray(data)
        for _ in range(rng.choice((1, 8, 64))):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        try:
            facturx.read(bytes(buf))
            outcomes.add("read")
        except InputError:
            outcomes.add("refused")
    assert "refused" in outcomes           # the corruptions were not all harmless


# ============================================================================================
# (b) writing: structure, PDF/A objects, the embedded XML
# ============================================================================================

def _pdf(data: bytes):
    from pypdf import PdfReader
    return PdfReader(io.BytesIO(data))


def _xmp(data: bytes) -> etree._Element:
    meta = _pdf(data).trailer["/Root"]["/Metadata"].get_object()
    assert "/Filter" not in meta, "the XMP stream should be left uncompressed"
    return safe.parse(meta.get_data())


@requires_corpus
@pytest.mark.parametrize("path", SOURCES)
def test_qpdf_finds_the_pdf_clean(path, generated, tmp_path):
    qpdf = _tool("qpdf", "qpdf")
    _, out = generated(path)
    f = tmp_path / "out.pdf"
    f.write_bytes(out.data)
    res = _run(qpdf, "--check", str(f))
    text = (res.stdout + res.stderr).decode()
    assert res.returncode == 0, text
    assert "No syntax or stream encoding errors found" in text and "WARNING" not in text.upper()
    assert out.data.startswith(b"%PDF-1.")
    assert all(b > 127 for b in out.data.split(b"\n", 2)[1][1:5]), "binary comment after the header"


@requires_corpus
@pytest.mark.parametrize("path", SOURCES)
def test_every_font_is_embedded(path, generated, tmp_path):
    _tool("pdffonts", "poppler-utils")
    _, out = generated(path)
    f = tmp_path / "out.pdf"
    f.write_bytes(out.data)
    res = _run("pdffonts", str(f))
    assert res.returncode == 0, res.stderr
    rows = res.stdout.decode().splitlines()[2:]
    assert rows, "no fonts at all"
    for row in rows:
        cols = row.split()
        assert cols[-5] == "yes", f"font not embedded: {row}"   # name type encoding emb sub uni id gen
        assert "DejaVu" in cols[0], row


@requires_corpus
@pytest.mark.parametrize("path", SOURCES)
def test_output_intent_is_srgb(path, generated):
    _, out = generated(path)
    intents = _pdf(out.data).trailer["/Root"]["/OutputIntents"]
    assert len(intents) >= 1
    oi = intents[0].get_object()
    assert oi["/S"] == "/GTS_PDFA1"
    icc = oi["/DestOutputProfile"].get_object()
    profile = icc.get_data()
    assert profile[36:40] == b"acsp" and profile[16:20] == b"RGB "   # an ICC profile for RGB
    assert int(icc["/N"]) == 3
    assert "sRGB" in str(oi.get("/OutputConditionIdentifier", "")) + str(oi.get("/Info", ""))


@requires_corpus
@pytest.mark.parametrize("path", SOURCES)
def test_xmp_is_pdf_a_3b_with_the_factur_x_extension_schema(path, generated):
    src, out = generated(path)
    xmp = _xmp(out.data)
    assert xmp.xpath("string(//pdfaid:part)", namespaces=NS) == "3"
    assert xmp.xpath("string(//pdfaid:conformance)", namespaces=NS) == "B"
    schemas = xmp.xpath("//pdfaExtension:schemas/rdf:Bag/rdf:li", namespaces=NS)
    fx = [s for s in schemas if s.xpath("string(pdfaSchema:namespaceURI)", namespaces=NS) == FX_NS]
    assert len(fx) == 1 and fx[0].xpath("string(pdfaSchema:prefix)", namespaces=NS) == "fx"
    declared = set(fx[0].xpath(".//pdfaProperty:name/text()",
                               namespaces={**NS, "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#"}))
    assert declared == {"DocumentFileName", "DocumentType", "Version", "ConformanceLevel"}
    assert xmp.xpath("string(//fx:DocumentFileName)", namespaces=NS) == "factur-x.xml"
    assert xmp.xpath("string(//fx:DocumentType)", namespaces=NS) == "INVOICE"
    assert xmp.xpath("string(//fx:ConformanceLevel)", namespaces=NS) == facturx.PROFILES[out.profile].label
    seller = src.invoice.seller.name
    assert xmp.xpath("string(//dc:creator//rdf:li)", namespaces=NS) == seller
    assert src.invoice.number in xmp.xpath("string(//dc:title//rdf:li)", namespaces=NS)
    assert src.invoice.issue_date.isoformat() in xmp.xpath("string(//dc:description//rdf:li)", namespaces=NS)
    assert xmp.xpath("string(//xmp:CreateDate)", namespaces=NS)


def _pdf_date_of(xmp_date: str) -> str:
    from datetime import datetime, timezone
    return datetime.fromisoformat(xmp_date).astimezone(timezone.utc).strftime("D:%Y%m%d%H%M%S")


@requires_corpus
@pytest.mark.parametrize("path", SOURCES[:3])
def test_document_info_agrees_with_the_xmp(path, generated):
    _, out = generated(path)
    info = _pdf(out.data).metadata
    xmp = _xmp(out.data)
    assert info["/Title"] == xmp.xpath("string(//dc:title//rdf:li)", namespaces=NS)
    assert info["/Author"] == xmp.xpath("string(//dc:creator//rdf:li)", namespaces=NS)
    assert info["/Subject"] == xmp.xpath("string(//dc:description//rdf:li)", namespaces=NS)
    assert info["/Producer"] == xmp.xpath("string(//pdf:Producer)", namespaces=NS)
    assert info["/Creator"] == xmp.xpath("string(//xmp:CreatorTool)", namespaces=NS)
    assert info["/CreationDate"].startswith(_pdf_date_of(xmp.xpath("string(//xmp:CreateDate)", namespaces=NS)))
    assert info["/ModDate"].startswith(_pdf_date_of(xmp.xpath("string(//xmp:ModifyDate)", namespaces=NS)))
    assert "/Keywords" not in info           # factur-x writes no pdf:Keywords to match one


@requires_corpus
@pytest.mark.parametrize("path", SOURCES)
def test_factur_x_own_reader_returns_the_xml_we_embedded(path, generated):
    import facturx as fxlib
    _, out = generated(path)
    assert out.media_type == "application/pdf" and out.extension == ".pdf" and out.syntax == "facturx"
    # check_xsd: factur-x validates it against the profile's XSD itself and skips it if invalid
    name, xml = fxlib.get_xml_from_pdf(out.data, check_xsd=True)
    assert name == "factur-x.xml"
    assert xml == out.xml
    root = _pdf(out.data).trailer["/Root"]
    spec = root["/AF"][0].get_object()
    assert spec["/AFRelationship"] == "/Data" and spec["/F"] == "factur-x.xml"
    assert spec["/EF"]["/F"].get_object()["/Subtype"] == "/text/xml"
    # the XML's guideline is the profile's, as the XMP says
    assert safe.parse(xml).xpath("string(//*[local-name()='GuidelineSpecifiedDocumentContextParameter']"
                                 "/*[local-name()='ID'])") == facturx.PROFILES[out.profile].guideline
    assert out.findings == [], [str(f) for f in out.findings]


@requires_corpus
@pytest.mark.parametrize("path", SOURCES)
def test_reading_our_pdf_back_gives_the_source_model(path, generated):
    src, out = generated(path)
    back = facturx.read(out.data)
    assert back.syntax == "facturx"
    assert back.invoice.process_control.specification_identifier == facturx.PROFILES[out.profile].guideline
    dropped = {(d.term, d.path) for d in out.dropped if d.term != "BT-24"}
    changed = {k for k in _changed_terms(src.invoice, back.invoice) if k[0] != "BT-24"}
    assert changed == dropped
    bt24 = src.invoice.process_control.specification_identifier if src.invoice.process_control else None
    assert (("BT-24" in {d.term for d in out.dropped})
            == (bt24 is not None and bt24 != facturx.PROFILES[out.profile].guideline))


@requires_corpus
@pytest.mark.parametrize("path", [p for p in SOURCES if baseline().get(p) and baseline()[p].status == "PASS"])
def test_embedded_xml_passes_the_cen_schematron(path, generated):
    _, out = generated(path)
    fatal = [f for f in schematron.cen_cii().run(out.xml) if f.fatal]
    assert fatal == [], [str(f) for f in fatal]


# --- profiles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("guideline, level", [
    ("urn:factur-x.eu:1p0:minimum", "minimum"),
    ("urn:factur-x.eu:1p0:basicwl", "basicwl"),
    ("urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic", "basic"),
    ("urn:cen.eu:en16931:2017", "en16931"),
    ("urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended", "extended"),
    ("urn:zugferd.de:2p0:minimum", "minimum"),
    ("urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic", "basic"),
    ("urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended", "extended"),
    ("urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poa:billing:3.0", "en16931"),
    ("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0", "en16931"),
    ("urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr", "extended-ctc-fr"),
    ("urn:cen.eu:en16931:2017#conformant#urn:example:another-extension", "extended"),
    ("urn:something:else", None),
    (None, None),
])
def test_guideline_identifiers_name_their_profile(guideline, level):
    assert facturx.profile_of_guideline(guideline) == level


def test_profile_from_content_when_bt24_is_absent():
    inv = build_invoice()
    inv.process_control = None
    assert facturx.detect_profile(inv) == "en16931"
    inv.lines = []
    assert facturx.detect_profile(inv) == "basicwl"
    inv.vat_breakdown = []
    assert facturx.detect_profile(inv) == "minimum"


def test_unknown_profile_is_a_programming_error():
    with pytest.raises(ValueError) as err:
        facturx.write(build_invoice(), profile="COMFORT")
    assert "MINIMUM" in str(err.value) and "EN 16931" in str(err.value)


@requires_corpus
@pytest.mark.parametrize("profile, level, gone", [
    ("MINIMUM", "minimum", {"BT-126", "BT-131", "BT-116", "BT-22"}),
    ("BASIC WL", "basicwl", {"BT-126", "BT-131", "BT-153"}),
    ("basic", "basic", {"BT-155", "BT-154"}),
    ("EXTENDED", "extended", set()),
])
def test_explicit_profile_prunes_what_it_cannot_carry_and_says_so(profile, level, gone, generated):
    path = "ubl/cen-en16931/ubl-tc434-example2.xml"
    src, out = generated(path, profile=profile)
    assert out.profile == level
    assert out.findings == [], [str(f) for f in out.findings]          # the profile XSD accepts it
    import facturx as fxlib
    assert fxlib.get_xml_from_pdf(out.data, check_xsd=True) == ("factur-x.xml", out.xml)
    assert _xmp(out.data).xpath("string(//fx:ConformanceLevel)", namespaces=NS) == facturx.PROFILES[level].label
    dropped_terms = {d.term for d in out.dropped}
    assert gone <= dropped_terms
    back = facturx.read(out.data)
    changed = {k for k in _changed_terms(src.invoice, back.invoice) if k[0] != "BT-24"}
    assert changed == {(d.term, d.path) for d in out.dropped if d.term != "BT-24"}
    assert back.invoice.number == src.invoice.number                   # what every profile keeps
    assert back.invoice.totals.amount_due == src.invoice.totals.amount_due
    if level in ("minimum", "basicwl"):
        assert back.invoice.lines == []


@requires_corpus
@pytest.mark.parametrize("path, level", [
    ("facturx/fnfe-via-zugferd-corpus/Facture_FR_MINIMUM.pdf", "minimum"),
    ("facturx/fnfe-via-zugferd-corpus/Facture_DOM_BASICWL.pdf", "basicwl"),
    ("facturx/symtrax-via-zugferd-corpus/zugferd_2p1_BASIC-WL_Einfach.pdf", "basicwl"),
    ("facturx/intarsys-via-zugferd-corpus/zugferd_2p0_BASIC_Taxifahrt.pdf", "basic"),
    ("facturx/intarsys-via-zugferd-corpus/zugferd_2p0_EXTENDED_Warenrechnung.pdf", "extended"),
    ("facturx/zugferd-corpus-xmlrechnung/XRECHNUNG_Einfach.pdf", "en16931"),
])
def test_automatic_profile_follows_bt24(path, level, generated):
    src, out = generated(path)
    assert out.profile == level
    assert out.findings == [], [str(f) for f in out.findings]
    assert [d for d in out.dropped if d.term != "BT-24"] == []
    back = facturx.read(out.data)
    changed = {k for k in _changed_terms(src.invoice, back.invoice) if k[0] != "BT-24"}
    assert changed == set()


@requires_corpus
def test_automatic_profile_moves_up_when_the_content_does_not_fit():
    src = read_document((CORPUS / "cii/zugferd-corpus/EN16931_Einfach.cii.xml").read_bytes()).invoice
    declared_minimum = dataclasses.replace(
        src, process_control=model.ProcessControl(specification_identifier="urn:factur-x.eu:1p0:minimum"))
    out = facturx.write(declared_minimum)
    assert out.profile == "en16931"                     # lines: neither MINIMUM nor BASIC WL hold them
    assert [d.term for d in out.dropped] == ["BT-24"]   # only the (wrong) declaration is replaced
    assert facturx.read(out.data).invoice.lines == src.lines


# ============================================================================================
# (c) what a person sees
# ============================================================================================

def _non_white_fraction(pdf: bytes, tmp_path: Path) -> float:
    """Render page 1 to a greyscale PGM with pdftoppm and count the pixels that are not white."""
    import tempfile
    _tool("pdftoppm", "poppler-utils")
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    f = work / "page.pdf"
    f.write_bytes(pdf)
    res = _run("pdftoppm", "-gray", "-r", "40", "-f", "1", "-l", "1", str(f), str(work / "page"))
    assert res.returncode == 0, res.stderr
    data = next(work.glob("page*.pgm")).read_bytes()
    header = re.match(rb"P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert header, data[:40]
    width, height, maxval = (int(g) for g in header.groups())
    pixels = data[header.end():header.end() + width * height]
    assert len(pixels) == width * height and maxval == 255
    return sum(1 for p in pixels if p < 200) / len(pixels)


@requires_corpus
def test_page_is_not_blank(generated, tmp_path):
    _, out = generated("ubl/cen-en16931/ubl-tc434-example2.xml")
    ink = _non_white_fraction(out.data, tmp_path)
    assert 0.02 < ink < 0.6, ink
    from pypdf import PdfWriter
    w = PdfWriter()
    w.add_blank_page(595, 842)
    blank = io.BytesIO()
    w.write(blank)
    assert _non_white_fraction(blank.getvalue(), tmp_path) < 0.001       # the measure can tell


@requires_corpus
def test_english_invoice_text(generated, tmp_path):
    src, out = generated("cii/zugferd-corpus/EN16931_Einfach.cii.xml")      # buyer in Germany
    assert out.lang == "en"
    text = _pdftotext(out.data, tmp_path)
    assert "471102" in text                                  # invoice number
    assert "€529.87" in text and "529.87" in text            # amount due
    for label in ("Invoice", "Amount due", "Total including VAT", "Net price", "Trennblätter A4",
                  "Lieferantenstraße 20", "DE123456789", "5 Mar 2018"):
        assert label in text, label
    for heading in ("SELLER", "BUYER", "VAT BREAKDOWN", "PAYMENT", "NOTES"):     # CSS upper-cases headings
        assert heading in text, heading
    assert "Facture" not in text and "Net à payer" not in text


@requires_corpus
def test_french_invoice_text_for_a_french_buyer(generated, tmp_path):
    src, out = generated("facturx/gpfacturx-via-zugferd-corpus/sample_inofficial_20190125_atgp_factur-x_v_1_0.pdf")
    assert src.invoice.buyer.postal_address.country_code == "FR"
    assert out.lang == "fr"
    text = _pdftotext(out.data, tmp_path)
    due = render.format_amount(src.invoice.totals.amount_due, "fr").replace("\u202f", " ")
    assert src.invoice.number in text and f"{due} €" in text
    for label in ("Facture", "Net à payer", "Total TTC", "Prix unitaire HT", "Conditions de paiement"):
        assert label in text, label
    for heading in ("VENDEUR", "ACHETEUR", "DÉTAIL DE LA TVA", "PAIEMENT"):
        assert heading in text, heading
    assert "Amount due" not in text


def test_language_choice():
    inv = build_invoice()                                    # buyer in Paris
    assert render.choose_lang(inv) == "fr"
    for country, lang in (("BE", "fr"), ("LU", "fr"), ("CH", "fr"), ("DE", "en"), ("SE", "en")):
        inv.buyer.postal_address.country_code = country
        assert render.choose_lang(inv) == lang
    assert render.choose_lang(inv, "fr-FR") == "fr" and render.choose_lang(inv, "en_GB") == "en"
    inv.buyer = None
    assert render.choose_lang(inv) == "en"
    with pytest.raises(ValueError):
        render.choose_lang(inv, "de")


@pytest.mark.parametrize("engine", render.ENGINES)
def test_explicit_language_wins_over_the_buyer_country(engine, tmp_path):
    out = facturx.write(build_invoice(), lang="en", engine=engine)
    text = _pdftotext(out.data, tmp_path)
    assert out.lang == "en" and "Amount due" in text and "Net à payer" not in text
    fr = facturx.write(build_invoice(), engine=engine)
    assert fr.lang == "fr" and "Net à payer" in _pdftotext(fr.data, tmp_path)
    assert "119,00 €" in _pdftotext(fr.data, tmp_path)


@pytest.mark.parametrize("value, lang, expected", [
    (D("1234.5"), "fr", "1\u202f234,50"), (D("1234.5"), "en", "1,234.50"),
    (D("9.9000"), "en", "9.90"), (D("0.0001"), "fr", "0,0001"), (D("-0.00"), "en", "0.00"),
    (D("1234567.891"), "fr", "1\u202f234\u202f567,891"), (D("1E+2"), "en", "100.00"),
])
def test_amounts_are_formatted_per_language(value, lang, expected):
    assert render.format_amount(value, lang) == expected


def test_money_dates_and_percentages_per_language():
    from datetime import date
    assert render.format_money(D("529.87"), "EUR", "fr") == "529,87\u00a0€"
    assert render.format_money(D("529.87"), "EUR", "en") == "€529.87"
    assert render.format_money(D("-5"), "GBP", "en") == "-£5.00"
    assert render.format_money(D("1000"), "SEK", "en") == "SEK\u00a01,000.00"
    assert render.format_date(date(2018, 3, 5), "fr") == "05/03/2018"
    assert render.format_date(date(2018, 3, 5), "en") == "5 Mar 2018"
    assert render.format_percent(D("19.00"), "fr") == "19\u00a0%"       # CLDR (Babel): a no-break space
    assert render.format_percent(D("5.50"), "en") == "5.5%"
    assert render.format_iban("FR7630006000011234567890189") == "FR76 3000 6000 0112 3456 7890 189"


@pytest.mark.parametrize("engine", render.ENGINES)
def test_invoice_content_is_text_not_markup(engine, tmp_path):
    inv = build_invoice()
    inv.seller.name = '<b>ACME & Co</b> "quoted"'
    inv.seller.additional_legal_information = 'x"; } @page { content: "pwned'
    inv.lines[0].item = model.ItemInformation(name='<img src="file:///x">W')
    html = render.render_html(inv, "en")
    assert "<img" not in html and "<b>ACME" not in html
    out = facturx.write(inv, engine=engine)
    text = _pdftotext(out.data, tmp_path)
    assert '<b>ACME & Co</b> "quoted"' in text
    assert '<img src="file:///x">W' in text
    assert "pwned" in text                      # the footer shows the text, the stylesheet is intact
