#!/usr/bin/env python3
"""Extract the code lists of the Peppol BIS Billing 3.0 schematron (XSLT) into YAML.

The Peppol rules (``gateway/rules/peppol/``) must accept exactly what
OpenPeppol's ``PEPPOL-EN16931-UBL.xslt`` accepts, so the lists are taken from
that stylesheet, not typed by hand: the global ``tokenize('...', '\\s')``
variables (ISO 4217, EAS, UNCL 5189 ...) and the lists written inline in a few
asserts (the type codes of P0100/P0101, the Danish payment means of DK-R-005,
the Greek document types ...). A list that is the same set of codes as one of
the CEN lists (``gateway/rules/codelists.yaml``) is not copied: the YAML names
the CEN list instead (``same_as_en16931``).

Usage::

    tools/extract_peppol_codelists.py [--xslt PATH] [--out PATH] [--check]

``--check`` exits 1 when the yaml on disk is not what the stylesheet gives.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_XSLT = ROOT.parent / "shared" / "corpus" / "schematron" / "PEPPOL-EN16931-UBL.xslt"
DEFAULT_OUT = ROOT / "gateway" / "rules" / "peppol" / "codelists.yaml"
CEN_LISTS = ROOT / "gateway" / "rules" / "codelists.yaml"

# global variables of the stylesheet: our list name -> (variable, what it is)
GLOBALS = {
    "ISO_3166": ("ISO3166", "Country codes (ISO 3166-1 alpha-2)"),
    "ISO_4217": ("ISO4217", "Currency codes (ISO 4217), PEPPOL-EN16931-CL007"),
    "MIME": ("MIMECODE", "Attachment MIME codes, PEPPOL-EN16931-CL001"),
    "UNCL_2005": ("UNCL2005", "Invoice period description codes, PEPPOL-EN16931-CL006"),
    "UNCL_5189": ("UNCL5189", "Allowance reason codes, PEPPOL-EN16931-CL002"),
    "UNCL_7161": ("UNCL7161", "Charge reason codes, PEPPOL-EN16931-CL003"),
    "UNCL_5305": ("UNCL5305", "VAT category codes"),
    "EAS": ("eaid", "Electronic address schemes (EAS), PEPPOL-EN16931-CL008"),
}

_TYPE_CODES = (r"test=\"not\(\$profile = \('01','02'\)\) or \(some \$code in tokenize\('([^']*)', '\\s'\) "
               r"satisfies normalize-space\(text\(\)\) = \$code\)\">\s*<xsl:attribute name=\"id\">PEPPOL-EN16931-{rule}<")

# lists written inside one assert (or a local variable): name -> (regex whose group 1 is the list,
# separator, what it is). Each regex must match exactly one distinct list in the stylesheet.
INLINE = {
    "PROFILE_01": (r"normalize-space\(/\*/cbc:ProfileID\) = \(((?:\s*'[^']*',?)+)\s*\)\)", "quoted",
                   "Business process identifiers (BT-23) of profile 01 (PEPPOL-EN16931-R007)"),
    "PROFILE_02": (r"else if \(normalize-space\(/\*/cbc:ProfileID\) = '([^']*)'\)", "space",
                   "Business process identifier (BT-23) of profile 02 (PEPPOL-EN16931-R007)"),
    "INVOICE_TYPE_CODES": (_TYPE_CODES.format(rule="P0100"), "space",
                           "Invoice type codes allowed by profiles 01 and 02 (PEPPOL-EN16931-P0100)"),
    "CREDIT_NOTE_TYPE_CODES": (_TYPE_CODES.format(rule="P0101"), "space",
                               "Credit note type codes allowed by profiles 01 and 02 (PEPPOL-EN16931-P0101)"),
    "DIRECT_DEBIT_CODES": (r"cac:PaymentMeans\[some \$code in tokenize\('([^']*)', '\\s'\)", "space",
                           "Payment means codes that need a mandate reference (PEPPOL-EN16931-R061)"),
    "DK_PAYMENT_MEANS": (r"contains\('([^']*)', concat\(' ', cbc:PaymentMeansCode, ' '\)\)", "space",
                         "Payment means codes allowed for Danish suppliers (DK-R-005)"),
    "GR_DOCUMENT_TYPES": (r"name=\"greekDocumentType\" select=\"tokenize\('([^']*)','\\s'\)", "space",
                          "Greek document types of the invoice number's fourth segment (GR-R-001-5)"),
    "DE_VAT_CODES": (r"name=\"supportedVATCodes\" select=\"\(([^)]*)\)", "quoted",
                     "VAT category codes that need a seller tax identifier in Germany (DE-R-016)"),
    "DE_TYPE_CODES": (r"name=\"supportedInvAndCNTypeCodes\" select=\"\(([^)]*)\)", "quoted",
                      "Invoice type codes advised in Germany (DE-R-017)"),
}


def _codes(raw: str, how: str) -> list[str]:
    if how == "quoted":
        return re.findall(r"'([^']*)'", raw)
    return raw.split()


def build(xslt: Path) -> dict[str, Any]:
    text = xslt.read_text(encoding="utf-8")
    title = re.search(r'title="([^"]*)"', text)
    cen = yaml.safe_load(CEN_LISTS.read_text(encoding="utf-8"))["lists"]
    lists: dict[str, list[str]] = {}
    same: dict[str, str] = {}
    about: dict[str, str] = {}
    for name, (variable, what) in GLOBALS.items():
        m = re.findall(rf'<xsl:variable name="{variable}" select="tokenize\(\'([^\']*)\', \'\\s\'\)"', text)
        if len(m) != 1:
            raise SystemExit(f"{xslt.name}: variable {variable} found {len(m)} times")
        codes = m[0].split()
        twin = next((n for n, lst in cen.items() if set(lst) == set(codes)), None)
        if twin:
            same[name] = twin
        else:
            lists[name] = codes
        about[name] = what
    for name, (pattern, how, what) in INLINE.items():
        found = {tuple(_codes(m, how)) for m in re.findall(pattern, text)}
        if len(found) != 1:
            raise SystemExit(f"{xslt.name}: list {name} found {len(found)} distinct times")
        lists[name] = list(found.pop())
        about[name] = what
    return {"source": xslt.name, "title": title.group(1) if title else "", "generated_by":
            "tools/extract_peppol_codelists.py", "same_as_en16931": same, "lists": lists, "about": about}


def render(doc: dict[str, Any]) -> str:
    head = ("# Peppol BIS Billing 3.0 code lists, extracted from OpenPeppol's schematron.\n"
            "# Generated by tools/extract_peppol_codelists.py - do not edit by hand; re-run the tool.\n"
            "# same_as_en16931: lists that are the same codes as a CEN list of gateway/rules/codelists.yaml.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--xslt", type=Path, default=DEFAULT_XSLT)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="only compare with the file on disk")
    args = ap.parse_args(argv)
    text = render(build(args.xslt))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run tools/extract_peppol_codelists.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    doc = yaml.safe_load(text)
    print(f"wrote {args.out}: {len(doc['lists'])} lists, {len(doc['same_as_en16931'])} shared with EN 16931")
    return 0


if __name__ == "__main__":
    sys.exit(main())
