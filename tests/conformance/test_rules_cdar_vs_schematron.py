"""Our CDAR rules (rule set ``fr-cdar``, gateway.rules.cdar) agree with FNFE-MPE's
BR-FR-CDV-Schematron-CDAR.xslt (1.4.0.03), run with saxonche.

Judged twice, by our rules and by the stylesheet, and compared: every rule id fired with its
count (fatal and warning), not only the verdict.

* every example message of the corpus (cdar/);
* the messages we write (one per status, to a party and as the PPF's copy; see
  test_cdar_messages.py);
* mutants of both: one element removed, duplicated, or its text or scheme replaced by a value
  chosen to reach the rules (other codes, roles, phases, reasons, the PPF's numbers...).
  ``BUDGET`` mutants per base message by default (seeded); ``EDIGATE_CDAR_FUZZ=<n>`` or ``all``
  runs more. ``python -m tests.conformance.test_rules_cdar_vs_schematron`` prints the counts.

The code lists of our data (gateway/delivery/lifecycle.yaml, gateway/syntaxes/cdar.yaml,
gateway/rules/cdar/codes.yaml) are also compared with the stylesheet's own.
"""
from __future__ import annotations

import copy
import os
import random
import re
from collections import Counter
from typing import Iterator, Optional

import pytest
from lxml import etree

from gateway.rules import cdar as cdar_rules
from gateway.syntaxes import cdar
from tests.conformance.test_cdar_messages import CHANGES
from tests.support import cdar_official
from tests.support.corpus import rel

BUDGET = 60
EXAMPLES = cdar_official.examples()
OURS = [(f"written:{name}", cdar.build_cdar(change)) for name, change in CHANGES[::3]]


def rich(change_name: str) -> bytes:
    """One of our messages with the optional parts no example has: the invoice's seller with its role
    (MDT-132), the invoice's recipient (MDT-158) and a status detail's own status (MDT-115)."""
    change = dict(CHANGES)[change_name]
    root = etree.fromstring(cdar.build_cdar(change))
    ram = cdar.NS["ram"]
    ref = root.find("rsm:AcknowledgementDocument/ram:ReferenceReferencedDocument", cdar.NS)
    seller = ref.find("ram:IssuerTradeParty", cdar.NS)
    etree.SubElement(seller, f"{{{ram}}}RoleCode").text = "SE"
    buyer = etree.Element(f"{{{ram}}}RecipientTradeParty")
    etree.SubElement(buyer, f"{{{ram}}}GlobalID", schemeID="0002").text = "200000008"
    etree.SubElement(buyer, f"{{{ram}}}RoleCode").text = "BY"
    seller.addnext(buyer)
    detail = ref.find("ram:SpecifiedDocumentStatus", cdar.NS)
    if detail is not None:
        own = etree.Element(f"{{{ram}}}ProcessConditionCode")
        own.text = change.code
        detail.find("ram:Reason", cdar.NS).addnext(own)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


RICH = [(f"rich:{n}", rich(n)) for n in ("207-disputed-AUTRE-party", "212-paid-AUTRE-party")]
BASES = [(rel(p), p.read_bytes()) for p, _ in EXAMPLES] + OURS + RICH

VALUES = ["", "X", "23", "305", "200", "201", "205", "206", "207", "208", "210", "212", "213", "221", "501", "601",
          "WK", "DFH", "SE", "BY", "PE", "ZZ", "0000", "9999", "9998", "10", "45", "5", "8", "99", "380", "999",
          "NON_TRANSMISE", "AUTRE", "TX_TVA_ERR", "REJ_SEMAN", "JUSTIF_ABS", "ROUTAGE_ERR", "IRR_SYNTAX", "QTE_ERR",
          "RETRAIT_MAN_SERV", "LIVR_INCOMP", "NOPE", "MEN", "DIV", "MPA", "NIN", "XXX", "REGULATED", "B2B", "AB",
          "urn.cpro.gouv.fr:1p0:CDV:invoice", "urn.cpro.gouv.fr:1p0:CDV:einvoicingF2", " 23", "false"]
SCHEMES = ["0238", "0002", "0225", ""]


@pytest.fixture(scope="module")
def official():
    return cdar_official.stylesheet_or_skip()


def theirs(sheet, data: bytes) -> Counter:
    try:
        return Counter(f.rule for f in sheet.run(data))
    except Exception:  # noqa: BLE001 - the stylesheet stops on the document
        return Counter({"CDAR-UNREADABLE": 1})


def ours(data: bytes) -> Counter:
    return Counter(f.rule for f in cdar_rules.validate(data))


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and e is not root]


def mutations(data: bytes) -> list[tuple]:
    root = etree.fromstring(data.lstrip(b"\xef\xbb\xbf"))
    out: list[tuple] = []
    for i, el in enumerate(_elements(root)):
        out.append(("remove", i, None))
        out.append(("duplicate", i, None))
        if len(el) == 0:
            out += [("text", i, v) for v in VALUES]
        if el.get("schemeID") is not None or etree.QName(el).localname == "GlobalID":
            out += [("scheme", i, s) for s in SCHEMES]
    return out


def mutate(data: bytes, m: tuple) -> tuple[bytes, str]:
    kind, index, value = m
    root = etree.fromstring(data.lstrip(b"\xef\xbb\xbf"))
    el = _elements(root)[index]
    name = etree.QName(el).localname
    if kind == "remove":
        el.getparent().remove(el)
    elif kind == "duplicate":
        el.addnext(copy.deepcopy(el))
    elif kind == "text":
        el.text = value
    else:
        el.set("schemeID", value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), f"{kind} {name}#{index} {value or ''}".strip()


def _budget() -> Optional[int]:
    value = os.environ.get("EDIGATE_CDAR_FUZZ", "")
    if value == "all":
        return None
    return int(value) if value.isdigit() else BUDGET


def mutants(data: bytes, budget: Optional[int]) -> Iterator[tuple[str, bytes]]:
    found = mutations(data)
    if budget is not None and len(found) > budget:
        found = random.Random(len(data)).sample(found, budget)
    for m in found:
        mutant, what = mutate(data, m)
        yield what, mutant


def disagreement(sheet, data: bytes) -> Optional[str]:
    a, b = ours(data), theirs(sheet, data)
    if a == b:
        return None
    return f"ours {dict(a)} / the stylesheet's {dict(b)}"


# --- the tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data", BASES, ids=[n for n, _ in BASES])
def test_base_message_agrees(name: str, data: bytes, official) -> None:
    assert disagreement(official, data) is None


def test_the_bases_include_messages_the_rules_reject(official) -> None:
    """Agreement on nothing but valid messages proves little: the corpus's PPF variant breaks two rules."""
    fired = {name: theirs(official, data) for name, data in BASES}
    assert fired["cdar/gobl-cii/PPF_status-200-deposee.xml"] == Counter({"BR-FR-CDV-02_MDT-3": 1,
                                                                         "BR-FR-CDV-CL-01_MDT-2": 1})


@pytest.mark.parametrize("name, data", BASES, ids=[n for n, _ in BASES])
def test_mutants_agree(name: str, data: bytes, official) -> None:
    failures = []
    for what, mutant in mutants(data, _budget()):
        problem = disagreement(official, mutant)
        if problem:
            failures.append(f"{what}: {problem}")
    assert not failures, f"{name}: {len(failures)} mutants disagree:\n  " + "\n  ".join(failures[:20])


def test_the_mutants_reach_the_rules(official) -> None:
    """Every rule the stylesheet can fire fires on some mutant (or base) of the sample taken here."""
    fired: Counter = Counter()
    for name, data in BASES:
        fired.update(theirs(official, data))
        for _, mutant in mutants(data, None if name.startswith("rich:") else 40):
            fired.update(set(theirs(official, mutant)))
    missing = set(cdar_rules.RULES) - set(fired)
    assert not missing, f"never fired by the stylesheet on the mutants: {sorted(missing)}"


# --- the code lists --------------------------------------------------------------------------------

def _xslt_text() -> str:
    if not cdar_official.XSLT_PATH.is_file():
        pytest.skip("FNFE-MPE CDAR stylesheet not found")
    return cdar_official.XSLT_PATH.read_text(encoding="utf-8")


def _variable(text: str, name: str) -> list[str]:
    m = re.search(rf'name="custom:{name}"[^>]*select="\'([^\']*)\'"', text)
    assert m, name
    return m.group(1).split()


def test_our_code_lists_are_the_stylesheets() -> None:
    text = _xslt_text()
    c = cdar_rules.codes()
    assert sorted(_variable(text, "status-reason-codes")) == sorted(c["reasons"])
    assert sorted(_variable(text, "invoice-status-codes")) == sorted(c["status_codes"])
    assert sorted(_variable(text, "invoice-action-codes")) == sorted(c["actions"])
    assert sorted(_variable(text, "document-type-codes")) == sorted(c["document_types"])
    # the reasons each status takes: the "(.) = 'X'" of the assert about that status
    for code, allowed in list(c["reasons_of"].items()) + [("210", c["refusal_reasons"])]:
        m = re.search(rf"ProcessConditionCode != '{code}' \)\)[^\"]*?\"", text.replace("&amp;", "&"))
        assert m, code
        listed = re.findall(r"\(\.\) = '([A-Z0-9_]+)'", m.group(0))
        assert sorted(listed) == sorted(allowed), code
    b2g = re.search(r"= '9999'\s*and \(\(\.\) = [^\"]*", text)
    assert b2g and sorted(re.findall(r"\(\.\) = '([A-Z0-9_]+)'", b2g.group(0))) == sorted(c["b2g_refusal_reasons"])


def agreement_table(budget: Optional[int] = None) -> str:
    sheet = cdar_official.stylesheet()
    rows = Counter()
    for name, data in BASES:
        kind = "examples" if name.startswith("cdar/") else "written"
        rows[(kind, "checked")] += 1
        rows[(kind, "agree")] += disagreement(sheet, data) is None
        for _, mutant in mutants(data, budget):
            rows[(f"mutants of {kind}", "checked")] += 1
            rows[(f"mutants of {kind}", "agree")] += disagreement(sheet, mutant) is None
            rows[(f"mutants of {kind}", "rejected")] += any(theirs(sheet, mutant).values())
    kinds = sorted({k for k, _ in rows})
    return "\n".join(f"{k:22} checked {rows[(k, 'checked')]:6}  agree {rows[(k, 'agree')]:6}"
                     + (f"  rejected by the stylesheet {rows[(k, 'rejected')]:6}" if k.startswith("mutants") else "")
                     for k in kinds)


if __name__ == "__main__":
    print(agreement_table(_budget()))
