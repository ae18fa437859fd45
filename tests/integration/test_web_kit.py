"""One kit for every blueprint: no blueprint answers errors or logs people in on its own.

Every error handler of the app, whichever blueprint it is registered on (the API, the
operator pages, the portal, onboarding's staff and public pages, or the app itself), is a
function of ``gateway.web.kit.errors``; every login and logout view is ``gateway.web.kit.login``'s.
The checks are shown to find a blueprint that brings its own.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from flask import Blueprint, Flask

from gateway.db import check_login
from gateway.web import create_app
from gateway.web.kit.login import log_in

KIT_ERRORS = "gateway.web.kit.errors"
KIT_LOGIN = "gateway.web.kit.login"
# the blueprints of the gateway and of onboarding that serve pages or the API
BLUEPRINTS = {"api", "pages", "portal", "register", "onboarding"}


def error_handlers(app: Flask) -> Iterator[tuple[Any, Any, type, Any]]:
    """(blueprint or None for the app, status code or None, exception class, handler)."""
    for blueprint, by_code in app.error_handler_spec.items():
        for code, by_class in by_code.items():
            for exception, handler in by_class.items():
                yield blueprint, code, exception, handler


def foreign_error_handlers(app: Flask) -> list[str]:
    return [f"{blueprint}: {exception.__name__} -> {handler.__module__}.{handler.__qualname__}"
            for blueprint, _code, exception, handler in error_handlers(app) if handler.__module__ != KIT_ERRORS]


def login_endpoints(app: Flask) -> dict[str, Any]:
    """The views of ``…/login`` and ``…/logout`` URLs, and any view that checks a password or
    starts a session, by endpoint."""
    found = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        names = getattr(getattr(view, "__code__", None), "co_names", ())
        if rule.rule.rstrip("/").rsplit("/", 1)[-1] in ("login", "logout") or \
                {check_login.__name__, log_in.__name__} & set(names):
            found[rule.endpoint] = view
    return found


def foreign_login_views(app: Flask) -> list[str]:
    return [f"{endpoint} -> {view.__module__}.{view.__qualname__}"
            for endpoint, view in login_endpoints(app).items() if view.__module__ != KIT_LOGIN]


@pytest.fixture
def app(make_gateway):
    return create_app(make_gateway(), testing=True)


def test_every_error_handler_of_the_app_is_the_kits(app) -> None:
    assert foreign_error_handlers(app) == []
    with_handlers = {blueprint for blueprint, *_ in error_handlers(app)}
    assert BLUEPRINTS <= with_handlers, sorted(map(str, with_handlers))
    app_wide = {code for blueprint, code, *_ in error_handlers(app) if blueprint is None}
    assert app_wide == {404, 405}           # the API's: unrouted URLs under /api/v1 answer in JSON


def test_every_login_view_is_the_kits(app) -> None:
    assert foreign_login_views(app) == []
    assert set(login_endpoints(app)) == {"pages.login", "pages.logout", "portal.login", "portal.logout"}


def test_the_checks_find_a_blueprint_that_brings_its_own(app) -> None:
    """The checks can fail: a blueprint with its own error handler and its own login view is named."""
    own = Blueprint("own", __name__, url_prefix="/own")

    @own.errorhandler(404)
    def not_found(e):
        return "gone", 404

    @own.route("/signin", methods=["POST"])
    def signin():
        log_in(None)            # never called: the check reads the view, it does not run it

    app.register_blueprint(own)
    assert foreign_error_handlers(app) == [f"own: NotFound -> {__name__}.{not_found.__qualname__}"]
    assert foreign_login_views(app) == [f"own.signin -> {__name__}.{signin.__qualname__}"]


def test_each_kind_answers_in_its_own_way(app) -> None:
    """The same kit, registered per kind: the API in JSON, the operator pages and the portal with
    their own error page, the public onboarding pages in the visitor's language."""
    client = app.test_client()
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.get_json()["details"] is None
    assert r.get_json()["error"].startswith("The requested URL was not found")
    assert client.get("/nothing-here").mimetype == "text/html"            # outside the API: the app's own 404
    r = client.post("/login", data={"username": "x", "password": "y"})        # no CSRF token
    assert r.status_code == 400 and "Form refused" in r.get_data(as_text=True)
    assert "Back to the dashboard" in r.get_data(as_text=True)
    r = client.post("/portal/login", data={"username": "x", "password": "y"})
    assert r.status_code == 400 and "Back to the received invoices" in r.get_data(as_text=True)
    r = client.get("/register/not-a-token?lang=fr")
    assert r.status_code == 404 and 'lang="fr"' in r.get_data(as_text=True)
    assert r.headers["Referrer-Policy"] == "no-referrer"
