"""The parts of the drawn invoice page: font subsets, the page footer, text wrapping, the XMP.

The subsets are judged by fontTools reading them back against the full DejaVu
font (Debian's fonts-dejavu-core, packaging/debian-packages.txt): every glyph
kept draws the same outline with the same advance, composite glyphs (accented
letters, and composites of composites such as U+01D5) with their components.
"""
from __future__ import annotations

import io

import pytest

from gateway.syntaxes import pdf_fonts, pdf_layout, pdf_writer, render
from gateway.xml import safe


@pytest.mark.parametrize("family, bold", [("sans", False), ("sans", True), ("mono", False)])
def test_a_subset_draws_every_kept_glyph_as_the_font_does(family, bold):
    from fontTools.ttLib import TTFont
    face = pdf_fonts.face(family, bold)
    text = "Facture n° 12 — À payer: 1 234,56 € · Ǖǅ ŉ çéàÅ%"
    gids = [face.glyph(ch)[0] for ch in text]
    program, renumber = pdf_fonts.subset(face, gids)
    full, cut = TTFont(str(face.path)), TTFont(io.BytesIO(program))
    full_order, cut_order = full.getGlyphOrder(), cut.getGlyphOrder()
    assert cut["maxp"].numGlyphs == len(renumber) == len(cut_order) < 80      # not the font's 6,000
    assert sorted(renumber.values()) == list(range(len(renumber)))
    composites = 0
    for ch in text:
        old = face.glyph(ch)[0]
        a, b = full["glyf"][full_order[old]], cut["glyf"][cut_order[renumber[old]]]
        composites += a.isComposite()
        assert a.isComposite() == b.isComposite(), ch
        assert list(a.getCoordinates(full["glyf"])[0]) == list(b.getCoordinates(cut["glyf"])[0]), ch
        assert full["hmtx"][full_order[old]][0] == cut["hmtx"][cut_order[renumber[old]]][0], ch
    assert composites >= 5                          # the accented letters above are composites in DejaVu


def test_the_footer_reads_back_what_the_template_escaped():
    footer = 'ACME "Ltd" · {x}; } @page { content: "pwned · VAT number FR1234'
    css = ("@page { @bottom-left { content: " + str(render.css_string(footer)) + "; }\n"
           '@bottom-right { content: "Page " counter(page) " of " counter(pages); } }')
    boxes = pdf_layout._margin_boxes(css)
    assert pdf_layout._footer_text(boxes["bottom-left"], 1, 3) == footer
    assert pdf_layout._footer_text(boxes["bottom-right"], 2, 3) == "Page 2 of 3"


def _lines(box) -> list[str]:
    rows: dict[float, list] = {}
    for op in box.ops:
        rows.setdefault(round(op[2], 2), []).append(op)
    return ["".join(op[6] for op in sorted(ops, key=lambda o: o[1])) for _, ops in sorted(rows.items())]


def test_text_wraps_at_spaces_and_break_opportunities_and_a_long_word_anywhere():
    style = dict(pdf_layout._ROOT, **pdf_layout.BOX_DEFAULTS)
    face = pdf_fonts.face()
    width = face.width("abcdefghij", style["size"]) + 0.01
    box = pdf_layout._text_box([("abc def\u200bghijklm nopqrstuvwxyzabcdef", style)], style, 0.0, width)
    lines = _lines(box)
    assert "".join(lines).replace(" ", "") == "abcdefghijklmnopqrstuvwxyzabcdef"      # no ZWSP drawn
    assert lines[0] == "abc def" and lines[1] == "ghijklm"
    assert all(face.width(line, style["size"]) <= width for line in lines)
    assert box.cuts == sorted(box.cuts) and len(box.cuts) == len(lines)
    pre = dict(style, ws="pre-line")
    assert _lines(pdf_layout._text_box([("one\n  two   three", pre)], pre, 0.0, 500)) == ["one", "two three"]


def test_xmp_and_document_information_say_the_same_even_for_odd_characters():
    doc = pdf_writer.Document()
    doc.new_page().text(50, 50, pdf_fonts.face(), 10, (0, 0, 0), "x")
    meta = pdf_writer.Metadata(title="Facture \x01<b>&", author="Société (Test) \\", subject="é", lang="fr")
    data = doc.write(meta)
    from pypdf import PdfReader
    reader = PdfReader(io.BytesIO(data))
    info = reader.metadata
    xmp = safe.parse(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
    ns = {"dc": "http://purl.org/dc/elements/1.1/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
          "pdfaid": "http://www.aiim.org/pdfa/ns/id/"}
    assert info["/Title"] == xmp.xpath("string(//dc:title//rdf:li)", namespaces=ns) == "Facture <b>&"
    assert info["/Author"] == xmp.xpath("string(//dc:creator//rdf:li)", namespaces=ns) == "Société (Test) \\"
    assert (xmp.xpath("string(//pdfaid:part)", namespaces=ns), xmp.xpath("string(//pdfaid:conformance)",
                                                                         namespaces=ns)) == ("3", "B")
    assert data.endswith(b"%%EOF\n") and data[:9] == b"%PDF-1.7\n"
