"""NO-R-001, NO-R-002: Norwegian suppliers (``$supplierCountry = 'NO'``)."""
from __future__ import annotations

from typing import Any, Iterator

from .common import WARNING, Hit, get, matches, mod11, normalize_space, peppol, substring, supplier_country

FAMILY = "NO"


@peppol("NO-R-002", FAMILY, terms=("BT-32",), severity=WARNING)
def no_r_002(inv: Any) -> Iterator[Hit]:
    """For Norwegian suppliers, most invoice issuers are required to append "Foretaksregisteret" to their invoice.

    "Dersom selger er aksjeselskap, allmennaksjeselskap eller filial av
    utenlandsk selskap skal også ordet «Foretaksregisteret» fremgå av
    salgsdokumentet." (UBL: the seller's tax registration identifier in the
    tax scheme TAX, BT-32.)"""
    if supplier_country(inv) == "NO" and \
            normalize_space(get(inv, "seller.tax_registration_identifier")) != "Foretaksregisteret":
        yield Hit("seller.tax_registration_identifier",
                  "For Norwegian suppliers, most invoice issuers are required to append \"Foretaksregisteret\" "
                  "(BT-32) to their invoice.")


@peppol("NO-R-001", FAMILY, terms=("BT-31",))
def no_r_001(inv: Any) -> Iterator[Hit]:
    """For Norwegian suppliers, a VAT number MUST be the country code prefix NO followed by a valid Norwegian organization number (nine numbers) followed by the letters MVA."""
    if supplier_country(inv) != "NO":
        return
    vat = get(inv, "seller.vat_identifier")
    if vat is None or substring(vat, 1, 2) != "NO":
        return
    if not (matches(substring(vat, 3), "^[0-9]{9}MVA$") and mod11(substring(vat, 3, 9))):
        yield Hit("seller.vat_identifier",
                  f"For Norwegian suppliers, the VAT number (BT-31) {vat!r} MUST be NO followed by a valid Norwegian "
                  "organization number (nine numbers) followed by the letters MVA.")
