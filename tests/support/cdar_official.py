"""The official CDAR artefacts of the shared corpus, when they are there: the D22B XSD, FNFE-MPE's
CDAR stylesheet (BR-FR-CDV-Schematron-CDAR.xslt, 1.4.0.03) and the example messages.

``xsd()`` and ``stylesheet()`` compile once per process; ``examples()`` lists the example files with
the status code each is about (from its name: ``...CDV-207_...`` or ``status-207-...``). Nothing here
is copied from the corpus.
"""
from __future__ import annotations

import re
from pathlib import Path

from tests.support.corpus import CORPUS, corpus_files
from tests.support.fr_schematron import FNFE_DIR

XSD_PATH = CORPUS / "cdar" / "xsd" / "CrossDomainAcknowledgementAndResponse_100pD22B.xsd"
XSLT_PATH = FNFE_DIR / "CDAR" / "BR-FR-CDV-Schematron-CDAR.xslt"
SCH_PATH = FNFE_DIR / "sch" / "BR-FR-CDV-Schematron-CDAR.sch"


def xsd():
    from gateway.xml.schema import load_schema
    if not XSD_PATH.is_file():
        raise FileNotFoundError(f"no CDAR XSD at {XSD_PATH}")
    return load_schema(XSD_PATH)


def stylesheet():
    """The compiled stylesheet; FileNotFoundError without it, ImportError without saxonche."""
    from gateway.xml.schematron import SchematronNotFoundError, load_schematron
    if not XSLT_PATH.is_file():
        raise SchematronNotFoundError(f"no FNFE-MPE CDAR stylesheet at {XSLT_PATH}")
    return load_schematron(XSLT_PATH, ruleset="FNFE-MPE 1.4.0.03 CDAR")


def stylesheet_or_skip():
    """``stylesheet()``, or the calling test skipped saying why it cannot run here (no saxonche, no
    stylesheet in the corpus)."""
    import pytest
    try:
        return stylesheet()
    except Exception as exc:  # noqa: BLE001 - no saxonche, no stylesheet
        pytest.skip(f"the FNFE-MPE CDAR stylesheet cannot run here: {exc}")


def examples() -> list[tuple[Path, str]]:
    """(file, the status code its name says) for every example message of the corpus."""
    out = []
    for path in corpus_files("cdar/**/*.xml"):
        if "/xsd/" in path.as_posix():
            continue
        m = re.search(r"CDV-(\d{3})_|status-(\d{3})-", path.name)
        if m:
            out.append((path, m.group(1) or m.group(2)))
    return out
