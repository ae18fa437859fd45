"""DK-R-002 ... DK-R-017: Danish suppliers.

The Danish rules compare the seller's and buyer's country codes as written
(``concat(.../cac:Country/cbc:IdentificationCode) = 'DK'``); most apply only
when both are Danish. The payment means rules apply to invoices (not to
credit notes), once per ``cac:PaymentMeans``.
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import (Hit, code_list, get, is_credit_note, items, matches, normalize_space, payment_means, peppol,
                     postal_country, substring, xnumber)

FAMILY = "DK"


def _supplier_dk(inv: Any) -> bool:
    return postal_country(inv, "seller") == "DK"


def _both_dk(inv: Any) -> bool:
    return _supplier_dk(inv) and postal_country(inv, "buyer") == "DK"


@peppol("DK-R-002", FAMILY, terms=("BT-30",))
def dk_r_002(inv: Any) -> Iterator[Hit]:
    """Danish suppliers MUST provide legal entity (CVR-number)."""
    if _supplier_dk(inv) and normalize_space(get(inv, "seller.legal_registration_identifier.value")) == "":
        yield Hit("seller.legal_registration_identifier", "Danish suppliers MUST provide legal entity (CVR-number, BT-30).")


@peppol("DK-R-014", FAMILY, terms=("BT-30-1",))
def dk_r_014(inv: Any) -> Iterator[Hit]:
    """For Danish Suppliers it is mandatory to specify schemeID as "0184" (DK CVR-number) when PartyLegalEntity/CompanyID is used for AccountingSupplierParty."""
    ident = get(inv, "seller.legal_registration_identifier")
    if _supplier_dk(inv) and ident is not None and normalize_space(ident.scheme) != "0184":
        yield Hit("seller.legal_registration_identifier.scheme",
                  "For Danish suppliers the legal entity identifier (BT-30) MUST have the scheme 0184 (DK CVR-number).")


@peppol("DK-R-016", FAMILY, terms=("BT-115",))
def dk_r_016(inv: Any) -> Iterator[Hit]:
    """For Danish Suppliers, a Credit note cannot have a negative total (PayableAmount)."""
    if _supplier_dk(inv) and is_credit_note(inv) and postal_country(inv, "buyer") == "DK" and \
            xnumber(get(inv, "totals.amount_due")) < 0:
        yield Hit("totals.amount_due", "For Danish suppliers, a credit note cannot have a negative amount due (BT-115).")


@peppol("DK-R-013", FAMILY, terms=("BT-29-1", "BT-46-1"))
def dk_r_013(inv: Any) -> Iterator[Hit]:
    """For Danish Suppliers it is mandatory to use schemeID when PartyIdentification/ID is used for AccountingCustomerParty or AccountingSupplierParty."""
    if not _both_dk(inv):
        return
    found = [(f"seller.identifiers[{k}]", i) for k, i in items(get(inv, "seller.identifiers"))]
    if get(inv, "buyer.identifier") is not None:
        found.append(("buyer.identifier", get(inv, "buyer.identifier")))
    for path, ident in found:
        if normalize_space(ident.scheme) == "":
            yield Hit(f"{path}.scheme", "For Danish suppliers a party identifier (BT-29, BT-46) MUST have a scheme.")


def _dk_payment_means(inv: Any) -> Iterator[tuple[str, Any, Any, str]]:
    """(path, payment instructions, credit transfer, raw code) of each cac:PaymentMeans of an invoice
    between Danish parties."""
    if not _both_dk(inv) or is_credit_note(inv):
        return
    for path, pi, ct in payment_means(inv):
        yield path, pi, ct, pi.means_type_code or ""


@peppol("DK-R-005", FAMILY, terms=("BT-81",))
def dk_r_005(inv: Any) -> Iterator[Hit]:
    """For Danish suppliers the following Payment means codes are allowed: 1, 10, 31, 42, 48, 49, 50, 58, 59, 93 and 97."""
    for path, _, _, code in _dk_payment_means(inv):
        allowed = " " + " ".join(code_list("DK_PAYMENT_MEANS")) + " "
        if f" {code} " not in allowed:          # contains(' 1 10 ... ', concat(' ', code, ' '))
            yield Hit("payment_instructions.means_type_code",
                      f"For Danish suppliers the payment means code (BT-81) {code!r} is not allowed.")


@peppol("DK-R-006", FAMILY, terms=("BT-84", "BT-86"))
def dk_r_006(inv: Any) -> Iterator[Hit]:
    """For Danish suppliers bank account and registration account is mandatory if payment means is 31 or 42."""
    for path, _, ct, code in _dk_payment_means(inv):
        if code in ("31", "42") and not (normalize_space(get(ct, "account_identifier")) != "" and
                                         normalize_space(get(ct, "service_provider_identifier")) != ""):
            yield Hit(path, "For Danish suppliers the bank account (BT-84) and registration account (BT-86) are "
                            f"mandatory with payment means {code}.")


@peppol("DK-R-007", FAMILY, terms=("BT-89", "BT-91"))
def dk_r_007(inv: Any) -> Iterator[Hit]:
    """For Danish suppliers PaymentMandate/ID and PayerFinancialAccount/ID are mandatory when payment means is 49."""
    for path, pi, _, code in _dk_payment_means(inv):
        if code == "49" and not (normalize_space(get(pi, "direct_debit.mandate_reference")) != "" and
                                 normalize_space(get(pi, "direct_debit.debited_account_identifier")) != ""):
            yield Hit("payment_instructions.direct_debit",
                      "For Danish suppliers the mandate reference (BT-89) and debited account (BT-91) are mandatory "
                      "with payment means 49.")


def _payment_id(pi: Any) -> str:
    return pi.remittance_information or ""


@peppol("DK-R-008", FAMILY, terms=("BT-83", "BT-84"))
def dk_r_008(inv: Any) -> Iterator[Hit]:
    """For Danish Suppliers PaymentID is mandatory and MUST start with 01#, 04# or 15# (kortartkode), and PayeeFinancialAccount/ID (Giro kontonummer) is mandatory and must be 7 or 8 characters long, when payment means equals 50 (Giro)."""
    for path, pi, ct, code in _dk_payment_means(inv):
        if code == "50" and not (substring(_payment_id(pi), 1, 3) in ("01#", "04#", "15#") and
                                 matches(get(ct, "account_identifier"), "^[0-9]{7,8}$")):
            yield Hit(path, "For Danish suppliers with payment means 50 (Giro), the payment id (BT-83) MUST start "
                            "with 01#, 04# or 15# and the account (BT-84) have 7 or 8 digits.")


@peppol("DK-R-009", FAMILY, terms=("BT-83",))
def dk_r_009(inv: Any) -> Iterator[Hit]:
    """For Danish Suppliers if the PaymentID is prefixed with 04# or 15# the 16 digits instruction Id must be added to the PaymentID eg. "04#1234567890123456" when Payment means equals 50 (Giro)."""
    for path, pi, _, code in _dk_payment_means(inv):
        pid = _payment_id(pi)
        if code == "50" and substring(pid, 1, 3) in ("04#", "15#") and len(pid) != 19:
            yield Hit("payment_instructions.remittance_information",
                      f"For Danish suppliers the payment id (BT-83) {pid!r} MUST be 04# or 15# followed by a "
                      "16 digit instruction id.")


@peppol("DK-R-010", FAMILY, terms=("BT-83", "BT-84"))
def dk_r_010(inv: Any) -> Iterator[Hit]:
    """For Danish Suppliers using PaymentMeansCode 93, PaymentID is mandatory. The first three characters of the PaymentID MUST be 71#, 73# or 75# (kortartkode), and PayeeFinancialAccount/ID (Kreditornummer) is mandatory and must be exactly 8 characters long."""
    for path, pi, ct, code in _dk_payment_means(inv):
        if code == "93" and not (substring(_payment_id(pi), 1, 3) in ("71#", "73#", "75#") and
                                 len(get(ct, "account_identifier") or "") == 8):
            yield Hit(path, "For Danish suppliers with payment means 93, the payment id (BT-83) MUST start with 71#, "
                            "73# or 75# and the account (BT-84) have 8 characters.")


@peppol("DK-R-011", FAMILY, terms=("BT-83",))
def dk_r_011(inv: Any) -> Iterator[Hit]:
    """For Danish Suppliers if the PaymentID is prefixed with 71# or 75# the 15-16 digits instruction Id must be added to the PaymentID eg. "71#1234567890123456" when payment Method equals 93 (FIK)."""
    for path, pi, _, code in _dk_payment_means(inv):
        pid = _payment_id(pi)
        if code == "93" and substring(pid, 1, 3) in ("71#", "75#") and len(pid) not in (18, 19):
            yield Hit("payment_instructions.remittance_information",
                      f"For Danish suppliers the payment id (BT-83) {pid!r} MUST be 71# or 75# followed by a 15 or "
                      "16 digit instruction id.")


@peppol("DK-R-017", FAMILY, terms=("BT-47-1",))
def dk_r_017(inv: Any) -> Iterator[Hit]:
    """For Danish Customers it is mandatory to specify schemeID as "0184" (DK CVR-number) when PartyLegalEntity/CompanyID is used for AccountingCustomerParty."""
    ident = get(inv, "buyer.legal_registration_identifier")
    if _both_dk(inv) and ident is not None and normalize_space(ident.scheme) != "0184":
        yield Hit("buyer.legal_registration_identifier.scheme",
                  "For Danish customers the legal entity identifier (BT-47) MUST have the scheme 0184 (DK CVR-number).")


_UNSPSC = ("19.05.01", "19.0501", "26.08.01", "26.0801")


@peppol("DK-R-003", FAMILY, terms=("BT-158",))
def dk_r_003(inv: Any) -> Iterator[Hit]:
    """If ItemClassification is provided from Danish suppliers, UNSPSC version 19.05.01 or 26.08.01 should be used."""
    if not _both_dk(inv):
        return
    for k, line in items(get(inv, "lines")):
        codes = [c for _, c in items(get(line, "item.classification_identifiers"))]
        if any(c.scheme == "TST" for c in codes) and not any(c.version in _UNSPSC for c in codes):
            yield Hit(f"lines[{k}].item.classification_identifiers",
                      "Danish suppliers should classify items with UNSPSC (TST) version 19.05.01 or 26.08.01 (BT-158).")


def _reason_ok(reason: Any) -> bool:
    text = reason or ""
    if len(normalize_space(text)) == 4 and xnumber(text) >= 0 and xnumber(text) <= 9999:
        return True
    return reason is not None and "#" in text and not text.startswith("#") and not text.endswith("#")


@peppol("DK-R-004", FAMILY, terms=("BT-97", "BT-98", "BT-104", "BT-105", "BT-139", "BT-140", "BT-144", "BT-145"))
def dk_r_004(inv: Any) -> Iterator[Hit]:
    """When specifying non-VAT Taxes for Danish customers, Danish suppliers MUST use the AllowanceChargeReasonCode="ZZZ" and MUST be specified in AllowanceChargeReason be specified in AllowanceChargeReason, either as a 4-digit numeric code (as Danish Customs' list of tax codes) or as a text containing a '#' that is neither first nor last character."""
    if not _both_dk(inv):
        return
    groups = [(f"allowances[{i}]", a) for i, a in items(get(inv, "allowances"))] + \
             [(f"charges[{i}]", c) for i, c in items(get(inv, "charges"))]
    for k, line in items(get(inv, "lines")):
        groups += [(f"lines[{k}].allowances[{i}]", a) for i, a in items(line.allowances)]
        groups += [(f"lines[{k}].charges[{i}]", c) for i, c in items(line.charges)]
    for path, ac in groups:
        if ac.reason_code == "ZZZ" and not _reason_ok(ac.reason):
            yield Hit(f"{path}.reason", "Danish non-VAT taxes (reason code ZZZ) MUST give a 4-digit tax code or a "
                                        "text with '#' inside as the reason.")
