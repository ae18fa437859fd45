"""Our Invoice Response rules (rule set ``peppol-t111``, gateway.rules.peppol_t111) agree with
OpenPeppol's PEPPOLBIS-T111.xslt (Peppol BIS Billing 3), run with saxonche.

Judged twice, by our rules and by the stylesheet, and compared: every rule id fired with its
count (fatal and warning), not only the verdict.

* every official sample (peppol/invoice-response/samples);
* the responses we write (test_invoice_response_messages.py) and one "rich" response with the
  optional parts (contact, party identifiers of every checked scheme, the invoice's buyer);
* mutants of all of them, seeded: an element removed, duplicated, emptied, renamed, given an
  unknown child or a comment splitting its text, its text replaced by a value chosen to reach
  the rules (codes of every list, dates, identifiers by scheme), its schemeID or listID changed.
  ``BUDGET`` mutants per base by default (a few thousand in all, well under a minute);
  ``EDIGATE_T111_FUZZ=<n>`` or ``all`` runs more. ``python -m
  tests.conformance.test_invoice_response_rules_vs_schematron`` prints the counts.

The code lists of our data are also compared with the stylesheet's own.
"""
from __future__ import annotations

import copy
import os
import random
import re
from collections import Counter
from datetime import date, datetime, timezone
from typing import Iterator, Optional

import pytest
from lxml import etree

from gateway.rules import peppol_t111
from gateway.syntaxes import invoice_response as ir
from tests.conformance.test_invoice_response_messages import SAMPLES, SCH_PATH, WRITTEN, stylesheet_or_skip
from tests.support.corpus import rel

BUDGET = 150
CAC, CBC = ir.NS["cac"], ir.NS["cbc"]


def rich() -> bytes:
    """A response with what the others lack: a sender's contact and identifiers of every scheme the
    common rules check, the invoice's seller and buyer, a condition, an OTH and a PPD clarification."""
    ids = [("0192", "987654325"), ("0184", "DK88776655"), ("0096", "1234567890"), ("0198", "DK12345678"),
           ("0208", "0123456749"), ("0201", "ABC123"), ("0210", "RSSMRA85T10A562S"), ("0211", "IT12345678903"),
           ("0007", "5560360793"), ("0151", "51824753556"), ("0106", "12345678"), ("0190", "12345678901234567890"),
           ("9944", "NL123456789B12"), ("0217", "123456789012")]
    r = ir.for_status("paid", at=datetime(2026, 9, 2, 10, 30, tzinfo=timezone.utc), response_id="R-1",
                      invoice_number="F1", invoice_date=date(2026, 9, 1),
                      buyer=ir.IrParty("5798000012349", "0088", "9907x", "0088", "Buyer"),
                      seller=ir.IrParty("0123456749", "0208", "0123456749", "0208", "Seller"), reason="half of it",
                      reason_code="PPD")
    r.invoice_recipient = ir.IrParty(id="5798000012349", scheme="0088", name="Buyer")
    r.clarifications += (ir.Clarification("OTH", ir.ACTION_LIST, "see the note", (("BT-9", "2026-10-01"),)),)
    root = etree.fromstring(ir.build_invoice_response(r))
    sender = root.find("cac:SenderParty", ir.NS)
    contact = etree.SubElement(sender, f"{{{CAC}}}Contact")
    for n, v in (("Name", "Jens"), ("Telephone", "2323"), ("ElectronicMail", "j@example.com")):
        etree.SubElement(contact, f"{{{CBC}}}{n}").text = v
    issuer = root.find("cac:DocumentResponse/cac:IssuerParty", ir.NS)
    for scheme, value in ids:
        pi = etree.Element(f"{{{CAC}}}PartyIdentification")
        etree.SubElement(pi, f"{{{CBC}}}ID", schemeID=scheme).text = value
        issuer.insert(0, pi)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def outside_the_model() -> bytes:
    """A response whose receiver has a VAT registration (cac:PartyTaxScheme): not in T111's data model
    (B02003), but what PEPPOL-COMMON-R056-2 (Dutch VAT numbers) looks at."""
    root = etree.fromstring(ir.build_invoice_response(WRITTEN[0][1]))
    tax = etree.SubElement(root.find("cac:ReceiverParty", ir.NS), f"{{{CAC}}}PartyTaxScheme")
    etree.SubElement(tax, f"{{{CBC}}}CompanyID").text = "NL123456789B1"
    etree.SubElement(etree.SubElement(tax, f"{{{CAC}}}TaxScheme"), f"{{{CBC}}}ID").text = "VAT"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


BASES = [(rel(p), p.read_bytes()) for p in SAMPLES] + \
    [(f"written:{n}", ir.build_invoice_response(r)) for n, r in WRITTEN[::4]] + [("rich", rich()),
                                                                                ("tax", outside_the_model())]

VALUES = ["", " ", "X", "AB", "IP", "UQ", "CA", "RE", "AP", "PD", " RE ", "CA UQ", "UQ RE", "OTH", "PPD", "NON",
          "REF", "QTY", "NOA", "PIN", "NIN", "NOA PIN", "380", "381", "999", "1999", "2017-12-01", "2017-02-30",
          "2016-02-29", "17-12-01", "2017-12-01Z", "OPStatusReason", "OPStatusAction", "0088",
          "urn:fdc:peppol.eu:poacc:trns:invoice_response:3", "urn:fdc:peppol.eu:poacc:trns:invoice_response:3.1",
          "urn:fdc:peppol.eu:poacc:bis:invoice_response:3", "urn:peppol:bis:billing_with_response",
          "urn:fdc:peppol.eu:poacc:bis:invoice_response:2", "5798000012349", "5798000012340", "987654325",
          "987654321", "DK88776655", "DK8877665", "12345678", "0123456749", "0123456789", "5560360793", "556036079",
          "51824753556", "51824753557", "NL123456789B12", "123456789012", "IT12345678903", "ABC12", "12345678901"]
SCHEMES = ["0088", "0192", "0184", "0096", "0198", "0208", "0201", "0210", "9907", "0211", "0007", "0151", "0106",
           "0190", "9944", "0217", "0196", "0002", "9999", "", "EM"]
LIST_IDS = ["OPStatusReason", "OPStatusAction", "X", ""]
RENAMES = [f"{{{CBC}}}Note", f"{{{CAC}}}Contact", f"{{{CBC}}}Foo", f"{{{CBC}}}ResponseCode", f"{{{CAC}}}Status",
           f"{{{CBC}}}IssueDate", f"{{{CBC}}}CustomizationID", f"{{{CBC}}}ProfileID", f"{{{CAC}}}Response"]


@pytest.fixture(scope="module")
def official():
    return stylesheet_or_skip()


def theirs(sheet, data: bytes) -> Counter:
    try:
        return Counter(f.rule for f in sheet.run(data))
    except Exception:  # noqa: BLE001 - the stylesheet stops on the document
        return Counter({"T111-UNREADABLE": 1})


def ours(data: bytes) -> Counter:
    return Counter(f.rule for f in peppol_t111.validate(data))


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


def mutations(data: bytes) -> list[tuple]:
    root = etree.fromstring(data)
    out: list[tuple] = [("root-attr", 0, None)]
    for i, el in enumerate(_elements(root)):
        if i:
            out += [("remove", i, None), ("duplicate", i, None)]
            out += [("rename", i, t) for t in RENAMES]
        out += [("child", i, None)]
        if len(el) == 0:
            out += [("text", i, v) for v in VALUES] + [("comment", i, None)]
        if el.get("schemeID") is not None or etree.QName(el).localname in ("EndpointID", "ID"):
            out += [("scheme", i, s) for s in SCHEMES + [None]]
        if etree.QName(el).localname == "StatusReasonCode":
            out += [("listID", i, v) for v in LIST_IDS]
    return out


def mutate(data: bytes, m: tuple) -> tuple[bytes, str]:
    kind, index, value = m
    root = etree.fromstring(data)
    el = _elements(root)[index]
    name = etree.QName(el).localname
    if kind == "remove":
        el.getparent().remove(el)
    elif kind == "duplicate":
        el.addnext(copy.deepcopy(el))
    elif kind == "rename":
        el.tag = value
    elif kind == "child":
        etree.SubElement(el, f"{{{CBC}}}Extra").text = "x"
    elif kind == "comment":
        text = el.text or "AB"
        el.text = text[:1]
        el.append(etree.Comment("split"))
        el[-1].tail = text[1:] or "x"
    elif kind == "text":
        el.text = value
    elif kind == "root-attr":
        root.set("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation", "x y")
    elif kind == "listID":
        if value:
            el.set("listID", value)
        else:
            el.attrib.pop("listID", None)
    elif value is None:
        el.attrib.pop("schemeID", None)
    else:
        el.set("schemeID", value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), f"{kind} {name}#{index} {value or ''}".strip()


def _budget() -> Optional[int]:
    value = os.environ.get("EDIGATE_T111_FUZZ", "")
    if value == "all":
        return None
    return int(value) if value.isdigit() else BUDGET


def mutants(data: bytes, budget: Optional[int]) -> Iterator[tuple[str, bytes]]:
    found = mutations(data)
    if budget is not None and len(found) > budget:
        found = random.Random(len(data)).sample(found, budget)
    for m in found:
        yield tuple(reversed(mutate(data, m)))


def disagreement(sheet, data: bytes) -> Optional[str]:
    a, b = ours(data), theirs(sheet, data)
    return None if a == b else f"ours {dict(a)} / the stylesheet's {dict(b)}"


# --- the tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data", BASES, ids=[n for n, _ in BASES])
def test_base_agrees(name: str, data: bytes, official) -> None:
    assert disagreement(official, data) is None


@pytest.mark.parametrize("name, data", BASES, ids=[n for n, _ in BASES])
def test_mutants_agree(name: str, data: bytes, official) -> None:
    failures = []
    for what, mutant in mutants(data, _budget()):
        problem = disagreement(official, mutant)
        if problem:
            failures.append(f"{what}: {problem}")
    assert not failures, f"{name}: {len(failures)} mutants disagree:\n  " + "\n  ".join(failures[:20])


def test_the_mutants_reach_the_rules(official) -> None:
    """Every rule of ours fires on some mutant of the sample taken here (the stylesheet agreeing, as
    the test above proves): agreement on documents the rules never reject would prove little."""
    fired: Counter = Counter()
    for name, data in BASES:
        for _, mutant in mutants(data, None if name in ("rich", "tax") else 25):
            fired.update(set(ours(mutant)))
    missing = set(peppol_t111.RULES) - set(fired)
    assert not missing, f"never fired on the mutants: {sorted(missing)}"
    assert fired["T111-UNREADABLE"]


def test_our_code_lists_are_the_stylesheets() -> None:
    if not SCH_PATH.is_file():
        pytest.skip("PEPPOLBIS-T111.sch not found")
    text = SCH_PATH.read_text(encoding="utf-8")

    def listed(name: str) -> list[str]:
        m = re.search(rf'name="{re.escape(name)}"\s+value="tokenize\(\'([^\']*)\'', text)
        assert m, name
        return sorted(m.group(1).split())
    c = peppol_t111.codes()
    assert listed("cleas") == sorted(c["eas"]) and listed("clICD") == sorted(c["icd"])
    assert listed("clUNCL1001") == sorted(c["uncl1001"])
    assert listed("clClarificationListID") == sorted(c["clarification_lists"])
    assert listed("clUNCL4343-T111") == sorted(c["responses"])
    assert listed("clOPStatusReason") == sorted(c["reasons"]) and listed("clOPStatusAction") == sorted(c["actions"])
    asserts = set(re.findall(r'id="(PEPPOL-[A-Z0-9-]+)"', text))
    assert asserts == set(peppol_t111.RULES) | set(peppol_t111.NEVER_FIRE)


def agreement_table(budget: Optional[int] = None) -> str:
    from gateway.xml.schematron import load_schematron
    from tests.conformance.test_invoice_response_messages import XSLT_PATH
    sheet = load_schematron(XSLT_PATH)
    rows: Counter = Counter()
    for name, data in BASES:
        rows[("bases", "checked")] += 1
        rows[("bases", "agree")] += disagreement(sheet, data) is None
        for _, mutant in mutants(data, budget):
            rows[("mutants", "checked")] += 1
            rows[("mutants", "agree")] += disagreement(sheet, mutant) is None
            rows[("mutants", "rejected")] += any(f for f in theirs(sheet, mutant))
    return "\n".join(f"{k:8} checked {rows[(k, 'checked')]:6}  agree {rows[(k, 'agree')]:6}"
                     + (f"  fired something {rows[(k, 'rejected')]:6}" if k == "mutants" else "")
                     for k in ("bases", "mutants"))


if __name__ == "__main__":
    print(agreement_table(_budget()))
