"""BR-CL-*: coded values shall belong to their code lists.

The lists themselves are data: ``codelists.yaml``, extracted from the CEN
schematron by ``tools/extract_codelists.py`` and loaded once here. A value
passes, as in the schematron, when ``normalize-space(value)`` holds no blank
and is one of the codes (``contains(' A B ', concat(' ', v, ' '))``).

Where the UBL binding checks a term in several places, each occurrence is a
separate finding (one per identifier, address, line ...).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import yaml

from .access import get, items
from .registry import Hit, first_paragraph, register
from .xpath import fmt, normalize_space

CODELISTS_FILE = Path(__file__).with_name("codelists.yaml")


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    with CODELISTS_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def code_list(name: str) -> tuple[str, ...]:
    """The codes of one list, as extracted from the schematron."""
    return tuple(_document()["lists"][name])


@lru_cache(maxsize=None)
def code_set(name: str) -> frozenset[str]:
    return frozenset(code_list(name))


@lru_cache(maxsize=None)
def cii_code_set(name: str) -> frozenset[str]:
    """The codes of one list as the CII stylesheet has them: the list, with the ``cii_differences``
    the yaml records for it (ISO 3166 with AN and without SS, the longer UNTDID 4451 ...)."""
    diff = (_document().get("cii_differences") or {}).get(name) or {}
    return (code_set(name) | frozenset(diff.get("only_in_cii") or ())) - frozenset(diff.get("only_in_ubl") or ())


def in_cii_list(value: Any, name: str) -> bool:
    """``in_list`` against the CII stylesheet's version of the list."""
    v = normalize_space(value)
    return " " not in v and v in cii_code_set(name)


@lru_cache(maxsize=None)
def literal(name: str) -> str:
    """The list as the schematron writes it in a ``contains()`` test: ``' A B C '``."""
    return " " + " ".join(code_list(name)) + " "


def source() -> str:
    """Where the lists come from: stylesheet and version."""
    doc = _document()
    return f"{doc['source']} {doc['version']}"


def in_list(value: Any, name: str, *, upper: bool = False) -> bool:
    """The schematron's membership test (normalize-space, no inner blank)."""
    v = normalize_space(value)
    if " " in v:
        return False
    return (v.upper() if upper else v) in code_set(name)


def _occurrences(inv: Any, spec: str) -> Iterator[tuple[str, Any]]:
    """(model path, value) for a path pattern where ``[]`` walks a repeating group.

    ``lines[].item.country_of_origin`` gives ``("lines[0].item.country_of_origin", "FR")`` ...;
    absent values are skipped (the schematron's context only exists when the element does)."""
    template, values = compile_spec(spec)
    for indexes, value in values(inv):
        yield template.format(*indexes), value


def compile_spec(spec: str) -> tuple[str, Callable[[Any], list[tuple[tuple[int, ...], Any]]]]:
    """``spec`` (``lines[].item.country_of_origin``) made once into a path template
    (``lines[{}].item.country_of_origin``) and a function giving, for an invoice, the
    (indexes in the repeating groups, value) of each value that is there - so a rule walks the
    model without parsing its specs again, and builds a path only for a value it reports."""
    parts = spec.split("[]")
    steps = [tuple(n for n in part.split(".") if n) for part in parts]
    template = "[{}]".join(parts)
    last = len(steps) - 1

    def walk(obj: Any, names: tuple[str, ...]) -> Any:
        for name in names:
            if obj is None:
                return None
            obj = getattr(obj, name, None)
        return obj

    if last == 0:
        names = steps[0]

        def one(inv: Any) -> list[tuple[tuple[int, ...], Any]]:
            value = walk(inv, names)
            return [((), value)] if value is not None else []
        return template, one

    if last == 1:                       # one repeating group (lines[].item.country_of_origin): a plain loop
        head, tail = steps

        def in_group(inv: Any) -> list[tuple[tuple[int, ...], Any]]:
            out: list[tuple[tuple[int, ...], Any]] = []
            for i, item in items(walk(inv, head)):
                for name in tail:
                    if item is None:
                        break
                    item = getattr(item, name, None)
                if item is not None:
                    out.append(((i,), item))
            return out
        return template, in_group

    def values(inv: Any) -> list[tuple[tuple[int, ...], Any]]:
        out: list[tuple[tuple[int, ...], Any]] = []

        def visit(obj: Any, depth: int, indexes: tuple[int, ...]) -> None:
            found = walk(obj, steps[depth])
            if depth == last:
                if found is not None:
                    out.append((indexes, found))
                return
            for i, item in items(found):
                visit(item, depth + 1, indexes + (i,))
        visit(inv, 0, ())
        return out
    return template, values


def list_check(list_name: str, term_specs: list[tuple[str, str]], label: str, *, upper: bool = False,
               extra: Optional[dict[str, str]] = None, cii: bool = False) -> Callable[[Any], list[Hit]]:
    """The check of every occurrence of some terms against one list (``cii``: the CII stylesheet's
    version of it, ``cii_code_set``); the specs are compiled here, the list is loaded at the first
    call. ``extra`` maps a path prefix to another list whose codes are accepted there too (BR-CL-10:
    SEPA for seller and payee identifiers)."""
    compiled = [(*compile_spec(spec), term) for spec, term in term_specs]
    member = in_cii_list if cii else (lambda v, n: in_list(v, n, upper=upper))
    codes: list[frozenset[str]] = []

    def check(inv: Any) -> list[Hit]:
        if not codes:
            codes.append(cii_code_set(list_name) if cii else code_set(list_name))
        known = codes[0]
        hits: list[Hit] = []
        for template, values, term in compiled:
            for indexes, value in values(inv):
                if value.__class__ is str and value in known:      # as normalize-space would leave it
                    continue
                if member(value, list_name):
                    continue
                path = template.format(*indexes)
                if extra and any(path.startswith(p) and in_list(value, n) for p, n in extra.items()):
                    continue
                hits.append(Hit(path, f"{label} ({term}) {fmt(value)} is not in the {list_name} code list.",
                                (term,)))
        return hits
    return check


def _list_rule(rule_id: str, list_name: str, term_specs: list[tuple[str, str]], label: str,
               *, upper: bool = False, extra: Optional[dict[str, str]] = None, group: Optional[str] = None) -> None:
    """Register a rule checking every occurrence of some terms against one list (``list_check``);
    ``group``: the optional group every one of the terms is in (the guard ``groups``)."""
    terms = tuple(dict.fromkeys(t for _, t in term_specs))
    register(rule_id, list_check(list_name, term_specs, label, upper=upper, extra=extra), terms=terms,
             description=f"{label} shall be coded using the {list_name} code list.",
             guard=("groups", group) if group else None)


# UBL has separate lists for Invoice and CreditNote roots; the model has no
# root, so the union is checked (which is also the CII binding's list).
_list_rule("BR-CL-01", "UNTDID_1001", [("type_code", "BT-3")], "Invoice type code")
_list_rule("BR-CL-04", "ISO_4217", [("currency_code", "BT-5")], "Invoice currency code")
_list_rule("BR-CL-05", "ISO_4217", [("vat_accounting_currency_code", "BT-6")], "VAT accounting currency code",
           group="vat_accounting_currency_code")
_list_rule("BR-CL-06", "UNTDID_2005_VAT_POINT", [("vat_point_date_code", "BT-8")], "Value added tax point date code",
           group="vat_point_date_code")
_list_rule("BR-CL-07", "UNTDID_1153", [("invoiced_object_identifier.scheme", "BT-18-1"),
                                       ("lines[].object_identifier.scheme", "BT-128-1")],
           "Object identifier scheme identifier", group="object_identifiers")
_list_rule("BR-CL-10", "ISO_6523_ICD", [("seller.identifiers[].scheme", "BT-29-1"),
                                        ("buyer.identifier.scheme", "BT-46-1"),
                                        ("payee.identifier.scheme", "BT-60-1")],
           "Identifier scheme identifier",
           extra={"seller.": "ICD_EXTRA_SELLER_PAYEE", "payee.": "ICD_EXTRA_SELLER_PAYEE"})
_list_rule("BR-CL-11", "ISO_6523_ICD", [("seller.legal_registration_identifier.scheme", "BT-30-1"),
                                        ("buyer.legal_registration_identifier.scheme", "BT-47-1"),
                                        ("payee.legal_registration_identifier.scheme", "BT-61-1")],
           "Legal registration identifier scheme identifier")
_list_rule("BR-CL-13", "UNTDID_7143", [("lines[].item.classification_identifiers[].scheme", "BT-158-1")],
           "Item classification identifier scheme identifier", group="classifications")
_list_rule("BR-CL-14", "ISO_3166", [("seller.postal_address.country_code", "BT-40"),
                                    ("buyer.postal_address.country_code", "BT-55"),
                                    ("tax_representative.postal_address.country_code", "BT-69"),
                                    ("delivery.deliver_to_address.country_code", "BT-80")], "Country code")
_list_rule("BR-CL-15", "ISO_3166", [("lines[].item.country_of_origin", "BT-159")], "Item country of origin",
           group="countries_of_origin")
_list_rule("BR-CL-16", "UNTDID_4461", [("payment_instructions.means_type_code", "BT-81")], "Payment means type code",
           group="payment_instructions")
_list_rule("BR-CL-17", "UNTDID_5305", [("vat_breakdown[].category_code", "BT-118"),
                                       ("allowances[].vat_category_code", "BT-95"),
                                       ("charges[].vat_category_code", "BT-102")], "VAT category code")
_list_rule("BR-CL-18", "UNTDID_5305", [("lines[].vat.category_code", "BT-151")], "Invoiced item VAT category code")
_list_rule("BR-CL-19", "UNTDID_5189", [("allowances[].reason_code", "BT-98"),
                                       ("lines[].allowances[].reason_code", "BT-140")], "Allowance reason code",
           group="any_allowances")
_list_rule("BR-CL-20", "UNTDID_7161", [("charges[].reason_code", "BT-105"),
                                       ("lines[].charges[].reason_code", "BT-145")], "Charge reason code",
           group="any_charges")
_list_rule("BR-CL-21", "ISO_6523_ICD", [("lines[].item.standard_identifier.scheme", "BT-157-1")],
           "Item standard identifier scheme identifier", group="standard_identifiers")
_list_rule("BR-CL-22", "VATEX", [("vat_breakdown[].exemption_reason_code", "BT-121")],
           "VAT exemption reason code", upper=True)
_list_rule("BR-CL-23", "UNECE_REC20_REC21", [("lines[].quantity_unit_code", "BT-130"),
                                             ("lines[].price.base_quantity_unit_code", "BT-150")],
           "Unit of measure code")
_list_rule("BR-CL-25", "CEF_EAS", [("seller.electronic_address.scheme", "BT-34-1"),
                                   ("buyer.electronic_address.scheme", "BT-49-1")],
           "Electronic address scheme identifier")
_list_rule("BR-CL-26", "ISO_6523_ICD", [("delivery.deliver_to_location_identifier.scheme", "BT-71-1")],
           "Deliver to location identifier scheme identifier", group="delivery")


def br_cl_08(inv: Any) -> Iterator[Hit]:
    """Invoice note subject codes (BT-21) shall be coded using UNTDID 4451.

    UBL binding: the code is the text between the first two '#' of the note,
    checked only when it is three characters long, with a substring test."""
    codes = literal("UNTDID_4451")
    for k, note in items(getattr(inv, "notes", None)):
        code = note.subject_code
        if code is not None and len(code) == 3 and code not in codes:
            yield Hit(f"notes[{k}].subject_code",
                      f"Invoice note subject code (BT-21) {fmt(code)} is not in the UNTDID_4451 code list.")


def br_cl_24(inv: Any) -> Iterator[Hit]:
    """Attachment MIME codes (BT-125-1) shall be one of the MIME types EN 16931 allows.

    UBL binding: compared exactly (no normalize-space)."""
    for k, doc in items(getattr(inv, "supporting_documents", None)):
        mime = get(doc, "attachment.mime_code")
        if mime is not None and mime not in code_set("MIME"):
            yield Hit(f"supporting_documents[{k}].attachment.mime_code",
                      f"Attached document MIME code (BT-125-1) {fmt(mime)} is not one EN 16931 allows "
                      f"({', '.join(code_list('MIME'))}).")


register("BR-CL-08", br_cl_08, terms=("BT-21",), description=first_paragraph(br_cl_08.__doc__),
         guard=("groups", "notes"))
register("BR-CL-24", br_cl_24, terms=("BT-125-1",), description=first_paragraph(br_cl_24.__doc__),
         guard=("groups", "supporting_documents"))

__all__ = ["code_list", "code_set", "cii_code_set", "in_list", "in_cii_list", "source"]
