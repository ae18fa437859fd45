"""The web app: AS2 endpoint, REST API, operator pages — one Flask app on one port.

    app = create_app(Gateway(settings))

``/as2`` (the transport's WSGI app) is public (AS2 authenticates by signatures and certificates); ``/api/…``
wants a bearer token; the operator pages want a logged-in user and carry CSRF
tokens on every form. The ``Gateway`` (database, payload store, jobs) is in
``app.extensions["edigate"]``; ``gateway()`` returns it inside a request.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from flask import Flask, current_app

from ..runtime import Gateway


AS2_PATH = "/as2"

# Packages beside the gateway that bring their own pages (e.g. onboarding): each module has
# ``init_app(app, csrf)``, registering its blueprints (and exempting what must be).
EXTENSIONS: tuple[str, ...] = ("onboarding.web",)


def gateway() -> Gateway:
    """The Gateway of the app handling the current request."""
    return current_app.extensions["edigate"]


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
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(gw.settings.home),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=gw.settings.max_inbound_size,
        TESTING=testing,
    )
    app.extensions["edigate"] = gw

    from flask_wtf.csrf import CSRFProtect
    csrf = CSRFProtect(app)

    from . import bounds, openapi
    bounds.install(app)          # <int:…> in every route: ids 1..2^63-1 only (else no route: 404)
    from .api import bp as api_bp
    from .erp_api import bp as erp_bp   # ERP pull: nests itself in the API blueprint (/api/v1/erp)
    from .pages import bp as pages_bp
    from .portal import bp as portal_bp
    csrf.exempt(api_bp)          # bearer tokens, no cookies: nothing for CSRF to ride on
    csrf.exempt(erp_bp)
    openapi.init_app(app).register_blueprint(api_bp)    # the OpenAPI document is generated from it
    app.register_blueprint(pages_bp)
    app.register_blueprint(portal_bp)       # the recipient portal (/portal)
    @app.get("/health")
    def health():
        """For load balancers and monitors: no login, no database, nothing written; it answers
        when the web server does."""
        return {"status": "ok"}

    import importlib
    for name in EXTENSIONS:
        importlib.import_module(name).init_app(app, csrf)

    # AS2 partners authenticate by signatures and certificates, not by session: the transport's
    # own WSGI app answers /as2 (streaming body, exact headers), beside Flask, not inside it.
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from gateway.flow.receive import As2Inbox
    from ..transports.as2 import wsgi_app
    app.extensions["edigate.as2"] = endpoint = As2Inbox(gw).endpoint()
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {AS2_PATH: wsgi_app(endpoint)})
    return app
