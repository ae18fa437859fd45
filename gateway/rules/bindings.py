"""Where the CII binding of the CEN schematron still means something else than our verdict on CII.

The rules of this package follow the UBL binding (CEN schematron 1.3.16).
Where the CII binding of a rule means something else - not merely in
syntax - the rule has a **CII variant** (``cii.py``), which ``validate(...,
syntax="cii")`` (and ``facturx``) runs instead: on a CII document the verdict
is then the CII stylesheet's. ``CII_DIFFERENCES`` lists what is left: rules
where even the CII verdict on the model can differ from the official one on
the document, because the reader does not keep what the CII assert looks at.
Each entry says which way:

* ``UBL_STRICTER``: ours may fire where the CII binding does not;
  whenever CII fires, we fire too.
* ``CII_STRICTER``: the CII binding may fire where we do not; whenever we
  fire, CII fires too.
* ``DIFFERS``: either may fire without the other.

Differences in *how often* a rule fires (UBL checks once per invoice where
CII checks once per line, e.g. BR-S-02, BR-CO-18) are not listed: the
verdict is the same. The agreement tests (tests/conformance/test_rules_vs_schematron.py,
the fuzz and the French ones) validate CII documents with ``syntax="cii"`` and
use this table for them; COVERAGE.md explains it to people, and lists the
rules with a CII variant.
"""
from __future__ import annotations

UBL_STRICTER = "ubl-stricter"
CII_STRICTER = "cii-stricter"
DIFFERS = "differs"

CII_DIFFERENCES: dict[str, tuple[str, str]] = {
    "BR-53": (CII_STRICTER, "CII also rejects a VAT accounting currency (BT-6) equal to the invoice currency "
                            "(BT-5); the reader does not keep such a BT-6, so no rule on the model sees it"),
    "BR-61": (UBL_STRICTER, "the CII variant checks each account of a credit transfer as CII does, but the "
                            "reader takes an IBANID that is not shaped like an IBAN for no account identifier "
                            "(BT-84), which CII accepts"),
    "BR-CL-06": (CII_STRICTER, "CII carries UNTDID 2475 codes (5, 29, 72), which the reader translates to the "
                               "model's UNTDID 2005 (3, 35, 432); a CII document carrying 3, 35 or 432 itself "
                               "(invalid in CII) reads as the valid code"),
    "BR-DEC-15": (CII_STRICTER, "the CII variant checks the decimals of BT-111 as CII does, but when BT-6 equals "
                                "the invoice currency the reader keeps no BT-6, and CII then checks BT-110 under "
                                "BR-DEC-15 too"),
}
