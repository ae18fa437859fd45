"""The operator pages: what came in and went out, what failed and why, and the retry and redeliver buttons.

Server-rendered Jinja2 (``templates/``), no JavaScript. Every page wants a
logged-in user (``kit.login.login_required``; the login and logout views are the
kit's operator door); every POST form carries a CSRF token (the app's
``CSRFProtect``); search forms are GETs, so a filtered list is a link one can
share. Downloads reuse ``downloads`` under the session login. Errors are the
kit's operator error page; pages are sent with a strict Content-Security-Policy
(only our own stylesheet) and never framed (``kit.headers``).
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l

from ... import channels
from ...db import (DIRECTIONS, DOCUMENT_STATUSES, AuditEvent, Certificate, Delivery, DocumentRecord, Exchange,
                   Organisation, Partner, StatusError, audit)
from ...db.exchanges import STATUSES as EXCHANGE_STATUSES
from ...delivery import statuses as lifecycle_statuses
from ...flow import redeliver as redelivery
from ...rules.profiles import DEFAULT_PROFILE, ProfileError, get_profile
from .. import downloads
from ..api import params
from ..api.serialise import EXPIRY_WARNING, retryable
from ..kit import display, language
from ..kit import preferences as preferences_form
from ..kit.current import gateway
from ..kit.errors import OPERATOR_PAGES, page_errors
from ..kit.headers import page_headers
from ..kit.login import OPERATOR, login_required, login_views, safe_next
from ..kit.plain import explain
from ..kit.roles import ROLE_HELP, allowed, require_permission
from ..kit.words import status_word
from ...delivery.state import history as lifecycle_history
from . import queue as exception_queue
from .findings import arrange
from . import search as operator_search

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.app_template_filter("lifecycle_or_none")
def _lifecycle_or_none(status: str) -> str:
    return _("no status yet") if status == "none" else lifecycle_label(status)

ATTENTION = (("out", "failed"), ("out", "rejected"), ("in", "failed"))
_BAD_EXCHANGE = {"failed", "rejected"}


# --- template helpers ----------------------------------------------------------------------

def page_url(offset: int) -> str:
    """The current list with the same filters at another offset."""
    args = {k: v for k, v in request.args.items() if k != "offset" and v != ""}
    if offset:
        args["offset"] = offset
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def lifecycle_label(status: str | None) -> str:
    """A life-cycle status as people say it ('payment sent'), '' for none."""
    known = lifecycle_statuses.STATUSES.get(status or "")
    return known.label(language.current()) if known is not None else (status or "").replace("_", " ")


def back_to(default: str) -> str:
    """Where a POST goes back to: the form's ``next`` when it is a path of this site, else ``default``."""
    return safe_next(request.form.get("next"), default)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {**display.helpers(), "page_url": page_url, "allowed": allowed, "retryable": retryable,
            "explain": explain, "lifecycle_label": lifecycle_label, "kind_labels": KIND_LABELS}


LANGUAGE_NAMES = preferences_form.LANGUAGE_NAMES        # kept here for its callers

# what each kind of exception is called on the dashboard
KIND_LABELS = {
    "rejected_file": _l("Rejected file"), "inbound_failed": _l("Processing failed"),
    "held": _l("Held: recipient unknown"), "duplicate": _l("Duplicate"), "delivery_failed": _l("Delivery failed"),
    "send_failed": _l("Send failed"), "refused": _l("Refused by the recipient"),
    "disputed": _l("Disputed by the recipient"),
}


bp.after_request(page_headers)
page_errors(bp, OPERATOR_PAGES)
login_views(bp, OPERATOR)          # /login, /logout


# --- dashboard -----------------------------------------------------------------------------

@bp.get("/")
@login_required
def dashboard():
    now = datetime.now(timezone.utc)
    with gateway().session() as s:
        rows = s.execute(sa.select(Exchange.direction, Exchange.status, sa.func.count())
                         .group_by(Exchange.direction, Exchange.status)).all()
        counts = sorted(rows, key=lambda r: ((r[0], r[1]) not in ATTENTION, r[0], -r[2], r[1]))
        queue = exception_queue.load(s)
        certificates = s.scalars(Certificate.expiring(EXPIRY_WARNING, now=now)).all()
        partners = _partners(s) if allowed("exceptions") else []
        return render_template("dashboard.html", counts=counts, queue=queue, certificates=certificates, now=now,
                               partners=partners, can_propose=_can_propose())


def _can_propose() -> bool:
    from .held import propose_function
    return allowed("exceptions") and propose_function() is not None


# --- exchanges -----------------------------------------------------------------------------

def _search(search: Callable[[Any], tuple[sa.Select, params.Page]], s) -> dict[str, Any]:
    """Run a list's search from the query string; unusable parameters come back as ``errors``."""
    try:
        query, page = search(request.args)
    except params.BadParameters as e:
        return {"rows": [], "total": 0, "page": params.Page(operator_search.DEFAULT_LIMIT, 0), "errors": e.details}
    total = s.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    rows = s.scalars(query.limit(page.limit).offset(page.offset)).all()
    return {"rows": rows, "total": total, "page": page, "errors": {}}


def outcomes(s, exchange_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """For each exchange: its documents' statuses counted and their invoice numbers (one query)."""
    out: dict[int, dict[str, Any]] = {}
    ids = list(exchange_ids)
    if not ids:
        return out
    for exchange_id, status, number in s.execute(
            sa.select(DocumentRecord.exchange_id, DocumentRecord.status, DocumentRecord.number)
            .where(DocumentRecord.exchange_id.in_(ids)).order_by(DocumentRecord.exchange_id,
                                                                 DocumentRecord.position)):
        o = out.setdefault(exchange_id, {"statuses": Counter(), "numbers": []})
        o["statuses"][status] += 1
        if number:
            o["numbers"].append(number)
    return out


def outcome(ex: Exchange, documents: dict[str, Any] | None) -> tuple[str, str]:
    """What became of an exchange, as a badge: (label, status class). A processed file whose
    invoices were held, duplicates or invalid says so, instead of a green 'processed'."""
    statuses: Counter = (documents or {}).get("statuses") or Counter()
    if ex.status != "processed" or not statuses:
        return status_word(ex.status), display.status_class(ex.status)
    notes = [f"{statuses[k]} {status_word(k)}" for k in ("held", "duplicate", "invalid", "failed") if statuses.get(k)]
    if not notes:
        return status_word(ex.status), "ok"
    return (_("processed: %(notes)s", notes=", ".join(notes)),
            "bad" if statuses.get("invalid") or statuses.get("failed") else "waiting")


def _partners(s) -> list[tuple[int, str]]:
    return [tuple(r) for r in s.execute(sa.select(Partner.id, Partner.name).order_by(Partner.name))]


@bp.get("/exchanges")
@login_required
def exchanges():
    with gateway().session() as s:
        result = _search(operator_search.exchanges, s)
        found = outcomes(s, [ex.id for ex in result["rows"]])
        html = render_template("exchanges.html", **result, partners=_partners(s), statuses=EXCHANGE_STATUSES,
                               directions=DIRECTIONS, channels=channels.names(), args=request.args,
                               found=found, outcome=outcome, bad=_BAD_EXCHANGE)
    return html, 400 if result["errors"] else 200


@bp.get("/exchanges/<int:exchange_id>")
@login_required
def exchange(exchange_id: int):
    with gateway().session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex is None:
            abort(404, _("There is no exchange %(id)s.", id=exchange_id))
        return render_template("exchange.html", ex=ex, outcome=outcome(ex, outcomes(s, [ex.id]).get(ex.id)),
                               bad=_BAD_EXCHANGE)


@bp.post("/exchanges/<int:exchange_id>/retry")
@login_required
def retry(exchange_id: int):
    require_permission("retry")
    try:
        ex = gateway().retry_exchange(exchange_id, by=g.user.username)
    except LookupError:
        abort(404, _("There is no exchange %(id)s.", id=exchange_id))
    except StatusError as e:
        flash(_("Not retried: %(why)s", why=e), "error")
    else:
        flash(_("Exchange %(id)s queued for sending again.", id=exchange_id) if ex.direction == "out" else
              _("Exchange %(id)s queued for processing again.", id=exchange_id), "info")
    return redirect(back_to(url_for("pages.exchange", exchange_id=exchange_id)))


@bp.get("/exchanges/<int:exchange_id>/raw")
@login_required
def exchange_raw(exchange_id: int):
    require_permission("documents.open")
    return downloads.exchange_raw(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/content")
@login_required
def exchange_content(exchange_id: int):
    require_permission("documents.open")
    return downloads.exchange_content(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/mdn")
@login_required
def exchange_mdn(exchange_id: int):
    require_permission("documents.open")
    return downloads.exchange_mdn(exchange_id)


# --- documents -----------------------------------------------------------------------------

def _profile_label(name: str | None) -> str:
    """'Peppol BIS Billing 3.0 (peppol)': a validation profile as the pages show it."""
    name = name or DEFAULT_PROFILE
    try:
        return f"{get_profile(name).label(language.current())} ({name})"
    except ProfileError:
        return _("%(name)s (no longer known)", name=name)


@bp.get("/documents")
@login_required
def documents():
    with gateway().session() as s:
        result = _search(operator_search.documents, s)
        html = render_template("documents.html", **result, partners=_partners(s), statuses=DOCUMENT_STATUSES,
                               lifecycles=operator_search.LIFECYCLE_FILTERS, channels=channels.names(),
                               args=request.args)
    return html, 400 if result["errors"] else 200


@bp.get("/documents/<int:document_id>")
@login_required
def document(document_id: int):
    require_permission("documents.open")
    with gateway().session() as s:
        doc = s.get(DocumentRecord, document_id)
        if doc is None:
            abort(404, _("There is no document %(id)s.", id=document_id))
        response = Response(render_template(
            "document.html", doc=doc, profile_label=_profile_label, findings=arrange(doc.findings or []),
            events=lifecycle_history(s, doc.id)))
    # the rendered invoice is framed beside the findings: this page may frame our own view of it
    response.headers["Content-Security-Policy"] = CSP_WITH_VIEW
    return response


CSP_WITH_VIEW = ("default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; "
                 "frame-ancestors 'none'; base-uri 'none'")


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@login_required
def redeliver(delivery_id: int):
    require_permission("retry")
    gw = gateway()
    with gw.session() as s:
        d = s.get(Delivery, delivery_id)
        if d is None:
            abort(404, _("There is no delivery %(id)s.", id=delivery_id))
        document_id, last_send = d.document_id, d.exchange_id
    try:
        d = redelivery.redeliver(gw, delivery_id, by=g.user.username)
    except LookupError:
        abort(404, _("There is no delivery %(id)s.", id=delivery_id))
    except StatusError as e:
        flash(_("Not redelivered: %(why)s", why=e), "error")
    else:
        if d.status == "failed":
            plain = explain(d.reason)
            flash(_("Delivery %(id)s planned again, and failed again.", id=delivery_id)
                  + (f" {plain.what} {plain.todo}" if plain else ""), "error")
        else:
            flash(_("Delivery %(id)s planned again: now %(status)s.", id=delivery_id, status=status_word(d.status)),
                  "info")
        if last_send is not None and last_send != d.exchange_id:
            _superseded(last_send, delivery_id)
    default = url_for("pages.document", document_id=document_id) if allowed("documents.open") else url_for(
        "pages.dashboard")
    return redirect(back_to(default))


def _superseded(exchange_id: int, delivery_id: int) -> None:
    """The failed send a redelivery replaced is off the exception queue, on record as why."""
    with gateway().session() as s:
        try:
            exception_queue.acknowledge(s, "send_failed", exchange_id, g.user.username,
                                        f"superseded by the redelivery of delivery {delivery_id}")
        except exception_queue.NotOpen:
            pass


@bp.get("/documents/<int:document_id>/original")
@login_required
def document_original(document_id: int):
    require_permission("documents.open")
    return downloads.document_original(document_id)


@bp.get("/documents/<int:document_id>/renderings/<int:rendering_id>")
@login_required
def document_rendering(document_id: int, rendering_id: int):
    require_permission("documents.open")
    return downloads.document_rendering(document_id, rendering_id)


# --- partners ------------------------------------------------------------------------------

@bp.get("/partners")
@login_required
def partners():
    with gateway().session() as s:
        rows = s.scalars(sa.select(Partner).order_by(Partner.name, Partner.id)).all()
        return render_template("partners.html", partners=rows)


@bp.get("/partners/<int:partner_id>")
@login_required
def partner(partner_id: int):
    now = datetime.now(timezone.utc)
    with gateway().session() as s:
        p = s.get(Partner, partner_id)
        if p is None:
            abort(404, _("There is no partner %(id)s.", id=partner_id))
        certificates = sorted(p.certificates, key=lambda c: (not c.active, c.not_after))
        changes = s.scalars(audit.trail("partner", p.id)).all()
        return render_template("partner.html", p=p, certificates=certificates, now=now,
                               soon=now + EXPIRY_WARNING, profile_label=_profile_label, changes=changes)


# --- our certificates ------------------------------------------------------------------------

@bp.get("/certificates")
@login_required
def certificates():
    """Our organisations' certificates, for handing to partners (PEM or DER)."""
    now = datetime.now(timezone.utc)
    with gateway().session() as s:
        orgs = s.scalars(sa.select(Organisation).order_by(Organisation.name, Organisation.id)).all()
        listed = [(o, sorted(o.certificates, key=lambda c: (not c.active, -c.not_before.timestamp())))
                  for o in orgs]
        partner_certs = s.scalars(sa.select(Certificate).join(Partner, Certificate.partner_id == Partner.id)
                                  .order_by(Partner.name, Certificate.active.desc(), Certificate.not_after)).all()
        changes = s.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("certificate.%"))
                            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(20)).all()
        return render_template("certificates.html", organisations=listed, partner_certs=partner_certs, now=now,
                               soon=now + EXPIRY_WARNING, changes=changes)


@bp.get("/certificates/<int:cert_id>.<any(pem, der):fmt>")
@login_required
def certificate_file(cert_id: int, fmt: str):
    """One certificate as a file (ours or a partner's): only the certificate, never a key."""
    with gateway().session() as s:
        cert = s.get(Certificate, cert_id)
        if cert is None:
            abort(404, _("There is no certificate %(id)s.", id=cert_id))
        data = cert.pem.encode("ascii") if fmt == "pem" else cert.der
        mimetype = "application/x-pem-file" if fmt == "pem" else "application/pkix-cert"
        name = f"{cert.download_name}.{'pem' if fmt == 'pem' else 'cer'}"
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- the rendered invoice ---------------------------------------------------------------------

# the rendered invoice: its own inline styles, nothing else, framed by our document page only
VIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"


@bp.get("/documents/<int:document_id>/view")
@login_required
def document_view(document_id: int):
    """The invoice as a person reads it: the HTML the Factur-X PDF is made from
    (``syntaxes.render.render_html``), read again from the original file."""
    require_permission("documents.open")
    from ...flow.renderings import read_invoice
    from ...model.errors import EdigateError
    from ...store.payloads import PayloadNotFound
    from ...syntaxes.render import choose_lang, render_html
    gw = gateway()
    with gw.session() as s:
        doc = s.get(DocumentRecord, document_id)
        if doc is None:
            abort(404, _("There is no document %(id)s.", id=document_id))
        try:
            invoice = read_invoice(gw, doc)
            html = render_html(invoice, choose_lang(invoice, language.current()))     # in the reader's language
        except PayloadNotFound:
            html = None
            problem = _("The original file of this invoice is missing from the store, so it cannot be shown.")
        except (EdigateError, ValueError, RuntimeError) as e:
            html = None
            problem = _("This invoice cannot be shown as a page: %(what)s Its findings and files are still on the "
                        "document's page.", what=explain(str(e)).what if explain(str(e)) else "")
    if html is None:
        html = render_template("view_unavailable.html", problem=problem)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = VIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


# --- help and preferences ---------------------------------------------------------------------

@bp.get("/help/roles")
@login_required
def roles_help():
    return render_template("roles.html", roles=ROLE_HELP)


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    """The reader's own settings: the language of the pages and the time zone they show times in."""
    return preferences_form.page("pages.preferences", "preferences.html")
