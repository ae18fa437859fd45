"""Route: which partner an invoice is for, found by the buyer's identifiers.

The buyer's electronic address (BT-49, scheme BT-49-1) is what e-invoicing
networks route on, so it comes first; then the buyer identifier (BT-46), the
legal registration identifier (BT-47) and the VAT identifier (BT-48). Every
identifier tried is reported, so a held document says exactly what was looked
for. Identifiers without a scheme are not guessed at (a bare number could be
a SIRET or a GLN).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .db import Network, Partner, PartnerIdentifier, SCHEMES, normalise_identifier
from .model import Invoice

# EAS / ICD codes that carry a VAT number, plus our own "VAT" spelling.
VAT_SCHEMES = ("VAT",) + tuple(code for code, label in SCHEMES.items() if label.startswith("VAT"))


@dataclass
class Route:
    partner: Optional[Partner]
    matched: Optional[str] = None                 # e.g. "BT-49 0088:5790000435951"
    tried: list[str] = field(default_factory=list)
    # Not a member, but listed in an interconnected network's directory: forward to it.
    network: Optional[Network] = None
    participant: Optional[tuple[str, str]] = None     # (scheme, value) the network knows it by

    @property
    def reason(self) -> str:
        if self.partner is not None:
            return f"routed to {self.partner.name} by {self.matched}"
        if not self.tried:
            return "no buyer identifier with a scheme (BT-49, BT-46, BT-47, BT-48) to route by"
        return "no partner known by " + ", ".join(self.tried)


def _candidates(invoice: Invoice) -> list[tuple[str, tuple[str, ...], str]]:
    b = invoice.buyer
    if b is None:
        return []
    out = []
    for term, ident in (("BT-49", b.electronic_address), ("BT-46", b.identifier),
                        ("BT-47", b.legal_registration_identifier)):
        if ident is not None and ident.value and ident.scheme:
            out.append((term, (ident.scheme,), ident.value))
    if b.vat_identifier:
        out.append(("BT-48", VAT_SCHEMES, b.vat_identifier))
    return out


def resolve(session: Session, invoice: Invoice) -> Route:
    """The active partner the invoice is addressed to, or a Route saying what was tried."""
    route = Route(partner=None)
    for term, schemes, value in _candidates(invoice):
        try:
            norm = [normalise_identifier(sc, value) for sc in schemes]
        except ValueError:
            continue
        label = f"{term} {schemes[0] if len(schemes) == 1 else 'VAT'}:{norm[0][1]}"
        route.tried.append(label)
        partner = session.scalar(
            sa.select(Partner).join(PartnerIdentifier)
            .where(sa.or_(*(sa.and_(PartnerIdentifier.scheme == sc, PartnerIdentifier.value == v)
                            for sc, v in norm)), Partner.active.is_(True))
            .limit(1))
        if partner is not None:
            route.partner, route.matched = partner, label
            return route
    return route
