"""DE-R-001 ... DE-R-031, DE-R-T02: both supplier and customer in Germany (their country codes are DE).

These are the XRechnung rules OpenPeppol applies to domestic German invoices:
payment instructions, buyer reference, seller contact and addresses, cash
discount terms (Skonto) written in the payment terms (BT-20), and the groups
each payment means code needs.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from .common import (FATAL, WARNING, Hit, code_set, country_is, get, has_payment_means, items, matches,
                     normalize_space, payment_means, peppol)

FAMILY = "DE"
SKONTO = r"(^|\r?\n)#(SKONTO)#TAGE=([0-9]+#PROZENT=[0-9]+\.[0-9]{2})(#BASISBETRAG=-?[0-9]+\.[0-9]{2})?#$"
EMAIL = r"^[^@\s]+@([^@.\s]+\.)+[^@.\s]+$"
TELEPHONE = r".*([0-9].*){3,}.*"
URL = r"^([a-zA-Z])([a-zA-Z0-9+.-])+:.*"


def _german(inv: Any) -> bool:
    return country_is(inv, "seller", "DE") and country_is(inv, "buyer", "DE")


def _rule(rule_id: str, terms: tuple, text: str, severity: str = FATAL) -> Any:
    def deco(fn: Any) -> Any:
        def check(inv: Any) -> Iterator[Hit]:
            if _german(inv):
                yield from fn(inv, text)
        check.__doc__ = text
        peppol(rule_id, FAMILY, terms=terms, severity=severity)(check)
        return fn
    return deco


@_rule("DE-R-001", ("BG-16",), 'If both supplier and customer are located in Germany, an invoice shall contain '
       'information on "PAYMENT INSTRUCTIONS" (BG-16).')
def _de_001(inv: Any, text: str) -> Iterator[Hit]:
    if not has_payment_means(inv):
        yield Hit("payment_instructions", text)


@_rule("DE-R-015", ("BT-10",), 'If both supplier and customer are located in Germany, the element "Buyer reference" '
       '(BT-10) shall be provided.')
def _de_015(inv: Any, text: str) -> Iterator[Hit]:
    if not normalize_space(get(inv, "buyer_reference")):
        yield Hit("buyer_reference", text)


def _vat_codes(inv: Any) -> Iterator[Any]:
    """BT-95, BT-102 and BT-151 as written (``$BT-95-UBL-Inv``, ``$BT-102``, ``$BT-151``)."""
    for kind in ("allowances", "charges"):
        for _, ac in items(get(inv, kind)):
            yield ac.vat_category_code
    for _, line in items(get(inv, "lines")):
        yield get(line, "vat.category_code")


@_rule("DE-R-016", ("BT-31", "BT-32", "BG-11"), 'If both supplier and customer are located in Germany, and if one of '
       'the VAT codes S, Z, E, AE, K, G, L, or M is used, an invoice shall contain at least one of the elements "Seller '
       'VAT identifier" (BT-31), "Seller tax registration identifier" (BT-32) or "SELLER TAX REPRESENTATIVE PARTY" '
       '(BG-11).')
def _de_016(inv: Any, text: str) -> Iterator[Hit]:
    if not any(code in code_set("DE_VAT_CODES") for code in _vat_codes(inv)):
        return
    if get(inv, "tax_representative") is None and not normalize_space(get(inv, "seller.vat_identifier")) and \
            not normalize_space(get(inv, "seller.tax_registration_identifier")):
        yield Hit("seller.vat_identifier", text)


@_rule("DE-R-017", ("BT-3",), 'If both supplier and customer are located in Germany, the element "Invoice type code" '
       '(BT-3) should only contain the following values from code list UNTDID 1001: 326 (Partial invoice), 380 '
       '(Commercial invoice), 384 (Corrected invoice), 389 (Self-billed invoice), 381 (Credit note), 875 (Partial '
       'construction invoice), 876 (Partial final construction invoice), 877 (Final construction invoice).', WARNING)
def _de_017(inv: Any, text: str) -> Iterator[Hit]:
    if normalize_space(get(inv, "type_code")) not in code_set("DE_TYPE_CODES"):
        yield Hit("type_code", text)


def _skonto_ok(note: Any) -> bool:
    if not note:
        return True
    lines = [ln for ln in re.split(r"\r?\n", note) if normalize_space(ln).startswith("#")]
    if not lines:
        return True
    tail = re.split(r"#[^\n\r]+#", note)[-1]
    return all(matches(normalize_space(ln), SKONTO) for ln in lines) and matches(tail, r"^\s*\n")


@_rule("DE-R-018", ("BT-20",), 'If both supplier and customer are located in Germany, information on cash discounts '
       'for prompt payment (Skonto) shall be provided within the element "Payment terms" (BT-20) in the following way: '
       'First segment "SKONTO", second segment amount of days ("TAGE=N"), third segment percentage ("PROZENT=N"). '
       'Percentage must be separated by dot with two decimal places. In case the base value of the invoiced amount is '
       'not provided in BT-115 but as a partial amount, the base value shall be provided as fourth segment '
       '"BASISBETRAG=N" as semantic data type amount. Each entry shall start with a #, the segments must be separated '
       'by # and a row shall end with a #. A complete statement on cash discount for prompt payment shall be given as '
       'one entry. Entries shall end with a line break.')
def _de_018(inv: Any, text: str) -> Iterator[Hit]:
    if not _skonto_ok(get(inv, "payment_terms")):
        yield Hit("payment_terms", text)


@_rule("DE-R-022", ("BT-125-2",), 'If both supplier and customer are located in Germany, attached documents provided '
       'with an invoice in "ADDITIONAL SUPPORTING DOCUMENTS" (BG-24) shall have a unique filename (non-case-sensitive) '
       'within the element "Attached document" (BT-125).')
def _de_022(inv: Any, text: str) -> Iterator[Hit]:
    seen: list = []
    for _, doc in items(get(inv, "supporting_documents")):
        name = get(doc, "attachment.filename")
        if name is not None and name in seen:
            yield Hit("supporting_documents", text)
            return
        if name is not None:
            seen.append(name)


@_rule("DE-R-026", ("BT-3", "BG-3"), 'If both supplier and customer are located in Germany, and if "Invoice type code" '
       '(BT-3) contains the code 384 (Corrected invoice), "PRECEDING INVOICE REFERENCE" (BG-3) should be provided at '
       'least once.', WARNING)
def _de_026(inv: Any, text: str) -> Iterator[Hit]:
    if normalize_space(get(inv, "type_code")) == "384" and not any(True for _ in items(get(inv, "preceding_invoices"))):
        yield Hit("preceding_invoices", text)


def _mandate(inv: Any) -> bool:
    """Whether UBL has a cac:PaymentMandate (BT-89 or BT-91)."""
    return get(inv, "payment_instructions.direct_debit.mandate_reference") is not None or \
        get(inv, "payment_instructions.direct_debit.debited_account_identifier") is not None


@_rule("DE-R-030", ("BT-90",), 'If both supplier and customer are located in Germany, and if the group "DIRECT DEBIT" '
       '(BG-19) is delivered, the element "Bank assigned creditor identifier" (BT-90) shall be provided.')
def _de_030(inv: Any, text: str) -> Iterator[Hit]:
    if _mandate(inv) and get(inv, "payment_instructions.direct_debit.creditor_identifier") is None:
        yield Hit("payment_instructions.direct_debit.creditor_identifier", text)


@_rule("DE-R-031", ("BT-91",), 'If both supplier and customer are located in Germany, and if the group "DIRECT DEBIT" '
       '(BG-19) is delivered, the element "Debited account identifier" (BT-91) shall be provided.')
def _de_031(inv: Any, text: str) -> Iterator[Hit]:
    if _mandate(inv) and get(inv, "payment_instructions.direct_debit.debited_account_identifier") is None:
        yield Hit("payment_instructions.direct_debit.debited_account_identifier", text)


@_rule("DE-R-T02", ("BT-124",), 'If both supplier and customer are located in Germany, BT-124 "External document '
       'location" must contain an absolute URL with valid scheme.', WARNING)
def _de_t02(inv: Any, text: str) -> Iterator[Hit]:
    for i, doc in items(get(inv, "supporting_documents")):
        if doc.external_location is not None and not matches(doc.external_location, URL):
            yield Hit(f"supporting_documents[{i}].external_location", text)


@_rule("DE-R-002", ("BG-6",), 'If both supplier and customer are located in Germany, the group "SELLER CONTACT" '
       '(BG-6) shall be provided.')
def _de_002(inv: Any, text: str) -> Iterator[Hit]:
    if get(inv, "seller.contact") is None:
        yield Hit("seller.contact", text)


def _filled(group: str, field: str, rule_id: str, term: str, text: str) -> None:
    @_rule(rule_id, (term,), text)
    def check(inv: Any, text: str) -> Iterator[Hit]:
        if get(inv, group) is not None and not normalize_space(get(inv, f"{group}.{field}")):
            yield Hit(f"{group}.{field}", text)


_filled("seller.postal_address", "city", "DE-R-003", "BT-37", 'If both supplier and customer are located in Germany, '
        'the element "Seller city" (BT-37) shall be provided.')
_filled("seller.postal_address", "post_code", "DE-R-004", "BT-38", 'If both supplier and customer are located in '
        'Germany, the element "Seller post code" (BT-38) shall be provided.')
_filled("seller.contact", "point", "DE-R-005", "BT-41", 'If both supplier and customer are located in Germany, the '
        'element "Seller contact point" (BT-41) shall be provided.')
_filled("seller.contact", "telephone", "DE-R-006", "BT-42", 'If both supplier and customer are located in Germany, '
        'the element "Seller contact telephone number" (BT-42) shall be provided.')
_filled("seller.contact", "email", "DE-R-007", "BT-43", 'If both supplier and customer are located in Germany, the '
        'element "Seller contact email address" (BT-43) shall be provided.')
_filled("buyer.postal_address", "city", "DE-R-008", "BT-52", 'If both supplier and customer are located in Germany, '
        'the element "Buyer city" (BT-52) shall be provided.')
_filled("buyer.postal_address", "post_code", "DE-R-009", "BT-53", 'If both supplier and customer are located in '
        'Germany, the element "Buyer post code" (BT-53) shall be provided.')
_filled("delivery.deliver_to_address", "city", "DE-R-010", "BT-77", 'If both supplier and customer are located in '
        'Germany, the element "Deliver to city" (BT-77) shall be provided if the group "DELIVER TO ADDRESS" (BG-15) '
        'is delivered.')
_filled("delivery.deliver_to_address", "post_code", "DE-R-011", "BT-78", 'If both supplier and customer are located '
        'in Germany, the element "Deliver to post code" (BT-78) shall be provided if the group "DELIVER TO ADDRESS" '
        '(BG-15) is delivered.')


@_rule("DE-R-027", ("BT-42",), 'If both supplier and customer are located in Germany, "Seller contact telephone '
       'number" (BT-42) should contain a valid telephone number. A valid telephone number consists of at least three '
       'digits.', WARNING)
def _de_027(inv: Any, text: str) -> Iterator[Hit]:
    contact = get(inv, "seller.contact")
    if contact is not None and not matches(normalize_space(contact.telephone), TELEPHONE):
        yield Hit("seller.contact.telephone", text)


@_rule("DE-R-028", ("BT-43",), 'If both supplier and customer are located in Germany, "Seller contact email address" '
       '(BT-43) should contain exactly one @-sign, which should not be framed by a whitespace or a dot but by at least '
       'one character on each side. A dot should not be the first or last character.', WARNING)
def _de_028(inv: Any, text: str) -> Iterator[Hit]:
    contact = get(inv, "seller.contact")
    if contact is not None and not matches(normalize_space(contact.email), EMAIL):
        yield Hit("seller.contact.email", text)


def _iban(value: Any) -> bool:
    """The XRechnung IBAN test: shape, then the ISO 7064 mod 97 check."""
    account = normalize_space(re.sub(r"[ \n\r\t]", "", value or ""))
    if not matches(account, r"^[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{0,30}$"):
        return False
    moved = account[4:] + account[:2].upper() + account[2:4]
    digits = "".join(str(ord(c) - 55) if ord(c) > 64 else str(ord(c) - 48) for c in moved)
    return int(digits) % 97 == 1


def _means(inv: Any, codes: tuple) -> Iterator[tuple[str, Any, Any]]:
    for path, pi, ct in payment_means(inv):
        if normalize_space(pi.means_type_code) in codes:
            yield path, pi, ct


@_rule("DE-R-019", ("BT-84",), 'If both supplier and customer are located in Germany, the element "Payment account '
       'identifier" (BT-84) should contain a valid IBAN if code 58 SEPA is provided in "Payment means type code" '
       '(BT-81).', WARNING)
def _de_019(inv: Any, text: str) -> Iterator[Hit]:
    for path, pi, ct in _means(inv, ("30", "58")):
        if normalize_space(pi.means_type_code) == "58" and not _iban(get(ct, "account_identifier")):
            yield Hit(f"{path}.account_identifier" if ct is not None else path, text)


@_rule("DE-R-023-1", ("BG-17",), 'If both supplier and customer are German, if "Payment means type code" (BT-81) '
       'contains a code for credit transfer (30, 58), "CREDIT TRANSFER" (BG-17) shall be provided.')
def _de_023_1(inv: Any, text: str) -> Iterator[Hit]:
    for path, _, ct in _means(inv, ("30", "58")):
        if ct is None:
            yield Hit(path, text)


@_rule("DE-R-023-2", ("BG-18", "BG-19"), 'If both supplier and customer are located in Germany, and if "Payment means '
       'type code" (BT-81) contains a code for credit transfer (30, 58), BG-18 and BG-19 shall not be provided.')
def _de_023_2(inv: Any, text: str) -> Iterator[Hit]:
    for path, pi, _ in _means(inv, ("30", "58")):
        if pi.payment_card is not None or _mandate(inv):
            yield Hit(path, text)


@_rule("DE-R-024-1", ("BG-18",), 'If both supplier and customer are located in Germany, and if "Payment means type '
       'code" (BT-81) contains a code for payment card (48, 54, 55), "PAYMENT CARD INFORMATION" (BG-18) shall be '
       'provided.')
def _de_024_1(inv: Any, text: str) -> Iterator[Hit]:
    for path, pi, _ in _means(inv, ("48", "54", "55")):
        if pi.payment_card is None:
            yield Hit(path, text)


@_rule("DE-R-024-2", ("BG-17", "BG-19"), 'If both supplier and customer are located in Germany, and if "Payment means '
       'type code" (BT-81) contains a code for payment card (48, 54, 55), BG-17 and BG-19 shall not be provided.')
def _de_024_2(inv: Any, text: str) -> Iterator[Hit]:
    for path, _, ct in _means(inv, ("48", "54", "55")):
        if ct is not None or _mandate(inv):
            yield Hit(path, text)


@_rule("DE-R-020", ("BT-91",), 'If both supplier and customer are located in Germany, the element "Debited account '
       'identifier" (BT-91) should contain a valid IBAN if code 59 SEPA is provided in "Payment means type code" '
       '(BT-81).', WARNING)
def _de_020(inv: Any, text: str) -> Iterator[Hit]:
    for path, pi, _ in _means(inv, ("59",)):
        if not _iban(get(pi, "direct_debit.debited_account_identifier")):
            yield Hit("payment_instructions.direct_debit.debited_account_identifier", text)


@_rule("DE-R-025-1", ("BG-19",), 'If both supplier and customer are located in Germany, and if "Payment means type '
       'code" (BT-81) contains a code for direct debit (59), "DIRECT DEBIT" (BG-19) shall be provided.')
def _de_025_1(inv: Any, text: str) -> Iterator[Hit]:
    for path, _, _ in _means(inv, ("59",)):
        if not _mandate(inv):
            yield Hit(path, text)


@_rule("DE-R-025-2", ("BG-17", "BG-18"), 'If both supplier and customer are located in Germany, and if "Payment means '
       'type code" (BT-81) contains a code for direct debit (59), BG-17 and BG-18 shall not be provided.')
def _de_025_2(inv: Any, text: str) -> Iterator[Hit]:
    for path, pi, ct in _means(inv, ("59",)):
        if ct is not None or pi.payment_card is not None:
            yield Hit(path, text)


@_rule("DE-R-014", ("BT-119",), 'If both supplier and customer are located in Germany, the element "VAT category '
       'rate" (BT-119) shall be provided.')
def _de_014(inv: Any, text: str) -> Iterator[Hit]:
    for i, vb in items(get(inv, "vat_breakdown")):
        if not normalize_space(vb.rate):
            yield Hit(f"vat_breakdown[{i}].rate", text)



