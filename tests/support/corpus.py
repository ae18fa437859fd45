"""The shared sample corpus (../shared/corpus), when it is there.

The corpus is not part of this repository: tests that need it are marked
``requires_corpus`` and skip cleanly without it. ``baseline()`` reads
VALIDATION_BASELINE.txt, the CEN schematron results recorded when the
corpus was gathered, so tests can compare against independent ground truth.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

requires_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def corpus_files(pattern: str) -> list[Path]:
    """Files under the corpus matching a glob pattern (empty when the corpus is absent)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob(pattern) if p.is_file())


def rel(path: Path) -> str:
    """A corpus file's path relative to the corpus root (for test ids and messages)."""
    return path.relative_to(CORPUS).as_posix()


@dataclass
class BaselineEntry:
    path: str                 # relative to the corpus root
    status: str               # PASS, FAIL or ERROR
    syntax: str               # UBL, CII, CII(pdf:...), EDIFACT-XML
    fatal: Counter = field(default_factory=Counter)    # rule id -> count
    warning: Counter = field(default_factory=Counter)


_ENTRY = re.compile(r"^(PASS|FAIL|ERROR)\s+[\d.]+ ms\s+fatal=(\d+)\s+warn=(\d+)\s+(\S+)\s+(\S+)\s*$")


def _ids(text: str) -> Counter:
    c: Counter = Counter()
    for item in text.split(","):
        item = item.strip()
        m = re.fullmatch(r"(.+?)x(\d+)", item)
        if m:
            c[m.group(1)] += int(m.group(2))
        elif item:
            c[item] += 1
    return c


@lru_cache(maxsize=1)
def baseline() -> dict[str, BaselineEntry]:
    """VALIDATION_BASELINE.txt as {relative path: entry}; empty without the corpus."""
    path = CORPUS / "VALIDATION_BASELINE.txt"
    if not path.is_file():
        return {}
    entries: dict[str, BaselineEntry] = {}
    last = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ENTRY.match(line)
        if m:
            last = BaselineEntry(path=m.group(5), status=m.group(1), syntax=m.group(4))
            entries[last.path] = last
            continue
        stripped = line.strip()
        if last is not None and stripped.startswith("fatal:"):
            last.fatal = _ids(stripped[len("fatal:"):])
        elif last is not None and stripped.startswith("warning:"):
            last.warning = _ids(stripped[len("warning:"):])
    return entries


_UBL_ROOTS = ("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
              "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2")
_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"


def ubl_invoice(path: Path) -> "bytes | None":
    """The UBL invoice (or credit note) of a corpus file: the file itself, or the invoice inside an
    SBDH envelope (the Peppol samples); None when there is none, or only an empty placeholder
    (no seller: not an invoice)."""
    from lxml import etree

    from gateway.xml import safe
    data = path.read_bytes()
    root = safe.parse(data)
    if etree.QName(root).namespace in _UBL_ROOTS:
        return data
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).namespace in _UBL_ROOTS and \
                etree.QName(el).localname in ("Invoice", "CreditNote"):
            return etree.tostring(el) if el.find(f"{{{_CAC}}}AccountingSupplierParty") is not None else None
    return None


@lru_cache(maxsize=1)
def ubl_invoices() -> tuple[Path, ...]:
    """Every corpus file holding a UBL invoice (``ubl_invoice``): ubl/, fr/ubl/ and peppol/."""
    if not CORPUS.is_dir():
        return ()
    found = sorted(p for top in ("ubl", "fr/ubl", "peppol") for p in (CORPUS / top).rglob("*")
                   if p.is_file() and p.suffix.lower() == ".xml")
    return tuple(p for p in found if ubl_invoice(p) is not None)
