"""The web app: REST API, operator pages, recipient portal, channels' endpoints — one Flask app on one port.

    app = create_app(Gateway(settings))

Channels' endpoints (``/as2``: the AS2 transport's WSGI app) are public (AS2 authenticates by
signatures and certificates); ``/api/…`` wants a bearer token; the operator pages and the
portal want a logged-in user and carry CSRF tokens on every form. The ``Gateway``
(database, payload store, jobs) is in ``app.extensions["edigate"]``; ``gateway()`` returns
it inside a request.

The parts, each a package:

* ``kit``: what every blueprint shares: the error answers (JSON for the API, an HTML
  error page per kind of page), the login doors and decorators, bearer tokens, roles,
  the pages' security headers;
* ``api``: the REST API and its ERP pull, described by marshmallow schemas that validate
  requests, write answers and generate the OpenAPI document;
* ``operator``: the operator pages; ``portal``: the recipient portal;
* ``downloads`` (stored bytes as attachments) and ``bounds`` (ids and amounts in range),
  shared by all three.

Extensions (e.g. onboarding) add their blueprints through ``init_app`` and use the same kit.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from .. import extensions
from ..delivery.channel import registry
from ..runtime import Gateway
from . import bounds
from .api import bp as api_bp
from .api import openapi
from .api.erp import bp as erp_bp
from .kit import language
from .kit.current import EXTENSION, gateway
from .operator import bp as operator_bp
from .operator import controls as controls_pages, indicators as indicator_pages
from . import metrics
from .portal import bp as portal_bp
from .smp import bp as smp_bp
from . import xp_z12013

__all__ = ["create_app", "gateway", "secret_key"]


def secret_key(home: Path) -> bytes:
    """``EDIGATE_SECRET_KEY``, else a random key made once and kept in ``<home>/secret_key``
    (0600): sessions survive restarts and nothing secret is ever committed."""
    env = os.environ.get("EDIGATE_SECRET_KEY")
    if env:
        return env.encode()
    path = Path(home) / "secret_key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def create_app(gw: Optional[Gateway] = None, *, testing: bool = False) -> Flask:
    gw = gw or Gateway()
    app = Flask(__name__, template_folder=None)       # templates: each blueprint's own
    app.config.update(
        SECRET_KEY=secret_key(gw.settings.home),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=gw.settings.max_inbound_size,
        TESTING=testing,
    )
    app.extensions[EXTENSION] = gw

    language.install(app)        # Flask-Babel: the reader's language, the one catalogue (gateway.i18n)
    csrf = CSRFProtect(app)
    bounds.install(app)          # <int:…> in every route: ids 1..2^63-1 only (else no route: 404)
    csrf.exempt(api_bp)          # bearer tokens, no cookies: nothing for CSRF to ride on
    csrf.exempt(erp_bp)          # the ERP pull, nested in the API blueprint (/api/v1/erp)
    openapi.init_app(app).register_blueprint(api_bp)    # the OpenAPI document is generated from it
    app.register_blueprint(operator_bp)
    app.register_blueprint(portal_bp)       # the recipient portal (/portal)
    for extra in (controls_pages.bp, indicator_pages.bp, metrics.bp):   # controls, indicators, /metrics
        app.register_blueprint(extra)
    app.register_blueprint(smp_bp)          # our Peppol SMP (/smp): public and read-only, like /as2
    xp_z12013.init_app(app, csrf)           # AFNOR XP Z12-013 flow and directory services (/xp-z12-013)

    @app.get("/health")
    def health():
        """For load balancers and monitors: no login, no database, nothing written; it answers
        when the web server does."""
        return {"status": "ok"}

    # installed extensions (``gateway.extensions``, e.g. onboarding) register their blueprints
    for _ext, init_app in extensions.with_hook("init_app"):
        init_app(app, csrf)

    # Channels' public endpoints (AS2: partners authenticate by signatures and certificates, not
    # by session) answer beside Flask, not inside it: their own WSGI apps see the streaming body
    # and the exact headers.
    mounts = {path: wsgi for channel in registry for path, wsgi in channel.wsgi_mounts(gw).items()}
    if mounts:
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, mounts)
    return app
