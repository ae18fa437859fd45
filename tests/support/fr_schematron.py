"""The FNFE-MPE French stylesheets of the shared corpus (1.4.0.03), when they are there.

``stylesheet(syntax, kind)`` compiles one once per process (``gateway.xml.schematron.load_schematron``):
``flux2`` the standard Flux 2 rules (BR-FR, fatal), ``warning`` their transition version, ``extended``
the EXTENDED-CTC-FR profile. ``xml_of(path)`` is the UBL or CII XML of a corpus file, the one inside a
Factur-X PDF included. Nothing here is copied from the corpus.
"""
from __future__ import annotations

from pathlib import Path

from tests.support.corpus import CORPUS

FNFE_DIR = CORPUS / "schematron" / "fr" / "fnfe-rfe-1.4.0.03"
FILES = {
    ("UBL", "flux2"): "UBL/BR-FR-Flux2-Schematron-UBL.xslt",
    ("CII", "flux2"): "CII/BR-FR-Flux2-Schematron-CII.xslt",
    ("UBL", "warning"): "UBL/BR-FR-Flux2-Schematron-UBL_WARNING.xslt",
    ("CII", "warning"): "CII/BR-FR-Flux2-Schematron-CII_WARNING.xslt",
    ("UBL", "extended"): "UBL/EXTENDED-CTC-FR-UBL.xslt",
    ("CII", "extended"): "CII/EXTENDED-CTC-FR-CII.xslt",
}


def stylesheet_path(syntax: str, kind: str = "flux2") -> Path:
    return FNFE_DIR / FILES[(syntax, kind)]


def stylesheet(syntax: str, kind: str = "flux2"):
    """The compiled stylesheet (``Schematron``); ``FileNotFoundError`` when the corpus lacks it, ImportError
    without saxonche."""
    from gateway.xml.schematron import load_schematron, SchematronNotFoundError
    path = stylesheet_path(syntax, kind)
    if not path.is_file():
        raise SchematronNotFoundError(f"no FNFE-MPE stylesheet at {path}")
    return load_schematron(path, ruleset=f"FNFE-MPE 1.4.0.03 {kind} {syntax}")


def xml_of(path: Path) -> bytes:
    """The UBL or CII XML of a corpus file: the file itself, or the CII inside a Factur-X PDF."""
    data = path.read_bytes()
    if path.suffix.lower() != ".pdf":
        return data
    from gateway.syntaxes import facturx
    _, xml, _ = facturx._extract(data, facturx.MAX_PDF_BYTES, facturx.MAX_XML_BYTES)
    return xml[3:] if xml.startswith(b"\xef\xbb\xbf") else xml.lstrip(b" \t\r\n")
