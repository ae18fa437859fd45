"""The exception queue's own actions (POSTs with CSRF, back to where the form was):
acknowledge an item; for a held invoice, assign it to a partner, create that partner, or
propose its buyer to onboarding. Retry and redeliver are the exchange's and delivery's own
views (``views.retry``, ``views.redeliver``). Each needs the ``exceptions`` permission
(``kit.roles``); what it changes is on the audit trail (``queue``, ``held``).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from ... import channels
from ...db import DocumentRecord
from ...partners.service import PartnerError
from ..api import schemas
from ..kit.current import gateway
from ..kit.login import login_required
from ..kit.roles import require_permission
from . import held
from . import queue as exception_queue
from .views import KIND_LABELS, back_to, bp

_ID = schemas.Id()


def _form_id(name: str) -> int:
    try:
        return _ID.deserialize(request.form.get(name) or "")
    except ValidationError:
        abort(400, f"The form did not say which {name.replace('_id', '').replace('_', ' ')}: go back and try again.")


@bp.post("/queue/acknowledge")
@login_required
def acknowledge():
    require_permission("exceptions")
    kind = request.form.get("kind") or ""
    subject_id = _form_id("subject_id")
    with gateway().session() as s:
        try:
            exception_queue.acknowledge(s, kind, subject_id, g.user.username, request.form.get("note"))
        except exception_queue.NotOpen:
            flash("That line was already dealt with: it is no longer on the list.", "info")
        else:
            flash(f"{KIND_LABELS.get(kind, kind)} {subject_id} acknowledged: it is off the list, "
                  f"with your name and the time on record.", "info")
    return redirect(back_to(url_for("pages.dashboard")), code=303)


def _outcome_message(outcome: held.Outcome, number: str) -> str:
    given = f" It now has the identifier{'s' if len(outcome.added) > 1 else ''} {', '.join(outcome.added)}." \
        if outcome.added else ""
    if outcome.delivered:
        return f"Invoice {number} assigned to {outcome.partner_name} and on its way.{given}"
    return (f"{outcome.partner_name} is now known by the invoice's buyer identifiers,{given} but invoice {number} "
            "is still held: routing did not choose this partner (another partner or network may be known by "
            "one of the identifiers first). Open the invoice to see its route.")


def _number(document_id: int) -> str:
    with gateway().session() as s:
        doc = s.get(DocumentRecord, document_id)
        if doc is None:
            abort(404, f"There is no document {document_id}.")
        return doc.number or f"#{doc.id}"


@bp.post("/documents/<int:document_id>/assign")
@login_required
def assign_held(document_id: int):
    require_permission("exceptions")
    number = _number(document_id)
    partner_id = _form_id("partner_id")
    try:
        outcome = held.assign(gateway(), document_id, partner_id, g.user.username)
    except held.HeldError as e:
        flash(f"Invoice {number} not assigned. {e}", "error")
    else:
        flash(_outcome_message(outcome, number), "info" if outcome.delivered else "error")
    return redirect(back_to(url_for("pages.dashboard")), code=303)


@bp.route("/documents/<int:document_id>/create-partner", methods=["GET", "POST"])
@login_required
def create_partner_held(document_id: int):
    """A form to create the partner a held invoice is for, filled in from the invoice."""
    require_permission("exceptions")
    require_permission("partners.write")
    gw = gateway()
    with gw.session() as s:
        doc = s.get(DocumentRecord, document_id)
        if doc is None:
            abort(404, f"There is no document {document_id}.")
        if doc.status != "held":
            flash(f"Invoice {doc.number or doc.id} is no longer held: nothing to do.", "info")
            return redirect(url_for("pages.dashboard"), code=303)
        pairs = held.buyer_identifiers(doc)
        number = doc.number or f"#{doc.id}"
        values = {"name": request.form.get("name", doc.buyer_name or ""),
                  "preferred_channel": request.form.get("preferred_channel", ""),
                  "preferred_format": request.form.get("preferred_format", ""),
                  "contact_email": request.form.get("contact_email", "")}
        field_errors: dict[str, str] = {}
        if request.method == "POST":
            given = {k: (v.strip() or None) for k, v in values.items()}
            given["name"] = given["name"] or ""
            try:
                outcome = held.create_partner(gw, document_id, given, g.user.username)
            except PartnerError as e:
                field_errors[e.field.split(".")[0]] = str(e)[:1].upper() + str(e)[1:]
            except held.HeldError as e:
                flash(str(e), "error")
                return redirect(url_for("pages.dashboard"), code=303)
            else:
                flash(_outcome_message(outcome, number), "info" if outcome.delivered else "error")
                return redirect(url_for("pages.partner", partner_id=outcome.partner_id), code=303)
        from ...syntaxes import writable
        return render_template("create_partner.html", doc=doc, identifiers=pairs, values=values,
                               errors=field_errors, channels=channels.names(), formats=writable(),
                               number=number), 422 if field_errors else 200


@bp.post("/documents/<int:document_id>/propose")
@login_required
def propose_held(document_id: int):
    require_permission("exceptions")
    number = _number(document_id)
    try:
        counts = held.propose(gateway(), document_id, g.user.username)
    except held.HeldError as e:
        flash(str(e), "error")
    else:
        proposed, known = counts.get("proposed", 0), counts.get("known", 0)
        flash(f"Buyers of held invoices proposed to onboarding (invoice {number} included): {proposed} new, "
              f"{known} already known. Onboarding can invite them from its counterparties page.", "info")
    return redirect(back_to(url_for("pages.dashboard")), code=303)
