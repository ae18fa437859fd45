"""The recipient portal (``/portal``): a recipient organisation's login sees the invoices sent to it.

What it offers: the list of received invoices with search, filters, sort and
paging (``search``); each invoice's page with its life-cycle history and
a form to accept, refuse (with a reason), dispute, or mark payment sent / paid;
downloads in every format and bulk exports of a selection or of the whole
search, as a CSV list or a ZIP (``files``).

Who: only ``recipient`` logins (``kit.login.recipient_required``; the login and logout
views are the kit's portal door), each kept to its
own partner's documents: another partner's invoice is a 404, as if it did not
exist. Gateway users are refused here, as recipients are on the operator pages.

What it sets off: a download (or a ZIP export) acknowledges the portal delivery
of each invoice it held (``delivery.state.acknowledge_delivery``) and, if the
invoice was not yet ``received``, records that; a status change goes through
``gateway.flow.lifecycle`` and is reported to the sender at once (an APERAK for an
EDI sender; the API for everyone).

Like the operator pages: server-rendered, no JavaScript, a CSRF token in every
POST form, the same strict Content-Security-Policy, never framed.
"""
from __future__ import annotations

import io
import logging
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _, lazy_gettext as _l, ngettext
from marshmallow import ValidationError

from ...approvals import cases as approval_cases
from ...db import Delivery, DocumentRecord, Partner, StatusError, utcnow
from ...delivery import statuses as lifecycle_statuses
from ...delivery.state import acknowledge_delivery, mark_received
from ...flow import lifecycle
from .. import downloads
from ..api import params, schemas
from ..kit.current import gateway
from ..kit import language
from ..kit.display import amount, day, when
from ..kit.errors import PORTAL_PAGES, page_errors
from ..kit.headers import page_headers
from ..kit.login import PORTAL, login_views, recipient_required
from . import files as portal_files
from . import search as portal_search

log = logging.getLogger("edigate.portal")

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates")

ACTIONS = {"accepted": _l("Accept"), "refused": _l("Refuse"), "disputed": _l("Dispute"),
           "payment_sent": _l("Payment sent"), "paid": _l("Paid")}
_STATUS_CLASS = {"accepted": "ok", "paid": "ok", "payment_sent": "ok", "refused": "bad", "disputed": "waiting",
                 "received": "neutral", "deposited": "neutral"}
EXPORTS = ("csv", "zip")
_INVOICE_ID = schemas.Id()          # a ticked invoice: an id in range, as everywhere else


# --- template helpers ------------------------------------------------------------------------

def status_class(status: Optional[str]) -> str:
    return _STATUS_CLASS.get(status or "", "neutral")


def status_label(status: Optional[str]) -> str:
    """A life-cycle status as the reader's language says it: the status table's own French label
    (the CDAR wording), the code in plain English."""
    if not status:
        return _("new")
    known = lifecycle_statuses.STATUSES.get(status)
    if known is not None and language.current() == "fr":
        return known.label.fr
    return status.replace("_", " ")


def unread(s, partner_id: int, document_ids: Iterable[int]) -> set[int]:
    """Of these invoices, those the recipient has not downloaded nor exported yet: their portal
    delivery is not acknowledged (a download or an export acknowledges it)."""
    ids = list(document_ids)
    if not ids:
        return set()
    return set(s.scalars(sa.select(Delivery.document_id).where(
        Delivery.document_id.in_(ids), Delivery.recipient_partner_id == partner_id, Delivery.channel == "portal",
        Delivery.status != "acknowledged")))


def list_url(**changes: Any) -> str:
    """The list with the current search, some values changed (None removes one)."""
    args = {k: v for k, v in request.args.items() if v != "" and k in portal_search.FIELDS + ("offset",)}
    for k, v in changes.items():
        if v is None:
            args.pop(k, None)
        else:
            args[k] = v
    return url_for("portal.index", **args)


def page_url(offset: int) -> str:
    return list_url(offset=offset or None)


def sort_url(key: str, current: portal_search.Criteria) -> str:
    """Sort by ``key``; the column already sorted on turns round."""
    order = ("asc" if current.order == "desc" else "desc") if current.sort == key else \
        ("asc" if key == "number" else "desc")
    return list_url(sort=key, order=order, offset=None)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_class": status_class, "status_label": status_label, "when": when, "page_url": page_url,
            "list_url": list_url, "sort_url": sort_url, "formats": portal_files.LABELS, "actions": ACTIONS,
            "amount": amount, "day": day}


bp.after_request(page_headers)
page_errors(bp, PORTAL_PAGES)
login_views(bp, PORTAL)          # /portal/login, /portal/logout


# --- the list --------------------------------------------------------------------------------

def _partner() -> Partner:
    with gateway().session() as s:
        partner = s.get(Partner, g.user.partner_id)
    if partner is None:
        abort(403, "This login's organisation no longer exists.")
    return partner


@bp.get("/")
@recipient_required
def index():
    partner = _partner()
    errors: dict[str, str] = {}
    try:
        criteria = portal_search.parse(request.args)
    except params.BadParameters as e:
        criteria, errors = portal_search.Criteria(), e.details
    with gateway().session() as s:
        rows, total, new = [], 0, set()
        if not errors:
            q = portal_search.query(partner.id, criteria)
            total = s.scalar(sa.select(sa.func.count()).select_from(q.order_by(None).subquery()))
            rows = s.scalars(q.limit(criteria.limit).offset(criteria.offset)).all()
        new = unread(s, partner.id, [d.id for d in rows])
        html = render_template("portal/index.html", partner=partner, rows=rows, total=total, criteria=criteria,
                               page=params.Page(criteria.limit, criteria.offset), errors=errors,
                               args=request.args, senders=portal_search.senders(s, partner.id),
                               statuses=portal_search.STATUS_FILTERS, fields=portal_search.FIELDS,
                               max_export=portal_files.MAX_EXPORT, select_all=request.args.get("select") == "all",
                               today=utcnow().date(), new=new)
    return html, 400 if errors else 200


# --- one invoice -----------------------------------------------------------------------------

def _mine(s, document_id: int) -> DocumentRecord:
    doc = s.get(DocumentRecord, document_id)
    if doc is None or doc.recipient_partner_id != g.user.partner_id:
        abort(404, _("There is no invoice %(id)s for your organisation.", id=document_id))
    return doc


def _choices(doc: DocumentRecord) -> list[str]:
    if approval_cases.is_open(sa.orm.object_session(doc), doc.id):
        return []               # waiting for approval: decided on its approval page (gateway.approvals)
    return [s for s in lifecycle.allowed_moves(doc.business_status) if s in lifecycle.RECIPIENT_STATUSES]


@bp.get("/documents/<int:document_id>")
@recipient_required
def document(document_id: int):
    with gateway().session() as s:
        doc = _mine(s, document_id)
        partner_id = g.user.partner_id
        corrected_by = s.scalars(sa.select(DocumentRecord).where(DocumentRecord.corrects_id == doc.id,
                                                                 DocumentRecord.recipient_partner_id == partner_id)
                                 .order_by(DocumentRecord.id)).all()
        corrects = doc.corrects if doc.corrects is not None and \
            doc.corrects.recipient_partner_id == partner_id else None
        return render_template("portal/document.html", doc=doc, events=lifecycle.history(s, doc.id),
                               choices=_choices(doc), original=portal_files.original_is_theirs(s, doc, partner_id),
                               corrects=corrects, corrected_by=corrected_by,
                               approval=approval_cases.of_document(s, doc.id))


@bp.post("/documents/<int:document_id>/status")
@recipient_required
def set_status(document_id: int):
    gw = gateway()
    status = (request.form.get("status") or "").strip()
    back = url_for("portal.document", document_id=document_id)
    with gw.session() as s:
        doc = _mine(s, document_id)
        number = doc.number or f"#{doc.id}"
        if approval_cases.is_open(s, doc.id):
            flash(_("Invoice %(number)s waits for approval: decide on it from its approval page.", number=number),
                  "error")
            return redirect(url_for("portal.approval", document_id=document_id), code=303)
        if status not in lifecycle.RECIPIENT_STATUSES:
            flash(_("Choose what to do with invoice %(number)s: %(choices)s.", number=number,
                    choices=", ".join(str(a) for a in ACTIONS.values())), "error")
            return redirect(back, code=303)
        reason = (request.form.get("reason") or "").strip()
        if status == "refused" and not reason:
            flash(_("Invoice %(number)s not refused: say why in the reason (the sender is told).", number=number),
                  "error")
            return redirect(back, code=303)
        if status == "refused" and request.form.get("confirm") != "yes":
            # a refusal is final and told to the sender at once: asked again before it is made
            return render_template("portal/confirm_refusal.html", doc=doc, reason=reason,
                                   reason_code=request.form.get("reason_code") or "")
        try:
            lifecycle.set_business_status(s, doc, status, reason=request.form.get("reason"),
                                          reason_code=request.form.get("reason_code"),
                                          by=f"portal:{g.user.username}")
        except (StatusError, ValueError) as e:
            s.rollback()
            flash(_("Invoice %(number)s not changed: %(why)s", number=number, why=e), "error")
            return redirect(back, code=303)
        edi = lifecycle.aperak_channel(s, doc) is not None
    lifecycle.report_pending(gw, document_id=document_id)
    told = _("an EDI message (APERAK) is on its way to the sender") if edi else _("the sender sees it in its API")
    flash(_("Invoice %(number)s: %(status)s; %(told)s.", number=number, status=status_label(status), told=told),
          "info")
    return redirect(back, code=303)


# --- downloads and exports --------------------------------------------------------------------

def _acknowledge(gw, document_ids: Iterable[int], what: str) -> None:
    """The recipient has the invoices: their portal deliveries are acknowledged, and an invoice
    not yet ``received`` is (reported to its sender like any status)."""
    ids = list(document_ids)
    if not ids:
        return
    partner_id, now = g.user.partner_id, utcnow()
    with gw.session() as s:
        for d in s.scalars(sa.select(Delivery).where(Delivery.document_id.in_(ids),
                                                     Delivery.recipient_partner_id == partner_id,
                                                     Delivery.channel == "portal")):
            acknowledge_delivery(s, d, f"{what} by {g.user.username} from the portal", at=now)
            if d.document.business_status in (None, "deposited"):
                mark_received(s, d.document, d, at=now)
    for document_id in ids:
        lifecycle.report_pending(gw, document_id=document_id)


@bp.get("/documents/<int:document_id>/download/<fmt>")
@recipient_required
def download(document_id: int, fmt: str):
    gw = gateway()
    with gw.session() as s:
        _mine(s, document_id)
    try:
        f = portal_files.document_file(gw, document_id, fmt, g.user.partner_id)
    except portal_files.NotAvailable as e:
        abort(422, str(e))
    except LookupError:
        abort(404, f"There is no invoice {document_id} for your organisation.")
    response = downloads.payload_response(f.key, filename=f.filename, media_type=f.media_type)
    _acknowledge(gw, [document_id], f"downloaded as {portal_files.LABELS[fmt]}")
    return response


class NothingToExport(Exception):
    """The export would hold nothing (or too much): said on the list, the search kept."""


def _export_selection(s) -> list[DocumentRecord]:
    """The documents an export is about: the ticked ones, or all that match the search."""
    partner_id = g.user.partner_id
    if request.form.get("scope") == "search":
        try:
            criteria = portal_search.parse(request.form)
        except params.BadParameters as e:
            raise NothingToExport(_("The search could not be run: %(why)s.",
                                    why="; ".join(f"{k}: {v}" for k, v in sorted(e.details.items()))))
        q = portal_search.query(partner_id, criteria)
    else:
        raw = request.form.getlist("id")
        if not raw:
            raise NothingToExport(_("Nothing exported: no invoice was ticked. Tick the invoices to export "
                                    "(or use “Select all”), or export all that match the search."))
        try:
            ids = sorted({_INVOICE_ID.deserialize(v) for v in raw})
        except ValidationError:
            abort(400, "The selection holds something that is not an invoice id.")
        if len(ids) > portal_files.MAX_EXPORT:
            raise NothingToExport(_("Nothing exported: an export holds at most %(n)s invoices; tick fewer.",
                                    n=portal_files.MAX_EXPORT))
        q = sa.select(DocumentRecord).where(DocumentRecord.id.in_(ids),
                                            DocumentRecord.recipient_partner_id == partner_id) \
            .order_by(DocumentRecord.issue_date.desc().nulls_last(), DocumentRecord.id.desc())
    docs = s.scalars(q.limit(portal_files.MAX_EXPORT + 1)).all()
    if len(docs) > portal_files.MAX_EXPORT:
        raise NothingToExport(_("Nothing exported: an export holds at most %(n)s invoices; narrow the search.",
                                n=portal_files.MAX_EXPORT))
    if not docs:
        raise NothingToExport(_("Nothing exported: no invoice matches.") if request.form.get("scope") == "search"
                              else _("Nothing exported: none of those invoices is there for your organisation."))
    return docs


def _searched_list() -> str:
    """The list with the search the form carried."""
    args = {k: v for k in portal_search.FIELDS if (v := (request.form.get(k) or "").strip())}
    return url_for("portal.index", **args)


@bp.post("/export")
@recipient_required
def export():
    gw = gateway()
    kind = request.form.get("export") or "csv"
    if kind not in EXPORTS:
        abort(400, f"Export as {' or '.join(EXPORTS)}.")
    fmt = request.form.get("format") or "pdf"
    if kind == "zip" and fmt not in portal_files.FORMATS:
        abort(400, f"Put the invoices in the ZIP as one of: {', '.join(portal_files.FORMATS)}.")
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    with gw.session() as s:
        try:
            docs = _export_selection(s)
        except NothingToExport as e:
            flash(str(e), "error")
            return redirect(_searched_list(), code=303)
        s.expunge_all()
    if kind == "csv":
        data = portal_files.summary_csv(docs, lang=language.current(),
                                        decimal_comma=request.form.get("decimal") == "comma")
        response = send_file(io.BytesIO(data), mimetype="text/csv", as_attachment=True,
                             download_name=f"invoices-{stamp}.csv", max_age=0)
    else:
        spool, included = portal_files.zip_export(gw, docs, fmt, g.user.partner_id)
        response = send_file(spool, mimetype="application/zip", as_attachment=True,
                             download_name=f"invoices-{fmt}-{stamp}.zip", max_age=0)
        _acknowledge(gw, included, f"exported as {portal_files.LABELS[fmt]} in a ZIP")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- several at once ----------------------------------------------------------------------------

@bp.post("/accept")
@recipient_required
def accept_selected():
    """Accept every ticked invoice that can still be accepted; the others are named, not changed."""
    gw = gateway()
    raw = request.form.getlist("id")
    if not raw:
        flash(_("Nothing accepted: no invoice was ticked. Tick the invoices to accept (or use “Select all”)."), "error")
        return redirect(_searched_list(), code=303)
    try:
        ids = sorted({_INVOICE_ID.deserialize(v) for v in raw})
    except ValidationError:
        abort(400, "The selection holds something that is not an invoice id.")
    if len(ids) > portal_files.MAX_EXPORT:
        flash(_("Nothing accepted: at most %(n)s invoices at once.", n=portal_files.MAX_EXPORT), "error")
        return redirect(_searched_list(), code=303)
    accepted: list[str] = []
    left: list[str] = []
    with gw.session() as s:
        docs = s.scalars(sa.select(DocumentRecord).where(DocumentRecord.id.in_(ids),
                                                         DocumentRecord.recipient_partner_id == g.user.partner_id)
                         .order_by(DocumentRecord.id)).all()
        for doc in docs:
            number = doc.number or f"#{doc.id}"
            if "accepted" not in _choices(doc):
                left.append(f"{number} ({status_label(doc.business_status)})")
                continue
            try:
                with s.begin_nested():
                    lifecycle.set_business_status(s, doc, "accepted", by=f"portal:{g.user.username}")
            except (StatusError, ValueError):
                left.append(f"{number} ({status_label(doc.business_status)})")
                continue
            accepted.append(number)
        done_ids = [d.id for d in docs if (d.number or f"#{d.id}") in accepted]
    for document_id in done_ids:
        lifecycle.report_pending(gw, document_id=document_id)
    if accepted:
        flash(ngettext("%(num)s invoice accepted: %(numbers)s; their senders are told.",
                       "%(num)s invoices accepted: %(numbers)s; their senders are told.", len(accepted),
                       numbers=", ".join(accepted)), "info")
    if left:
        flash(_("Not accepted, as their status does not allow it: %(numbers)s.", numbers=", ".join(left)), "error")
    if not accepted and not left:
        flash(_("Nothing accepted: none of those invoices is there for your organisation."), "error")
    return redirect(_searched_list(), code=303)
