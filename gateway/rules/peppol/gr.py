"""GR-R-001 ... GR-R-010, GR-S-008-1, GR-S-011: Greek suppliers (``$supplierCountry`` is GR or EL).

The invoice number (BT-1) of a Greek supplier has six segments separated by
'|': the supplier's tax number, the issue date (dd/mm/yyyy), a number, a
document type, and two more; the MARK number and the invoice URL travel as
supporting documents (BG-24) described '##M.AR.K##' and '##INVOICE|URL##'.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional

from .common import (WARNING, Hit, accounting_supplier_country, castable_integer, code_set, customer_country, get,
                     items, matches, nan, normalize_space, peppol, postal_country, substring, supplier_country,
                     tin_verification)

FAMILY = "GR"
MARK = "##M.AR.K##"
URL = "##INVOICE|URL##"
DATE = r"^(0?[1-9]|[12][0-9]|3[01])[-\\/ ]?(0?[1-9]|1[0-2])[-\\/ ]?(19|20)[0-9]{2}"


def _greek_sender(inv: Any) -> bool:
    return supplier_country(inv) in ("GR", "EL")


def _segments(inv: Any) -> Optional[list[str]]:
    """``tokenize(BT-1, '\\|')`` for a Greek supplier's invoice, None when the rules do not apply."""
    number = get(inv, "number")
    if number is None or not _greek_sender(inv):
        return None
    return number.split("|") if number else []


def _seg(segs: list[str], n: int) -> Optional[str]:
    return segs[n - 1] if len(segs) >= n else None


def _segment_rule(rule_id: str, test: Any, text: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        segs = _segments(inv)
        if segs is not None and not test(inv, segs):
            yield Hit("number", f"{text} (BT-1 {get(inv, 'number')!r}).")
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=("BT-1",))(check)


def _tin_of(vat: Any) -> Optional[str]:
    return substring(vat, 3, 9) if vat is not None else None


def _first(inv: Any, segs: list[str]) -> bool:
    s = _seg(segs, 1)
    if s is None or len(normalize_space(s)) != 9 or not tin_verification(s):
        return False
    return s in (_tin_of(get(inv, "seller.vat_identifier")), _tin_of(get(inv, "tax_representative.vat_identifier")))


def _second(inv: Any, segs: list[str]) -> bool:
    s = _seg(segs, 2)
    if s is None or not normalize_space(s) or not matches(s, DATE):
        return False
    parts = s.split("/")
    issue = get(inv, "issue_date")
    ubl = issue.isoformat().split("-") if issue is not None else []
    return len(parts) >= 3 and len(ubl) >= 3 and parts[0] == ubl[2] and parts[1] == ubl[1] and parts[2] == ubl[0]


def _third(inv: Any, segs: list[str]) -> bool:
    s = _seg(segs, 3)
    if s is None or not normalize_space(s) or nan(s):
        return False
    if not castable_integer(s):
        raise ValueError(f"xs:integer({s!r})")          # the stylesheet stops here too
    return int(s.strip()) >= 0


_segment_rule("GR-R-001-1", lambda inv, segs: len(segs) == 6,
              "When the Supplier is Greek, the Invoice Id should consist of 6 segments")
_segment_rule("GR-R-001-2", _first, "When the Supplier is Greek, the Invoice Id first segment must be a valid TIN "
              "Number and match either the Supplier's or the Tax Representative's Tin Number")
_segment_rule("GR-R-001-3", _second, "When the Supplier is Greek, the Invoice Id second segment must be a valid Date "
              "that matches the invoice Issue Date")
_segment_rule("GR-R-001-4", _third, "When Supplier is Greek, the Invoice Id third segment must be a positive integer")
_segment_rule("GR-R-001-5", lambda inv, segs: bool(normalize_space(_seg(segs, 4)))
              and _seg(segs, 4) in code_set("GR_DOCUMENT_TYPES"),
              "When Supplier is Greek, the Invoice Id in the fourth segment must be a valid greek document type")
_segment_rule("GR-R-001-6", lambda inv, segs: bool(_seg(segs, 5)),
              "When Supplier is Greek, the Invoice Id fifth segment must not be empty")
_segment_rule("GR-R-001-7", lambda inv, segs: bool(_seg(segs, 6)),
              "When Supplier is Greek, the Invoice Id sixth segment must not be empty")


@peppol("GR-R-002", FAMILY, terms=("BT-28",))
def gr_r_002(inv: Any) -> Iterator[Hit]:
    """Greek Suppliers must provide their full name as they are registered in the Greek Business Registry (G.E.MH.) as a legal entity or in the Tax Registry as a natural person."""
    if _greek_sender(inv) and not get(inv, "seller.trading_name"):
        yield Hit("seller.trading_name", "Greek suppliers must give their full registered name (BT-28).")


def _greek_vat(vat: Any) -> bool:
    return vat is not None and substring(vat, 1, 2) == "EL" and tin_verification(substring(vat, 3))


@peppol("GR-S-011", FAMILY, terms=("BT-31",), severity=WARNING)
def gr_s_011(inv: Any) -> Iterator[Hit]:
    """Greek suppliers must provide their Seller Tax Registration Number, prefixed by the country code."""
    if _greek_sender(inv) and not _greek_vat(get(inv, "seller.vat_identifier")):
        yield Hit("seller.vat_identifier", "Greek suppliers must give their VAT number (BT-31) prefixed by EL.")


@peppol("GR-R-003", FAMILY, terms=("BT-31",))
def gr_r_003(inv: Any) -> Iterator[Hit]:
    """For the Greek Suppliers, the VAT must start with 'EL' and must be a valid TIN number."""
    vat = get(inv, "seller.vat_identifier")
    if vat is not None and _greek_sender(inv) and not _greek_vat(vat):
        yield Hit("seller.vat_identifier", f"A Greek supplier's VAT number (BT-31) {vat!r} must be EL followed by a "
                                           "valid tax number.")


def _docs(inv: Any, description: str) -> list[tuple[int, Any]]:
    return [(i, d) for i, d in items(get(inv, "supporting_documents")) if d.description == description]


def _greek_in_greece(inv: Any) -> bool:
    return _greek_sender(inv) and postal_country(inv, "seller") == "GR"


@peppol("GR-R-004-1", FAMILY, terms=("BG-24", "BT-123"))
def gr_r_004_1(inv: Any) -> Iterator[Hit]:
    """When Supplier is Greek, there must be one MARK Number."""
    if _greek_in_greece(inv) and len(_docs(inv, MARK)) != 1:
        yield Hit("supporting_documents", f"A Greek supplier's invoice must have one MARK number (a supporting "
                                          f"document described {MARK}).")


@peppol("GR-S-008-1", FAMILY, terms=("BG-24", "BT-123"), severity=WARNING)
def gr_s_008_1(inv: Any) -> Iterator[Hit]:
    """When Supplier is Greek, there should be one invoice url."""
    if _greek_in_greece(inv) and len(_docs(inv, URL)) != 1:
        yield Hit("supporting_documents", f"A Greek supplier's invoice should have one invoice URL ({URL}).")


@peppol("GR-R-008-2", FAMILY, terms=("BG-24", "BT-123"))
def gr_r_008_2(inv: Any) -> Iterator[Hit]:
    """When Supplier is Greek, there should be no more than one invoice url."""
    if _greek_in_greece(inv) and len(_docs(inv, URL)) > 1:
        yield Hit("supporting_documents", f"A Greek supplier's invoice has more than one invoice URL ({URL}).")


@peppol("GR-R-004-2", FAMILY, terms=("BT-122",))
def gr_r_004_2(inv: Any) -> Iterator[Hit]:
    """When Supplier is Greek, the MARK Number must be a positive integer."""
    if not _greek_in_greece(inv):
        return
    for i, d in _docs(inv, MARK):
        if d.reference is not None and not matches(d.reference, "^[1-9]([0-9]*)"):
            yield Hit(f"supporting_documents[{i}].reference", f"The MARK number (BT-122) {d.reference!r} must be a "
                                                              "positive integer.")


@peppol("GR-R-008-3", FAMILY, terms=("BT-124",))
def gr_r_008_3(inv: Any) -> Iterator[Hit]:
    """When Supplier is Greek and the INVOICE URL Document reference exists, the External Reference URI should be present."""
    if not _greek_sender(inv):
        return
    for i, d in _docs(inv, URL):
        if not normalize_space(d.external_location):
            yield Hit(f"supporting_documents[{i}].external_location",
                      "The invoice URL document reference needs its external location (BT-124).")


@peppol("GR-R-005", FAMILY, terms=("BT-45",))
def gr_r_005(inv: Any) -> Iterator[Hit]:
    """Greek Suppliers must provide the full name of the buyer."""
    if _greek_sender(inv) and not get(inv, "buyer.trading_name"):
        yield Hit("buyer.trading_name", "Greek suppliers must give the buyer's full name (BT-45).")


def _endpoint_ok(ident: Any) -> bool:
    return ident.scheme == "9933" and tin_verification(ident.value or "")


@peppol("GR-R-009", FAMILY, terms=("BT-34", "BT-34-1"))
def gr_r_009(inv: Any) -> Iterator[Hit]:
    """Greek suppliers that send an invoice through the PEPPOL network must use a correct TIN number as an electronic address according to PEPPOL Electronic Address Identifier scheme (schemeID 9933)."""
    ident = get(inv, "seller.electronic_address")
    if ident is not None and accounting_supplier_country(inv) in ("GR", "EL") and not _endpoint_ok(ident):
        yield Hit("seller.electronic_address", "A Greek supplier's electronic address (BT-34) must be its tax number "
                                               "under scheme 9933.")


def _greek_both(inv: Any) -> bool:
    return _greek_sender(inv) and customer_country(inv) in ("GR", "EL")


@peppol("GR-R-006", FAMILY, terms=("BT-48",))
def gr_r_006(inv: Any) -> Iterator[Hit]:
    """Greek Suppliers must provide the VAT number of the buyer, if the buyer is Greek."""
    if _greek_both(inv) and get(inv, "buyer") is not None and not _greek_vat(get(inv, "buyer.vat_identifier")):
        yield Hit("buyer.vat_identifier", "A Greek buyer's VAT number (BT-48) must be EL followed by a valid tax number.")


@peppol("GR-R-010", FAMILY, terms=("BT-49", "BT-49-1"))
def gr_r_010(inv: Any) -> Iterator[Hit]:
    """Greek Suppliers that send an invoice through the PEPPOL network to a greek buyer must use a correct TIN number as an electronic address according to PEPPOL Electronic Address Identifier scheme (SchemeID 9933)."""
    ident = get(inv, "buyer.electronic_address")
    if ident is not None and _greek_both(inv) and not _endpoint_ok(ident):
        yield Hit("buyer.electronic_address", "A Greek buyer's electronic address (BT-49) must be its tax number "
                                              "under scheme 9933.")
