"""BR-FR-MV and BR-FR-BD: multi-vendor (BT-23 S8, B8, M8) and bidirectional (S9, B9, M9) invoices.

Most of these rules check the EXTENDED-CTC-FR structure of such invoices:
line sub-types (GROUP, DETAIL, INFORMATION: EXT-FR-FE-163), parent lines
(EXT-FR-FE-162), each line's seller (EXT-FR-FE-164 to 177), line VAT totals
(EXT-FR-FE-181, 182, 184). None of these is an EN 16931 term, so they are
left to the stylesheets (``NOT_IMPLEMENTED``, FR-COVERAGE.md). What the
model holds is checked here: the invoice type a framework allows.
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import SELF_BILLED_TYPES, Hit, bidirectional, fr, get, multi_vendor, normalize_space


@fr("BR-FR-MV-13_BT-3", terms=("BT-3", "BT-23"))
def br_fr_mv_13(inv: Any) -> Iterator[Hit]:
    """A multi-vendor invoice (BT-23 = S8, B8, M8) is not self-billed: its type (BT-3) is not 389, 261, 501,
    500, 502, 471 or 473. — Lorsque le cadre de facturation est S8, B8 ou M8, le code type de facture ne doit
    pas être l'un des types auto-facturés suivants : 389, 261, 501, 500, 502, 471, 473."""
    code = get(inv, "type_code")
    if code is None or not multi_vendor(inv):
        return
    if normalize_space(code) == "" or normalize_space(code) in SELF_BILLED_TYPES:
        yield Hit("type_code", f"A multi-vendor invoice (BT-23 {normalize_space(inv.process_control.business_process)}) "
                               f"cannot be of the self-billed type (BT-3) {code!r}. — Le code type de facture ne "
                               "doit pas être un type auto-facturé.")


@fr("BR-FR-MV-BD_BT-3", terms=("BT-3", "BT-23"))
def br_fr_bd_13(inv: Any) -> Iterator[Hit]:
    """BR-FR-BD-13: a bidirectional invoice (BT-23 = S9, B9, M9) is self-billed: its type (BT-3) is 389, 261,
    501, 500, 502, 471 or 473. — Lorsque le cadre de facturation est S9, B9 ou M9, le code type de facture DOIT
    être l'un des types auto-facturés suivants : 389, 261, 501, 500, 502, 471, 473.

    The UBL stylesheet's id for this assert is BR-FR-MV-BD_BT-3 (CII: BR-FR-BD-13_BT-3)."""
    code = get(inv, "type_code")
    if code is None or not bidirectional(inv):
        return
    if normalize_space(code) not in SELF_BILLED_TYPES:
        yield Hit("type_code", f"A bidirectional invoice (BT-23 {normalize_space(inv.process_control.business_process)})"
                               f" must be of a self-billed type (BT-3), not {code!r}. — Le code type de facture DOIT "
                               "être un type auto-facturé.")
