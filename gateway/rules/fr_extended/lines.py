"""BR-FREXT-22 ... BR-FREXT-CO-04, BR-FREXT-54: invoice lines and item attributes.

EXTENDED-CTC-FR asks BR-22, BR-23, BR-24, BR-26 and BR-CO-04 only of lines
that count in the totals: lines without a sub-type or of sub-type DETAIL
(EXT-FR-FE-163). The model holds no sub-type, so every line counts and the
checks are EN 16931's own. BR-54 (an attribute needs a name and a value)
becomes two rules, which also accept an attribute code (EXT-FR-FE-159) or a
value with its unit (EXT-FR-FE-160); neither is an EN 16931 term.
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import RULES
from ..access import get, items
from ..registry import register
from .common import RULE_SET, Hit, frext

FAMILY = "BR-FREXT"

for _ours, _cen, _doc in (
        ("BR-FREXT-22", "BR-22", "Each invoice line (BG-25) of sub-type DETAIL or none has an invoiced quantity "
                                 "(BT-129). — Chaque ligne de facture doit avoir une quantité facturée (BT-129)."),
        ("BR-FREXT-23", "BR-23", "Each invoice line (BG-25) of sub-type DETAIL or none has an invoiced quantity unit "
                                 "of measure code (BT-130). — Chaque ligne doit avoir une unité de mesure (BT-130)."),
        ("BR-FREXT-24", "BR-24", "Each invoice line (BG-25) of sub-type DETAIL or none has a net amount (BT-131). — "
                                 "Chaque ligne doit avoir un montant net (BT-131)."),
        ("BR-FREXT-26", "BR-26", "Each invoice line (BG-25) of sub-type DETAIL or none has an item net price "
                                 "(BT-146). — Chaque ligne doit avoir un prix net (BT-146)."),
        ("BR-FREXT-CO-04", "BR-CO-04", "Each invoice line (BG-25) of sub-type DETAIL or none has a VAT category code "
                                       "(BT-151). — Chaque ligne doit avoir un code de catégorie de TVA (BT-151).")):
    register(_ours, RULES[_cen].check, terms=RULES[_cen].terms, description=_doc, rule_set=RULE_SET, family=FAMILY)


def _attributes(inv: Any) -> Iterator[tuple[str, Any]]:
    for i, line in items(get(inv, "lines")):
        for k, attr in items(get(line, "item.attributes")):
            yield f"lines[{i}].item.attributes[{k}]", attr


@frext("BR-FREXT-54-1", FAMILY, terms=("BG-32", "BT-160"))
def br_frext_54_1(inv: Any) -> Iterator[Hit]:
    """Each item attribute (BG-32) has a name (BT-160) or an attribute code (EXT-FR-FE-159). — Chaque attribut
    d'article doit contenir un nom (BT-160) ou un code d'attribut (EXT-FR-FE-159)."""
    for path, attr in _attributes(inv):
        if attr.name is None:
            yield Hit(path, "An item attribute (BG-32) has no name (BT-160).")


@frext("BR-FREXT-54-2", FAMILY, terms=("BG-32", "BT-161"))
def br_frext_54_2(inv: Any) -> Iterator[Hit]:
    """Each item attribute (BG-32) has a value (BT-161) or a value with its unit (EXT-FR-FE-160), not both. —
    Chaque attribut d'article doit contenir une valeur (BT-161) ou une valeur avec unité (EXT-FR-FE-160), pas
    les deux."""
    for path, attr in _attributes(inv):
        if attr.value is None:
            yield Hit(f"{path}.value", "An item attribute (BG-32) has no value (BT-161).")
