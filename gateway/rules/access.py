"""Reading the model the way the rules need it, tolerant of partial models.

Rules must never crash on a model a reader half-filled: these helpers turn
missing groups into ``None`` or empty lists, and give the few derived facts
many rules share (the VAT category of a line, the seller's tax identifiers).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Iterator, Optional

from gateway.model.invoice import DocumentTotals

from .xpath import dec, div100, mul, normalize_space, round2, xabs


class _Memo(threading.local):
    # (the invoice this thread's validate call is on, its facts), replaced whole
    current: Optional[tuple[Any, dict[Any, Any]]] = None


_MEMO = _Memo()
_MISSING = object()


def memo(inv: Any, key: Any, compute: Callable[[Any], Any]) -> Any:
    """``compute(inv)``, computed once per ``validate`` call for facts several rules need (the lines
    of each VAT category ...); outside ``validate``, or for another invoice, computed each time. A
    fact whose computation raises is not kept (each rule asking for it raises, as it would alone)."""
    current = _MEMO.current
    if current is not None and current[0] is inv:
        values = current[1]
        value = values.get(key, _MISSING)
        if value is _MISSING:
            value = values[key] = compute(inv)
        return value
    return compute(inv)


def memo_begin(inv: Any) -> Optional[tuple[Any, dict[Any, Any]]]:
    """Keep facts of ``inv`` from now on (``validate``); give what ``memo_end`` restores."""
    previous = _MEMO.current
    _MEMO.current = (inv, {})
    return previous


def memo_end(previous: Optional[tuple[Any, dict[Any, Any]]]) -> None:
    _MEMO.current = previous


def expected_tax(inv: Any, j: int, vb: Any) -> Any:
    """``round(abs(BT-116) x BT-119 div 100 x 10 x 10) div 100`` of VAT breakdown ``j``: the tax BR-CO-17
    and the -09 rules expect, computed once per breakdown in a ``validate`` call."""
    known = memo(inv, "expected_tax", _new_dict)
    value = known.get(j, _MISSING)
    if value is _MISSING:
        value = known[j] = round2(mul(xabs(dec(vb.taxable_amount)), div100(dec(vb.rate))))
    return value


def _new_dict(inv: Any) -> dict[Any, Any]:
    return {}


_STEPS: dict[str, tuple[str, ...]] = {}


def get(obj: Any, dotted: str) -> Any:
    """``get(inv, "seller.postal_address.country_code")``: None when any step is missing."""
    steps = _STEPS.get(dotted)
    if steps is None:
        steps = _STEPS[dotted] = tuple(dotted.split("."))
    for name in steps:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


def getter(dotted: str) -> Callable[[Any], Any]:
    """``get`` with the path compiled: ``getter("seller.postal_address")(inv)`` is
    ``get(inv, "seller.postal_address")``, without splitting or looking the path up per call."""
    names = tuple(dotted.split("."))
    if len(names) == 1:
        (first,) = names

        def get1(obj: Any) -> Any:
            return None if obj is None else getattr(obj, first, None)
        return get1
    if len(names) == 2:
        first, second = names

        def get2(obj: Any) -> Any:
            if obj is None:
                return None
            obj = getattr(obj, first, None)
            return None if obj is None else getattr(obj, second, None)
        return get2
    return lambda obj: get(obj, dotted)


def items(seq: Any) -> Iterable[tuple[int, Any]]:
    """(index, item) for each item of a repeating group, skipping holes (iterate it once).

    Every rule walks groups this way, so it is kept cheap: a list without holes
    (the usual case) is enumerated as it is."""
    if seq.__class__ is list:
        if all(seq):                    # groups are always true: no hole (all() is the fast scan)
            return enumerate(seq)
        for item in seq:
            if item is None:
                return [(i, x) for i, x in enumerate(seq) if x is not None]
        return enumerate(seq)
    if isinstance(seq, (list, tuple)):
        return [(i, x) for i, x in enumerate(seq) if x is not None]
    return ()


def totals(inv: Any) -> DocumentTotals:
    """BG-22, which both syntaxes' schemas make mandatory: an empty one when absent.

    The schematron checks the totals in the context of the totals element
    (cac:LegalMonetaryTotal), which XSD-valid UBL and CII always have; on the
    model we therefore treat BG-22 as always there, so that a missing total
    is reported (BR-12 ...) rather than silently skipped."""
    t = getattr(inv, "totals", None)
    return t if t is not None else DocumentTotals()


def cat(code: Any) -> str:
    """A VAT category code as the schematron compares it (normalize-space)."""
    if code.__class__ is str and code.isalnum():       # nothing to normalise
        return code
    return normalize_space(code)


def line_category(line: Any) -> Optional[str]:
    """BT-151 of a line, None when the line has no VAT information at all."""
    vat = getattr(line, "vat", None)
    code = getattr(vat, "category_code", None)
    return None if code is None else cat(code)


def line_rate(line: Any) -> Any:
    return get(line, "vat.rate")


def seller_vat_ids(inv: Any) -> bool:
    """BT-31 or BT-63: a VAT identifier of the seller or its tax representative.

    UBL: ``AccountingSupplierParty/Party/PartyTaxScheme[TaxScheme/ID='VAT']/CompanyID``
    or ``TaxRepresentativeParty/PartyTaxScheme[TaxScheme/ID='VAT']/CompanyID``."""
    return get(inv, "seller.vat_identifier") is not None or \
        get(inv, "tax_representative.vat_identifier") is not None


def seller_any_tax_ids(inv: Any) -> bool:
    """BT-31, BT-32 or BT-63: any tax identifier of the seller, or the representative's VAT id.

    UBL: ``AccountingSupplierParty/Party/PartyTaxScheme/CompanyID`` - with no
    filter on the tax scheme, so the seller tax registration identifier
    (BT-32) counts too (CII: ``SpecifiedTaxRegistration/ID[@schemeID = ('VA', 'FC')]``)."""
    return seller_vat_ids(inv) or get(inv, "seller.tax_registration_identifier") is not None


def buyer_vat_id(inv: Any) -> bool:
    """BT-48."""
    return get(inv, "buyer.vat_identifier") is not None


def buyer_legal_id(inv: Any) -> bool:
    """BT-47 (UBL ``PartyLegalEntity/CompanyID``)."""
    return get(inv, "buyer.legal_registration_identifier") is not None


def address_paths(inv: Any) -> Iterator[tuple[str, Any]]:
    """(path, address) of every postal address on the invoice that is there."""
    for path in ("seller.postal_address", "buyer.postal_address",
                 "tax_representative.postal_address", "delivery.deliver_to_address"):
        addr = get(inv, path)
        if addr is not None:
            yield path, addr


_DOC_LISTS = ("allowances", "charges", "preceding_invoices", "supporting_documents", "notes")
_DOC_GROUPS = ("payee", "tax_representative", "delivery", "payment_instructions", "vat_accounting_currency_code",
               "vat_point_date_code")
_TOTALS = ("sum_of_allowances", "sum_of_charges", "paid_amount", "rounding_amount")


def groups(inv: Any) -> set[str]:
    """The optional groups an invoice has, by name: what the guard ``groups`` shows (``registry``).

    A rule about an optional group (the payee, document or line allowances, the invoicing period ...)
    names the group as its guard, ``guard=("groups", "payee")``, when it can only fire with the group
    there: ``validate`` computes this set once per invoice and skips the rules of absent groups.
    A name may be shown for a group the rules then find nothing in (a list holding only holes): a
    guard may let a rule run for nothing, never skip one that could fire."""
    found: set[str] = set()
    add = found.add
    for name in _DOC_LISTS:
        if getattr(inv, name, None):
            add(name)
    for name in _DOC_GROUPS:
        if getattr(inv, name, None) is not None:
            add(name)
    if getattr(inv, "invoiced_object_identifier", None) is not None:
        add("object_identifiers")
    t = getattr(inv, "totals", None)
    if t is not None:
        for name in _TOTALS:
            if getattr(t, name, None) is not None:
                add(name)
    delivery = getattr(inv, "delivery", None)
    if delivery is not None:
        if getattr(delivery, "invoicing_period", None) is not None:
            add("invoicing_period")
        if getattr(delivery, "deliver_to_address", None) is not None:
            add("deliver_to_address")
    lines = getattr(inv, "lines", None)
    if isinstance(lines, (list, tuple)):
        for line in lines:
            if line is None:
                continue
            if getattr(line, "allowances", None):
                add("line_allowances")
            if getattr(line, "charges", None):
                add("line_charges")
            if getattr(line, "period", None) is not None:
                add("line_periods")
            if getattr(line, "object_identifier", None) is not None:
                add("object_identifiers")
            item = getattr(line, "item", None)
            if item is not None:
                if getattr(item, "attributes", None):
                    add("item_attributes")
                if getattr(item, "classification_identifiers", None):
                    add("classifications")
                if getattr(item, "standard_identifier", None) is not None:
                    add("standard_identifiers")
                if getattr(item, "country_of_origin", None) is not None:
                    add("countries_of_origin")
    if "allowances" in found or "line_allowances" in found:
        add("any_allowances")
    if "charges" in found or "line_charges" in found:
        add("any_charges")
    return found
