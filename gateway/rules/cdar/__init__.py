"""FNFE-MPE's rules for CDAR life-cycle messages (BR-FR-CDV-Schematron-CDAR 1.4.0.03), rule set ``fr-cdar``.

``validate(data)`` judges a CDAR message (bytes, parsed by ``gateway.xml.safe``, or a parsed tree)
and returns one ``Finding`` per broken rule and offending element, as the stylesheet fires once
per context node: the rule id as FNFE writes it (``BR-FR-CDV-15_MDT-113``), severity (fatal;
the status code lists BR-FR-CDV-CL-06 are warnings, so that codes agreed between partners
pass), a message, the element's path and line. ``RULES`` lists them.

Each rule reads the message as the stylesheet's XPath 2.0 does, with its quirks: comparisons
of several values are true when one pair is (``!=`` included), a missing value compares to
nothing, a context is every element of that name under that parent. The code lists are data:
the reason codes and which statuses take which are the life cycle's
(``gateway/delivery/lifecycle.yaml``), the actions too, the frameworks and detail types the
CDAR syntax's (``gateway/syntaxes/cdar.yaml``), the rest ``codes.yaml``.

Left out because their test cannot fail (an element is always true where it is the context):
``NEVER_FIRE`` (BR-FR-CDV-01, -04, -05, -06, -10, and BR-FR-CDV-07_MDT-38_no which an earlier
rule on the same context shadows). tests/conformance/test_rules_cdar_vs_schematron.py compares
every verdict with the stylesheet's on the corpus examples, our own messages and mutants of both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

import yaml
from lxml import etree

from gateway.delivery import statuses as lifecycle
from gateway.model.findings import FATAL, WARNING, Finding
from gateway.syntaxes import cdar
from gateway.xml import safe
from gateway.xml.where import path_of

__all__ = ["RULE_SET", "RULES", "NEVER_FIRE", "CdarRule", "validate", "codes"]

RULE_SET = "fr-cdar"
CODES_FILE = Path(__file__).with_name("codes.yaml")
NEVER_FIRE = {
    "BR-FR-CDV-01_MDG-3": "test '.' on the element it is about: true whenever the rule runs",
    "BR-FR-CDV-04_MDG-4": "test '.' on the element it is about",
    "BR-FR-CDV-05_MDG-9": "test '.' on the element it is about",
    "BR-FR-CDV-06_MDT-21": "test '.' on the element it is about",
    "BR-FR-CDV-10_MDT-87": "test '.' on the element it is about",
    "BR-FR-CDV-07_MDT-38_no": "same context as BR-FR-CDV-07_MDT-38_yes in the same pattern: never reached "
                              "(and its test, count(...) ge 0, is always true)",
}

RSM, RAM = cdar.NS["rsm"], cdar.NS["ram"]


def _r(local: str) -> str:
    return f"{{{RAM}}}{local}"


def _m(local: str) -> str:
    return f"{{{RSM}}}{local}"


ROOT = _m("CrossDomainAcknowledgementAndResponse")
ED, EDC, ACK = _m("ExchangedDocument"), _m("ExchangedDocumentContext"), _m("AcknowledgementDocument")
REF, SDS, SDC = _r("ReferenceReferencedDocument"), _r("SpecifiedDocumentStatus"), _r("SpecifiedDocumentCharacteristic")
PCC, TC, SC, RC = _r("ProcessConditionCode"), _r("TypeCode"), _r("StatusCode"), _r("RoleCode")
GID, ID = _r("GlobalID"), _r("ID")


@lru_cache(maxsize=1)
def codes() -> dict:
    """``codes.yaml`` with the lists taken from the life cycle and the CDAR syntax."""
    data = yaml.safe_load(CODES_FILE.read_text(encoding="utf-8"))
    data["reasons"] = list(lifecycle.REASONS)
    data["actions"] = list(lifecycle.ACTIONS)
    data["characteristic_types"] = list(cdar.spec()["characteristic_types"])
    data["business_processes"] = list(cdar.spec()["business_processes"])
    data["guideline"], data["guideline_ppf"] = cdar.spec()["guideline"], cdar.spec()["guideline_ppf"]
    data["reasons_of"] = {s.code: list(s.reasons) for s in lifecycle.STATUSES.values()
                          if s.reasons is not None and s.code != "210"}
    data["reasons_of"]["501"] = data["inadmissible_reasons"]
    data["refusal_reasons"] = list(lifecycle.STATUSES["refused"].reasons)
    data["b2g_refusal_reasons"] = list(lifecycle.B2G_REFUSAL_REASONS)
    data["reason_needed"] = sorted({s.code for s in lifecycle.STATUSES.values() if s.reason_code_required}
                                   | set(data["reason_needed_extra"]))
    return data


# --- reading the tree as the stylesheet does ---------------------------------------------------------

def _value(el: etree._Element) -> str:
    """An element's string value (all its text, as XPath atomizes it)."""
    return "".join(el.itertext())


def _kids(el: Optional[etree._Element], tag: str) -> list[etree._Element]:
    return [] if el is None else [c for c in el if c.tag == tag]


def _path(els: Iterable[etree._Element], *tags: str) -> list[etree._Element]:
    """The elements reached by child steps ``tags`` from each of ``els``."""
    out = list(els)
    for tag in tags:
        out = [c for e in out for c in e if c.tag == tag]
    return out


def _values(els: Iterable[etree._Element], *tags: str) -> list[str]:
    return [_value(e) for e in _path(els, *tags)]


def _eq(values: list[str], *wanted: str) -> bool:
    """XPath ``values = (wanted...)``: some value is one of them."""
    return any(v in wanted for v in values)


def _ne(values: list[str], other: str) -> bool:
    """XPath ``values != other``: some value differs (false for no value)."""
    return any(v != other for v in values)


def _contexts(root: etree._Element, tag: str, parent: str, grandparent: Optional[str] = None
              ) -> Iterator[etree._Element]:
    """Every element ``tag`` whose parent is ``parent`` (and its parent ``grandparent``): a match pattern."""
    for el in root.iter(tag):
        p = el.getparent()
        if p is None or p.tag != parent:
            continue
        if grandparent is not None:
            gp = p.getparent()
            if gp is None or gp.tag != grandparent:
                continue
        yield el


def _root_doc(root: etree._Element) -> list[etree._Element]:
    """``/rsm:CrossDomainAcknowledgementAndResponse``: the root when it is one."""
    return [root] if root.tag == ROOT else []


def _any_501(root: etree._Element) -> bool:
    return _eq(_values(_root_doc(root), ACK, REF, PCC), "501")


def _sender_gids_0238(root: etree._Element, anywhere: bool) -> list[str]:
    """``.../rsm:ExchangedDocument/ram:SenderTradeParty/ram:GlobalID[@schemeID = '0238']`` values."""
    docs = list(root.iter(ED)) if anywhere else _path(_root_doc(root), ED)
    return [_value(g) for g in _path(docs, _r("SenderTradeParty"), GID) if g.get("schemeID") == "0238"]


# --- the rules -----------------------------------------------------------------------------------------

Hit = tuple[etree._Element, str]          # (the context element, what is wrong)


@dataclass(frozen=True)
class CdarRule:
    id: str
    severity: str
    description: str
    check: Callable[[etree._Element], Iterable[Hit]]

    def run(self, root: etree._Element) -> list[Finding]:
        return [Finding(rule=self.id, message=f"{self.id}: {message}", severity=self.severity,
                        location=_where(el), line=el.sourceline, rule_set=RULE_SET)
                for el, message in self.check(root)]


RULES: dict[str, CdarRule] = {}


def rule(rule_id: str, severity: str = FATAL) -> Callable:
    def deco(fn: Callable[[etree._Element], Iterable[Hit]]) -> Callable:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        doc = " ".join((fn.__doc__ or rule_id).strip().split("\n\n")[0].split())
        RULES[rule_id] = CdarRule(rule_id, severity, doc, fn)
        return fn
    return deco


_PREFIX = {RSM: "rsm", RAM: "ram", cdar.NS["udt"]: "udt", cdar.NS["qdt"]: "qdt"}


def _where(el: etree._Element) -> str:
    return path_of(el, _PREFIX)


def _normalize_space(text: str) -> str:
    """XPath normalize-space(): only space, tab, CR and LF are blanks."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip(" \t\r\n")


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values)


@rule("BR-FR-04_MDT-91")
def _document_type(root):
    """The invoice's type code (MDT-91, BT-3) is one the French rules allow."""
    for el in _contexts(root, TC, REF, ACK):
        if _value(el) not in codes()["document_types"]:
            yield el, f"document type {_value(el)!r} is not allowed (one of {_listed(codes()['document_types'])})"


@rule("BR-FR-CDV-02_MDT-3")
def _guideline(root):
    """The profile (MDT-3) is urn.cpro.gouv.fr:1p0:CDV:invoice, or ...:CDV:einvoicingF2 when the PPF (0238
    "0000", role DFH) is the only recipient."""
    c = codes()
    for el in _contexts(root, EDC, ROOT):
        ids = _values([el], _r("GuidelineSpecifiedDocumentContextParameter"), ID)
        recipients = _path(_kids(el.getparent(), ED), _r("RecipientTradeParty"))
        gids = _path(recipients, GID)
        ppf = (len(gids) == 1 and _eq([_value(g) for g in gids if g.get("schemeID") == "0238"], "0000")
               and _eq(_values(recipients, RC), "DFH"))
        if not (_eq(ids, c["guideline"]) or (_eq(ids, c["guideline_ppf"]) and ppf)):
            yield el, (f"the profile {_listed(ids) or '(none)'} is not {c['guideline']} (nor {c['guideline_ppf']} "
                       "with the PPF, 0238 0000 DFH, as only recipient)")


@rule("BR-FR-CDV-03_MDT-4")
def _message_id(root):
    """The message has an identifier (MDT-4)."""
    for el in root.iter(ED):
        if not _kids(el, ID):
            yield el, "the message has no identifier (ram:ID)"


@rule("BR-FR-CDV-07_MDT-38_yes")
def _issuer_id(root):
    """A status of the processing phase (MDT-77 = 23) names its issuer (MDT-38)."""
    for el in _contexts(root, _r("IssuerTradeParty"), ED):
        types = _values(_kids(el.getparent().getparent(), ACK), TC)
        if not _ne(types, "23") and not _kids(el, GID):
            yield el, "a processing-phase status (23) gives its issuer's identifier (ram:GlobalID)"


@rule("BR-FR-CDV-08_MDT-73")
def _recipient_address(root):
    """A recipient other than a platform (WK) or the PPF (DFH) has an electronic address (MDT-73)."""
    for el in _contexts(root, _r("RecipientTradeParty"), ED):
        if not _eq(_values([el], RC), "WK", "DFH") and not _path([el], _r("URIUniversalCommunication"), _r("URIID")):
            yield el, f"recipient {_listed(_values([el], GID)) or '?'} has no electronic address (URIID)"


@rule("BR-FR-CDV-09_MDT-77")
def _phase(root):
    """The phase (MDT-77) is 23 (processing) or 305 (transmission)."""
    for el in _contexts(root, TC, ACK):
        if _value(el) not in codes()["phases"]:
            yield el, f"the phase {_value(el)!r} is neither 23 nor 305"


@rule("BR-FR-CDV-11_MDG-35")
def _invoice_date(root):
    """The invoice's issue date (MDG-35) is given, unless the status is 501."""
    for el in _contexts(root, REF, ACK):
        if not _kids(el, _r("FormattedIssueDateTime")) and not _any_501(root):
            yield el, "the invoice's issue date (FormattedIssueDateTime) is missing"


@rule("BR-FR-CDV-12_MDT-105")
def _status_present(root):
    """The status code (MDT-105) is given."""
    for el in _contexts(root, REF, ACK):
        if not _kids(el, PCC):
            yield el, "the status code (ProcessConditionCode) is missing"


@rule("BR-FR-CDV-13_MDT-129")
def _seller_id(root):
    """The invoice's seller (MDT-129) has an identifier, unless the status is 501."""
    for el in _contexts(root, _r("IssuerTradeParty"), REF, ACK):
        if not _kids(el, GID) and not _any_501(root):
            yield el, "the seller of the invoice has no identifier (GlobalID)"


@rule("BR-FR-CDV-14_MDT-207")
def _cashed(root):
    """A 212 (Encaissée) status details the amount cashed (MEN) with its amount and VAT rate."""
    for el in _contexts(root, REF, ACK):
        if not _eq(_values([el], PCC), "212"):
            continue
        men = [c for c in _path([el], SDS, SDC) if _eq(_values([c], TC), "MEN")]
        full = [c for c in men if _kids(c, _r("ValueAmount")) and _kids(c, _r("ValuePercent"))]
        if not men or len(full) != len(men):
            yield el, "a 212 status (Encaissée) needs MEN details, each with ValueAmount and ValuePercent"


@rule("BR-FR-CDV-15_MDT-113")
def _reason_needed(root):
    """Statuses 206, 207, 208, 210, 213 and 501 give a reason code (MDT-113)."""
    for el in _contexts(root, PCC, REF, ACK):
        code = _value(el)
        if code in codes()["reason_needed"] and not _path([el.getparent()], SDS, _r("ReasonCode")):
            st = lifecycle.by_code(code)
            yield el, f"status {code}{f' ({st.fr})' if st else ''} needs a reason code (MDT-113)"


@rule("BR-FR-CDV-16_MDT-124-2")
def _sequence(root):
    """A status detail (MDG-37) has its number (MDT-124-2)."""
    for el in _contexts(root, SDS, REF, ACK):
        if not _kids(el, _r("SequenceNumeric")):
            yield el, "the status detail has no SequenceNumeric"


@rule("BR-FR-CDV-CL-01_MDT-2")
def _framework(root):
    """The framework (MDT-2) is one of REGULATED, NON_REGULATED, B2C, B2CINT, B2BINT, OUTOFSCOPE; in the
    PPF's copy at most 3 characters."""
    for el in _contexts(root, EDC, ROOT):
        recipients = _path(_kids(el.getparent(), ED), _r("RecipientTradeParty"))
        gids = _path(recipients, GID)
        ppf = (len(gids) == 1 and _eq([_value(g) for g in gids if g.get("schemeID") == "0238"], "0000")
               and _eq(_values(recipients, RC), "DFH"))
        values = _values([el], _r("BusinessProcessSpecifiedDocumentContextParameter"), ID)
        if ppf:
            if len(values) > 1:
                raise _Stops("normalize-space() of several framework values")
            if len(_normalize_space(values[0] if values else "")) <= 3:
                continue
        elif _eq(values, *codes()["business_processes"]):
            continue
        yield el, f"the framework {_listed(values) or '(none)'} is not one of {_listed(codes()['business_processes'])}" \
                  + (" (the PPF's copy: at most 3 characters)" if ppf else "")


def _roles(root, which: str, rule_id: str):
    for el in root.iter(ED):
        types = _values(_kids(el.getparent(), ACK), TC)
        roles = _values([el], _r(which), RC)
        if rule_id.endswith("305"):
            if _eq(types, "305") and not _eq(roles, "WK"):
                yield el, f"in the transmission phase (305) the {which} role is WK, not {_listed(roles) or '(none)'}"
        else:
            allowed = codes()["sender_roles_23" if which == "SenderTradeParty" else "issuer_roles_23"]
            if _eq(types, "23") and not _eq(roles, *allowed):
                yield el, (f"in the processing phase (23) the {which} role is one of {_listed(allowed)}, "
                           f"not {_listed(roles) or '(none)'}")


@rule("BR-FR-CDV-CL-02_MDT-21_305")
def _sender_305(root):
    """In the transmission phase (305) the sender's role (MDT-21) is WK."""
    return _roles(root, "SenderTradeParty", "305")


@rule("BR-FR-CDV-CL-02_MDT-21_23")
def _sender_23(root):
    """In the processing phase (23) the sender's role (MDT-21) is BY, AB, DL, SE, SR, WK, PE, PR, II or IV."""
    return _roles(root, "SenderTradeParty", "23")


@rule("BR-FR-CDV-CL-03_MDT-40_305")
def _issuer_305(root):
    """In the transmission phase (305) the issuer's role (MDT-40) is WK."""
    return _roles(root, "IssuerTradeParty", "305")


@rule("BR-FR-CDV-CL-03_MDT-40_23")
def _issuer_23(root):
    """In the processing phase (23) the issuer's role (MDT-40) is BY, AB, DL, SE, SR, PE, PR, II or IV."""
    return _roles(root, "IssuerTradeParty", "23")


@rule("BR-FR-CDV-CL-04_MDT-59")
def _recipient_role(root):
    """A recipient's role (MDT-59) is one of the profile's."""
    for el in _contexts(root, RC, _r("RecipientTradeParty"), ED):
        if _value(el) not in codes()["recipient_roles"]:
            yield el, f"recipient role {_value(el)!r} is not one of {_listed(codes()['recipient_roles'])}"


def _status_code(root, phase: str):
    allowed = codes()[f"status_{phase}"]
    for el in _contexts(root, REF, ACK):
        if _ne(_values([el.getparent()], TC), phase):
            continue
        values = _values([el], SC)
        if values and not _eq(values, *allowed):
            yield el, f"in phase {phase} the status code (MDT-88) is one of {_listed(allowed)}, not {_listed(values)}"


@rule("BR-FR-CDV-CL-05_MDT-88_305")
def _status_305(root):
    """In the transmission phase (305) MDT-88, when given, is 10, 51, 43, 8 or 48."""
    return _status_code(root, "305")


@rule("BR-FR-CDV-CL-05_MDT-88_23")
def _status_23(root):
    """In the processing phase (23) MDT-88, when given, is 45, 39, 37, 50, 49, 47, 46, 1 or 5."""
    return _status_code(root, "23")


@rule("BR-FR-CDV-CL-06_MDT-105", WARNING)
def _status_listed(root):
    """The status code (MDT-105) is in the list (a warning: partners may agree others)."""
    for el in _contexts(root, PCC, REF, ACK):
        if _value(el) not in codes()["status_codes"]:
            yield el, f"status code {_value(el)!r} is not in the list"


@rule("BR-FR-CDV-CL-06_MDT-115", WARNING)
def _detail_status_listed(root):
    """A status detail's status code (MDT-115) is in the list (a warning)."""
    for el in _contexts(root, PCC, SDS, REF):
        if el.getparent().getparent().getparent() is not None and \
                el.getparent().getparent().getparent().tag == ACK and _value(el) not in codes()["status_codes"]:
            yield el, f"status code {_value(el)!r} is not in the list"


@rule("BR-FR-CDV-CL-07_MDT-132")
def _seller_role(root):
    """The invoice's issuer role (MDT-132), when given, is SE."""
    for el in _contexts(root, RC, _r("IssuerTradeParty"), REF):
        if el.getparent().getparent().getparent() is not None and \
                el.getparent().getparent().getparent().tag == ACK and _value(el) != "SE":
            yield el, f"the invoice's issuer role is {_value(el)!r}, not SE (the seller)"


@rule("BR-FR-CDV-CL-08_MDT-158")
def _invoice_recipient_role(root):
    """The invoice's recipient role (MDT-158) is one of the profile's."""
    for el in _contexts(root, RC, _r("RecipientTradeParty"), REF):
        if el.getparent().getparent().getparent() is not None and \
                el.getparent().getparent().getparent().tag == ACK and _value(el) not in codes()["recipient_roles"]:
            yield el, f"role {_value(el)!r} is not one of {_listed(codes()['recipient_roles'])}"


def _reason_codes(root) -> Iterator[tuple[etree._Element, list[str], list[str]]]:
    """(ReasonCode, its reference's status codes, its detail's status codes) for each reason code."""
    for el in root.iter(_r("ReasonCode")):
        det = el.getparent()
        if det is None or det.tag != SDS:
            continue
        ref = det.getparent()
        if ref is None or ref.tag != REF or ref.getparent() is None or ref.getparent().tag != ACK:
            continue
        yield el, _values([ref], PCC), _values([det], PCC)


def _about(ref_codes: list[str], det_codes: list[str], code: str) -> bool:
    """Whether the stylesheet's condition on ``code`` holds for a reason code: the negation of
    ``(ref != code and (no detail code or detail != code)) or (ref = code and detail != code)``."""
    return not ((_ne(ref_codes, code) and (not det_codes or _ne(det_codes, code)))
                or (_eq(ref_codes, code) and _ne(det_codes, code)))


@rule("BR-FR-CDV-CL-09_MDT-113")
def _reason_listed(root):
    """The reason code (MDT-113) is one of the list."""
    for el, _, _ in _reason_codes(root):
        if _value(el) not in codes()["reasons"]:
            yield el, f"reason code {_value(el)!r} is not one of the list"


def _reasons_for(code: str, rule_id: str) -> None:
    def check(root):
        allowed = codes()["reasons_of"][code]
        for el, ref_codes, det_codes in _reason_codes(root):
            if _about(ref_codes, det_codes, code) and _value(el) not in allowed:
                st = lifecycle.by_code(code)
                yield el, (f"reason code {_value(el)!r} is not one status {code}{f' ({st.fr})' if st else ''} takes: "
                           f"{_listed(allowed)}")
    check.__doc__ = f"A reason code of a {code} status is one of those that status takes."
    rule(rule_id)(check)


for _code in ("200", "213"):
    _reasons_for(_code, f"BR-FR-CDV-CL-09_MDT-113_{_code}")


@rule("BR-FR-CDV-CL-09_MDT-113_210")
def _refusal_reason(root):
    """A reason code of a 210 (Refusée) status is one of the refusal reasons, unless Chorus Pro (0238 9999)
    sends it."""
    public = _eq(_sender_gids_0238(root, anywhere=False), "9999")
    for el, ref_codes, det_codes in _reason_codes(root):
        if _about(ref_codes, det_codes, "210") and not public and _value(el) not in codes()["refusal_reasons"]:
            yield el, f"reason code {_value(el)!r} is not a refusal reason: {_listed(codes()['refusal_reasons'])}"


@rule("BR-FR-CDV-CL-09_MDT-113_210B2G")
def _refusal_reason_b2g(root):
    """A reason code of a 210 status sent by Chorus Pro (0238 9999) is one of the public-sector refusal reasons."""
    gids = [_value(g) for g in _path(list(root.iter(ED)), _r("SenderTradeParty"), GID)]
    public = _sender_gids_0238(root, anywhere=True)
    for el, ref_codes, det_codes in _reason_codes(root):
        if not _about(ref_codes, det_codes, "210") or not gids or _ne(public, "9999"):
            continue
        if not (_eq(public, "9999") and _value(el) in codes()["b2g_refusal_reasons"]):
            yield el, (f"reason code {_value(el)!r} is not a public-sector refusal reason: "
                       f"{_listed(codes()['b2g_refusal_reasons'])}")


for _code in ("207", "206", "208", "221", "501"):
    _reasons_for(_code, f"BR-FR-CDV-CL-09_MDT-113_{_code}")


@rule("BR-FR-CDV-CL-10_MDT-121")
def _action(root):
    """The action asked for (MDT-121) is NOA, PIN, NIN, CNF, CNP, CNA or OTH."""
    for el in _contexts(root, _r("RequestedActionCode"), SDS, REF):
        if el.getparent().getparent().getparent() is not None and \
                el.getparent().getparent().getparent().tag == ACK and _value(el) not in codes()["actions"]:
            yield el, f"action code {_value(el)!r} is not one of {_listed(codes()['actions'])}"


@rule("BR-FR-CDV-CL-11_MDT-207")
def _characteristic(root):
    """A status detail's type (MDT-207) is one of MEN, MPA, RAP, ESC, RAB, REM, MAP, MAPTTC, MNA, MNATTC,
    CBB, DIV, DVA, MAJ."""
    for el in _contexts(root, TC, SDC, SDS):
        ref = el.getparent().getparent().getparent()
        if ref is not None and ref.tag == REF and ref.getparent() is not None and ref.getparent().tag == ACK \
                and _value(el) not in codes()["characteristic_types"]:
            yield el, f"detail type {_value(el)!r} is not one of {_listed(codes()['characteristic_types'])}"


class _Stops(Exception):
    """Where the stylesheet stops with a dynamic error (its XPath 2.0 refuses the values)."""


def validate(data: Union[bytes, etree._Element], *, rules: Optional[Iterable[str]] = None) -> list[Finding]:
    """The findings of FNFE's CDAR rules on a message (bytes or parsed); InputError /
    HostileInputError for bytes that are not XML we accept. A message on which the official
    stylesheet would stop with an error gets one fatal finding ``CDAR-UNREADABLE`` saying why."""
    root = safe.parse(data, max_bytes=cdar.MAX_BYTES, max_depth=cdar.MAX_DEPTH) \
        if isinstance(data, (bytes, bytearray, memoryview)) else data
    wanted = set(rules) if rules is not None else None
    found: list[Finding] = []
    for r in RULES.values():
        if wanted is not None and r.id not in wanted:
            continue
        try:
            found.extend(r.run(root))
        except _Stops as exc:
            return [Finding(rule="CDAR-UNREADABLE", message=f"the rules cannot judge this message: {exc}",
                            rule_set=RULE_SET)]
    return found
