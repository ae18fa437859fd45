"""IT-R-001 ... IT-R-004: Italian suppliers (``$supplierCountry = 'IT'``)."""
from __future__ import annotations

from typing import Any, Iterator

from .common import Hit, get, matches, normalize_space, peppol, supplier_country

FAMILY = "IT"


@peppol("IT-R-001", FAMILY, terms=("BT-32",))
def it_r_001(inv: Any) -> Iterator[Hit]:
    """BT-32 (Seller tax registration identifier) - For Italian suppliers BT-32 minimum length 11 and maximum length shall be 16. Per i fornitori italiani il BT-32 deve avere una lunghezza tra 11 e 16 caratteri."""
    bt32 = get(inv, "seller.tax_registration_identifier")
    if bt32 is not None and supplier_country(inv) == "IT" and \
            not matches(normalize_space(bt32), "^[A-Z0-9]{11,16}$"):
        yield Hit("seller.tax_registration_identifier",
                  f"For Italian suppliers the seller tax registration identifier (BT-32) {bt32!r} shall have 11 to "
                  "16 characters (A-Z, 0-9).")


def _address_rule(rule_id: str, name: str, term: str, text: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        if supplier_country(inv) == "IT" and get(inv, f"seller.postal_address.{name}") is None:
            yield Hit(f"seller.postal_address.{name}", text)
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=(term,))(check)


_address_rule("IT-R-002", "line1", "BT-35", "BT-35 (Seller address line 1) - Italian suppliers MUST provide the "
              "postal address line 1 - I fornitori italiani devono indicare l'indirizzo postale.")
_address_rule("IT-R-003", "city", "BT-37", "BT-37 (Seller city) - Italian suppliers MUST provide the postal "
              "address city - I fornitori italiani devono indicare la città di residenza.")
_address_rule("IT-R-004", "post_code", "BT-38", "BT-38 (Seller post code) - Italian suppliers MUST provide the "
              "postal address post code - I fornitori italiani devono indicare il CAP di residenza.")
