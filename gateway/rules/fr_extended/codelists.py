"""BR-FREXT-CL-10, BR-FREXT-CL-20, BR-FREXT-CL-24: the code lists EXTENDED-CTC-FR widens.

Party identifier schemes (BR-CL-10) also take BY and SE; attachments
(BR-CL-24) may also be XML; charge reason codes (BR-CL-20) may also be
UNCL 5153 tax codes when the code's list identifier says so (a list
identifier the model does not hold: on the model a charge reason code is a
UNCL 7161 one, as for EN 16931).
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import RULES
from ..access import get, items
from ..codelists import code_set, in_list
from ..registry import register
from .common import RULE_SET, Hit, frext

FAMILY = "BR-FREXT-CL"
EXTRA_SCHEMES = ("BY", "SE")
EXTRA_MIME = ("application/xml", "text/xml")


@frext("BR-FREXT-CL-10", FAMILY, terms=("BT-29-1", "BT-46-1", "BT-60-1"))
def br_frext_cl_10(inv: Any) -> Iterator[Hit]:
    """A party identifier's scheme (BT-29-1, BT-46-1, BT-60-1) is an ISO 6523 ICD, BY or SE (SEPA too for the
    seller and the payee). — Tout identifiant doit être codé selon la liste ISO 6523 ICD, plus BY et SE."""
    found = [(f"seller.identifiers[{k}].scheme", "BT-29-1", ident.scheme, True)
             for k, ident in items(get(inv, "seller.identifiers"))]
    found.append(("buyer.identifier.scheme", "BT-46-1", get(inv, "buyer.identifier.scheme"), False))
    found.append(("payee.identifier.scheme", "BT-60-1", get(inv, "payee.identifier.scheme"), True))
    for path, term, scheme, sepa in found:
        if scheme is None or in_list(scheme, "ISO_6523_ICD") or in_list(scheme, "ICD_EXTRA_SELLER_PAYEE") and sepa:
            continue
        if scheme.strip() in EXTRA_SCHEMES:
            continue
        yield Hit(path, f"The identifier scheme ({term}) {scheme!r} is not an ISO 6523 ICD, BY or SE.", (term,))


register("BR-FREXT-CL-20", RULES["BR-CL-20"].check, terms=RULES["BR-CL-20"].terms, rule_set=RULE_SET, family=FAMILY,
         description="A charge reason code (BT-105, BT-145) belongs to UNCL 7161 (or to UNCL 5153 when its list "
                     "identifier says so). — Les codes de motif de charge doivent appartenir à la liste UNCL 7161.")


@frext("BR-FREXT-CL-24", FAMILY, terms=("BT-125-1",))
def br_frext_cl_24(inv: Any) -> Iterator[Hit]:
    """An attachment's MIME code (BT-125-1) is one EN 16931 allows, or XML (application/xml, text/xml). — Le code
    MIME d'une pièce jointe doit être l'un de ceux autorisés, XML compris."""
    for k, doc in items(get(inv, "supporting_documents")):
        mime = get(doc, "attachment.mime_code")
        if mime is not None and mime not in code_set("MIME") and mime not in EXTRA_MIME:
            yield Hit(f"supporting_documents[{k}].attachment.mime_code",
                      f"The attachment MIME code (BT-125-1) {mime!r} is not one EXTENDED-CTC-FR allows.")
