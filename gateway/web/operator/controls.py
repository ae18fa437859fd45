"""The controls' operator page (``/controls``): invoices a control holds, with the evidence, and the
button that confirms a changed bank account (the invoice is then delivered); each control's
switches and thresholds as they apply to the gateway.

Its own blueprint beside the operator pages (``views``), with the same kit: a logged-in gateway
user to see it, an admin or operator to confirm, CSRF on the form, the pages' headers and
error page. Its navigation link goes through ``EDIGATE_NAV`` like an extension's.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask import Blueprint, flash, g, redirect, render_template, url_for
from werkzeug.exceptions import Forbidden

from ...controls import confirm
from ...controls.settings import definitions, effective
from ...controls.wording import hold_worded
from ..kit.current import gateway
from ..kit.display import day, when
from ..kit.errors import OPERATOR_PAGES, page_errors
from ..kit.headers import page_headers
from ..kit.login import login_required

bp = Blueprint("controls", __name__, template_folder="templates")
NAV = (_l("Controls"), "controls.held")

bp.after_request(page_headers)
page_errors(bp, OPERATOR_PAGES)


@bp.record_once
def _navigation(state) -> None:
    state.app.config.setdefault("EDIGATE_NAV", []).append(NAV)


@bp.get("/controls")
@login_required
def held():
    with gateway().session() as s:
        holds = confirm.open_holds(s)
        settings = effective(s, None)
        return render_template("controls.html", holds=holds, settings=settings, definitions=definitions(),
                               may_confirm=g.user.role in confirm.CONFIRM_ROLES, when=when, day=day,
                               hold_worded=hold_worded)


@bp.post("/controls/holds/<int:document_id>/confirm")
@login_required
def confirm_hold(document_id: int):
    if g.user.role not in confirm.CONFIRM_ROLES:
        raise Forbidden("Confirming a bank account needs the role admin or operator.")
    try:
        release = confirm.confirm_account(gateway(), document_id, by=f"user:{g.user.username}")
    except confirm.ControlError as e:
        flash(str(e), "error")
    else:
        flash(f"Account {', '.join(release.accounts)} confirmed for {release.supplier}: "
              f"{len(release.released)} invoice(s) released, {len(release.delivered)} on their way.")
    return redirect(url_for("controls.held"))
