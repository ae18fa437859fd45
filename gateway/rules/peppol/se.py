"""SE-R-001 ... SE-R-013: Swedish suppliers.

The Swedish rules compare the country code and the VAT scheme as written
(``cac:Country/cbc:IdentificationCode = 'SE'``); most also need a Swedish VAT
identifier (``SE`` prefix) on the seller.
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import (WARNING, Hit, check_se_orgnr, get, items, nan, normalize_space, payment_means, peppol,
                     postal_country, substring, xnumber)

FAMILY = "SE"


def _se(inv: Any, party: str = "seller") -> bool:
    return postal_country(inv, party) == "SE"


def _se_vat(inv: Any) -> bool:
    """The seller is in Sweden and its VAT identifier starts with SE."""
    return _se(inv) and substring(get(inv, "seller.vat_identifier"), 1, 2) == "SE" and \
        get(inv, "seller.vat_identifier") is not None


@peppol("SE-R-001", FAMILY, terms=("BT-31",))
def se_r_001(inv: Any) -> Iterator[Hit]:
    """For Swedish suppliers, Swedish VAT-numbers must consist of 14 characters."""
    if _se_vat(inv) and len(normalize_space(get(inv, "seller.vat_identifier"))) != 14:
        yield Hit("seller.vat_identifier", "For Swedish suppliers, the VAT number (BT-31) must have 14 characters.")


@peppol("SE-R-002", FAMILY, terms=("BT-31",))
def se_r_002(inv: Any) -> Iterator[Hit]:
    """For Swedish suppliers, the Swedish VAT-numbers must have the trailing 12 characters in numeric form."""
    if _se_vat(inv) and nan(substring(get(inv, "seller.vat_identifier"), 3, 12)):
        yield Hit("seller.vat_identifier",
                  "For Swedish suppliers, the VAT number (BT-31) must end with 12 characters in numeric form.")


def _orgnr_rule(rule_id: str, test: Any, text: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        ident = get(inv, "seller.legal_registration_identifier")
        if _se(inv) and ident is not None and not test(ident.value):
            yield Hit("seller.legal_registration_identifier", f"{text} (BT-30 {ident.value!r}).")
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=("BT-30",))(check)


_orgnr_rule("SE-R-003", lambda v: not nan(v), "Swedish organisation numbers should be numeric.")
_orgnr_rule("SE-R-004", lambda v: len(normalize_space(v)) == 10, "Swedish organisation numbers consist of 10 characters.")
_orgnr_rule("SE-R-013", lambda v: check_se_orgnr(normalize_space(v)),
            "The last digit of a Swedish organization number must be valid according to the Luhn algorithm.")


@peppol("SE-R-005", FAMILY, terms=("BT-32",))
def se_r_005(inv: Any) -> Iterator[Hit]:
    """For Swedish suppliers, when using Seller tax registration identifier, 'Godkänd för F-skatt' must be stated."""
    bt32 = get(inv, "seller.tax_registration_identifier")
    if bt32 is not None and _se(inv) and get(inv, "seller.legal_registration_identifier") is not None and \
            normalize_space(bt32.upper()) != "GODKÄND FÖR F-SKATT":
        yield Hit("seller.tax_registration_identifier",
                  "For Swedish suppliers, the seller tax registration identifier (BT-32) must be 'Godkänd för F-skatt'.")


def _standard_rated(inv: Any) -> Iterator[tuple[str, Any, str]]:
    """(path of the rate, rate, term) of every cac:TaxCategory / cac:ClassifiedTaxCategory whose
    cbc:ID is 'S' as written."""
    for i, vb in items(get(inv, "vat_breakdown")):
        if vb.category_code == "S":
            yield f"vat_breakdown[{i}].rate", vb.rate, "BT-119"
    for kind, term in (("allowances", "BT-96"), ("charges", "BT-103")):
        for i, ac in items(get(inv, kind)):
            if ac.vat_category_code == "S":
                yield f"{kind}[{i}].vat_rate", ac.vat_rate, term
    for k, line in items(get(inv, "lines")):
        if get(line, "vat.category_code") == "S":
            yield f"lines[{k}].vat.rate", get(line, "vat.rate"), "BT-152"


@peppol("SE-R-006", FAMILY, terms=("BT-96", "BT-103", "BT-119", "BT-152"))
def se_r_006(inv: Any) -> Iterator[Hit]:
    """For Swedish suppliers, only standard VAT rate of 6, 12 or 25 are used."""
    if not _se_vat(inv):
        return
    for path, rate, term in _standard_rated(inv):
        if xnumber(rate) not in (25.0, 12.0, 6.0):
            yield Hit(path, f"For Swedish suppliers the standard VAT rate ({term}) is 6, 12 or 25, not {rate}.", (term,))


def _giro(inv: Any, branch: str) -> Iterator[tuple[str, str]]:
    """(path, account) of each credit transfer with code 30 and the given financial institution."""
    if not _se(inv):
        return
    for path, pi, ct in payment_means(inv):
        if ct is not None and ct.account_identifier is not None and normalize_space(pi.means_type_code) == "30" \
                and normalize_space(ct.service_provider_identifier) == branch:
            yield f"{path}.account_identifier", ct.account_identifier


def _giro_rule(rule_id: str, branch: str, test: Any, text: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        for path, account in _giro(inv, branch):
            if not test(normalize_space(account)):
                yield Hit(path, f"{text} ({account!r}).")
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=("BT-84",), severity=WARNING)(check)


_giro_rule("SE-R-007", "SE:PLUSGIRO", lambda v: not nan(v),
           "For Swedish suppliers using Plusgiro, the Account ID must be numeric")
_giro_rule("SE-R-010", "SE:PLUSGIRO", lambda v: 2 <= len(v) <= 8,
           "For Swedish suppliers using Plusgiro, the Account ID must have 2-8 characters")
_giro_rule("SE-R-008", "SE:BANKGIRO", lambda v: not nan(v),
           "For Swedish suppliers using Bankgiro, the Account ID must be numeric")
_giro_rule("SE-R-009", "SE:BANKGIRO", lambda v: len(v) in (7, 8),
           "For Swedish suppliers using Bankgiro, the Account ID must have 7-8 characters")


@peppol("SE-R-011", FAMILY, terms=("BT-81",), severity=WARNING)
def se_r_011(inv: Any) -> Iterator[Hit]:
    """For Swedish suppliers using Swedish Bankgiro or Plusgiro, the proper way to indicate this is to use Code 30 for PaymentMeans and FinancialInstitutionBranch ID with code SE:BANKGIRO or SE:PLUSGIRO."""
    if not _se(inv):
        return
    for path, pi, _ in payment_means(inv):
        if pi.means_type_code in ("50", "56"):
            yield Hit("payment_instructions.means_type_code",
                      "For Swedish suppliers Bankgiro or Plusgiro is payment means 30 with the financial institution "
                      "SE:BANKGIRO or SE:PLUSGIRO.")


@peppol("SE-R-012", FAMILY, terms=("BT-81",), severity=WARNING)
def se_r_012(inv: Any) -> Iterator[Hit]:
    """For domestic transactions between Swedish trading partners, credit transfer should be indicated by PaymentMeansCode="30"."""
    if not (_se(inv) and _se(inv, "buyer")):
        return
    for path, pi, _ in payment_means(inv):
        if pi.means_type_code == "31":
            yield Hit("payment_instructions.means_type_code",
                      "Between Swedish trading partners, credit transfer should be payment means 30.")
