"""Where the CII binding of the CEN schematron means something else than the UBL one.

The rules of this package follow the UBL binding (CEN schematron 1.3.16).
The CII binding of the same rule ids differs in meaning for the rules below
- not merely in syntax - so on a CII document the official verdict can
differ from ours. Each entry says which way:

* ``UBL_STRICTER``: ours (UBL) may fire where the CII binding does not;
  whenever CII fires, we fire too.
* ``CII_STRICTER``: the CII binding may fire where we do not; whenever we
  fire, CII fires too.
* ``DIFFERS``: either may fire without the other.

Differences in *how often* a rule fires (UBL checks once per invoice where
CII checks once per line, e.g. BR-S-02, BR-CO-18) are not listed: the
verdict is the same. The agreement test (tests/test_rules_vs_schematron.py)
uses this table for CII files; COVERAGE.md explains it to people.
"""
from __future__ import annotations

UBL_STRICTER = "ubl-stricter"
CII_STRICTER = "cii-stricter"
DIFFERS = "differs"

_CAT_ONCE = ("CII also rejects a VAT breakdown of this category that no line, allowance or charge "
             "uses (UBL only requires it to be there exactly once when the category is used)")
_CAT_USED = ("CII does not reject a VAT breakdown of this category that no line, allowance or charge "
             "uses (UBL does)")
_SUM_EXACT = ("CII compares within +/-1 after rounding each partial sum and does not require invoice "
              "lines; UBL compares the exact sum and requires lines")
_SUM_RATE = ("CII compares the taxable amount per rate exactly, after rounding each partial sum; UBL "
             "within +/-1, and rejects a rate nothing uses")

_SHADOWED = ("in CII the templates for VAT breakdowns of category O, L and M match the breakdown element "
             "itself and so shadow the generic breakdown template: on those breakdowns the rule never fires")

CII_DIFFERENCES: dict[str, tuple[str, str]] = {
    "BR-09": (CII_STRICTER, "CII checks the seller country code (BT-40) even when there is no seller postal address"),
    "BR-11": (CII_STRICTER, "CII checks the buyer country code (BT-55) even when there is no buyer postal address"),
    "BR-20": (CII_STRICTER, "CII checks the tax representative country code (BT-69) even without its postal address"),
    "BR-17": (DIFFERS, "UBL compares the payee name with the seller trading name (BT-28) and the payee "
                       "identifiers with the seller identifiers; CII with the seller name (BT-27), "
                       "identifier and legal registration identifier (BT-30)"),
    "BR-45": (UBL_STRICTER, _SHADOWED),
    "BR-46": (UBL_STRICTER, _SHADOWED),
    "BR-48": (UBL_STRICTER, _SHADOWED),
    "BR-DEC-19": (UBL_STRICTER, _SHADOWED),
    "BR-DEC-20": (UBL_STRICTER, _SHADOWED),
    "BR-49": (UBL_STRICTER, "in UBL the remittance information (BT-83) lives in the payment means, so BG-16 "
                            "with only BT-83 needs a payment means code; in CII it does not"),
    "BR-51": (CII_STRICTER, "fatal in CII, a warning in UBL"),
    "BR-53": (CII_STRICTER, "CII also rejects a VAT accounting currency (BT-6) equal to the invoice currency (BT-5)"),
    "BR-55": (CII_STRICTER, "CII also rejects a blank preceding invoice reference (UBL: only a missing one)"),
    "BR-56": (CII_STRICTER, "CII also rejects a blank tax representative VAT identifier"),
    "BR-57": (CII_STRICTER, "CII also rejects a blank deliver-to country code"),
    "BR-61": (UBL_STRICTER, "UBL requires an account identifier whenever the payment means is a credit "
                            "transfer; CII only checks the accounts that are there"),
    "BR-62": (CII_STRICTER, "CII also rejects a blank scheme identifier"),
    "BR-63": (CII_STRICTER, "CII also rejects a blank scheme identifier"),
    "BR-64": (CII_STRICTER, "CII also rejects a blank scheme identifier"),
    "BR-65": (CII_STRICTER, "CII also rejects a blank scheme identifier"),
    "BR-CO-03": (UBL_STRICTER, "CII only checks when there is a VAT breakdown, and not on one of category "
                               "O, L or M (" + _SHADOWED + ")"),
    "BR-CO-09": (DIFFERS, "UBL tests the first two characters as a substring of the prefix list, CII as a "
                          "whole code; the lists differ (UBL has SS, CII AN)"),
    "BR-CO-13": (UBL_STRICTER, "without allowances and charges UBL compares BT-109 with BT-106 exactly, CII "
                               "after rounding to two decimals"),
    "BR-CO-14": (DIFFERS, "CII checks BT-110 against the breakdown even when there is no VAT breakdown, "
                          "but does not check at all when BT-110 is missing"),
    "BR-CO-26": (UBL_STRICTER, "UBL does not count a seller identifier (BT-29) with scheme SEPA, CII does"),
    "BR-CO-15": (UBL_STRICTER, "UBL requires BT-110; CII also accepts BT-112 = BT-109 without it"),
    "BR-CO-16": (DIFFERS, "UBL rounds to two decimals, CII compares exactly"),
    "BR-CO-17": (UBL_STRICTER, "UBL's +/-1 tolerance is strict, CII's inclusive; and " + _SHADOWED),
    "BR-CO-18": (UBL_STRICTER, "CII checks once per invoice line, so an invoice without lines is not checked"),
    "BR-CO-19": (CII_STRICTER, "in UBL the invoicing period may hold only the VAT point date code (BT-8)"),
    "BR-DEC-13": (CII_STRICTER, "never fires in UBL (the test's currency filter is always empty); CII checks "
                                "the value of BT-110"),
    "BR-DEC-15": (CII_STRICTER, "never fires in UBL (the test's currency filter is always empty); CII checks "
                                "the value of BT-111"),
    "BR-CL-06": (DIFFERS, "CII carries UNTDID 2475 codes (5, 29, 72), which the reader translates to the "
                          "model's UNTDID 2005 (3, 35, 432); other codes pass through untranslated"),
    "BR-CL-08": (DIFFERS, "UBL only checks three-character subject codes, against a shorter UNTDID 4451 list"),
    "BR-CL-10": (DIFFERS, "UBL checks every party identifier scheme here (SEPA allowed for seller and payee); "
                          "CII only global identifiers, the others under BR-CL-11"),
    "BR-CL-11": (DIFFERS, "UBL checks the legal registration identifier schemes; CII every ram:ID with a "
                          "scheme outside tax registrations"),
    "BR-CL-17": (DIFFERS, "UBL checks the breakdown and allowance/charge categories here; CII the "
                          "allowance/charge categories only (breakdown categories under BR-CL-18)"),
    "BR-CL-18": (DIFFERS, "UBL checks the line categories here; CII the line and breakdown categories"),
    "BR-CL-14": (DIFFERS, "the ISO 3166 lists differ (UBL has SS, CII AN)"),
    "BR-CL-15": (DIFFERS, "the ISO 3166 lists differ (UBL has SS, CII AN)"),
    "BR-S-01": (UBL_STRICTER, _CAT_USED),
    "BR-AF-01": (UBL_STRICTER, _CAT_USED),
    "BR-AG-01": (UBL_STRICTER, _CAT_USED),
    "BR-Z-01": (CII_STRICTER, _CAT_ONCE),
    "BR-E-01": (CII_STRICTER, _CAT_ONCE),
    "BR-AE-01": (CII_STRICTER, _CAT_ONCE),
    "BR-IC-01": (CII_STRICTER, _CAT_ONCE),
    "BR-G-01": (CII_STRICTER, _CAT_ONCE),
    "BR-O-01": (DIFFERS, "CII accepts lines of category O without an O breakdown and rejects an O breakdown "
                         "nothing uses; UBL the other way round"),
    "BR-AF-05": (CII_STRICTER, "CII requires a rate above 0, UBL 0 or above"),
    "BR-AF-06": (CII_STRICTER, "CII requires a rate above 0, UBL 0 or above"),
    "BR-AF-07": (CII_STRICTER, "CII requires a rate above 0, UBL 0 or above"),
    "BR-S-08": (DIFFERS, _SUM_RATE),
    "BR-AF-08": (DIFFERS, _SUM_RATE),
    "BR-AG-08": (DIFFERS, _SUM_RATE),
    "BR-Z-08": (UBL_STRICTER, _SUM_EXACT),
    "BR-E-08": (UBL_STRICTER, _SUM_EXACT),
    "BR-AE-08": (UBL_STRICTER, _SUM_EXACT),
    "BR-IC-08": (UBL_STRICTER, _SUM_EXACT),
    "BR-G-08": (UBL_STRICTER, _SUM_EXACT),
    "BR-O-08": (DIFFERS, "CII rounds each partial sum and does not require lines; UBL compares the exact sum "
                         "and requires lines"),
    "BR-AF-09": (UBL_STRICTER, "CII asserts true()"),
    "BR-AG-09": (UBL_STRICTER, "CII asserts true()"),
    "BR-IC-11": (CII_STRICTER, "in CII the VAT point date code (BT-8) does not count as an invoicing period"),
    "BR-IC-12": (UBL_STRICTER, "UBL requires a country code longer than one character"),
    "BR-O-11": (CII_STRICTER, "CII also rejects invoice lines of another category here"),
    "BR-O-12": (CII_STRICTER, "CII also rejects VAT breakdowns of another category here"),
    "BR-O-13": (CII_STRICTER, "CII also rejects charges, and line level allowances, of another category here"),
    "BR-O-14": (CII_STRICTER, "CII also rejects allowances, and line level charges, of another category here"),
    "BR-B-01": (DIFFERS, "UBL also requires the items' countries of origin to be IT"),
}
