"""Delivery channels: how each recipient receives its invoices, as data, and the senders behind them.

* ``profiles``: a partner's channel profile from ``preferred_channel`` and
  ``channel_settings`` (checked by ``validate_channel_settings``), and the
  fallback for a recipient that chose none.
* ``plan``: one document's delivery decided, written and recorded (the pipeline
  and ``reroute`` both use it).
* ``email``: invoice mails and portal notifications, built once, sent by the outbox.
* ``paper``: print batches (cover sheet + human-readable PDF per invoice).
* ``reroute``: held documents delivered once their recipient becomes known.
* ``redelivery``: a failed delivery planned again once the operator has fixed its partner.
* ``status``: deliveries meeting the invoice's life cycle (``acknowledge_delivery``).
"""
from __future__ import annotations

from typing import Optional

from .profiles import (ATTACH, ChannelProfile, ChannelSettingsError, PostalAddress, profile_for,
                       validate_all, validate_channel_settings)
from gateway.delivery.state import acknowledge_delivery

__all__ = ["ATTACH", "ChannelProfile", "ChannelSettingsError", "PostalAddress", "profile_for",
           "validate_all", "validate_channel_settings", "acknowledge_delivery", "reroute_held",
           "redeliver"]


def reroute_held(gw, *, partner_id: Optional[int] = None, now=None) -> list[int]:
    """See ``gateway.flow.reroute.reroute_held``."""
    from gateway.flow.reroute import reroute_held as run
    return run(gw, partner_id=partner_id, now=now)


def redeliver(gw, delivery_id: int, by: str):
    """See ``gateway.flow.redeliver.redeliver``."""
    from gateway.flow.redeliver import redeliver as run
    return run(gw, delivery_id, by)
