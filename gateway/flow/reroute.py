"""Held documents leave once their recipient is known: an unknown recipient never loses a document.

A valid document nobody was known by is ``held`` (``gateway.flow.process``). When a
partner enrols, gets a new identifier or is enabled, or a network directory
starts listing the buyer, ``reroute_held`` gives each such document its
delivery exactly as the pipeline would have (``flow.plan``: same channel
profile, same syntaxes, same records), reading the invoice again from the
original bytes kept with its exchange.

Once only: the document is claimed by compare-and-set ``held`` → ``routed`` in
the transaction that records its delivery, so two calls at once (the sweep and
an enrolment's prompt, two workers) deliver it once; the loser records nothing.

Cheap to call often: held documents are first matched on the identifiers kept in
their summary (no file is read for a document whose buyer is still unknown).
The sweep only calls it when something that routing reads has changed
(``routing_state``), or for documents held since its last look.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Iterable, Optional

import sqlalchemy as sa

from gateway.db import (ControlHold, DocumentRecord, Exchange, Network, NetworkParticipant, Partner, PartnerIdentifier,
                        compare_and_set, summarise, utcnow)
from gateway.model.invoice import Buyer, Identifier, Invoice
from gateway.flow import plan as delivery_plan

log = logging.getLogger("edigate.reroute")


def _buyer_of(doc: DocumentRecord) -> Invoice:
    """Just enough of an invoice for routing, from the document's summary columns."""
    def ident(value: Optional[str], scheme: Optional[str]) -> Optional[Identifier]:
        return Identifier(value, scheme) if value else None
    return Invoice(buyer=Buyer(name=doc.buyer_name, vat_identifier=doc.buyer_vat_id,
                               electronic_address=ident(doc.buyer_endpoint_id, doc.buyer_endpoint_scheme),
                               legal_registration_identifier=ident(doc.buyer_id, doc.buyer_id_scheme)))


def _candidates(gw, partner_id: Optional[int], document_ids: Optional[Iterable[int]]) -> list[tuple[int, str, int]]:
    """Held documents routing would now send somewhere: (id, original content key, position)."""
    from gateway.flow.route import resolve
    out = []
    with gw.session() as s:
        q = (sa.select(DocumentRecord, Exchange.content_sha256).join(Exchange, DocumentRecord.exchange_id == Exchange.id)
             .where(DocumentRecord.status == "held").order_by(DocumentRecord.id)
             .where(DocumentRecord.id.not_in(ControlHold.open_document_ids())))    # held for a confirmation
        if document_ids is not None:
            q = q.where(DocumentRecord.id.in_(list(document_ids)))
        for doc, key in s.execute(q).all():
            route = resolve(s, _buyer_of(doc))
            if route.partner is None and route.network is None:
                continue
            if partner_id is not None and (route.partner is None or route.partner.id != partner_id):
                continue
            out.append((doc.id, key, doc.position))
    return out


def _invoice(gw, key: str, position: int, cache: dict) -> Any:
    from gateway.syntaxes import read_documents
    if key not in cache:
        cache[key] = read_documents(gw.payloads.get(key))
    docs = cache[key]
    return docs[position].invoice if position < len(docs) else None


def reroute_held(gw, *, partner_id: Optional[int] = None, now: Optional[datetime] = None,
                 document_ids: Optional[Iterable[int]] = None) -> list[int]:
    """Deliver the held documents whose recipient is now known (only those routed to ``partner_id``
    when given; only ``document_ids`` when given). Returns the ids of the documents this call
    delivered (another call's are not in it)."""
    from gateway.flow.route import resolve
    now = now or utcnow()
    done: list[int] = []
    cache: dict = {}
    for doc_id, key, position in _candidates(gw, partner_id, document_ids):
        try:
            invoice = _invoice(gw, key, position, cache)
        except Exception:                       # the bytes were read once; log and leave it held
            log.exception("held document %s: cannot read its invoice again", doc_id)
            continue
        if invoice is None:
            continue
        with gw.session() as s:
            route = resolve(s, invoice)
            plan = delivery_plan.choose(s, gw.settings, route, invoice)
        if plan is None:
            continue
        plan.reason = f"was held, recipient now known: {plan.reason}"
        delivery_plan.prepare(gw, plan, invoice, summarise(invoice))
        sends: list[int] = []
        with gw.session() as s:
            claimed = compare_and_set(s, DocumentRecord, DocumentRecord.id == doc_id, DocumentRecord.status == "held",
                                      status="routed", updated_at=now)
            if claimed != 1:
                continue                        # another call has it
            rec = s.get(DocumentRecord, doc_id)
            s.refresh(rec)
            sends = delivery_plan.record(s, gw, rec, plan, now,
                                         fallback_name=f"document-{rec.exchange_id}-{rec.position}")
        done.append(doc_id)
        for out_id in sends:
            gw.jobs.send(out_id)
    if done:
        log.info("rerouted %d held document(s): %s", len(done), done)
    return done


def routing_state(gw) -> tuple:
    """A cheap fingerprint of what routing reads (partners, their identifiers, networks and
    their directories): when it changes, held documents may have somewhere to go."""
    with gw.session() as s:
        def one(q):
            return tuple(s.execute(q).one())
        return (one(sa.select(sa.func.count(), sa.func.max(PartnerIdentifier.id)).select_from(PartnerIdentifier)),
                one(sa.select(sa.func.count(), sa.func.max(Partner.updated_at))
                    .select_from(Partner).where(Partner.active.is_(True))),
                one(sa.select(sa.func.count(), sa.func.max(Network.updated_at))
                    .select_from(Network).where(Network.active.is_(True))),
                one(sa.select(sa.func.count(), sa.func.max(NetworkParticipant.id)).select_from(NetworkParticipant)))


def latest_held(gw) -> int:
    with gw.session() as s:
        return s.scalar(sa.select(sa.func.coalesce(sa.func.max(DocumentRecord.id), 0))
                        .where(DocumentRecord.status == "held")) or 0


class RerouteWatch:
    """What the sweep saw last: reroute everything held when routing's state changed, else only
    documents held since."""

    def __init__(self) -> None:
        self.state: Optional[tuple] = None
        self.held_upto = 0

    def run(self, gw, now: datetime) -> int:
        state, upto = routing_state(gw), latest_held(gw)
        if state != self.state:
            done = reroute_held(gw, now=now)
        elif upto > self.held_upto:
            with gw.session() as s:
                ids = list(s.scalars(sa.select(DocumentRecord.id).where(
                    DocumentRecord.status == "held", DocumentRecord.id > self.held_upto)))
            done = reroute_held(gw, now=now, document_ids=ids)
        else:
            done = []
        self.state, self.held_upto = state, upto
        return len(done)
