"""The two Flux 2 stylesheets side by side: their ids, and where they mean different things.

The ``fr`` rules carry the ids of the UBL stylesheet (BR-FR-Flux2-Schematron-UBL,
FNFE-MPE 1.4.0.03). The CII stylesheet names some of the same asserts
otherwise (``CII_IDS``: its id -> ours) and lacks a few the UBL one makes
twice (``UBL_ONLY``). Where the two bindings of a rule mean different things,
the rule follows one of them and its docstring says which; ``DIFFERENCES``
says, per syntax, which way the verdict of the other can differ from ours:

* ``OURS_STRICTER``: we may fire where that stylesheet does not; whenever it
  fires, we fire too.
* ``THEIRS_STRICTER``: that stylesheet may fire where we do not; whenever we
  fire, it fires too.
* ``DIFFERS``: either may fire without the other.

The agreement test (tests/conformance/test_rules_fr_vs_schematron.py) uses these
tables; FR-COVERAGE.md explains them to people.
"""
from __future__ import annotations

OURS_STRICTER = "ours-stricter"
THEIRS_STRICTER = "theirs-stricter"
DIFFERS = "differs"

# the CII stylesheet's id -> the UBL one (ours), where they differ
CII_IDS: dict[str, str] = {
    "BR-FR-01_BT-1": "BR-FR-01_BT-1-1",
    "BR-FR-01_BT-25": "BR-FR-01_BT-25-1",
    "BR-FR-01_EXT-FR-FE-136": "BR-FR-01_EXT-FR-FE-136-1",
    "BR-FR-03_EXT-FR-FE-134": "BR-FR-03_BT-134",
    "BR-FR-03_EXT-FR-FE-135": "BR-FR-03_BT-135",
    "BR-FR-05_BT-22_PMT": "BR-FR-05_BT-22-1",
    "BR-FR-05_BT-22_PMD": "BR-FR-05_BT-22-2",
    "BR-FR-05_BT-22_AAB": "BR-FR-05_BT-22-3",
    "BR-FR-06_BT-21_PMT": "BR-FR-06_BT-21-1",
    "BR-FR-06_BT-21_PMD": "BR-FR-06_BT-21-2",
    "BR-FR-06_BT-21_AAB": "BR-FR-06_BT-21-3",
    "BR-FR-06_BT-21_TXD": "BR-FR-06_BT-21-4",
    "BR-FR-15_BT-95_BT-102": "BR-FR-15_BT-95_BT-102-1",
    "BR-FR-15_BT-95_BT-102_LM": "BR-FR-15_BT-95_BT-102-2",
    "BR-FR-15_BT-95_BT-118": "BR-FR-15_BT-118-1",
    "BR-FR-15_BT-95_BT-118_LM": "BR-FR-15_BT-118-2",
    "BR-FR-15_BT-95_BT-151": "BR-FR-15_BT-151-1",
    "BR-FR-15_BT-95_BT-151_LM": "BR-FR-08_BT-151-2",
    "BR-FR-16_BT-96_BT-103": "BR-FR-16_BT-96",
    "BR-FR-31_BT-21": "BR-FR-30_BT-21",
    "BR-FR-32-GLOBALID": "BR-FR-32-ID",
    "BR-FR-BD-02_BT-31": "BR-FR-BD-02_BT-30",
    "BR-FR-BD-13_BT-3": "BR-FR-MV-BD_BT-3",
    "BR-FR-CO-04_BT-4": "BR-FR-CO-04_BT-3",
}

# UBL asserts the CII stylesheet does not make: the same test as another assert of both
UBL_ONLY: dict[str, str] = {
    "BR-FR-01_BT-1-2": "the same test as BR-FR-02_BT-1",
    "BR-FR-01_BT-25-2": "the same test as BR-FR-02_BT-25",
    "BR-FR-01_EXT-FR-FE-136-2": "the same test as BR-FR-02_EXT-FR-FE-136",
    "BR-FR-16_BT-103": "shadowed by BR-FR-16_BT-96 in the UBL stylesheet (same context, same pattern)",
}

_CN_ROOT = "the UBL stylesheet reads cbc:DueDate, which a CreditNote does not have: there it never fires"
_BAR_FIRST = ("UBL reads the treatment after the first #BAR# of all notes joined together, up to the next #; "
              "CII compares the content of every note of subject code BAR")
_NO_CODE = ("CII also rejects a VAT category without its code; UBL checks the code only when it is there (a "
            "group without one is what the model holds as no code)")
_CII_GLOBALID = ("CII only checks ram:GlobalID; an identifier without a scheme is a ram:ID there (we read both as "
                 "the same term)")

DIFFERENCES: dict[str, dict[str, tuple[str, str]]] = {
    "UBL": {
        "BR-FR-03_BT-9": (OURS_STRICTER, _CN_ROOT),
        "BR-FR-CO-07_BT-9": (OURS_STRICTER, _CN_ROOT),
        "BR-FR-16_BT-152": (OURS_STRICTER, "the UBL stylesheet's context names cac:InvoiceLine only: credit note "
                                           "lines are not checked there"),
        "BR-FR-27_BG-32": (OURS_STRICTER, "the UBL stylesheet's context (cac:Item right under the root) matches "
                                          "nothing"),
        "BR-FR-CO-03_BT-3": (OURS_STRICTER, "the UBL stylesheet checks CreditNote documents only: a 262 under an "
                                            "Invoice root is not checked there"),
        "BR-FR-CO-05_BT-3": (OURS_STRICTER, "the UBL stylesheet checks CreditNote documents only (502 and 503 under "
                                            "an Invoice root are not), and counts lines' own references to a "
                                            "preceding invoice (EXT-FR-FE-136), which the model does not hold"),
        "BR-FR-28-Value": (OURS_STRICTER, "an attribute value with its unit (cbc:ValueQuantity, EXT-FR-FE-160) is "
                                          "not an EN 16931 term: an attribute with only that has no value here"),
        "BR-FR-DEC-01_BT-110": (THEIRS_STRICTER, "the UBL stylesheet's context (cac:TaxTotal/cbc:TaxAmount) also "
                                                 "matches a line's tax total (EXT-FR-FE-181 in EXTENDED-CTC-FR), "
                                                 "which the model does not hold"),
        "BR-FR-09_BT-71": (THEIRS_STRICTER, "the stylesheet compares the SIRET with the deliver-to party's SIREN, "
                                            "which the model does not hold"),
    },
    "CII": {
        "BR-FR-10_BT-30": (THEIRS_STRICTER, "CII checks the seller's SIREN on every invoice, UBL (and we) in the "
                                            "seller's legal entity group, which the seller name needs anyway"),
        "BR-FR-11_BT-47": (DIFFERS, _BAR_FIRST),
        "BR-FR-20_BT-21": (DIFFERS, _BAR_FIRST),
        "BR-FR-21_BT-49": (DIFFERS, _BAR_FIRST + "; and CII compares with the buyer's legal identifier of any "
                                                 "scheme, UBL with the one of scheme 0002"),
        "BR-FR-22_BT-34": (OURS_STRICTER, "UBL checks the seller's address for any BAR treatment of a self-billed "
                                          "invoice, CII only for B2B; " + _BAR_FIRST),
        "BR-FR-30_AFL": (OURS_STRICTER, "the CII stylesheet's context (an AdditionalReferencedDocument right under "
                                        "the line) is not where CII puts BT-128: it never fires"),
        "BR-FR-30_AVV": (OURS_STRICTER, "the CII stylesheet's context (an AdditionalReferencedDocument right under "
                                        "the line) is not where CII puts BT-128: it never fires"),
        "BR-FR-32-ID": (THEIRS_STRICTER, "CII checks every ram:GlobalID of scheme 0002 or 0231, also the deliver-to "
                                         "location's (BT-71) and the item's standard identifier (BT-157)"),
        "BR-FR-CO-10_BT-29-1": (OURS_STRICTER, _CII_GLOBALID),
        "BR-FR-CO-10_BT-46-1": (OURS_STRICTER, _CII_GLOBALID),
        "BR-FR-CO-10_BT-60-1": (OURS_STRICTER, _CII_GLOBALID),
        "BR-FR-CO-10_BT-71-1": (OURS_STRICTER, _CII_GLOBALID),
        "BR-FR-15_BT-95_BT-102-1": (THEIRS_STRICTER, _NO_CODE),
        "BR-FR-15_BT-118-1": (THEIRS_STRICTER, _NO_CODE),
        "BR-FR-15_BT-151-1": (THEIRS_STRICTER, _NO_CODE + " (but on lines of sub-type GROUP or INFORMATION)"),
        "BR-FR-CO-07_BT-9": (THEIRS_STRICTER, "CII also fires when the due date has no issue date to compare with"),
        "BR-FR-30_BT-21": (DIFFERS, "UBL counts the treatments written after BAR# in the notes holding #BAR#, CII "
                                    "the notes of subject code BAR whose content is a treatment"),
    },
}


def ours(syntax: str, official_id: str) -> str:
    """Our id for an id the official stylesheet of ``syntax`` (UBL, CII) reports."""
    return CII_IDS.get(official_id, official_id) if syntax == "CII" else official_id
