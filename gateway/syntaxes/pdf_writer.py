"""A PDF/A-3b file written in one pass: pages of text and rectangles, fonts, XMP, attachments.

What ISO 19005-3 (level B) asks of the file and this writer does:

* every font embedded: each face used is a ``Type0`` font over a ``CIDFontType2``
  whose TrueType program is the document's subset (``pdf_fonts.subset``), with
  its widths (``/W``, the program's own advances) and a ``ToUnicode`` map, so
  that text extracts as it was written;
* colours in DeviceRGB under an sRGB ``OutputIntent`` (``GTS_PDFA1``) that
  embeds the ICC profile (the ``sRGB2014.icc`` WeasyPrint ships);
* an XMP packet, uncompressed, declaring ``pdfaid:part`` 3 / ``conformance`` B,
  whose title, author, subject, producer, creator tool and dates are those of
  the Info dictionary, with any extension schema the caller adds (Factur-X's);
* embedded files with ``/Subtype`` (MIME), ``/Params`` (size, MD5, date), a
  ``/UF`` name and an ``/AFRelationship``, listed in the catalogue's ``/AF``;
* a binary comment after the header, a file identifier, a classic cross-reference
  table, nothing after ``%%EOF``, no encryption, no transparency, no actions.

Coordinates are given from the top-left corner of the page, in points.
"""
from __future__ import annotations

import hashlib
import importlib.util
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence
from xml.sax.saxutils import escape

from gateway.syntaxes import pdf_fonts
from gateway.syntaxes.pdf_fonts import Face

__all__ = ["Document", "Page", "Metadata", "Attachment", "XmpExtension", "A4"]

A4 = (595.276, 841.89)
SRGB_INFO = "IEC 61966-2-1 Default RGB Colour Space - sRGB"
XMP_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
COMPRESSION = 6


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The sRGB ICC profile of the OutputIntent (WeasyPrint's copy; WeasyPrint is a dependency)."""
    spec = importlib.util.find_spec("weasyprint")
    if spec is None or not spec.origin:
        raise RuntimeError("the sRGB ICC profile comes with the Python package 'weasyprint' (pip install weasyprint)")
    return (Path(spec.origin).parent / "pdf" / "sRGB2014.icc").read_bytes()


@lru_cache(maxsize=1)
def _srgb_compressed() -> bytes:
    return zlib.compress(srgb_profile(), 9)


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes = field(repr=False)
    mime: str = "application/octet-stream"
    relationship: str = "Data"          # PDF/A-3 AFRelationship: Data, Source, Alternative, Supplement ...
    description: str = ""


@dataclass(frozen=True)
class XmpExtension:
    """An XMP extension: its namespace prefixes, the ``pdfaExtension:schemas`` entries (``rdf:li``
    elements) that describe it, and the ``rdf:Description`` content holding its values."""
    namespaces: dict[str, str]
    schemas: str
    values: str


@dataclass(frozen=True)
class Metadata:
    title: str = ""
    author: str = ""
    subject: str = ""
    lang: str = ""
    creator_tool: str = "edigate"
    producer: str = "edigate"
    created: Optional[datetime] = None          # now when not given
    extension: Optional[XmpExtension] = None


class Page:
    """One page's drawing: text runs and filled rectangles, in the order given."""

    def __init__(self, width: float, height: float):
        self.width, self.height = width, height
        self.ops: list[tuple] = []

    def text(self, x: float, baseline: float, face: Face, size: float, rgb: tuple, text: str,
             letter_spacing: float = 0.0) -> None:
        if text:
            self.ops.append(("t", x, baseline, face, size, rgb, text, letter_spacing))

    def rect(self, x: float, y: float, w: float, h: float, rgb: tuple) -> None:
        if w > 0 and h > 0:
            self.ops.append(("r", x, y, w, h, rgb))


def _num(v: float) -> str:
    s = "%.2f" % v
    return "0" if s == "-0.00" else s


def _color(rgb: tuple) -> str:
    return " ".join(_num(c) for c in rgb)


def pdf_string(text: str) -> bytes:
    """A PDF text string: literal when ASCII, else UTF-16BE with a byte order mark."""
    if text.isascii():
        out = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        out = "".join(c if 32 <= ord(c) < 127 else f"\\{ord(c):03o}" for c in out)
        return f"({out})".encode("ascii")
    return b"<feff" + text.encode("utf-16-be").hex().encode("ascii") + b">"


def pdf_name(name: str) -> bytes:
    out = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else f"#{ord(c):02X}"
                  for c in name)
    return f"/{out}".encode("ascii")


def clean(value: str) -> str:
    """``value`` without the characters XML 1.0 forbids (the Info dictionary says what the XMP says)."""
    return "".join(c for c in value if c in "\t\n\r" or (ord(c) >= 32 and not 0xD800 <= ord(c) <= 0xDFFF
                                                           and c not in "\ufffe\uffff"))


def _xml_text(value: str) -> str:
    return escape(clean(value))


def _subset_tag(face: Face, gids: Sequence[int]) -> str:
    digest = hashlib.md5((face.postscript_name + ",".join(map(str, gids))).encode()).digest()
    return "".join(chr(ord("A") + b % 26) for b in digest[:6])


class Document:
    """Pages, then ``write(metadata, attachments)``: the PDF/A-3b bytes."""

    def __init__(self, size: tuple[float, float] = A4):
        self.size = size
        self.pages: list[Page] = []

    def new_page(self) -> Page:
        page = Page(*self.size)
        self.pages.append(page)
        return page

    # -- serialisation ---------------------------------------------------------------------------

    def write(self, meta: Metadata, attachments: Sequence[Attachment] = ()) -> bytes:
        objs: list[Optional[bytes]] = [None]          # object 0 is the free head of the list

        def reserve() -> int:
            objs.append(None)
            return len(objs) - 1

        def put(num: int, body: bytes) -> int:
            objs[num] = body
            return num

        def add(body: bytes) -> int:
            return put(reserve(), body)

        def stream(extra: bytes, data: bytes, *, compress: bool = True) -> bytes:
            if compress:
                data = zlib.compress(data, COMPRESSION)
                extra += b" /Filter /FlateDecode"
            return b"<<" + extra + b" /Length %d>>\nstream\n" % len(data) + data + b"\nendstream"

        created = (meta.created or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
        # which glyphs of which face, in order of first use
        used: dict[Face, dict[str, int]] = {}
        for page in self.pages:
            for op in page.ops:
                if op[0] == "t":
                    chars = used.setdefault(op[3], {})
                    for ch in op[6]:
                        if ch not in chars:
                            chars[ch] = op[3].glyph(ch)[0]
        fonts: dict[Face, tuple[str, dict[str, str]]] = {}
        font_refs: dict[str, int] = {}
        for i, (face, chars) in enumerate(used.items(), 1):
            gids = list(dict.fromkeys(g for g in chars.values() if g))
            program, renumber = pdf_fonts.subset(face, gids)
            font_refs[f"F{i}"] = self._font(face, chars, gids, program, renumber, add, stream)
            fonts[face] = (f"F{i}", {ch: f"{renumber.get(g, 0):04x}" for ch, g in chars.items()})

        pages_num = reserve()
        resources = add(b"<< /Font << " + b" ".join(b"/%s %d 0 R" % (k.encode(), v) for k, v in font_refs.items())
                        + b" >> >>")
        kids = []
        width, height = self.size
        first_content = b""
        for page in self.pages:
            content = self._content(page, fonts)
            first_content = first_content or content
            contents = add(stream(b"", content))
            kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources %d 0 R /Contents %d 0 R >>"
                            % (pages_num, _num(width).encode(), _num(height).encode(), resources, contents)))
        put(pages_num, b"<< /Type /Pages /Count %d /Kids [%s] >>"
            % (len(kids), b" ".join(b"%d 0 R" % k for k in kids)))

        xmp = self._xmp(meta, created).encode("utf-8")
        metadata = add(stream(b" /Type /Metadata /Subtype /XML", xmp, compress=False))
        icc = add(b"<< /N 3 /Filter /FlateDecode /Length %d>>\nstream\n" % len(_srgb_compressed())
                  + _srgb_compressed() + b"\nendstream")
        intent = (b"<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier " + pdf_string(SRGB_INFO)
                  + b" /Info " + pdf_string(SRGB_INFO) + b" /DestOutputProfile %d 0 R >>" % icc)
        pdf_date = created.strftime("D:%Y%m%d%H%M%S+00'00'")
        specs = []
        for a in attachments:
            ef = add(stream(b" /Type /EmbeddedFile /Subtype " + pdf_name(a.mime)
                            + b" /Params << /Size %d /CheckSum <%s> /ModDate " % (len(a.data), hashlib.md5(a.data).hexdigest().encode())
                            + pdf_string(pdf_date) + b" >>", a.data))
            specs.append((a.name, add(b"<< /Type /Filespec /F " + pdf_string(a.name) + b" /UF " + pdf_string(a.name)
                                      + (b" /Desc " + pdf_string(a.description) if a.description else b"")
                                      + b" /AFRelationship " + pdf_name(a.relationship)
                                      + b" /EF << /F %d 0 R /UF %d 0 R >> >>" % (ef, ef))))
        catalog = [b"/Type /Catalog /Pages %d 0 R /Metadata %d 0 R /OutputIntents [" % (pages_num, metadata)
                   + intent + b"]", b"/ViewerPreferences << /DisplayDocTitle true >>"]
        if meta.lang:
            catalog.append(b"/Lang " + pdf_string(meta.lang))
        if specs:
            catalog.append(b"/AF [" + b" ".join(b"%d 0 R" % s for _, s in specs) + b"]")
            catalog.append(b"/Names << /EmbeddedFiles << /Names [" + b" ".join(
                pdf_string(n) + b" %d 0 R" % s for n, s in sorted(specs)) + b"] >> >>")
            catalog.append(b"/PageMode /UseAttachments")
        root = add(b"<< " + b" ".join(catalog) + b" >>")
        info = [(b"/Title", meta.title), (b"/Author", meta.author), (b"/Subject", meta.subject),
                (b"/Creator", meta.creator_tool), (b"/Producer", meta.producer)]
        info_num = add(b"<< " + b" ".join(k + b" " + pdf_string(clean(v)) for k, v in info if v)
                       + b" /CreationDate " + pdf_string(pdf_date) + b" /ModDate " + pdf_string(pdf_date) + b" >>")

        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = [0] * len(objs)
        for num in range(1, len(objs)):
            offsets[num] = len(out)
            out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % len(objs)
        out += b"".join(b"%010d 00000 n \n" % o for o in offsets[1:])
        ident = hashlib.md5(xmp + first_content).hexdigest().encode()
        out += (b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
                % (len(objs), root, info_num, ident, ident, xref))
        return bytes(out)

    @staticmethod
    def _font(face: Face, chars: dict[str, int], gids: list[int], program: bytes, renumber: dict[int, int],
              add, stream) -> int:
        name = pdf_name(f"{_subset_tag(face, gids)}+{face.postscript_name}")
        file = add(stream(b" /Length1 %d" % len(program), program))
        bbox = " ".join(str(v) for v in face.bbox).encode()
        descriptor = add(b"<< /Type /FontDescriptor /FontName " + name + b" /Flags 4 /FontBBox [" + bbox
                         + b"] /ItalicAngle %s /Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %d 0 R >>"
                         % (_num(face.italic_angle).encode(), face.ascent, face.descent, face.cap_height, file))
        by_new = sorted((new, old) for old, new in renumber.items())
        widths = b" ".join(b"%d" % (face.widths[old] if old < len(face.widths) else 0) for _, old in by_new)
        cid = add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont " + name
                  + b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
                  + b" /FontDescriptor %d 0 R /CIDToGIDMap /Identity /W [0 [" % descriptor + widths + b"]] >>")
        unicode = {}
        for ch, old in chars.items():
            if old and renumber.get(old) and renumber[old] not in unicode:
                unicode[renumber[old]] = ch
        entries = sorted(unicode.items())
        blocks = []
        for i in range(0, len(entries), 100):
            chunk = entries[i:i + 100]
            blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(
                f"<{new:04x}> <{ch.encode('utf-16-be').hex()}>" for new, ch in chunk) + "\nendbfchar")
        cmap = ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
                "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                "1 begincodespacerange\n<0000> <ffff>\nendcodespacerange\n" + "\n".join(blocks)
                + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
        to_unicode = add(stream(b"", cmap.encode("ascii")))
        return add(b"<< /Type /Font /Subtype /Type0 /BaseFont " + name + b" /Encoding /Identity-H"
                   + b" /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cid, to_unicode))

    @staticmethod
    def _content(page: Page, fonts: dict[Face, tuple[str, dict[str, str]]]) -> bytes:
        height = page.height
        parts: list[str] = []
        fill, char_spacing = None, 0.0          # both last until changed (graphics state, not BT/ET)
        for op in page.ops:
            rgb = op[-1] if op[0] == "r" else op[5]
            if rgb != fill:
                parts.append(f"{_color(rgb)} rg")
                fill = rgb
            if op[0] == "r":
                _, x, y, w, h, _ = op
                parts.append(f"{_num(x)} {_num(height - y - h)} {_num(w)} {_num(h)} re f")
            else:
                _, x, baseline, face, size, _, text, spacing = op
                name, codes = fonts[face]
                hexed = "".join(map(codes.__getitem__, text))
                tc = ""
                if spacing != char_spacing:
                    tc, char_spacing = f"{_num(spacing)} Tc ", spacing
                parts.append(f"BT /{name} {_num(size)} Tf {tc}{_num(x)} {_num(height - baseline)} Td <{hexed}> Tj ET")
        return "\n".join(parts).encode("ascii")

    @staticmethod
    def _xmp(meta: Metadata, created: datetime) -> str:
        when = created.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        ext = meta.extension
        namespaces = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
                      "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "dc": "http://purl.org/dc/elements/1.1/",
                      "pdf": "http://ns.adobe.com/pdf/1.3/", "xmp": "http://ns.adobe.com/xap/1.0/"}
        if ext:
            namespaces.update({"pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
                               "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
                               "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#"}, **ext.namespaces)
        decl = " ".join(f'xmlns:{k}="{v}"' for k, v in namespaces.items())
        dc = []
        if meta.title:
            dc.append(f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{_xml_text(meta.title)}</rdf:li></rdf:Alt></dc:title>')
        if meta.author:
            dc.append(f"<dc:creator><rdf:Seq><rdf:li>{_xml_text(meta.author)}</rdf:li></rdf:Seq></dc:creator>")
        if meta.subject:
            dc.append(f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{_xml_text(meta.subject)}</rdf:li>'
                      "</rdf:Alt></dc:description>")
        parts = [f'<?xpacket begin="\ufeff" id="{XMP_PACKET_ID}"?>', f"<x:xmpmeta {decl}>", "<rdf:RDF>",
                 '<rdf:Description rdf:about="">',
                 "<pdfaid:part>3</pdfaid:part>", "<pdfaid:conformance>B</pdfaid:conformance>", *dc,
                 f"<pdf:Producer>{_xml_text(meta.producer)}</pdf:Producer>",
                 f"<xmp:CreatorTool>{_xml_text(meta.creator_tool)}</xmp:CreatorTool>",
                 f"<xmp:CreateDate>{when}</xmp:CreateDate>", f"<xmp:ModifyDate>{when}</xmp:ModifyDate>",
                 "</rdf:Description>"]
        if ext:
            parts += ['<rdf:Description rdf:about="">', "<pdfaExtension:schemas><rdf:Bag>", ext.schemas,
                      "</rdf:Bag></pdfaExtension:schemas>", "</rdf:Description>",
                      '<rdf:Description rdf:about="">', ext.values, "</rdf:Description>"]
        parts += ["</rdf:RDF>", "</x:xmpmeta>", '<?xpacket end="w"?>']
        return "\n".join(parts)
