"""Seeds from the shared corpus, one list per readable syntax, and seeded mutators for each.

``corpus_seeds(corpus)`` sorts the corpus files by what ``gateway.syntaxes``
detects in them (UBL, CII, EDIFACT, Factur-X PDF, CDAR status messages, Peppol Invoice
Responses and SBDH envelopes); CSV has no corpus files, so
its seeds are corpus invoices written in the two CSV dialects. For Factur-X the
embedded XML is what carries the invoice: ``embed(xml)`` wraps a (mutated) CII
XML into a PDF as ``factur-x.xml``, so that mutations reach the XML instead of
only breaking the PDF's compressed streams.

``mutate(rng, data, syntax)`` applies one to three mutations chosen with
``rng`` (a ``random.Random``): structural ones that keep the syntax readable
enough to reach the mapping and the writers (an element, segment or row
deleted, duplicated up to thousands of times, its value replaced by a
hostile one: huge or absurd numbers, impossible dates, very long tokens,
control and bidi characters, markup, formulas; deep nesting), and byte-level
ones (flips, truncation, invalid encodings, spliced chunks).
"""
from __future__ import annotations

import copy
import io
import random
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from lxml import etree

SKIP_DIRS = ("xsd", "schematron")      # artefacts, not documents

HOSTILE_VALUES = (
    "", " ", "0", "-0", "-1", "1,5", "1.2.3", "0x10", "NaN", "-Infinity", "1E+999999999", "-1E-999999999",
    "9" * 400, "0." + "0" * 300 + "1", "123456789012345678901234567890.123456789",
    "2024-02-30", "9999-99-99", "20241301", "0000-00-00", "２０２４-０１-０１",
    "A" * 70_000, "é" * 20_000, "x " * 30_000, "\u200b" * 500, "\u202eevil\u202c", "😀" * 200,
    "<b>&amp;</b>", "]]>", "=HYPERLINK(\"http://x\")", "+1-2", "@SUM(A1)", "'", "?", "+", ":", "''",
    "ZZZ", "XX", "999", "S", "E", "AE", "VAT", "EUR", "urn:cen.eu:en16931:2017", "\t\r\n", "a\nb\nc",
)


# --- seeds -----------------------------------------------------------------------------------------

def _detected(data: bytes) -> Optional[str]:
    from gateway.model.errors import InputError
    from gateway.syntaxes import detect
    from gateway.syntaxes.invoice_response import is_invoice_response_bytes
    from gateway.syntaxes.sbdh import is_sbdh_bytes
    if b"CrossDomainAcknowledgementAndResponse" in data[:2048]:
        return "cdar"
    if is_sbdh_bytes(data):
        return "sbdh"
    if is_invoice_response_bytes(data):
        return "invoice-response"
    try:
        kind = detect(data)
    except InputError:
        return None
    return {"pdf": "facturx"}.get(kind, kind) if kind in ("ubl", "cii", "pdf", "edifact") else None


@lru_cache(maxsize=4)
def corpus_seeds(corpus: Path, csv_sources: Optional[int] = None) -> dict[str, list[tuple[str, bytes]]]:
    """{syntax: [(name, bytes)]} for edifact, ubl, cii, csv, facturx, cdar, invoice-response and sbdh;
    empty lists without a corpus.
    CSV seeds are the UBL and CII seeds (the first ``csv_sources`` of each, default all) written
    in both dialects."""
    from gateway.model.errors import InputError
    from gateway.syntaxes import read_documents, write_document
    seeds: dict[str, list[tuple[str, bytes]]] = {s: [] for s in ("edifact", "ubl", "cii", "csv", "facturx", "cdar",
                                                                    "invoice-response", "sbdh")}
    if not corpus.is_dir():
        return seeds
    for path in sorted(corpus.rglob("*")):
        rel = path.relative_to(corpus)
        if not path.is_file() or set(rel.parts) & set(SKIP_DIRS) or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        syntax = _detected(data)
        if syntax is not None:
            seeds[syntax].append((rel.as_posix(), data))
    for name, data in seeds["ubl"][:csv_sources] + seeds["cii"][:csv_sources]:
        try:
            invoice = read_documents(data)[0].invoice
        except InputError:
            continue
        for dialect in ("csv-lines", "csv-records"):
            try:
                seeds["csv"].append((f"{name} as {dialect}", write_document(invoice, dialect).data))
            except Exception:         # noqa: BLE001 - a seed we cannot make is a seed less
                pass
    return seeds


def embedded_xml(pdf: bytes) -> Optional[bytes]:
    """The invoice XML a Factur-X PDF carries (None when it has none we can take out)."""
    from gateway.model.errors import InputError
    from gateway.syntaxes.facturx import MAX_PDF_BYTES, MAX_XML_BYTES, _extract
    try:
        return _extract(pdf, MAX_PDF_BYTES, MAX_XML_BYTES)[1]
    except InputError:
        return None


@lru_cache(maxsize=1)
def _blank_page() -> bytes:
    from pypdf import PdfWriter
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def embed(xml: bytes, name: str = "factur-x.xml") -> bytes:
    """A one-page PDF carrying ``xml`` as the attachment ``name`` (what a Factur-X reader looks for)."""
    from pypdf import PdfReader, PdfWriter
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_blank_page())))
    writer.add_attachment(name, xml)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- byte-level mutations -----------------------------------------------------------------------

def _flip(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


_BAD_BYTES = (b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\x00", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x1b[0m",
              b"\xef\xbb\xbf", b"\r", b"\x85")


def _bad_encoding(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(_BAD_BYTES) + data[at:]


def _splice(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data + data
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 400))
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[a:b] * rng.choice((1, 2, 50)) + data[at:]


BYTE_MUTATIONS: tuple[Callable[[random.Random, bytes], bytes], ...] = (_flip, _truncate, _bad_encoding, _splice)


def _hostile(rng: random.Random) -> str:
    return rng.choice(HOSTILE_VALUES)


# --- XML (UBL, CII, the XML inside a Factur-X) ------------------------------------------------------

def _xml_mutation(rng: random.Random, data: bytes) -> bytes:
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError:
        return _flip(rng, data)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    el = rng.choice(elements)
    parent = el.getparent()
    kind = rng.choice(("delete", "duplicate", "value", "value", "value", "attribute", "nest", "move", "rename"))
    try:
        if kind == "delete" and parent is not None:
            parent.remove(el)
        elif kind == "duplicate" and parent is not None:
            at = parent.index(el)
            for _ in range(rng.choice((1, 1, 2, 10, 200))):
                parent.insert(at, copy.deepcopy(el))
        elif kind == "value":
            leaves = [e for e in elements if len(e) == 0] or elements
            rng.choice(leaves).text = _hostile(rng)
        elif kind == "attribute":
            target = rng.choice(elements)
            names = list(target.attrib) or ["currencyID", "schemeID", "unitCode", "format"]
            target.set(rng.choice(names), _hostile(rng))
        elif kind == "nest":
            depth = rng.choice((50, 300, 5000))
            inner = el
            for _ in range(depth):
                wrapper = etree.Element(el.tag)
                wrapper.append(copy.deepcopy(inner) if inner is el else inner)
                inner = wrapper
            if parent is not None:
                parent.replace(el, inner)
        elif kind == "move" and parent is not None:
            other = rng.choice(elements)
            if other is not el and el not in other.iterancestors():
                other.append(el)
        elif kind == "rename":
            el.tag = rng.choice(elements).tag
    except (ValueError, TypeError):     # lxml refuses control characters in text: another time
        return _flip(rng, data)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- EDIFACT ------------------------------------------------------------------------------------

def _edifact_mutation(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("latin-1")
    una = text.startswith("UNA") and len(text) >= 9
    comp, elem, rel, term = (text[3], text[4], text[6], text[8]) if una else (":", "+", "?", "'")
    pattern = re.compile(rf"(?<!{re.escape(rel)}){re.escape(term)}")
    body = text[9:] if una else text
    segments = [s for s in pattern.split(body)]
    if len(segments) < 2:
        return _flip(rng, data)
    i = rng.randrange(len(segments))
    kind = rng.choice(("delete", "duplicate", "value", "value", "value", "swap", "separators", "release"))
    if kind == "delete":
        del segments[i]
    elif kind == "duplicate":
        segments[i:i] = [segments[i]] * rng.choice((1, 2, 10, 200))
    elif kind == "value":
        parts = segments[i].split(elem)
        j = rng.randrange(len(parts))
        comps = parts[j].split(comp)
        value = _hostile(rng)
        if rng.random() < 0.7:      # mostly escaped, so that the value arrives as data
            value = "".join(rel + c if c in (comp, elem, rel, term) else c for c in value)
        comps[rng.randrange(len(comps))] = value
        parts[j] = comp.join(comps)
        segments[i] = elem.join(parts)
    elif kind == "swap":
        j = rng.randrange(len(segments))
        segments[i], segments[j] = segments[j], segments[i]
    elif kind == "separators":
        una = True
        chars = [comp, elem, ".", rel, " ", term]
        chars[rng.randrange(6)] = rng.choice(":+.? '*\n\x1d\x1f")
        comp, elem, rel, term = chars[0], chars[1], chars[3], chars[5]
    elif kind == "release":
        segments[i] = segments[i] + rel
    head = f"UNA{comp}{elem}.{rel} {term}" if una else ""
    return (head + term.join(segments)).encode("latin-1", errors="replace")


# --- CSV ----------------------------------------------------------------------------------------

def _csv_mutation(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("utf-8", errors="replace")
    newline = "\r\n" if "\r\n" in text else "\n"
    rows = text.split(newline)
    if len(rows) < 2:
        return _flip(rng, data)
    delim = ";" if rows[0].count(";") >= rows[0].count(",") else ","
    i = rng.randrange(1, len(rows)) if len(rows) > 1 else 0
    kind = rng.choice(("delete", "duplicate", "value", "value", "value", "column", "quote", "header"))
    if kind == "delete":
        del rows[i]
    elif kind == "duplicate":
        rows[i:i] = [rows[i]] * rng.choice((1, 2, 10, 200))
    elif kind == "value":
        cells = rows[i].split(delim)
        value = _hostile(rng)
        if rng.random() < 0.6:
            value = '"' + value.replace('"', '""') + '"'
        cells[rng.randrange(len(cells))] = value
        rows[i] = delim.join(cells)
    elif kind == "column":
        j = rng.randrange(max(1, rows[0].count(delim) + 1))
        rows = [delim.join(c for k, c in enumerate(r.split(delim)) if k != j) for r in rows]
    elif kind == "quote":
        cells = rows[i].split(delim)
        cells[rng.randrange(len(cells))] = '"unterminated'
        rows[i] = delim.join(cells)
    elif kind == "header":
        cells = rows[0].split(delim)
        j = rng.randrange(len(cells))
        cells[j] = rng.choice(cells)
        rows[0] = delim.join(cells)
    return newline.join(rows).encode("utf-8", errors="surrogatepass")


# --- one mutant ------------------------------------------------------------------------------------

STRUCTURAL = {"ubl": _xml_mutation, "cii": _xml_mutation, "facturx": _xml_mutation,
              "edifact": _edifact_mutation, "csv": _csv_mutation, "cdar": _xml_mutation,
              "invoice-response": _xml_mutation, "sbdh": _xml_mutation}


def mutant(rng: random.Random, seed: bytes, syntax: str) -> bytes:
    """A mutant of a corpus seed as a whole input: for Factur-X mostly its embedded XML mutated and
    wrapped in a PDF again, sometimes the PDF's own bytes mutated."""
    if syntax == "facturx":
        xml = embedded_xml(seed)
        if xml is not None and rng.random() < 0.85:
            return embed(mutate(rng, xml, syntax))
        return rng.choice(BYTE_MUTATIONS)(rng, seed)
    return mutate(rng, seed, syntax)


def mutate(rng: random.Random, data: bytes, syntax: str) -> bytes:
    """One to three mutations of ``data`` (a ``syntax`` seed; for Factur-X, its embedded XML),
    mostly structural, sometimes byte-level."""
    for _ in range(rng.choice((1, 1, 2, 3))):
        if rng.random() < 0.75:
            data = STRUCTURAL[syntax](rng, data)
        else:
            data = rng.choice(BYTE_MUTATIONS)(rng, data)
        if not data:
            break
    return data
