"""An operator's way out for a failed delivery: plan it again with the recipient's current profile.

A delivery can fail before anything is sent (unusable channel settings, no postal
address for paper, a syntax that cannot be written) or after its sends (a mailbox
refusing, a partner's AS2 server giving up). Retrying the outbound exchange only
helps the second kind, and only with the old settings; once the operator has fixed
the partner, ``redeliver`` plans the document again exactly as the pipeline does
(``flow.plan``: same routing, same channel profile, same syntaxes), on the same
delivery row: ``failed`` → ``pending`` with who asked, then the new plan's outcome
(a new outbound exchange, the next print batch, available to pull, or failed again
with the new reason).

Once only: the delivery is claimed by compare-and-set ``failed`` → ``pending`` in the
transaction that records the new plan, so two clicks at once redeliver it once.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from gateway.db import Delivery, DocumentRecord, StatusError, compare_and_set, summarise, utcnow
from gateway.flow import plan as delivery_plan


def _invoice(gw, doc: DocumentRecord) -> Any:
    """The document's invoice, read again from the original bytes kept with its exchange."""
    from gateway.syntaxes import read_documents
    docs = read_documents(gw.payloads.get(doc.exchange.content_sha256))
    if doc.position >= len(docs):
        raise StatusError(f"document {doc.id}: its original file no longer holds document {doc.position}")
    return docs[doc.position].invoice


def redeliver(gw, delivery_id: int, by: str, *, now: Optional[datetime] = None) -> Delivery:
    """Plan failed delivery ``delivery_id`` again with its recipient's current channel profile and
    record the outcome. Raises ``LookupError`` (no such delivery) or ``StatusError`` (it is not
    failed: only a failed delivery is redelivered; the reason says where it stands)."""
    from gateway.flow.route import resolve
    now = now or utcnow()
    with gw.session() as s:
        d = s.get(Delivery, delivery_id)
        if d is None:
            raise LookupError(f"no delivery {delivery_id}")
        if d.status != "failed":
            raise StatusError(f"delivery {delivery_id} is {d.status}: only a failed delivery can be redelivered")
        doc = d.document
        invoice = _invoice(gw, doc)
        route = resolve(s, invoice)
        plan = delivery_plan.choose(s, gw.settings, route, invoice)
        if plan is None:
            raise StatusError(f"delivery {delivery_id}: document {doc.id}'s recipient is no longer known "
                              f"({route.reason})")
        document_recipient = plan.document_recipient_id or plan.recipient_id
        if document_recipient != (doc.recipient_partner_id or d.recipient_partner_id):
            raise StatusError(f"delivery {delivery_id}: document {doc.id} now routes to another recipient "
                              f"(partner {document_recipient}); {route.reason}")
    plan.reason = f"redelivery requested by {by}: {plan.reason}"
    delivery_plan.prepare(gw, plan, invoice, summarise(invoice))
    with gw.session() as s:
        claimed = compare_and_set(s, Delivery, Delivery.id == delivery_id, Delivery.status == "failed",
                                  updated_at=now)
        if claimed != 1:
            raise StatusError(f"delivery {delivery_id} is no longer failed: redelivered meanwhile")
        d = s.get(Delivery, delivery_id)
        d.set_status("pending", f"redelivery requested by {by} after: {d.reason or 'failure'}", at=now)
        rec = d.document
        sends = delivery_plan.record(s, gw, rec, plan, now, delivery=d,
                                     fallback_name=f"document-{rec.exchange_id}-{rec.position}")
        s.flush()
        s.expunge(d)
    for out_id in sends:
        gw.jobs.send(out_id)
    return d
