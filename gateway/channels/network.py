"""Another platform's network: the document goes to its access point, in a syntax it accepts.

A recipient reached through a network (its channel ``network``, or a buyer found
only in a network's directory) gets its invoice by the network's access point —
a partner of ours, over AS2 or SFTP — in the first syntax the network accepts
that we write, with the participant identifier written where the network routes
on (``addressing``: BT-49 by default) unless the invoice has one already.

A recipient's network settings (``network`` in its channel settings): ``network``
(the network's code, ``edigate network list``).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional

import sqlalchemy as sa

from gateway.db import Network, NetworkParticipant, Partner
from gateway.delivery.channel import Channel, ChannelSettingsError, DeliveryPlan
from gateway.delivery.outbound import file_exchange
from gateway.model.invoice import Identifier
from gateway.syntaxes import writable

DEFAULT_FORMAT = "ubl"
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass(frozen=True)
class NetworkProfile:
    network: str = ""
    why: str = ""
    channel: str = field(default="network", init=False)


def _member_participant(s, network: Network, partner: Partner) -> Optional[tuple[str, str]]:
    pairs = [(i.scheme, i.value) for i in partner.identifiers]
    if not pairs:
        return None
    row = s.scalar(sa.select(NetworkParticipant).where(
        NetworkParticipant.network_id == network.id,
        sa.or_(*(sa.and_(NetworkParticipant.scheme == sc, NetworkParticipant.value == v) for sc, v in pairs)))
        .order_by(NetworkParticipant.id).limit(1))
    return (row.scheme, row.value) if row is not None else None


def plan_for(s, network: Network, participant: Optional[tuple[str, str]], reason: str,
             *, member: Optional[Partner] = None) -> DeliveryPlan:
    """The delivery to ``network``'s access point for ``participant`` (``member``: the partner of
    ours reached that way, if any), or the reason it cannot go."""
    access = network.partner
    fmt = next((f for f in (network.formats or []) if f in writable()), None)
    transport = "as2" if access is not None and access.as2_url else "sftp"
    plan = DeliveryPlan(recipient_id=network.partner_id, channel="network", format=fmt or DEFAULT_FORMAT,
                        reason=reason, syntaxes=(fmt,) if fmt else (), transport=transport,
                        network_id=network.id)
    if not network.active or access is None or not access.active:
        plan.failure = f"network {network.code} is disabled (or its access point partner is)"
    elif fmt is None:
        plan.failure = (f"network {network.code} accepts {', '.join(network.formats or []) or 'no syntax'}, "
                        f"none of which we write ({', '.join(writable())})")
    elif participant is None:
        plan.failure = (f"{member.name if member else 'the recipient'} is not listed in network "
                        f"{network.code}'s directory by any of its identifiers")
    else:
        options = network.addressing or {}
        term = str(options.get("endpoint", "BT-49")).upper()
        override = str(options.get("override", "")).lower() in ("1", "true", "yes")
        if term == "BT-49":
            plan.extra["addressing"] = (term, f"{participant[0]}:{participant[1]}", override)
        plan.reason += f"; forwarded to network {network.code} as {fmt} over {transport}"
    return plan


class NetworkChannel(Channel):
    name, label = "network", "Network"
    self_service = True
    settings_keys = ("network",)

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        code = settings.get("network")
        if not isinstance(code, str) or not _CODE.match(code.strip()):
            raise ChannelSettingsError("network.network", "expected the code of the network the partner is "
                                                          "reached through (e.g. PEPPOL-AP-X)")
        out = {"network": code.strip()}
        if session is not None and session.scalar(sa.select(Network.id).where(Network.code == out["network"])) is None:
            raise ChannelSettingsError("network.network", f"no network {out['network']!r} is known "
                                                          "(see `edigate network list`)")
        return out

    def settings_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": ["network"],
                "properties": {"network": {"type": "string", "pattern": _CODE.pattern}}}

    def readiness(self, settings: Mapping[str, Any], contact_email: Optional[str]) -> Optional[str]:
        if not settings.get("network"):
            return "the network channel needs the network's code (network.network)"
        return None

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> NetworkProfile:
        if not settings.get("network"):
            raise ChannelSettingsError("network.network", "the network channel needs the network's code")
        return NetworkProfile(network=settings["network"], why=why)

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        network = session.scalar(sa.select(Network).where(Network.code == plan.profile.network))
        if network is None:
            plan.failure = (f"{partner.name} is to be reached through network {plan.profile.network!r}, "
                            "which is unknown")
            return plan
        planned = plan_for(session, network, _member_participant(session, network, partner), plan.reason,
                           member=partner)
        planned.document_recipient_id = partner.id
        return planned

    def plan_route(self, session: Any, route: Any) -> DeliveryPlan:
        """A buyer nobody of ours is, found in a network's directory."""
        return plan_for(session, route.network, route.participant, route.reason)

    def document(self, plan: DeliveryPlan, invoice: Any) -> Any:
        """The invoice as the network needs it: the participant identifier in BT-49 when absent."""
        addressing = plan.extra.get("addressing")
        if addressing is None or invoice.buyer is None:
            return invoice
        _, ident, override = addressing
        scheme, value = ident.split(":", 1)
        current = invoice.buyer.electronic_address
        if current is not None and current.value and not override:
            return invoice
        out = copy.deepcopy(invoice)
        out.buyer.electronic_address = Identifier(value, scheme)
        return out

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        return [file_exchange(session, delivery, plan, rec, now, fallback_name=fallback_name, note=plan.reason)]


channel = NetworkChannel()
