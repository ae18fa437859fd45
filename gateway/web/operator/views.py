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

from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from ... import channels
from ...db import (DIRECTIONS, DOCUMENT_STATUSES, Certificate, Delivery, DocumentRecord, Exchange,
                   Organisation, Partner, StatusError)
from ...db.exchanges import STATUSES as EXCHANGE_STATUSES
from ...flow import redeliver as redelivery
from ...rules.profiles import DEFAULT_PROFILE, ProfileError, get_profile
from .. import downloads
from ..api import params
from ..api.serialise import EXPIRY_WARNING, retryable
from ..kit.current import gateway
from ..kit.display import status_class, when
from ..kit.errors import OPERATOR_PAGES, page_errors
from ..kit.headers import page_headers
from ..kit.login import OPERATOR, login_required, login_views
from ..kit.roles import allowed, require_permission

bp = Blueprint("pages", __name__, template_folder="templates")

ATTENTION = (("out", "failed"), ("out", "rejected"), ("in", "failed"))


# --- template helpers ----------------------------------------------------------------------

def page_url(offset: int) -> str:
    """The current list with the same filters at another offset."""
    args = {k: v for k, v in request.args.items() if k != "offset" and v != ""}
    if offset:
        args["offset"] = offset
    return url_for(request.endpoint, **(request.view_args or {}), **args)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_class": status_class, "when": when, "page_url": page_url, "allowed": allowed,
            "retryable": retryable}


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
        attention = s.scalars(
            sa.select(Exchange)
            .where(sa.or_(*(sa.and_(Exchange.direction == d, Exchange.status == st) for d, st in ATTENTION)))
            .order_by(Exchange.status_at.desc(), Exchange.id.desc()).limit(20)).all()
        certificates = s.scalars(Certificate.expiring(EXPIRY_WARNING, now=now)).all()
        return render_template("dashboard.html", counts=counts, attention=attention,
                               certificates=certificates, now=now)


# --- exchanges -----------------------------------------------------------------------------

def _search(parse: Callable[[Any], tuple[dict[str, Any], params.Page]], search: Callable[..., sa.Select],
            s) -> dict[str, Any]:
    """Run a list's search from the query string; unusable parameters come back as ``errors``."""
    try:
        criteria, page = parse(request.args)
    except params.BadParameters as e:
        return {"rows": [], "total": 0, "page": params.Page(params.DEFAULT_LIMIT, 0), "errors": e.details}
    query = search(**criteria)
    total = s.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    rows = s.scalars(query.limit(page.limit).offset(page.offset)).all()
    return {"rows": rows, "total": total, "page": page, "errors": {}}


def _partners(s) -> list[tuple[int, str]]:
    return [tuple(r) for r in s.execute(sa.select(Partner.id, Partner.name).order_by(Partner.name))]


@bp.get("/exchanges")
@login_required
def exchanges():
    with gateway().session() as s:
        result = _search(params.exchange_search, Exchange.search, s)
        html = render_template("exchanges.html", **result, partners=_partners(s), statuses=EXCHANGE_STATUSES,
                               directions=DIRECTIONS, channels=channels.names(), args=request.args)
    return html, 400 if result["errors"] else 200


@bp.get("/exchanges/<int:exchange_id>")
@login_required
def exchange(exchange_id: int):
    with gateway().session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex is None:
            abort(404, f"There is no exchange {exchange_id}.")
        return render_template("exchange.html", ex=ex)


@bp.post("/exchanges/<int:exchange_id>/retry")
@login_required
def retry(exchange_id: int):
    require_permission("retry")
    try:
        ex = gateway().retry_exchange(exchange_id, by=g.user.username)
    except LookupError:
        abort(404, f"There is no exchange {exchange_id}.")
    except StatusError as e:
        flash(f"Not retried: {e}", "error")
    else:
        what = "queued for sending again" if ex.direction == "out" else "queued for processing again"
        flash(f"Exchange {exchange_id} {what}.", "info")
    return redirect(url_for("pages.exchange", exchange_id=exchange_id))


@bp.get("/exchanges/<int:exchange_id>/raw")
@login_required
def exchange_raw(exchange_id: int):
    return downloads.exchange_raw(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/content")
@login_required
def exchange_content(exchange_id: int):
    return downloads.exchange_content(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/mdn")
@login_required
def exchange_mdn(exchange_id: int):
    return downloads.exchange_mdn(exchange_id)


# --- documents -----------------------------------------------------------------------------

def _profile_label(name: str | None) -> str:
    """'Peppol BIS Billing 3.0 (peppol)': a validation profile as the pages show it."""
    name = name or DEFAULT_PROFILE
    try:
        return f"{get_profile(name).label('en')} ({name})"
    except ProfileError:
        return f"{name} (no longer known)"


@bp.get("/documents")
@login_required
def documents():
    with gateway().session() as s:
        result = _search(params.document_search, DocumentRecord.search, s)
        html = render_template("documents.html", **result, partners=_partners(s), statuses=DOCUMENT_STATUSES,
                               args=request.args)
    return html, 400 if result["errors"] else 200


@bp.get("/documents/<int:document_id>")
@login_required
def document(document_id: int):
    with gateway().session() as s:
        doc = s.get(DocumentRecord, document_id)
        if doc is None:
            abort(404, f"There is no document {document_id}.")
        return render_template("document.html", doc=doc, profile_label=_profile_label)


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@login_required
def redeliver(delivery_id: int):
    require_permission("retry")
    gw = gateway()
    with gw.session() as s:
        d = s.get(Delivery, delivery_id)
        if d is None:
            abort(404, f"There is no delivery {delivery_id}.")
        document_id = d.document_id
    try:
        d = redelivery.redeliver(gw, delivery_id, by=g.user.username)
    except LookupError:
        abort(404, f"There is no delivery {delivery_id}.")
    except StatusError as e:
        flash(f"Not redelivered: {e}", "error")
    else:
        flash(f"Delivery {delivery_id} planned again: now {d.status}"
              + (f" ({d.reason})" if d.status == "failed" and d.reason else "") + ".",
              "error" if d.status == "failed" else "info")
    return redirect(url_for("pages.document", document_id=document_id))


@bp.get("/documents/<int:document_id>/original")
@login_required
def document_original(document_id: int):
    return downloads.document_original(document_id)


@bp.get("/documents/<int:document_id>/renderings/<int:rendering_id>")
@login_required
def document_rendering(document_id: int, rendering_id: int):
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
            abort(404, f"There is no partner {partner_id}.")
        certificates = sorted(p.certificates, key=lambda c: (not c.active, c.not_after))
        return render_template("partner.html", p=p, certificates=certificates, now=now,
                               soon=now + EXPIRY_WARNING, profile_label=_profile_label)


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
        return render_template("certificates.html", organisations=listed, now=now, soon=now + EXPIRY_WARNING)


@bp.get("/certificates/<int:cert_id>.<any(pem, der):fmt>")
@login_required
def certificate_file(cert_id: int, fmt: str):
    """One certificate as a file (ours or a partner's): only the certificate, never a key."""
    with gateway().session() as s:
        cert = s.get(Certificate, cert_id)
        if cert is None:
            abort(404, f"There is no certificate {cert_id}.")
        data = cert.pem.encode("ascii") if fmt == "pem" else cert.der
        mimetype = "application/x-pem-file" if fmt == "pem" else "application/pkix-cert"
        name = f"{cert.download_name}.{'pem' if fmt == 'pem' else 'cer'}"
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
