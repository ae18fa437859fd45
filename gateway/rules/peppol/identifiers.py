"""PEPPOL-COMMON-R040 ... R057 and PEPPOL-EN16931-CL008: identifiers checked by their scheme.

The stylesheet checks every ``cbc:EndpointID``, ``cac:PartyIdentification/cbc:ID``
and ``cbc:CompanyID`` carrying a given ``@schemeID`` (GLN, Norwegian, Danish,
Belgian, Italian, Swedish, Australian and Dutch numbers). On the model those
are the electronic addresses (BT-34, BT-49), the party identifiers (BT-29,
BT-46, BT-60) and the legal registration identifiers (BT-30, BT-47, BT-61);
VAT identifiers carry no scheme in the model (PEPPOL-COMMON-R056-2 checks
the Dutch ones by their prefix).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from .common import (FATAL, WARNING, Hit, abn, check_cf, check_codice_ipa, check_piva_se_it, check_se_orgnr, code_set,
                     get, gln, matches, mod11, mod97_0208, nan, normalize_space, party_identifiers, peppol)

FAMILY = "PEPPOL-COMMON"
_TERMS = {"seller.electronic_address": "BT-34", "buyer.electronic_address": "BT-49",
          "seller.legal_registration_identifier": "BT-30", "buyer.legal_registration_identifier": "BT-47",
          "payee.legal_registration_identifier": "BT-61", "buyer.identifier": "BT-46", "payee.identifier": "BT-60"}


def _term(path: str) -> str:
    return _TERMS.get(path, "BT-29")


def _digits_only(s: str) -> bool:
    """``string-length(translate(s, '1234567890', '')) = 0``."""
    return all("0" <= c <= "9" for c in s)


def _scheme_rule(rule_id: str, scheme: str, test: Callable[[str], bool], text: str, *,
                 severity: str = FATAL, kinds: Iterable[str] = ("endpoint", "party", "company")) -> None:
    kinds = tuple(kinds)

    def check(inv: Any) -> Iterator[Hit]:
        for path, kind, ident in party_identifiers(inv):
            if kind in kinds and ident.scheme == scheme and not test(ident.value or ""):
                yield Hit(f"{path}.value", f"{text} ({_term(path)} {ident.value!r}, scheme {scheme}).",
                          (_term(path),))
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=("BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49", "BT-60", "BT-61"),
           severity=severity)(check)


_scheme_rule("PEPPOL-COMMON-R040", "0088",
             lambda v: matches(normalize_space(v), "^[0-9]+$") and gln(normalize_space(v)),
             "GLN must have a valid format according to GS1 rules.")
_scheme_rule("PEPPOL-COMMON-R041", "0192",
             lambda v: matches(normalize_space(v), "^[0-9]{9}$") and mod11(normalize_space(v)),
             "Norwegian organization number MUST be stated in the correct format.")
_scheme_rule("PEPPOL-COMMON-R042", "0184",
             lambda v: (len(v) == 10 and v[:2] == "DK" and _digits_only(v[2:10]))
             or (len(v) == 8 and _digits_only(v[:8])),
             "Danish organization number (CVR) MUST be stated in the correct format.")
_scheme_rule("PEPPOL-COMMON-R052", "0096", lambda v: len(v) == 10 and _digits_only(v[:10]),
             "Danish chamber of commerce number (P) MUST be stated in the correct format.")
_scheme_rule("PEPPOL-COMMON-R053", "0198", lambda v: len(v) == 10 and v[:2] == "DK" and _digits_only(v[2:10]),
             "Danish ERSTORG number (SE) MUST be stated in the correct format.")
_scheme_rule("PEPPOL-COMMON-R043", "0208",
             lambda v: matches(normalize_space(v), "^[0-9]{10}$") and mod97_0208(normalize_space(v)),
             "Belgian enterprise number MUST be stated in the correct format.")
_scheme_rule("PEPPOL-COMMON-R044", "0201", lambda v: check_codice_ipa(normalize_space(v)),
             "IPA Code (Codice Univoco Unità Organizzativa) must be stated in the correct format", severity=WARNING)
_scheme_rule("PEPPOL-COMMON-R045", "0210", lambda v: check_cf(normalize_space(v)),
             "Tax Code (Codice Fiscale) must be stated in the correct format", severity=WARNING)
_scheme_rule("PEPPOL-COMMON-R046", "9907", lambda v: check_cf(normalize_space(v)),
             "Tax Code (Codice Fiscale) must be stated in the correct format", severity=WARNING, kinds=("endpoint",))
_scheme_rule("PEPPOL-COMMON-R047", "0211", lambda v: check_piva_se_it(normalize_space(v)),
             "Italian VAT Code (Partita Iva) must be stated in the correct format", severity=WARNING)
_scheme_rule("PEPPOL-COMMON-R049", "0007",
             lambda v: len(normalize_space(v)) == 10 and not nan(normalize_space(v))
             and check_se_orgnr(normalize_space(v)),
             "Swedish organization number MUST be stated in the correct format.")
_scheme_rule("PEPPOL-COMMON-R050", "0151",
             lambda v: matches(normalize_space(v), "^[0-9]{11}$") and abn(normalize_space(v)),
             "Australian Business Number (ABN) MUST be stated in the correct format.")
_scheme_rule("PEPPOL-COMMON-R054", "0106", lambda v: matches(normalize_space(v), "^[0-9]{8}$"),
             "Dutch Chamber of Commerce (KVK) numbers (0106) MUST be stated in the correct format (12345678).",
             severity=WARNING)
_scheme_rule("PEPPOL-COMMON-R055", "0190", lambda v: matches(normalize_space(v), "^[0-9]{20}$"),
             "Dutch organization identification numbers (0190) MUST be stated in the correct format "
             "(12345678901234567890).", severity=WARNING)
_scheme_rule("PEPPOL-COMMON-R056-1", "9944", lambda v: matches(normalize_space(v), "^NL[0-9]{9}B[0-9]{2}$"),
             "Dutch VAT numbers (9944) MUST be stated in the correct format (NL123456789B12).", severity=WARNING)
_scheme_rule("PEPPOL-COMMON-R057", "0217", lambda v: matches(normalize_space(v), "^[0-9]{12}$"),
             "Dutch Chamber of Commerce Establishment numbers (0217) MUST be stated in the correct format "
             "(123456789012).", severity=WARNING)


@peppol("PEPPOL-COMMON-R056-2", FAMILY, terms=("BT-31", "BT-48", "BT-63"), severity=WARNING)
def r056_2(inv: Any) -> Iterator[Hit]:
    """Dutch VAT numbers MUST have the format (NL123456789B12)."""
    for path, term in (("seller.vat_identifier", "BT-31"), ("buyer.vat_identifier", "BT-48"),
                       ("tax_representative.vat_identifier", "BT-63")):
        vat = get(inv, path)
        if vat is not None and normalize_space(vat).startswith("NL") and \
                not matches(normalize_space(vat), "^NL[0-9]{9}B[0-9]{2}$"):
            yield Hit(path, f"Dutch VAT number ({term}) {vat!r} MUST have the format NL123456789B12.", (term,))


@peppol("PEPPOL-EN16931-CL008", "PEPPOL-EN16931-CL", terms=("BT-34-1", "BT-49-1"))
def cl008(inv: Any) -> Iterator[Hit]:
    """Electronic address identifier scheme must be from the codelist "Electronic Address Identifier Scheme"."""
    for path, term in (("seller.electronic_address", "BT-34-1"), ("buyer.electronic_address", "BT-49-1")):
        scheme = get(inv, f"{path}.scheme")
        if scheme is not None and scheme not in code_set("EAS"):
            yield Hit(f"{path}.scheme", f"Electronic address scheme ({term}) {scheme!r} is not in the Electronic "
                                        "Address Identifier Scheme code list.", (term,))
