"""Registering to be reached through an interconnected network the company already belongs to: the
network must list one of its identifiers (it delivers by them)."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from gateway.db import Network, NetworkParticipant
from gateway.syntaxes import writable

from .base import ChannelForm, ChannelInput, ChannelPart, check_settings


def networks(session: Session) -> list[Network]:
    """The interconnected networks one may choose to be reached through."""
    return list(session.scalars(sa.select(Network).where(Network.active.is_(True)).order_by(Network.name)))


def _chosen(inp: ChannelInput) -> Optional[Network]:
    """The chosen network, which must list one of the identifiers given."""
    v, errors, idents = inp.values, inp.errors, inp.identifiers
    raw = v["network_id"].strip()
    network = inp.session.get(Network, int(raw)) if (raw.isascii() and raw.isdigit()) else None
    if network is None or not network.active:
        errors["network_id"] = _("choose the network you belong to from the list")
        return None
    if idents:
        listed = inp.session.scalar(sa.select(NetworkParticipant.id).where(
            NetworkParticipant.network_id == network.id,
            sa.tuple_(NetworkParticipant.scheme, NetworkParticipant.value).in_(idents)).limit(1))
        if listed is None:
            errors["network_id"] = _("%(network)s's directory does not list your identifiers (%(ids)s): choose "
                                     "another way to receive, or ask that network to publish you first",
                                     network=network.name, ids=", ".join(value for _s, value in idents))
    return network


def read(inp: ChannelInput) -> ChannelPart:
    """The network, by its code in the settings; the preferred format is the first the network
    accepts that we write."""
    network = _chosen(inp)
    if network is None:
        return ChannelPart()
    settings = check_settings(inp, "network", {"network": network.code}, {"network.": "network_id"})
    accepted = [f for f in network.formats or () if f in writable()]
    return ChannelPart(settings=settings, preferred_format=accepted[0] if accepted else None,
                       extra={"network_id": network.id})


def prefill(cp: Any) -> dict[str, str]:
    return {"network_id": ""}


def context(session: Session, values: Mapping[str, str]) -> dict[str, Any]:
    return {"networks": networks(session)}


def disabled(context: Mapping[str, Any]) -> bool:
    return not context["networks"]


FORM = ChannelForm(read=read, template="onboarding/_channel_network.html", fields=("network_id",),
                   prefill=prefill, context=context, disabled=disabled)
