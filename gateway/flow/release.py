"""Deliveries an approval held: they leave once the invoice is approved, never when it is refused.

``flow.plan`` records a delivery to an organisation whose approval rules made the invoice wait
as ``pending_approval`` (any channel but the portal, where the approvers read it): no exchange,
no file, no mail, no In flow, nothing to pull. When the case closes:

* **approved**: ``release`` plans the document again exactly as the pipeline does (``flow.plan``,
  the recipient's channel profile as it is now, as ``redeliver`` does) and records it on the same
  delivery row: ``pending_approval`` → ``pending`` → the channel's outcome (an outbound exchange,
  available to pull…). Once only: the row is claimed by compare-and-set on its status in the
  transaction that records the new plan, so the decision's call and the sweep release it once.
* **refused**: ``cancel`` (in the decision's transaction) ends it ``cancelled``; the refusal goes
  to the supplier in its status syntax as every life-cycle change does (``flow.lifecycle``).

``settle`` (from the approvals' sweep) does either for any case that closed while its release
did not happen (a worker stopped between the decision and the release).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa

from gateway.db import ApprovalCase, Delivery, DocumentRecord, compare_and_set, summarise, utcnow
from gateway.delivery.state import follow_document
from gateway.flow import plan as delivery_plan

log = logging.getLogger("edigate.release")

WAITING = "pending_approval"
MAX_PER_SWEEP = 200


def _invoice(gw, doc: DocumentRecord) -> Any:
    """The document's invoice, read again from the original bytes kept with its exchange."""
    from gateway.syntaxes import read_documents
    docs = read_documents(gw.payloads.get(doc.exchange.content_sha256))
    return docs[doc.position].invoice if doc.position < len(docs) else None


def cancel(s, document_id: int, why: str, now: datetime) -> list[int]:
    """End the document's held deliveries ``cancelled`` with ``why`` (in the caller's transaction);
    their ids."""
    done = []
    for d in s.scalars(sa.select(Delivery).where(Delivery.document_id == document_id, Delivery.status == WAITING)):
        d.set_status("cancelled", why, at=now)
        done.append(d.id)
    if done:
        follow_document(s.get(DocumentRecord, document_id))
    return done


def _fail(gw, delivery_id: int, why: str, now: datetime) -> None:
    with gw.session() as s:
        d = s.get(Delivery, delivery_id)
        if d is not None and d.status == WAITING:
            d.set_status("failed", why, at=now)
            follow_document(d.document)


def release(gw, document_id: int, *, by: str = "approval", now: Optional[datetime] = None) -> list[int]:
    """Send on the document's held deliveries once its case is approved; the ids of those this call
    released (another call's are not in it). Nothing while the case is not approved."""
    from gateway.flow.route import resolve
    now = now or utcnow()
    with gw.session() as s:
        held = list(s.scalars(sa.select(Delivery.id).where(Delivery.document_id == document_id,
                                                            Delivery.status == WAITING).order_by(Delivery.id)))
        if not held or s.scalar(sa.select(ApprovalCase.rule_name).where(
                ApprovalCase.document_id == document_id, ApprovalCase.state != "approved")) is not None:
            return []
        doc = s.get(DocumentRecord, document_id)
        try:
            invoice = _invoice(gw, doc)
        except Exception as e:              # the bytes were read once: say so on the deliveries
            log.exception("document %s: cannot read its invoice again to release it", document_id)
            invoice, unreadable = None, f"{type(e).__name__}: {e}"
        else:
            unreadable = "its original file no longer holds it"
        if invoice is None:
            plan, why = None, f"approved, but the invoice cannot be read again: {unreadable}"
        else:
            route = resolve(s, invoice)
            plan = delivery_plan.choose(s, gw.settings, route, invoice)
            why = f"approved, but its recipient is no longer known ({route.reason})"
            if plan is not None and (plan.document_recipient_id or plan.recipient_id) != doc.recipient_partner_id:
                plan, why = None, f"approved, but it now routes to another recipient; {route.reason}"
    if plan is None:
        for delivery_id in held:
            _fail(gw, delivery_id, why, now)
        return []
    plan.reason = f"approved ({by}): {plan.reason}"
    delivery_plan.prepare(gw, plan, invoice, summarise(invoice))
    released: list[int] = []
    sends: list[int] = []
    with gw.session() as s:
        for delivery_id in held[:1]:        # one delivery per document and recipient (the unique key)
            if compare_and_set(s, Delivery, Delivery.id == delivery_id, Delivery.status == WAITING,
                               updated_at=now) != 1:
                continue                    # released (or cancelled) meanwhile
            d = s.get(Delivery, delivery_id)
            d.set_status("pending", f"approved ({by}): released", at=now)
            rec = d.document
            sends += delivery_plan.record(s, gw, rec, plan, now, delivery=d,
                                          fallback_name=f"document-{rec.exchange_id}-{rec.position}")
            released.append(delivery_id)
    for out_id in sends:
        gw.jobs.send(out_id)
    if released:
        log.info("document %s approved: deliveries %s released", document_id, released)
    return released


def settle(gw, now: Optional[datetime] = None) -> dict[str, int]:
    """Release what an approved case still holds, cancel what a refused one does (the sweep's)."""
    now = now or utcnow()
    counts = {"approval_releases": 0, "approval_cancels": 0}
    with gw.session() as s:
        rows = s.execute(sa.select(ApprovalCase.document_id, ApprovalCase.state)
                         .join(Delivery, Delivery.document_id == ApprovalCase.document_id)
                         .where(Delivery.status == WAITING, ApprovalCase.state.in_(("approved", "refused")))
                         .order_by(ApprovalCase.document_id).limit(MAX_PER_SWEEP)).all()
        for document_id, state in rows:
            if state == "refused":
                counts["approval_cancels"] += len(cancel(s, document_id, "refused at approval: not delivered", now))
    for document_id, state in rows:
        if state == "approved":
            counts["approval_releases"] += len(release(gw, document_id, by="sweep", now=now))
    return counts
