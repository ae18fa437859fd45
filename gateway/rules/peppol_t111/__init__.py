"""OpenPeppol's rules for the Invoice Response (PEPPOLBIS-T111.sch, BIS Billing 3), rule set ``peppol-t111``.

``validate(data)`` judges an Invoice Response (bytes, parsed by ``gateway.xml.safe``, or a parsed
tree) and returns one ``Finding`` per failed assert and context element, as the stylesheet reports
them: the rule id as OpenPeppol writes it (``PEPPOL-T111-R001``, ``PEPPOL-T111-B03001``,
``PEPPOL-COMMON-R040``), its severity (fatal, or warning for R002, COMMON-R003 and the Italian and
Dutch identifier formats), a message, the element's path and line. ``RULES`` lists them.

The schematron's patterns are kept as patterns: within one pattern an element is judged by the
first rule whose context it matches only (the stylesheet's priorities), so for instance any child
of ``cac:SenderParty`` that no earlier rule names is "not part of the data model" (B00803). The
tests read the document as the stylesheet's XPath 2.0 does: an element's string value is all its
text, ``normalize-space`` strips the four XML blanks only, a general comparison is true when one
value matches. Where the stylesheet stops with a dynamic error (``normalize-space`` of two values in
an assert, a check-digit function given what it cannot convert) we return one fatal finding
``T111-UNREADABLE`` saying why; an error while matching a context makes that context not match,
as Saxon does.

Code lists are data: the response, reason and action codes are the Invoice Response syntax's
(``gateway/syntaxes/invoice_response.yaml``), the others ``codes.yaml``. Left out because they
cannot fire: ``NEVER_FIRE``. tests/conformance/test_rules_invoice_response_vs_schematron.py compares
every verdict with the official stylesheet's on the samples, our own responses and mutants of both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import yaml
from lxml import etree

from gateway.model.findings import FATAL, WARNING, Finding
from gateway.rules.peppol.common import (abn, castable_date, check_cf, check_codice_ipa, check_piva_se_it,
                                         check_se_orgnr, gln, mod11, mod97_0208, nan)
from gateway.syntaxes import invoice_response as ir
from gateway.xml import safe
from gateway.xml.where import path_of

__all__ = ["RULE_SET", "RULES", "NEVER_FIRE", "T111Rule", "validate", "codes"]

RULE_SET = "peppol-t111"
CODES_FILE = Path(__file__).with_name("codes.yaml")
NEVER_FIRE = {
    "PEPPOL-T111-R005": "exists(/cbc:ResponseCode='PD') is exists() of a boolean: always true",
}

UBL, CAC, CBC = ir.NS["ar"], ir.NS["cac"], ir.NS["cbc"]
_PREFIX = {UBL: "ubl", CAC: "cac", CBC: "cbc"}


def cac(local: str) -> str:
    return f"{{{CAC}}}{local}"


def cbc(local: str) -> str:
    return f"{{{CBC}}}{local}"


ROOT = ir.ROOT


@lru_cache(maxsize=1)
def codes() -> dict:
    """``codes.yaml`` with the response, reason and action codes of the Invoice Response syntax."""
    data = yaml.safe_load(CODES_FILE.read_text(encoding="utf-8"))
    data = {k: list(v) for k, v in data.items()}
    data["responses"] = list(ir.spec()["responses"])
    data["reasons"] = list(ir.spec()["reasons"])
    data["actions"] = list(ir.spec()["actions"])
    data["profiles"] = list(ir.spec()["profiles"])
    data["customization"] = ir.spec()["customization"]
    return data


@lru_cache(maxsize=None)
def _set(name: str) -> frozenset[str]:
    return frozenset(codes()[name])


class _Stops(Exception):
    """Where the stylesheet stops with a dynamic error."""


# --- reading the tree as the stylesheet does ------------------------------------------------------------

def _value(el: etree._Element) -> str:
    """An element's string value: its text nodes and its descendants' (no comment, no PI)."""
    out = [el.text or ""] if isinstance(el.tag, str) else []
    for child in el:
        if isinstance(child.tag, str):
            out.append(_value(child))
        out.append(child.tail or "")
    return "".join(out)


def _text_nodes(el: etree._Element) -> list[str]:
    """The element's own text node children (``text()``): any child node (element, comment, PI)
    separates two of them."""
    return [t for t in [el.text] + [c.tail for c in el] if t]


def _ns(text: str) -> str:
    """XPath normalize-space(): only space, tab, CR and LF are blanks."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip(" \t\r\n")


def _one(values: list[str], what: str) -> str:
    """A function taking ``xs:string?`` given ``values``: nothing is '', several stop the stylesheet."""
    if len(values) > 1:
        raise _Stops(f"normalize-space() of {len(values)} values ({what})")
    return values[0] if values else ""


def _kids(el: etree._Element, tag: str) -> list[etree._Element]:
    return [c for c in el if c.tag == tag]


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _where(el: etree._Element) -> str:
    return path_of(el, _PREFIX)


# --- rules, contexts, patterns ---------------------------------------------------------------------------

@dataclass(frozen=True)
class T111Rule:
    """One assert: its id, severity, the message OpenPeppol gives, and its test on a context element
    (true: the element keeps the rule)."""
    id: str
    severity: str
    description: str
    test: Callable[[etree._Element], bool]


@dataclass(frozen=True)
class _Context:
    matches: Callable[[etree._Element], bool]
    rules: tuple[T111Rule, ...]


RULES: dict[str, T111Rule] = {}
PATTERNS: list[list[_Context]] = []


def _assert(rule_id: str, test: Callable[[etree._Element], bool], description: str,
            severity: str = FATAL) -> T111Rule:
    r = T111Rule(rule_id, severity, description, test)
    if rule_id in RULES:
        raise ValueError(f"rule {rule_id} registered twice")
    RULES[rule_id] = r
    return r


def _pattern(*contexts: tuple[Callable[[etree._Element], bool], Iterable[T111Rule]]) -> None:
    PATTERNS.append([_Context(m, tuple(rs)) for m, rs in contexts])


def _has(tag: str) -> Callable[[etree._Element], bool]:
    return lambda el: bool(_kids(el, tag))


def _never(el: etree._Element) -> bool:
    return False


NOT_IN_MODEL = "Document MUST NOT contain elements not part of the data model."


# PEPPOL-COMMON-R001: every element without element children and with no text but blanks
_pattern((lambda el: not _elements(el) and not _ns(_value(el)),
          [_assert("PEPPOL-COMMON-R001", _never, "Document MUST not contain empty elements.")]))


# --- the common pattern: dates and identifiers by scheme --------------------------------------------------

def _scheme_context(scheme: str, endpoint_only: bool = False) -> Callable[[etree._Element], bool]:
    """``cbc:EndpointID[@schemeID = s] | cac:PartyIdentification/cbc:ID[@schemeID = s] |
    cbc:CompanyID[@schemeID = s]``."""
    def matches(el: etree._Element) -> bool:
        if el.get("schemeID") != scheme:
            return False
        if el.tag == cbc("EndpointID"):
            return True
        if endpoint_only:
            return False
        if el.tag == cbc("CompanyID"):
            return True
        parent = el.getparent()
        return el.tag == cbc("ID") and parent is not None and parent.tag == cac("PartyIdentification")
    return matches


def _digits(s: str) -> bool:
    return all("0" <= c <= "9" for c in s)


def _call(fn: Callable[[str], bool], value: str) -> bool:
    try:
        return fn(value)
    except ValueError as exc:           # where the stylesheet's function stops
        raise _Stops(f"{fn.__name__}({value!r}): {exc}") from None


def _matches(value: str, pattern: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _nl_vat_context(el: etree._Element) -> bool:
    """``cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID) = 'VAT']/cbc:CompanyID[starts-with(
    normalize-space(.), 'NL')]`` (an error in the predicate: no match)."""
    parent = el.getparent()
    if el.tag != cbc("CompanyID") or parent is None or parent.tag != cac("PartyTaxScheme"):
        return False
    ids = [_value(i) for s in _kids(parent, cac("TaxScheme")) for i in _kids(s, cbc("ID"))]
    if len(ids) > 1:
        return False
    return _ns(ids[0] if ids else "") == "VAT" and _ns(_value(el)).startswith("NL")


_SCHEME_RULES = [
    ("0088", "PEPPOL-COMMON-R040", lambda v: _matches(_ns(v), "[0-9]+") and _call(gln, _ns(v)),
     "GLN must have a valid format according to GS1 rules.", FATAL),
    ("0192", "PEPPOL-COMMON-R041", lambda v: _matches(_ns(v), "[0-9]{9}") and _call(mod11, _ns(v)),
     "Norwegian organization number MUST be stated in the correct format.", FATAL),
    ("0184", "PEPPOL-COMMON-R042", lambda v: (len(v) == 10 and v[:2] == "DK" and _digits(v[2:10]))
     or (len(v) == 8 and _digits(v[:8])), "Danish organization number (CVR) MUST be stated in the correct format.",
     FATAL),
    ("0096", "PEPPOL-COMMON-R052", lambda v: len(v) == 10 and _digits(v[:10]),
     "Danish chamber of commerce number (P) MUST be stated in the correct format.", FATAL),
    ("0198", "PEPPOL-COMMON-R053", lambda v: len(v) == 10 and v[:2] == "DK" and _digits(v[2:10]),
     "Danish ERSTORG number (SE) MUST be stated in the correct format.", FATAL),
    ("0208", "PEPPOL-COMMON-R043", lambda v: _matches(_ns(v), "[0-9]{10}") and _call(mod97_0208, _ns(v)),
     "Belgian enterprise number MUST be stated in the correct format.", FATAL),
    ("0201", "PEPPOL-COMMON-R044", lambda v: check_codice_ipa(_ns(v)),
     "IPA Code (Codice Univoco Unità Organizzativa) must be stated in the correct format", WARNING),
    ("0210", "PEPPOL-COMMON-R045", lambda v: check_cf(_ns(v)),
     "Tax Code (Codice Fiscale) must be stated in the correct format", WARNING),
    ("9907", "PEPPOL-COMMON-R046", lambda v: check_cf(_ns(v)),
     "Tax Code (Codice Fiscale) must be stated in the correct format", WARNING),
    ("0211", "PEPPOL-COMMON-R047", lambda v: _call(check_piva_se_it, _ns(v)),
     "Italian VAT Code (Partita Iva) must be stated in the correct format", WARNING),
    ("0007", "PEPPOL-COMMON-R049", lambda v: len(_ns(v)) == 10 and not nan(_ns(v)) and _call(check_se_orgnr, _ns(v)),
     "Swedish organization number MUST be stated in the correct format.", FATAL),
    ("0151", "PEPPOL-COMMON-R050", lambda v: _matches(_ns(v), "[0-9]{11}") and _call(abn, _ns(v)),
     "Australian Business Number (ABN) MUST be stated in the correct format.", FATAL),
    ("0106", "PEPPOL-COMMON-R054", lambda v: _matches(_ns(v), "[0-9]{8}"),
     "Dutch Chamber of Commerce (KVK) numbers (0106) MUST be stated in the correct format (12345678).", WARNING),
    ("0190", "PEPPOL-COMMON-R055", lambda v: _matches(_ns(v), "[0-9]{20}"),
     "Dutch organization identification numbers (0190) MUST be stated in the correct format "
     "(12345678901234567890).", WARNING),
    ("9944", "PEPPOL-COMMON-R056-1", lambda v: _matches(_ns(v), "NL[0-9]{9}B[0-9]{2}"),
     "Dutch VAT numbers (9944) MUST be stated in the correct format (NL123456789B12).", WARNING),
]
_DATES = frozenset(cbc(n) for n in ("IssueDate", "DueDate", "TaxPointDate", "StartDate", "EndDate",
                                    "ActualDeliveryDate"))


def _no_schema_location(el: etree._Element) -> bool:
    return not any(etree.QName(a).localname == "schemaLocation" for a in el.attrib)


def _common_pattern() -> None:
    contexts: list = [
        (lambda el: el.getparent() is None,
         [_assert("PEPPOL-COMMON-R003", _no_schema_location, "Document SHOULD not contain schema location.",
                  WARNING)]),
        (lambda el: el.tag in _DATES,
         [_assert("PEPPOL-COMMON-R030", lambda el: castable_date(_value(el)) and len(_value(el)) == 10,
                  "A date must be formatted YYYY-MM-DD.")]),
    ]
    for scheme, rule_id, test, text, severity in _SCHEME_RULES:
        contexts.append((_scheme_context(scheme, endpoint_only=scheme == "9907"),
                         [_assert(rule_id, (lambda t: lambda el: t(_value(el)))(test), text, severity)]))
    contexts.append((_nl_vat_context,
                     [_assert("PEPPOL-COMMON-R056-2", lambda el: _matches(_ns(_value(el)), "NL[0-9]{9}B[0-9]{2}"),
                              "Dutch VAT numbers MUST have the format (NL123456789B12).", WARNING)]))
    contexts.append((_scheme_context("0217"),
                     [_assert("PEPPOL-COMMON-R057", lambda el: _matches(_ns(_value(el)), "[0-9]{12}"),
                              "Dutch Chamber of Commerce Establishment numbers (0217) MUST be stated in the correct "
                              "format (123456789012).", WARNING)]))
    _pattern(*contexts)


_common_pattern()


# --- the data model: what each element holds (the absolute paths of the T111 pattern) ----------------------

def _path_of(el: etree._Element) -> tuple[str, ...]:
    steps = []
    node: Optional[etree._Element] = el
    while node is not None:
        steps.append(node.tag)
        node = node.getparent()
    return tuple(reversed(steps))


def _at(*steps: str) -> Callable[[etree._Element], bool]:
    """``/ubl:ApplicationResponse/steps...``; a last step ``*`` is any element."""
    want = (ROOT,) + tuple(steps)

    def matches(el: etree._Element) -> bool:
        path = _path_of(el)
        if len(path) != len(want):
            return False
        return all(w == "*" or w == p for w, p in zip(want, path))
    return matches


def _in_list(name: str, how: Callable[[etree._Element], str]) -> Callable[[etree._Element], bool]:
    return lambda el: how(el) in _set(name)


def _own_text(el: etree._Element) -> str:
    """``normalize-space(text())``."""
    return _ns(_one(_text_nodes(el), f"text() of {etree.QName(el).localname}"))


def _scheme_listed(name: str) -> Callable[[etree._Element], bool]:
    return lambda el: el.get("schemeID") is None or el.get("schemeID") in _set(name)


def _required(rule_id: str, tag: str) -> T111Rule:
    local = etree.QName(tag).localname
    prefix = "cac" if tag.startswith(f"{{{CAC}}}") else "cbc"
    return _assert(rule_id, _has(tag), f"Element '{prefix}:{local}' MUST be provided.")


def _out(rule_id: str) -> list[T111Rule]:
    return [_assert(rule_id, _never, NOT_IN_MODEL)]


def _party_contexts(party: str, ids: dict[str, str], contact: bool) -> list:
    """SenderParty / ReceiverParty: EndpointID (EAS), PartyIdentification/ID (ICD), PartyLegalEntity/
    RegistrationName, and for the sender a Contact (Name, Telephone, ElectronicMail)."""
    p = cac(party)
    out: list = [
        (_at(p), [_required(ids["endpoint"], cbc("EndpointID")), _required(ids["legal"], cac("PartyLegalEntity"))]),
        (_at(p, cbc("EndpointID")),
         [_assert(ids["scheme"], lambda el: el.get("schemeID") is not None, "Attribute 'schemeID' MUST be present."),
          _assert(ids["eas"], _scheme_listed("eas"),
                  "Value MUST be part of code list 'Electronic Address Scheme (EAS)'.")]),
        (_at(p, cac("PartyIdentification")), [_required(ids["pid"], cbc("ID"))]),
        (_at(p, cac("PartyIdentification"), cbc("ID")),
         [_assert(ids["icd"], _scheme_listed("icd"), "Value MUST be part of code list 'ISO 6523 ICD list'.")]),
        (_at(p, cac("PartyLegalEntity")), [_required(ids["name"], cbc("RegistrationName"))]),
        (_at(p, cac("PartyLegalEntity"), cbc("RegistrationName")), []),
        (_at(p, cac("PartyLegalEntity"), "*"), _out(ids["legal_out"])),
    ]
    if contact:
        out += [(_at(p, cac("Contact")), [])]
        out += [(_at(p, cac("Contact"), cbc(n)), []) for n in ("Name", "Telephone", "ElectronicMail")]
        out += [(_at(p, cac("Contact"), "*"), _out("PEPPOL-T111-B01601"))]
    out += [(_at(p, "*"), _out(ids["out"]))]
    return out


def _document_party_contexts(party: str, ids: dict[str, str]) -> list:
    """IssuerParty / RecipientParty of the DocumentResponse: PartyIdentification/ID (ICD), PartyName/Name."""
    dr, p = cac("DocumentResponse"), cac(party)
    return [
        (_at(dr, p), [_required(ids["name"], cac("PartyName"))]),
        (_at(dr, p, cac("PartyIdentification")), [_required(ids["pid"], cbc("ID"))]),
        (_at(dr, p, cac("PartyIdentification"), cbc("ID")),
         [_assert(ids["icd"], _scheme_listed("icd"), "Value MUST be part of code list 'ISO 6523 ICD list'.")]),
        (_at(dr, p, cac("PartyName")), [_required(ids["partyname"], cbc("Name"))]),
        (_at(dr, p, cac("PartyName"), cbc("Name")), []),
        (_at(dr, p, "*"), _out(ids["out"])),
    ]


def _model_pattern() -> None:
    dr, resp, st = cac("DocumentResponse"), cac("Response"), cac("Status")
    ref, cond = cac("DocumentReference"), cac("Condition")
    root_rules = [_required(f"PEPPOL-T111-B0010{i}", tag) for i, tag in enumerate(
        (cbc("CustomizationID"), cbc("ProfileID"), cbc("ID"), cbc("IssueDate"), cac("SenderParty"),
         cac("ReceiverParty"), cac("DocumentResponse")), start=1)]
    root_rules.append(_assert("PEPPOL-T111-B00108", _no_schema_location, "Document MUST not contain schema location."))
    contexts: list = [(_at(), root_rules)]
    contexts += [(_at(cbc(n)), []) for n in ("CustomizationID", "ProfileID", "ID", "IssueDate", "IssueTime", "Note")]
    contexts += _party_contexts("SenderParty", dict(
        endpoint="PEPPOL-T111-B00801", legal="PEPPOL-T111-B00802", scheme="PEPPOL-T111-B00901",
        eas="PEPPOL-T111-B00902", pid="PEPPOL-T111-B01101", icd="PEPPOL-T111-B01201", name="PEPPOL-T111-B01401",
        legal_out="PEPPOL-T111-B01402", out="PEPPOL-T111-B00803"), contact=True)
    contexts += _party_contexts("ReceiverParty", dict(
        endpoint="PEPPOL-T111-B02001", legal="PEPPOL-T111-B02002", scheme="PEPPOL-T111-B02101",
        eas="PEPPOL-T111-B02102", pid="PEPPOL-T111-B02301", icd="PEPPOL-T111-B02401", name="PEPPOL-T111-B02601",
        legal_out="PEPPOL-T111-B02602", out="PEPPOL-T111-B02003"), contact=False)
    contexts += [
        (_at(dr), [_required("PEPPOL-T111-B02801", resp), _required("PEPPOL-T111-B02802", ref)]),
        (_at(dr, resp), [_required("PEPPOL-T111-B02901", cbc("ResponseCode"))]),
        (_at(dr, resp, cbc("ResponseCode")),
         [_assert("PEPPOL-T111-B03001", _in_list("responses", _own_text),
                  "Value MUST be part of code list 'Invoice status code (UNCL4343 Subset)'.")]),
        (_at(dr, resp, cbc("EffectiveDate")), []),
        (_at(dr, resp, st), []),
        (_at(dr, resp, st, cbc("StatusReasonCode")),
         [_assert("PEPPOL-T111-B03301", lambda el: _own_text(el) in _set("reasons") or _own_text(el) in _set("actions"),
                  "Value MUST be part of code list 'Status Clarification Reason (OpenPeppol)' or 'Status "
                  "Clarification Action (OpenPeppol)'."),
          _assert("PEPPOL-T111-B03302", lambda el: el.get("listID") is not None, "Attribute 'listID' MUST be present."),
          _assert("PEPPOL-T111-B03303", lambda el: el.get("listID") is None or el.get("listID") in
                  _set("clarification_lists"),
                  "Value MUST be part of code list 'Clarification list identifier (OpenPeppol)'.")]),
        (_at(dr, resp, st, cbc("StatusReason")), []),
        (_at(dr, resp, st, cond), [_required("PEPPOL-T111-B03601", cbc("AttributeID"))]),
        (_at(dr, resp, st, cond, cbc("AttributeID")), []),
        (_at(dr, resp, st, cond, cbc("Description")), []),
        (_at(dr, resp, st, cond, "*"), _out("PEPPOL-T111-B03602")),
        (_at(dr, resp, st, "*"), _out("PEPPOL-T111-B03201")),
        (_at(dr, resp, "*"), _out("PEPPOL-T111-B02902")),
        (_at(dr, ref), [_required("PEPPOL-T111-B03901", cbc("ID")), _required("PEPPOL-T111-B03902",
                                                                              cbc("DocumentTypeCode"))]),
        (_at(dr, ref, cbc("ID")), []),
        (_at(dr, ref, cbc("IssueDate")), []),
        (_at(dr, ref, cbc("DocumentTypeCode")),
         [_assert("PEPPOL-T111-B04201", _in_list("uncl1001", _own_text),
                  "Value MUST be part of code list 'Document name code, full list (UNCL1001)'.")]),
        (_at(dr, ref, "*"), _out("PEPPOL-T111-B03903")),
    ]
    contexts += _document_party_contexts("IssuerParty", dict(
        name="PEPPOL-T111-B04301", pid="PEPPOL-T111-B04401", icd="PEPPOL-T111-B04501",
        partyname="PEPPOL-T111-B04701", out="PEPPOL-T111-B04302"))
    contexts += _document_party_contexts("RecipientParty", dict(
        name="PEPPOL-T111-B04901", pid="PEPPOL-T111-B05001", icd="PEPPOL-T111-B05101",
        partyname="PEPPOL-T111-B05301", out="PEPPOL-T111-B04902"))
    contexts += [(_at(dr, "*"), _out("PEPPOL-T111-B02803")), (_at("*"), _out("PEPPOL-T111-B00109"))]
    _pattern(*contexts)


_model_pattern()


# --- the business rules ------------------------------------------------------------------------------------

def _clarified(el: etree._Element) -> bool:
    """``cac:Response[contains(' CA UQ RE ', concat(' ', normalize-space(cbc:ResponseCode), ' '))]``."""
    if el.tag != cac("Response"):
        return False
    values = [_value(c) for c in _kids(el, cbc("ResponseCode"))]
    if len(values) > 1:                  # an error matching the pattern: it does not match
        return False
    return f" {_ns(values[0] if values else '')} " in " CA UQ RE "


def _status_coded(code: str) -> Callable[[etree._Element], bool]:
    """``cac:Status[cbc:StatusReasonCode = code]``."""
    return lambda el: el.tag == cac("Status") and any(_value(c) == code for c in _kids(el, cbc("StatusReasonCode")))


def _status_listed(list_id: str) -> Callable[[etree._Element], bool]:
    """``cac:Status[cbc:StatusReasonCode/@listID = list_id]``."""
    return lambda el: el.tag == cac("Status") and any(c.get("listID") == list_id
                                                      for c in _kids(el, cbc("StatusReasonCode")))


def _code_in(name: str) -> Callable[[etree._Element], bool]:
    """``not(contains(normalize-space(cbc:StatusReasonCode), ' ')) and contains(' codes ', concat(' ',
    normalize-space(cbc:StatusReasonCode), ' '))``."""
    def test(el: etree._Element) -> bool:
        code = _ns(_one([_value(c) for c in _kids(el, cbc("StatusReasonCode"))], "cbc:StatusReasonCode"))
        return " " not in code and f" {code} " in f" {' '.join(codes()[name])} "
    return test


_pattern(
    (_clarified, [_assert("PEPPOL-T111-R001", lambda el: bool([s for s in _kids(el, cac("Status"))
                                                                if _kids(s, cbc("StatusReasonCode"))]),
                          "If status code is one of: CA, UQ or RE then there SHALL be at a clarification code in "
                          "Invoice Response.")]),
    (_status_coded("OTH"), [_assert("PEPPOL-T111-R002", _has(cbc("StatusReason")),
                                    "If Clarification code is OTH then Clarification reason SHOULD be provided.",
                                    WARNING)]),
    (lambda el: el.tag == cbc("CustomizationID"),
     [_assert("PEPPOL-T111-R003", lambda el: _ns(_value(el)).startswith(codes()["customization"]),
              "Specification identifier SHALL start with the value 'urn:fdc:peppol.eu:poacc:trns:invoice_response:3'.")]),
    (_status_coded("PPD"), [_assert("PEPPOL-T111-R004", _has(cbc("StatusReason")),
                                    "If Clarification code is PPD, indicating partial payment, then Clarification "
                                    "reason SHALL be provided.")]),
    (lambda el: el.tag == cbc("ProfileID"),
     [_assert("PEPPOL-T111-R008", lambda el: _ns(_value(el)) in _set("profiles"),
              "Process identifier SHALL have the value 'urn:fdc:peppol.eu:poacc:bis:invoice_response:3' or "
              "'urn:peppol:bis:billing_with_response'.")]),
)
_pattern(
    (_status_listed(ir.ACTION_LIST),
     [_assert("PEPPOL-T111-R006", _code_in("actions"),
              "Clarification Reason code shall exist in the OPStatusAction code lists as identified by listID.")]),
    (_status_listed(ir.REASON_LIST),
     [_assert("PEPPOL-T111-R007", _code_in("reasons"),
              "Clarification Reason code shall exist in the OPStatusReason code lists as identified by listID.")]),
)


# --- running them ----------------------------------------------------------------------------------------

def _finding(r: T111Rule, el: etree._Element) -> Finding:
    return Finding(rule=r.id, message=f"[{r.id}]-{r.description}", severity=r.severity, location=_where(el),
                   line=el.sourceline, rule_set=RULE_SET)


def validate(data: Union[bytes, etree._Element], *, rules: Optional[Iterable[str]] = None) -> list[Finding]:
    """The findings of OpenPeppol's Invoice Response rules on a document (bytes or parsed);
    InputError / HostileInputError for bytes that are not XML we accept. A document on which the
    official stylesheet would stop with an error gets one fatal finding ``T111-UNREADABLE``."""
    root = safe.parse(data, max_bytes=ir.MAX_BYTES, max_depth=ir.MAX_DEPTH) \
        if isinstance(data, (bytes, bytearray, memoryview)) else data
    wanted = set(rules) if rules is not None else None
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    found: list[Finding] = []
    try:
        for pattern in PATTERNS:
            for el in elements:
                context = next((c for c in pattern if c.matches(el)), None)
                if context is None:
                    continue
                for r in context.rules:
                    if (wanted is None or r.id in wanted) and not r.test(el):
                        found.append(_finding(r, el))
    except _Stops as exc:
        return [Finding(rule="T111-UNREADABLE", message=f"the rules cannot judge this document: {exc}",
                        rule_set=RULE_SET)]
    return found
