"""Onboarding's web pages, plugged into the gateway's Flask app (the extension's ``init_app`` hook).

* ``registration``: the public pages a counterparty reaches from its invitation
  (register, opt out, the open pixel): no login, the signed link is the credential.
* ``staff``: counterparties, imports, campaigns, waves, templates and the funnel,
  under ``/onboarding``, for logged-in staff, operators and admins.

Templates are under ``templates/onboarding/`` (the staff pages extend the
gateway's ``base.html``, the public ones their own ``public_base.html``);
the stylesheet is served at ``/onboarding-static/``. Errors, login and headers are the
gateway's web kit (``gateway.web.kit``): the staff pages answer errors with the operator
error page and log in through the operator door; the public pages have their own kind of
error page (both languages), registered through the same kit.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l

from .registration import bp as registration_bp
from .registration import optout
from .staff import bp as staff_bp

NAV = (_l("Onboarding"), "onboarding.index")      # the gateway's navigation shows it to staff roles


def init_app(app: Flask, csrf: Any) -> None:
    """Register the blueprints. Every form keeps the app's CSRF protection; the opt-out POST is
    exempted from the global check only because it checks the token itself unless the request is
    an RFC 8058 one-click unsubscribe (``registration.optout``)."""
    assets = Blueprint("onboarding_assets", __name__, template_folder="templates", static_folder="static",
                       static_url_path="/onboarding-static")
    app.register_blueprint(assets)
    csrf.exempt(optout)
    app.register_blueprint(registration_bp)
    app.register_blueprint(staff_bp)
    app.config.setdefault("EDIGATE_NAV", []).append(NAV)
