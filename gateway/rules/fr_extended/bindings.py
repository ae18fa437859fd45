"""Where the EXTENDED-CTC-FR stylesheets for UBL and CII mean different things.

The ``fr-extended`` rules carry the UBL stylesheet's ids (``CII_IDS`` maps the
CII ones) and follow its meaning; the profile drops the EN 16931 rules the UBL
stylesheet replaces (``REPLACED``). ``DIFFERENCES`` says, per syntax, which way
the stylesheet's verdict may differ from ours (kinds of ``gateway.rules.fr.bindings``).
"""
from __future__ import annotations

from ..fr.bindings import DIFFERS, OURS_STRICTER, THEIRS_STRICTER

__all__ = ["DIFFERENCES", "OURS_STRICTER", "THEIRS_STRICTER", "DIFFERS"]

_CII_DROPS = ("the CII stylesheet drops this EN 16931 rule (replaced by its own BR-FREXT-BR-* or none); the UBL one, "
              "which we follow, keeps it")

_DOUBLE = ("the UBL stylesheet sums the lines in xs:double, so a taxable amount exactly 0.01 per element off is "
           "just over its tolerance (100.01 - 100.0 is 0.010000000000005116); the CII one accepts it")

_SHADOWED = ("the EXTENDED-CTC-FR CII stylesheet has its own template for the VAT breakdowns of every category "
             "(AE, E, G, K, L, M, O, S, Z), each shadowing the generic breakdown template: this rule only fires "
             "there on breakdowns of another category; the CEN CII binding, which the rule's CII variant follows, "
             "shadows it on O, L and M only")

DIFFERENCES: dict[str, dict[str, tuple[str, str]]] = {
    "UBL": {},
    "CII": {
        **{rule_id: (OURS_STRICTER, _CII_DROPS) for rule_id in (
            "BR-38", "BR-44", "BR-AE-01", "BR-AF-10", "BR-AG-01", "BR-AG-10", "BR-CL-07", "BR-CO-22", "BR-CO-24",
            "BR-O-09", "BR-O-10")},
        **{f"BR-FREXT-{f}-08{s}": (OURS_STRICTER, _DOUBLE) for f in ("S", "Z", "E", "AE", "IC", "G", "O", "AF", "AG")
           for s in ("", "ini", "rev")},
        **{rule_id: (OURS_STRICTER, _SHADOWED) for rule_id in (
            "BR-45", "BR-46", "BR-48", "BR-CO-03", "BR-DEC-19", "BR-DEC-20")},
        "BR-CO-25": (THEIRS_STRICTER, "the CII stylesheet checks credit notes too; the UBL one Invoice documents only"),
    },
}
