"""A channel the tests alone register carries a document through the whole path, no server.

This is the proof that a channel is one module: ``PigeonChannel`` below is defined
here, registered in the registry for the test, chosen by a partner, validated as
its settings say, planned, recorded, sent by the job that sends every channel's
exchanges, swept, and found by the partner API's validation — and nothing in
``gateway/flow``, ``gateway/delivery``, the web or the CLI names it.
"""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any, Mapping

import pytest
import sqlalchemy as sa

from gateway import channels
from gateway.config import load_settings
from gateway.db import Delivery, DocumentRecord, Exchange, Partner
from gateway.delivery.channel import Channel, ChannelSettingsError, DeliveryPlan, registry
from gateway.delivery.outbound import file_exchange
from gateway.delivery.state import set_status
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.runtime import Gateway
from gateway.syntaxes import read_document, write_document

from tests.support.invoice_builder import build_invoice

GLN = "5790000435951"


class PigeonChannel(Channel):
    """Carries a file to a loft; each loft has a ring number (its only setting)."""

    name, label = "pigeon", "Carrier pigeon"
    settings_keys = ("ring",)

    def __init__(self) -> None:
        self.loft: list[tuple[str, bytes, str]] = []      # (filename, bytes, ring)
        self.swept = 0

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        ring = settings.get("ring")
        if ring is not None and (not isinstance(ring, str) or not ring.isdigit()):
            raise ChannelSettingsError("pigeon.ring", "a ring number is digits")
        return {"ring": ring} if ring else {}

    def profile(self, partner, settings, *, gateway_settings, invoice=None, why=""):
        return SimpleNamespace(channel=self.name, why=why, ring=settings.get("ring", "0"))

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.transport = self.name
        plan.extra["ring"] = plan.profile.ring
        return plan

    def record(self, session, gw, rec, delivery, plan, now: datetime, *, fallback_name: str) -> list[int]:
        return [file_exchange(session, delivery, plan, rec, now, fallback_name=fallback_name,
                              note=f"{plan.reason}; by pigeon ring {plan.extra['ring']}")]

    def send(self, gw: Any, exchange_id: int) -> str:
        with gw.session() as s:
            ex = s.get(Exchange, exchange_id)
            ring = (ex.partner.channel_settings or {}).get("pigeon", {}).get("ring", "0")
            self.loft.append((ex.filename, gw.payloads.get(ex.content_sha256), ring))
            set_status(ex, "sent", f"released towards loft {ring}")
            return ex.status

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        self.swept += 1
        return {"pigeon_sweeps": self.swept}


@pytest.fixture
def pigeon():
    channel = registry.register(PigeonChannel())
    yield channel
    registry.unregister(channel.name)


@pytest.fixture
def gw(tmp_path):
    gateway = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    yield gateway
    gateway.close()


def test_a_channel_registered_by_the_tests_carries_an_invoice_end_to_end(gw, pigeon):
    assert "pigeon" in channels.names() and registry.get("pigeon") is pigeon
    settings = channels.validate_channel_settings("pigeon", {"ring": "4217"})
    with pytest.raises(ChannelSettingsError, match="pigeon.ring: a ring number is digits"):
        channels.validate_channel_settings("pigeon", {"ring": "four"})
    with pytest.raises(ChannelSettingsError, match="pigeon.wings: unknown setting"):
        channels.validate_channel_settings("pigeon", {"wings": 2})
    with gw.session() as s:
        p = Partner(name="Loft Ltd", preferred_format="cii", preferred_channel="pigeon",
                    channel_settings={"pigeon": settings})
        p.add_identifier("0088", GLN)
        s.add(p)

    inv = build_invoice()
    inv.number = "PIGEON-1"
    inv.buyer.electronic_address = Identifier(GLN, "0088")
    receive_file(gw, write_document(inv, "ubl").data, channel="api", filename="in.xml")

    assert [(name, ring) for name, _, ring in pigeon.loft] == [("PIGEON-1.xml", "4217")]
    carried = read_document(pigeon.loft[0][1])
    assert carried.syntax == "cii" and carried.invoice.number == "PIGEON-1"
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.number == "PIGEON-1"))
        [delivery] = s.scalars(sa.select(Delivery).where(Delivery.document_id == doc.id)).all()
        assert (delivery.channel, delivery.status, doc.status) == ("pigeon", "delivered", "delivered")
        assert doc.business_status == "received"
        out = s.get(Exchange, delivery.exchange_id)
        assert out.channel == "pigeon" and out.status == "sent"
        assert any("by pigeon ring 4217" in (e.reason or "") for e in delivery.history)

    before = pigeon.swept
    counts = gw.jobs.sweep()
    assert counts["pigeon_sweeps"] == before + 1 == pigeon.swept


def test_an_unregistered_channel_is_refused_where_partners_are_set(gw):
    assert "pigeon" not in channels.names()
    with pytest.raises(ValueError, match="channel"):
        Partner(name="x", preferred_channel="pigeon")
    with pytest.raises(ChannelSettingsError, match="'pigeon' is not one of"):
        channels.validate_channel_settings("pigeon", {})
