"""PEPPOL-EN16931-CL0xx and P01xx: code lists, type codes by profile, exemption reasons by category.

The lists are data (``codelists.yaml``, extracted from the stylesheet). Type
codes are checked as the root the document has in UBL: a credit note type
code (UNTDID 1001) is a ``cbc:CreditNoteTypeCode`` (P0101), any other an
``cbc:InvoiceTypeCode`` (P0100, P0112).
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import Hit, code_set, country_is, get, is_credit_note, items, normalize_space, peppol, profile

FAMILY_CL = "PEPPOL-EN16931-CL"
FAMILY_P = "PEPPOL-EN16931-P"


@peppol("PEPPOL-EN16931-CL001", FAMILY_CL, terms=("BT-125-1",))
def cl001(inv: Any) -> Iterator[Hit]:
    """Mime code must be according to subset of IANA code list."""
    for i, doc in items(get(inv, "supporting_documents")):
        mime = get(doc, "attachment.mime_code")
        if mime is not None and mime not in code_set("MIME"):
            yield Hit(f"supporting_documents[{i}].attachment.mime_code",
                      f"Mime code (BT-125-1) {mime!r} is not in the Peppol subset of the IANA code list.")


def _reasons(inv: Any, kind: str) -> Iterator[tuple[str, Any, str]]:
    """(path, reason code, term) of every document and line level allowance (``allowances``) or
    charge (``charges``) that has one."""
    doc_term, line_term = ("BT-98", "BT-140") if kind == "allowances" else ("BT-105", "BT-145")
    for i, ac in items(get(inv, kind)):
        if ac.reason_code is not None:
            yield f"{kind}[{i}].reason_code", ac.reason_code, doc_term
    for k, line in items(get(inv, "lines")):
        for i, ac in items(getattr(line, kind)):
            if ac.reason_code is not None:
                yield f"lines[{k}].{kind}[{i}].reason_code", ac.reason_code, line_term


@peppol("PEPPOL-EN16931-CL002", FAMILY_CL, terms=("BT-98", "BT-140"))
def cl002(inv: Any) -> Iterator[Hit]:
    """Reason code MUST be according to subset of UNCL 5189 D.16B."""
    for path, code, term in _reasons(inv, "allowances"):
        if normalize_space(code) not in code_set("UNCL_5189"):
            yield Hit(path, f"Allowance reason code ({term}) {code!r} is not in the UNCL 5189 subset.", (term,))


@peppol("PEPPOL-EN16931-CL003", FAMILY_CL, terms=("BT-105", "BT-145"))
def cl003(inv: Any) -> Iterator[Hit]:
    """Reason code MUST be according to UNCL 7161 D.16B."""
    for path, code, term in _reasons(inv, "charges"):
        if normalize_space(code) not in code_set("UNCL_7161"):
            yield Hit(path, f"Charge reason code ({term}) {code!r} is not in UNCL 7161.", (term,))


@peppol("PEPPOL-EN16931-CL006", FAMILY_CL, terms=("BT-8",))
def cl006(inv: Any) -> Iterator[Hit]:
    """Invoice period description code must be according to UNCL 2005 D.16B."""
    code = get(inv, "vat_point_date_code")
    if code is not None and normalize_space(code) not in code_set("UNCL_2005"):
        yield Hit("vat_point_date_code", f"Invoice period description code (BT-8) {code!r} is not in UNCL 2005 "
                                         f"({', '.join(sorted(code_set('UNCL_2005')))}).")


@peppol("PEPPOL-EN16931-P0100", FAMILY_P, terms=("BT-3",))
def p0100(inv: Any) -> Iterator[Hit]:
    """Invoice type code MUST be set according to the profile."""
    code = get(inv, "type_code")
    if code is None or is_credit_note(inv) or profile(inv) not in ("01", "02"):
        return
    if normalize_space(code) not in code_set("INVOICE_TYPE_CODES"):
        yield Hit("type_code", f"Invoice type code (BT-3) {code!r} is not allowed by profile {profile(inv)}.")


@peppol("PEPPOL-EN16931-P0112", FAMILY_P, terms=("BT-3",))
def p0112(inv: Any) -> Iterator[Hit]:
    """Invoice type code 326 or 384 are only allowed when both buyer and seller are German organizations."""
    code = get(inv, "type_code")
    if code is None or is_credit_note(inv):
        return
    if normalize_space(code) in ("326", "384") and not (country_is(inv, "seller", "DE") and
                                                         country_is(inv, "buyer", "DE")):
        yield Hit("type_code", f"Invoice type code (BT-3) {normalize_space(code)} is only allowed when both buyer "
                               "and seller are German organizations.")


@peppol("PEPPOL-EN16931-P0101", FAMILY_P, terms=("BT-3",))
def p0101(inv: Any) -> Iterator[Hit]:
    """Credit note type code MUST be set according to the profile."""
    code = get(inv, "type_code")
    if code is None or not is_credit_note(inv) or profile(inv) not in ("01", "02"):
        return
    if normalize_space(code) not in code_set("CREDIT_NOTE_TYPE_CODES"):
        yield Hit("type_code", f"Credit note type code (BT-3) {code!r} is not allowed by profile {profile(inv)}.")


def _exemption_rule(rule_id: str, reason: str, category: str) -> None:
    text = f"Tax Category {category} MUST be used when exemption reason code is {reason}"

    def check(inv: Any) -> Iterator[Hit]:
        for i, vb in items(get(inv, "vat_breakdown")):
            if vb.exemption_reason_code is not None and vb.exemption_reason_code.upper() == reason \
                    and normalize_space(vb.category_code) != category:
                yield Hit(f"vat_breakdown[{i}].category_code",
                          f"{text} (BT-118 is {normalize_space(vb.category_code)!r}).")
    check.__doc__ = text
    peppol(rule_id, FAMILY_P, terms=("BT-118", "BT-121"))(check)


for _id, _reason, _category in (("P0104", "VATEX-EU-G", "G"), ("P0105", "VATEX-EU-O", "O"),
                                ("P0106", "VATEX-EU-IC", "K"), ("P0107", "VATEX-EU-AE", "AE"),
                                ("P0108", "VATEX-EU-D", "E"), ("P0109", "VATEX-EU-F", "E"),
                                ("P0110", "VATEX-EU-I", "E"), ("P0111", "VATEX-EU-J", "E")):
    _exemption_rule(f"PEPPOL-EN16931-{_id}", _reason, _category)
