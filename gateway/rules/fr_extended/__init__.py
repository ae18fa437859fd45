"""The EXTENDED-CTC-FR rules (FNFE-MPE 1.4.0.03) on the model: rule set ``fr-extended``.

The EXTENDED-CTC-FR stylesheets (EXTENDED-CTC-FR-UBL and -CII) are the CEN
EN 16931 ones with some rules replaced by French versions (BR-FREXT-*) for
invoices in the EXTENDED-CTC-FR profile: totals and VAT breakdowns within a
tolerance, several breakdowns per VAT category, lines of sub-type GROUP or
INFORMATION left out of the sums. The profile ``fr-extended`` applies the
EN 16931 set without the rules these replace (``REPLACED``, the profile's
``without``), then ``fr``, then this set.

Families: ``totals`` (BR-FREXT-CO, BR-CO-25), ``vat`` (BR-FREXT-x-01, -08,
S-09), ``lines`` (BR-FREXT-22 ... 54), ``codelists`` (BR-FREXT-CL). The
rules that check what only the EXTENDED-CTC-FR syntax carries are left to
the stylesheets (``NOT_IMPLEMENTED``, with why; FR-COVERAGE.md).
"""
from __future__ import annotations

from . import totals  # noqa: F401 - importing registers the rules; totals first: families report in this order
from . import vat, lines, codelists  # noqa: F401,E402
from .common import RULE_SET

__all__ = ["RULE_SET", "REPLACED", "NOT_IMPLEMENTED", "CII_IDS"]

# EN 16931 rules the UBL EXTENDED-CTC-FR stylesheet removes (profiles.yaml: fr-extended's without)
REPLACED = ("BR-22", "BR-23", "BR-24", "BR-26", "BR-27", "BR-28", "BR-54", "BR-AE-08", "BR-AF-01", "BR-AF-08",
            "BR-AG-08", "BR-CL-10", "BR-CL-20", "BR-CL-24", "BR-CO-04", "BR-CO-10", "BR-CO-11", "BR-CO-12",
            "BR-CO-13", "BR-CO-15", "BR-CO-17", "BR-E-01", "BR-E-08", "BR-G-01", "BR-G-08", "BR-IC-01", "BR-IC-08",
            "BR-O-01", "BR-O-02", "BR-O-03", "BR-O-04", "BR-O-08", "BR-O-11", "BR-O-12", "BR-O-13", "BR-O-14",
            "BR-S-01", "BR-S-08", "BR-S-09", "BR-S-10", "BR-Z-01", "BR-Z-08", "BR-Z-10")

# the CII stylesheet's ids -> ours (the UBL stylesheet's)
CII_IDS: dict[str, str] = {
    "BR-FREXT-BR-22": "BR-FREXT-22", "BR-FREXT-BR-23": "BR-FREXT-23", "BR-FREXT-BR-24": "BR-FREXT-24",
    "BR-FREXT-BR-26": "BR-FREXT-26",
    **{f"BR-FXEXT-{f}-08{s}": f"BR-FREXT-{f}-08{s}" for f in ("S", "Z", "E", "AE", "IC", "G", "O", "AF", "AG")
       for s in ("", "ini", "rev")},
    "BR-FXEXT-S-09": "BR-FREXT-S-09",
}

_SUBLINES = ("checks the line sub-types (EXT-FR-FE-163) and parent lines (EXT-FR-FE-162) of EXTENDED-CTC-FR, which "
             "are not EN 16931 terms: the model does not hold them")
_SYNTAX = "a syntax rule of the EXTENDED-CTC-FR XML (elements allowed, cardinalities), not a business rule on the model"
NOT_IMPLEMENTED: dict[str, str] = {
    "BR-FREXT-05": _SUBLINES, "BR-FREXT-06": _SUBLINES, "BR-FREXT-08": _SUBLINES, "BR-FREXT-11": _SUBLINES,
    "BR-FREXT-12": _SUBLINES,
    "BR-FREXT-04": "the item attribute code (EXT-FR-FE-159) is not an EN 16931 term",
    "BR-FREXT-CL-27": "the delivery terms (Incoterms, EXT-FR-FE) are not an EN 16931 term",
    "BR-FREXT-CL-20-TAX": "the list identifier of a charge reason code (UNCL 5153 or 7161) is not an EN 16931 term",
    "BR-FREXT-CL-20-LISTID": "the list identifier of a charge reason code (UNCL 5153 or 7161) is not an EN 16931 term",
    "UBL-FREXT-SR-48": _SYNTAX, "UBL-FREXT-CR-410": _SYNTAX, "UBL-FREXT-CR-645": _SYNTAX,
    "CII-FREXT-CR-490": _SYNTAX,
}
