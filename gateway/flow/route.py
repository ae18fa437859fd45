"""Route: who an invoice is for, found by the buyer's identifiers.

The buyer's electronic address (BT-49, scheme BT-49-1) is what e-invoicing
networks route on, so it comes first; then the buyer identifier (BT-46), the
legal registration identifier (BT-47) and the VAT identifier (BT-48). Every
identifier tried is reported, so a held document says exactly what was looked
for. Identifiers without a scheme are not guessed at (a bare number could be
a SIRET or a GLN).

French addresses (``gateway.model.addressing``) are answered as the PPF
directory answers them: by the most specific line a member (or a network's
directory) has for them: an address ``SIREN_SIRET_code`` by that line, else
the SIRET's (``0225`` ``SIREN_SIRET`` or ``0009``), else the SIREN's (``0225``
``SIREN`` or ``0002``); a SIRET or SIREN identifier the same way from its level.

Precedence: a member of this gateway (an active partner known by any of the
identifiers) first, whichever identifier finds it; then, for French
identifiers (0225, 0009, 0002), the local mirror of the PPF annuaire
(``gateway.networks.annuaire``: the most specific line in effect names the
platform that receives, and the partner of ours that *is* that platform gets
the invoice); only then the directories of the interconnected networks (active
networks whose access point partner is active), in the same identifier order.
A member is never sent the long way round through another network. Several
networks listing the same identifier are settled by the lowest network id (the
oldest interconnection), and the reason says which others list it too.

The first identifier the annuaire has a line for decides: a line naming our
own platform with no member answering holds the document (it is ours to
receive, nobody else's); a line naming a platform we have no connection to
lets the networks' directories try, and holds it saying so when none lists it.
Only the mirror is read: routing never waits on the network.

Last, Peppol: a buyer found nowhere else whose electronic address (BT-49) is
under an ISO 6523 scheme goes to the partner standing for the Peppol network
(on the ``peppol`` channel with ``network: true``), the address as its
participant id; whether it is registered is discovery's answer at send time
(SML and SMP), not routing's: routing never waits on the network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import Network, NetworkParticipant, Partner, PartnerIdentifier, SCHEMES, normalise_identifier
from gateway.model.addressing import routing_levels
from gateway.networks import annuaire
from gateway.model.invoice import Invoice

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
    also_listed_by: list[str] = field(default_factory=list)     # other networks' codes listing it
    networks_searched: int = 0                     # active network directories looked in
    # The PPF annuaire's line that answered (the route's partner is then the platform it names).
    annuaire: Optional["AnnuaireAnswer"] = None
    # Found nowhere else, reached through Peppol: the buyer's address as a participant id
    # (the route's partner is then the one standing for the Peppol network).
    peppol: Optional[str] = None

    @property
    def via(self) -> Optional[str]:
        """The channel a route without a member of ours goes by (None: nobody to deliver to)."""
        return "network" if self.partner is None and self.network is not None else None

    @property
    def reason(self) -> str:
        if self.partner is not None and self.peppol is not None:
            return (f"Peppol participant {self.peppol} (by {self.matched}), reached through {self.partner.name}: "
                    "its access point is found through the SML and its SMP when the invoice is sent"
                    + (f"; {self.annuaire.text}, a platform we have no connection to" if self.annuaire else ""))
        if self.partner is not None and self.annuaire is not None:
            return f"{self.annuaire.text}: routed to {self.partner.name} by {self.matched}"
        if self.partner is not None:
            return f"routed to {self.partner.name} by {self.matched}"
        if self.network is not None:
            scheme, value = self.participant or ("?", "?")
            text = f"reachable through network {self.network.code} as {scheme}:{value} (by {self.matched})"
            if self.also_listed_by:
                text += (f"; also listed by {', '.join(self.also_listed_by)}: {self.network.code} chosen "
                         "as the oldest interconnection")
            return text
        if not self.tried:
            return "no buyer identifier with a scheme (BT-49, BT-46, BT-47, BT-48) to route by"
        text = "no partner known by " + ", ".join(self.tried)
        if self.annuaire is not None:
            text += f"; {self.annuaire.text} (by {self.annuaire.matched}), {self.annuaire.held}"
        if self.networks_searched:
            text += f"; not listed in the directory of any of the {self.networks_searched} interconnected network(s)"
        return text


@dataclass(frozen=True)
class AnnuaireAnswer:
    """A line of the PPF annuaire's mirror that answered an identifier, and the platform it names."""
    line: str                                     # "123456789_12345678900011_SERV1"
    platform: str                                 # its matricule
    platform_name: Optional[str]
    matched: str                                  # what found it, as Route.matched says it
    ours: bool = False                            # the platform is ours (EDIGATE_PLATFORM_ID)

    @property
    def text(self) -> str:
        name = "ours" if self.ours else self.platform_name
        return f"annuaire: {self.line} received by platform {self.platform}" + (f" ({name})" if name else "")

    @property
    def held(self) -> str:
        if self.ours:
            return "but no member of ours is known by it"
        return (f"and no connection to platform {self.platform} is configured (a partner with the identifier "
                f"{annuaire.PLATFORM_SCHEME}:{self.platform}, or on the pa channel with that platform_id)")


@dataclass(frozen=True)
class _Candidate:
    label: str                                   # "BT-49 0088:5790000435951"
    levels: tuple[tuple[tuple[str, str], ...], ...]   # normalised (scheme, value) keys, most specific level first

    def matched(self, level: int) -> str:
        """What found the route: the identifier, and the directory line when a less specific one did."""
        if level == 0:
            return self.label
        scheme, value = self.levels[level][0]
        return f"{self.label} (its line {scheme}:{value})"


def _candidates(invoice: Invoice) -> list[_Candidate]:
    b = invoice.buyer
    if b is None:
        return []
    raw = []
    for term, ident in (("BT-49", b.electronic_address), ("BT-46", b.identifier),
                        ("BT-47", b.legal_registration_identifier)):
        if ident is not None and ident.value and ident.scheme:
            raw.append((term, (ident.scheme,), ident.value))
    if b.vat_identifier:
        raw.append(("BT-48", VAT_SCHEMES, b.vat_identifier))
    out = []
    for term, schemes, value in raw:
        try:
            keys = tuple(normalise_identifier(sc, value) for sc in schemes)
        except ValueError:
            continue
        levels = (keys,) if len(keys) > 1 else tuple(routing_levels(*keys[0]))
        out.append(_Candidate(f"{term} {schemes[0] if len(schemes) == 1 else 'VAT'}:{keys[0][1]}", levels))
    return out


# Built once: each look-up only binds its identifiers ((scheme, value) pairs, a row-value IN),
# instead of building and hashing a new statement per invoice.
_MEMBER = (sa.select(Partner).join(PartnerIdentifier)
           .where(sa.tuple_(PartnerIdentifier.scheme, PartnerIdentifier.value).in_(sa.bindparam("keys", expanding=True)),
                  Partner.active.is_(True))
           .limit(1))


def _member(session: Session, keys: tuple[tuple[str, str], ...]) -> Optional[Partner]:
    return session.scalar(_MEMBER, {"keys": list(keys)})


def _usable_networks():
    """Active networks whose access point (a partner) is active too."""
    return sa.and_(Network.active.is_(True), Partner.active.is_(True))


_LISTINGS = (sa.select(NetworkParticipant)
             .join(Network, NetworkParticipant.network_id == Network.id)
             .join(Partner, Network.partner_id == Partner.id)
             .where(sa.tuple_(NetworkParticipant.scheme, NetworkParticipant.value)
                    .in_(sa.bindparam("keys", expanding=True)), _usable_networks())
             .order_by(Network.id, NetworkParticipant.id))
_USABLE_NETWORKS = (sa.select(sa.func.count()).select_from(Network).join(Partner, Network.partner_id == Partner.id)
                    .where(_usable_networks()))


def _listings(session: Session, keys: tuple[tuple[str, str], ...]) -> list[NetworkParticipant]:
    """Every usable network's listing of one of ``keys``, oldest network first."""
    return list(session.scalars(_LISTINGS, {"keys": list(keys)}))


def _annuaire(session: Session, candidates: list[_Candidate], day: date) -> Optional[tuple[AnnuaireAnswer, Optional[Partner]]]:
    """The first identifier the annuaire's mirror has a line for, by its most specific line in
    effect on ``day``, and the partner of ours that is the platform it names (None: none, or ours)."""
    for c in candidates:
        for level, keys in enumerate(c.levels):
            line = annuaire.line_for(session, keys, day)
            if line is None:
                continue
            ours = line.platform_id == annuaire.own_platform(session)
            answer = AnnuaireAnswer(line.label, line.platform_id, line.platform_name, c.matched(level), ours)
            return answer, (None if ours else annuaire.platform_partner(session, line.platform_id))
    return None


def resolve(session: Session, invoice: Invoice, *, today: Optional[date] = None) -> Route:
    """The member the invoice is addressed to, else the platform the annuaire names, else the
    network that reaches it, else a Route saying what was tried. ``today``: the day the
    annuaire's lines are judged in effect on (default: today in France)."""
    route = Route(partner=None)
    candidates = _candidates(invoice)
    route.tried = [c.label for c in candidates]
    for c in candidates:
        for level, keys in enumerate(c.levels):
            partner = _member(session, keys)
            if partner is not None:
                route.partner, route.matched = partner, c.matched(level)
                return route
    if not candidates:
        return route
    found = _annuaire(session, candidates, today or annuaire.today_in_france())
    if found is not None:
        route.annuaire, platform = found
        if platform is not None:
            route.partner, route.matched = platform, route.annuaire.matched
            return route
        if route.annuaire.ours:
            return route
    for c in candidates:
        for level, keys in enumerate(c.levels):
            listed = _listings(session, keys)
            if not listed:
                continue
            first = listed[0]
            route.network, route.matched = first.network, c.matched(level)
            route.participant = (first.scheme, first.value)
            route.also_listed_by = sorted({p.network.code for p in listed if p.network_id != first.network_id})
            route.annuaire = None
            return route
    if _through_peppol(session, invoice, route):
        return route
    route.networks_searched = session.scalar(_USABLE_NETWORKS) or 0
    return route


def _through_peppol(session: Session, invoice: Invoice, route: Route) -> bool:
    """Found nowhere else: the buyer's electronic address (BT-49, what Peppol routes on) under an
    ISO 6523 scheme, and a partner standing for the Peppol network to send it through."""
    from gateway.channels import peppol
    from gateway.networks.peppol.identifiers import from_partner
    address = invoice.buyer.electronic_address if invoice.buyer is not None else None
    if address is None or not address.value or not address.scheme:
        return False
    participant = from_partner(address.scheme, address.value)
    if participant is None:
        return False
    candidates = session.scalars(sa.select(Partner).where(
        Partner.active.is_(True), Partner.preferred_channel == peppol.NAME).order_by(Partner.id).limit(50))
    network = next((p for p in candidates if peppol.is_network(p)), None)
    if network is None:
        return False
    route.partner, route.peppol = network, participant.uri
    route.matched = f"BT-49 {address.scheme}:{''.join(address.value.split())}"
    return True


def lookup_participant(session: Session, scheme: str, value: str) -> Optional[NetworkParticipant]:
    """The listing of ``scheme``/``value`` in an interconnected network's directory (oldest usable
    network first), or None. ``scheme`` is a code or a label (``SIRET``, ``GLN``, ``VAT``…); a VAT
    number is looked for under every VAT scheme, as routing does. Onboarding uses it to leave alone
    a counterparty another network already reaches."""
    from gateway.model.identifiers import scheme_code
    try:
        code = scheme_code(scheme, value)
    except ValueError:
        if scheme.strip().upper() != "VAT":
            return None
        code = "VAT"
    schemes = VAT_SCHEMES if code in VAT_SCHEMES else (code,)
    try:
        keys = tuple(normalise_identifier(sc, value) for sc in schemes)
    except ValueError:
        return None
    listed = _listings(session, keys)
    return listed[0] if listed else None
