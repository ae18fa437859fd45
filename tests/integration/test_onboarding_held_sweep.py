"""The onboarding sweep proposes the buyers of held documents as counterparties (source
``held_document``) on its own, and only passes over held documents when there may be news."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.db import DocumentRecord, Exchange, utcnow
from onboarding.held import PROPOSE_EVERY
from onboarding.models import Counterparty
from onboarding.tasks import extension
from tests.support.onboarding_fixtures import onboarding_gateway, siret


@pytest.fixture
def gw(tmp_path, smtp_server):  # noqa: F811
    g = onboarding_gateway(tmp_path / "home", smtp_server)
    yield g
    g.close()


def hold(gw, number: str, buyer: str, buyer_siret: str) -> None:
    with gw.session() as s:
        ex = Exchange.inbound("api")
        s.add(ex)
        s.flush()
        s.add(DocumentRecord(exchange=ex, position=0, syntax="ubl", mapping="ubl-invoice", valid=True, status="held",
                             number=number, buyer_name=buyer, buyer_id_scheme="0009", buyer_id=buyer_siret))


def proposed(gw) -> list[tuple[str, str]]:
    with gw.session() as s:
        return [(c.name, c.siret) for c in s.scalars(sa.select(Counterparty).where(
            Counterparty.source == "held_document").order_by(Counterparty.id))]


def test_the_sweep_proposes_a_held_documents_buyer_once(gw) -> None:
    now = utcnow()
    ext = extension(gw)
    assert ext.sweep(now).get("counterparties_proposed") is None          # nothing held: nothing to do
    hold(gw, "INV-1", "Unknown Buyer SARL", siret(50))
    assert ext.sweep(now + timedelta(minutes=1))["counterparties_proposed"] == 1
    assert proposed(gw) == [("Unknown Buyer SARL", siret(50))]
    assert ext.sweep(now + timedelta(minutes=2)).get("counterparties_proposed") is None   # once
    hold(gw, "INV-2", "Second Buyer SAS", siret(51))                      # a newer held document: seen next minute
    assert ext.sweep(now + timedelta(minutes=3))["counterparties_proposed"] == 1
    assert proposed(gw) == [("Unknown Buyer SARL", siret(50)), ("Second Buyer SAS", siret(51))]


def test_without_a_newer_held_document_the_sweep_skips_until_the_period_is_over(gw, monkeypatch) -> None:
    now = utcnow()
    hold(gw, "INV-1", "Unknown Buyer SARL", siret(50))
    ext = extension(gw)
    passes = []
    import onboarding.held as held
    real = held.propose_from_held
    monkeypatch.setattr(held, "propose_from_held", lambda g, now: passes.append(now) or real(g, now=now))
    ext.sweep(now)
    ext.sweep(now + timedelta(minutes=1))
    ext.sweep(now + timedelta(minutes=2))
    assert passes == [now]                                                # one cheap max(id) query meanwhile
    ext.sweep(now + PROPOSE_EVERY)
    assert passes == [now, now + PROPOSE_EVERY]                           # and a full pass now and then


def test_a_buyer_proposed_meanwhile_by_another_sweep_is_counted_known_not_an_error(gw, monkeypatch) -> None:
    """Two processes sweeping at once may both find the buyer new; the unique dedupe key lets one
    insert, and the other counts it known instead of failing (a failing sweep once stopped serve)."""
    import onboarding.importer as importer
    hold(gw, "INV-1", "Raced Buyer SARL", siret(52))
    hold(gw, "INV-2", "Other Buyer SAS", siret(53))
    with gw.session() as s:          # what the other process committed a moment ago
        s.add(Counterparty(name="Raced Buyer SARL", siret=siret(52), siren=siret(52)[:9],
                           dedupe_key=f"0009:{siret(52)}", source="held_document"))
    monkeypatch.setattr(importer, "_counterparty_index", lambda s, rows: {})     # our look-up missed it
    counts = importer.propose_from_held(gw)
    assert counts["proposed"] == 1 and counts["known"] == 1
    assert sorted(proposed(gw)) == [("Other Buyer SAS", siret(53)), ("Raced Buyer SARL", siret(52))]


def test_a_failing_extension_sweep_does_not_stop_the_gateway_sweep(gw, monkeypatch) -> None:
    ext = gw.jobs.extensions["onboarding"]

    def broken(now):
        raise RuntimeError("a bug in an extension")
    monkeypatch.setattr(ext, "sweep", broken)
    counts = gw.jobs.sweep(utcnow())
    assert "process" in counts and "counterparties_proposed" not in counts
