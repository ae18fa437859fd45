"""A partner from the API (POST / PATCH /api/v1/partners) applied to the record.

The body's shape, types and vocabularies, and the checks the administration CLI
also uses (``gateway.partners.checks``: SHA-1, 3DES, a URL without a host…), are
``schemas.PartnerInput``'s: it reports every problem at once (the API answers
422). What needs the database is here: the AS2 identity named must exist
(else ``Conflict``: 409, like a clash), no other partner may have the same name, AS2 id or identifier
(``Conflict``: 409, before the unique constraints would), and the resulting
channel must be usable. ``identifiers``, when given, is the partner's whole
list: identifiers missing from it are removed, kept ones keep their rows.
``channel_settings`` changes merge over the partner's: each channel given
replaces that channel's settings (null removes them), the others stay.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..channels import profiles
from ..db import AS2Identity, Partner, PartnerIdentifier


class Invalid(ValueError):
    def __init__(self, details: dict[str, str]):
        super().__init__("invalid partner: " + "; ".join(f"{k}: {v}" for k, v in details.items()))
        self.details = details


class Conflict(ValueError):
    def __init__(self, message: str, details: Optional[dict[str, Any]] = None):
        super().__init__(message)
        self.details = details


def _clashes(s: Session, partner_id: Optional[int], columns: Mapping[str, Any],
             identifiers: Optional[list[tuple[str, str]]]) -> None:
    other = (Partner.id != partner_id) if partner_id is not None else sa.true()
    if "name" in columns and s.scalar(sa.select(Partner.id).where(Partner.name == columns["name"], other)):
        raise Conflict(f"a partner named {columns['name']!r} exists already", {"field": "name"})
    if columns.get("as2_id") and s.scalar(sa.select(Partner.id).where(Partner.as2_id == columns["as2_id"], other)):
        raise Conflict(f"AS2 id {columns['as2_id']!r} belongs to another partner", {"field": "as2.id"})
    for scheme, value in identifiers or ():
        owner = s.scalar(sa.select(PartnerIdentifier.partner_id)
                         .where(PartnerIdentifier.scheme == scheme, PartnerIdentifier.value == value))
        if owner is not None and owner != partner_id:
            raise Conflict(f"identifier {scheme}:{value} belongs to partner {owner}",
                           {"field": "identifiers", "partner": owner})


def _settle_channel(s: Session, partner: Optional[Partner], columns: dict[str, Any]) -> None:
    """The channel settings given merged over the partner's, and the resulting channel usable
    (an e-mail channel has an address, a network channel a known network)."""
    changes = columns.pop("channel_settings", None)
    current = dict((partner.channel_settings if partner is not None else None) or {})
    if changes is not None:
        for channel, settings in changes.items():
            if settings:
                current[channel] = settings
            else:
                current.pop(channel, None)
        network = current.get("network")
        if network and "network" in changes:
            try:
                profiles.validate_channel_settings("network", network, session=s)
            except profiles.ChannelSettingsError as e:
                raise Invalid({"channel_settings.network.network": e.problem}) from None
        columns["channel_settings"] = current
    if changes is not None or "preferred_channel" in columns or "contact_email" in columns:
        channel = columns.get("preferred_channel", partner.preferred_channel if partner is not None else None)
        contact = columns.get("contact_email", partner.contact_email if partner is not None else None)
        problem = profiles.readiness(channel, current, contact)
        if problem:
            raise Invalid({"channel_settings": problem})


def apply(s: Session, partner: Optional[Partner], values: Mapping[str, Any]) -> Partner:
    """A new partner (``partner`` None) or ``partner`` changed, from ``values``: a body as
    ``schemas.PartnerInput`` loaded it (column values, ``identifiers`` as normalised pairs, the
    ``channel_settings`` changes). Flushed."""
    columns = dict(values)
    identifiers: Optional[list[tuple[str, str]]] = columns.pop("identifiers", None)
    identity = columns.get("as2_identity_id")
    if identity is not None and s.get(AS2Identity, identity) is None:
        raise Conflict(f"no AS2 identity {identity} (see `edigate org list`)", {"field": "as2.identity_id"})
    _clashes(s, partner.id if partner is not None else None, columns, identifiers)
    _settle_channel(s, partner, columns)
    if partner is None:
        partner = Partner()
        s.add(partner)
    for column, value in columns.items():
        setattr(partner, column, value)
    if identifiers is not None:
        wanted = set(identifiers)
        for ident in list(partner.identifiers):
            if (ident.scheme, ident.value) not in wanted:
                partner.identifiers.remove(ident)
        have = {(i.scheme, i.value) for i in partner.identifiers}
        for scheme, value in identifiers:
            if (scheme, value) not in have:
                partner.add_identifier(scheme, value)
    s.flush()
    return partner
