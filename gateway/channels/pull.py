"""Channels the recipient pulls from: its ERP through the pull API (``erp``), or the REST API
itself (``api``, also the way documents come in by upload). Nothing to configure: the
delivery is ``delivered`` as soon as it is recorded, and acknowledged when fetched."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.delivery.channel import Channel, DeliveryPlan


class PullChannel(Channel):
    def __init__(self, name: str, label: str, self_service: bool = False):
        self.name, self.label, self.self_service = name, label, self_service

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        delivery.set_status("delivered", f"{plan.reason}; available to pull ({plan.channel}) as {plan.format}",
                            at=now)
        return []


erp = PullChannel("erp", "ERP pull")
api = PullChannel("api", "REST API")
