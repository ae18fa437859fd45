#!/usr/bin/env python3
"""Extract the EN 16931 code lists from the official CEN schematron (XSLT).

The CEN validation artefacts carry every code list inline, inside the assert
expressions (``contains(' AED AFN ... ', concat(' ', normalize-space(.), ' '))``).
Our model rules (``gateway/rules/codelists.py``) must accept exactly what the
schematron accepts, so instead of typing the lists by hand we take them from
the very stylesheet the rules are compared against, and store them as data in
``gateway/rules/codelists.yaml``.

The UBL stylesheet is the reference (the rules follow the UBL binding); the
CII stylesheet is read too, and any list that differs there is recorded under
``cii_differences`` so a reader of the yaml sees it without opening XSLT.

Usage::

    tools/extract_codelists.py [--ubl PATH] [--cii PATH] [--out PATH] [--check]

``--check`` exits 1 when the yaml on disk is not what the stylesheet gives
(for CI, after a schematron upgrade).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "schematron"
DEFAULT_UBL = DEFAULT_CORPUS / "EN16931-UBL-validation.xslt"
DEFAULT_CII = DEFAULT_CORPUS / "EN16931-CII-validation.xslt"
DEFAULT_OUT = ROOT / "gateway" / "rules" / "codelists.yaml"

XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"

# list name -> (where it comes from: [(rule id, index of the code list literal
# among that rule's space-separated literals)], what it is).  A list used by
# several rules must be identical in all of them; the tool checks that.
# Lists named in UBL_ONLY have no counterpart in the CII binding (CII has a
# single document root), so they are not compared with it.
# An index of ALL means the union of every code-list literal of that rule.
ALL = -1
SPECS: dict[str, tuple[list[tuple[str, int]], str]] = {
    "UNTDID_1001": ([("BR-CL-01", ALL)], "Document type codes (UNTDID 1001): invoice and credit note codes together"),
    "UNTDID_1001_INVOICE": ([("BR-CL-01", 0)], "Type codes the UBL binding accepts on an Invoice root"),
    "UNTDID_1001_CREDIT_NOTE": ([("BR-CL-01", 1)], "Type codes the UBL binding accepts on a CreditNote root"),
    "ISO_4217": ([("BR-CL-03", 0), ("BR-CL-04", 0), ("BR-CL-05", 0)], "Currency codes (ISO 4217 alpha-3)"),
    "UNTDID_2005_VAT_POINT": ([("BR-CL-06", 0)], "VAT point date codes (restriction of UNTDID 2005)"),
    "UNTDID_1153": ([("BR-CL-07", 0)], "Object identifier schemes (UNTDID 1153)"),
    "UNTDID_4451": ([("BR-CL-08", 0)], "Invoice note subject codes (UNTDID 4451)"),
    "ISO_6523_ICD": ([("BR-CL-10", 0), ("BR-CL-11", 0), ("BR-CL-21", 0), ("BR-CL-26", 0)],
                     "Identifier schemes (ISO 6523 ICD)"),
    "ICD_EXTRA_SELLER_PAYEE": ([("BR-CL-10", 1)], "Extra schemes allowed for seller and payee identifiers (BR-CL-10)"),
    "UNTDID_7143": ([("BR-CL-13", 0)], "Item classification schemes (UNTDID 7143)"),
    "ISO_3166": ([("BR-CL-14", 0), ("BR-CL-15", 0)], "Country codes (ISO 3166-1 alpha-2)"),
    "UNTDID_4461": ([("BR-CL-16", 0)], "Payment means codes (UNTDID 4461)"),
    "UNTDID_5305": ([("BR-CL-17", 0), ("BR-CL-18", 0)], "VAT category codes (UNTDID 5305 subset)"),
    "UNTDID_5189": ([("BR-CL-19", 0)], "Allowance reason codes (UNTDID 5189)"),
    "UNTDID_7161": ([("BR-CL-20", 0)], "Charge reason codes (UNTDID 7161)"),
    "VATEX": ([("BR-CL-22", 0)], "VAT exemption reason codes (CEF VATEX)"),
    "UNECE_REC20_REC21": ([("BR-CL-23", 0)], "Units of measure (UN/ECE Rec 20 with Rec 21)"),
    "MIME": ([("BR-CL-24", 0)], "Attachment MIME codes"),
    "CEF_EAS": ([("BR-CL-25", 0)], "Electronic address schemes (CEF EAS)"),
    "VAT_ID_PREFIX": ([("BR-CO-09", 0)], "Country prefixes allowed in VAT identifiers (ISO 3166-1 plus EL, XI ...)"),
}

UBL_ONLY = {"UNTDID_1001_INVOICE", "UNTDID_1001_CREDIT_NOTE"}

_LITERAL = re.compile(r"'([^']*)'")
_MIME = re.compile(r"@mimeCode\s*=\s*'([^']*)'")


def natural_key(code: str) -> tuple:
    """Numbers in numeric order, then everything else alphabetically."""
    return (0, int(code), code) if code.isdigit() else (1, 0, code)


def assert_tests(xslt: Path) -> dict[str, list[str]]:
    """rule id -> the test expressions of its failed-asserts, in document order."""
    tree = etree.parse(str(xslt))
    out: dict[str, list[str]] = {}
    for fa in tree.iter(f"{{{SVRL}}}failed-assert"):
        ids = [a.text for a in fa.iter(f"{{{XSL}}}attribute") if a.get("name") == "id"]
        if ids and fa.get("test"):
            out.setdefault(ids[0].strip(), []).append(fa.get("test"))
    return out


def stylesheet_version(xslt: Path) -> str:
    head = xslt.read_text(encoding="utf-8", errors="replace")[:4000]
    m = re.search(r"Schematron version\s+([0-9.]+)(?:\s*-\s*Last update:\s*(\d{4}-\d{2}-\d{2}))?", head)
    if not m:
        return "unknown"
    return m.group(1) + (f" (last update {m.group(2)})" if m.group(2) else "")


def code_lists(tests: list[str]) -> list[list[str]]:
    """The space-delimited code-list literals of one rule, in order.

    A code-list literal starts and ends with a blank and holds at least one
    code (``' 3 35 432 '``, ``' SEPA '``); the bare ``' '`` of
    ``contains(normalize-space(.), ' ')`` is not one.  MIME codes are written
    as an ``or`` chain of ``@mimeCode = '...'`` instead."""
    lists: list[list[str]] = []
    for test in tests[:1]:  # one assert per rule id in the CEN artefacts
        mimes = _MIME.findall(test)
        if mimes:
            return [mimes]
        for lit in _LITERAL.findall(test):
            codes = lit.split()
            if codes and lit.startswith(" ") and lit.endswith(" "):
                lists.append(codes)
    return lists


def extract(xslt: Path) -> dict[str, list[str]]:
    tests = assert_tests(xslt)
    out: dict[str, list[str]] = {}
    for name, (sources, _desc) in SPECS.items():
        found: list[list[str]] = []
        for rule_id, idx in sources:
            lists = code_lists(tests.get(rule_id, []))
            if idx == ALL and lists:
                found.append([c for codes in lists for c in codes])
            elif 0 <= idx < len(lists):
                found.append(lists[idx])
        if not found:
            continue
        first = sorted(set(found[0]), key=natural_key)
        for other in found[1:]:
            if sorted(set(other), key=natural_key) != first:
                raise SystemExit(f"{xslt.name}: list {name} differs between {sources}")
        out[name] = first
    return out


def build(ubl: Path, cii: Path | None) -> dict[str, Any]:
    lists = extract(ubl)
    missing = sorted(set(SPECS) - set(lists))
    if missing:
        raise SystemExit(f"{ubl.name}: no code list found for {missing}")
    doc: dict[str, Any] = {
        "source": ubl.name,
        "version": stylesheet_version(ubl),
        "generated_by": "tools/extract_codelists.py",
        "rules": {name: [r for r, _ in SPECS[name][0]] for name in lists},
        "descriptions": {name: SPECS[name][1] for name in lists},
        "lists": lists,
    }
    if cii is not None and cii.is_file():
        other = extract(cii)
        diffs: dict[str, Any] = {}
        for name, codes in lists.items():
            if name not in other or name in UBL_ONLY:
                continue
            extra = sorted(set(other[name]) - set(codes), key=natural_key)
            lacking = sorted(set(codes) - set(other[name]), key=natural_key)
            if extra or lacking:
                diffs[name] = {"only_in_cii": extra, "only_in_ubl": lacking}
        doc["cii_source"] = f"{cii.name} {stylesheet_version(cii)}"
        doc["cii_differences"] = diffs
    return doc


def render(doc: dict[str, Any]) -> str:
    head = ("# EN 16931 code lists, extracted from the official CEN schematron.\n"
            "# Generated by tools/extract_codelists.py - do not edit by hand; re-run the tool.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ubl", type=Path, default=DEFAULT_UBL)
    ap.add_argument("--cii", type=Path, default=DEFAULT_CII)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="only compare with the file on disk")
    args = ap.parse_args(argv)
    text = render(build(args.ubl, args.cii))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run tools/extract_codelists.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    doc = yaml.safe_load(text)
    print(f"wrote {args.out}: {len(doc['lists'])} lists from {doc['source']} {doc['version']}")
    for name, diff in doc.get("cii_differences", {}).items():
        print(f"  {name}: CII differs (+{len(diff['only_in_cii'])} / -{len(diff['only_in_ubl'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
