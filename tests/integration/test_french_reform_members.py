"""Members subject to the French reform (``french_reform``) are held to the French rules both ways:
what they send is checked with the ``fr`` profile, and what is routed to them from a sender checked
otherwise gets the French rules too; an invoice that breaks one is refused, naming the BR-FR rule,
and never delivered. Partners not marked keep their own profile (EN 16931 by default).
"""
from __future__ import annotations

from typing import Optional

import sqlalchemy as sa

from tests.support.fr_invoice import BUYER_SIREN, build_french_invoice
from tests.support.web_seed import app, client, gw, people  # noqa: F401 - fixtures

API = "/api/v1"


def _french(number: str):
    invoice = build_french_invoice()
    invoice.number = number                 # one number each: not a duplicate of the one before
    return invoice


def _without_seller_siren(number: str):
    invoice = _french(number)
    invoice.seller.legal_registration_identifier = None      # BR-FR-10_BT-30: the seller's SIREN is required
    return invoice


def _partner(gw, name: str, *, reform: bool = False, profile=None, ids=()) -> int:
    from gateway.db import Partner
    with gw.session() as s:
        p = Partner(name=name, french_reform=reform, validation_profile=profile, preferred_channel="api")
        for scheme, value in ids:
            p.add_identifier(scheme, value)
        s.add(p)
        s.flush()
        return p.id


def _send(gw, sender_id: int, invoice, notes: Optional[list[str]] = None):
    """Receive ``invoice`` (as UBL) from ``sender_id`` and process it; the exchange's status and
    reason, and each document's (profile, valid, status, French rule ids fatal, deliveries); the
    FR-REFORM notes added to ``notes``."""
    from gateway.db import Delivery, DocumentRecord, Exchange
    from gateway.flow.process import process_exchange
    from gateway.flow.receive import receive_file
    from gateway.syntaxes import write_document
    ex_id = receive_file(gw, write_document(invoice, "ubl").data, channel="api", partner_id=sender_id,
                         filename="facture.xml").id
    process_exchange(gw, ex_id)
    with gw.session() as s:
        ex = s.get(Exchange, ex_id)
        docs = s.scalars(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex_id)).all()
        (notes if notes is not None else []).extend(f["message"] for d in docs for f in d.findings if f["rule"] == "FR-REFORM")
        out = [(d.validation_profile, d.valid, d.status,
                sorted(f["rule"] for f in d.findings if f["severity"] == "fatal" and f["rule"].startswith("BR-FR")),
                s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.document_id == d.id)))
               for d in docs]
        return ex.status, ex.reason, out


def test_a_sender_subject_to_the_reform_has_its_invoices_checked_with_the_french_rules(make_gateway) -> None:
    gw = make_gateway()
    gw.jobs.send = lambda exchange_id, at=None: None
    _partner(gw, "Acheteur SA", ids=[("0002", BUYER_SIREN)])
    plain = _partner(gw, "Vendeur ordinaire")
    subject = _partner(gw, "Vendeur assujetti", reform=True)

    # the same invoice: fine by EN 16931 alone, refused by the French rules
    status, _, [(profile, valid, _, fr_fatal, deliveries)] = _send(gw, plain, _without_seller_siren("FA-1"))
    assert (status, profile, valid, fr_fatal, deliveries) == ("processed", "en16931", True, [], 1)
    status, reason, [(profile, valid, _, fr_fatal, deliveries)] = _send(gw, subject, _without_seller_siren("FA-2"))
    assert (status, profile, valid, fr_fatal, deliveries) == ("rejected", "fr", False, ["BR-FR-10_BT-30"], 0)
    assert "first BR-FR-10_BT-30" in reason

    # a French invoice that meets the rules goes, checked with the French profile (hence the French cycle)
    status, _, [(profile, valid, doc_status, fr_fatal, deliveries)] = _send(gw, subject, _french("FA-4"))
    assert (status, profile, valid, fr_fatal, deliveries) == ("processed", "fr", True, [], 1)


def test_a_subject_sender_keeps_its_own_french_profile_and_a_warning_profile_is_made_strict(make_gateway) -> None:
    from gateway.db import Partner
    from gateway.flow.process import validation_profile
    assert validation_profile(Partner(name="a", french_reform=True, validation_profile="fr-extended")) == "fr-extended"
    assert validation_profile(Partner(name="b", french_reform=True, validation_profile="fr-warning")) == "fr"
    assert validation_profile(Partner(name="c", french_reform=True, validation_profile="peppol")) == "fr"
    assert validation_profile(Partner(name="d", french_reform=False, validation_profile="fr-warning")) == "fr-warning"
    assert validation_profile(Partner(name="e", french_reform=False)) == "en16931"


def test_an_invoice_for_a_recipient_subject_to_the_reform_is_refused_when_it_breaks_a_french_rule(
        make_gateway) -> None:
    gw = make_gateway()
    gw.jobs.send = lambda exchange_id, at=None: None
    sender = _partner(gw, "Fournisseur étranger")          # not subject: checked with EN 16931
    _partner(gw, "Acheteur assujetti", reform=True, ids=[("0002", BUYER_SIREN)])

    notes: list[str] = []
    status, reason, [(profile, valid, doc_status, fr_fatal, deliveries)] = \
        _send(gw, sender, _without_seller_siren("FA-3"), notes)
    assert (status, profile, valid, doc_status, fr_fatal, deliveries) == \
        ("rejected", "fr", False, "invalid", ["BR-FR-10_BT-30"], 0)
    assert "first BR-FR-10_BT-30" in reason
    assert notes == ["refused for Acheteur assujetti, subject to the French reform: 1 French rule(s) broken, "
                     "first BR-FR-10_BT-30"]

    status, _, [(profile, valid, doc_status, fr_fatal, deliveries)] = _send(gw, sender, _french("FA-5"))
    assert (status, profile, valid, fr_fatal, deliveries) == ("processed", "fr", True, [], 1)


def test_the_api_sets_and_shows_whether_a_partner_is_subject_to_the_reform(gw, client, people) -> None:  # noqa: F811
    r = client.post(f"{API}/partners", json={"name": "Vendeur SA", "french_reform": "yes"},
                    headers=people.auth("olivia"))
    assert r.status_code == 422 and "french_reform" in r.get_json()["details"], r.get_json()
    r = client.post(f"{API}/partners", json={"name": "Vendeur SA", "french_reform": True},
                    headers=people.auth("olivia"))
    assert r.status_code == 201 and r.get_json()["french_reform"] is True, r.get_json()
    partner_id = r.get_json()["id"]
    r = client.patch(f"{API}/partners/{partner_id}", json={"french_reform": False}, headers=people.auth("olivia"))
    assert r.status_code == 200 and r.get_json()["french_reform"] is False
