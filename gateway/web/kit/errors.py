"""How every blueprint answers errors: the API in its one JSON shape, pages with their kind's HTML page.

A blueprint does not register error handlers itself; it calls one of these once:

* ``json_errors(bp, translate=…, prefix=…)``: every error as ``{"error": …, "details": …}``
  with the HTTP status (``Allow``, ``WWW-Authenticate``, ``Retry-After`` kept); ``translate``
  maps the blueprint's own exceptions to a status, a message and details; ``prefix``: URLs
  under it that match no route answer in JSON too (elsewhere the app's usual 404/405 stands).
* ``page_errors(bp, kind, also=…)``: every HTTP error, a refused form (CSRF) and a stored
  file gone missing as the kind's error page (``ErrorPages``: the operator pages', the
  portal's, or one an extension defines, e.g. onboarding's public pages in two languages);
  ``also`` maps the blueprint's own exceptions to a page of its own.

The handlers registered are this module's functions, whatever the blueprint: a test walks
the app's handlers and finds nothing else.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from flask import Blueprint, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from flask_babel import gettext as _, lazy_gettext as _l
from werkzeug.exceptions import HTTPException

log = logging.getLogger("edigate.web")

# what a refused form (no or a stale CSRF token) says on the gateway's own pages
FORM_REFUSED = (_l("Form refused"), _l("The form has expired or did not come from this site: "
                                      "go back, reload the page and try again."))

# an HTTP error's title on a page, in the reader's language (the API keeps the status's English name)
STATUS_TITLES = {400: _l("Bad request"), 403: _l("Forbidden"), 404: _l("Not found"), 405: _l("Method not allowed"),
                 409: _l("Conflict"), 410: _l("Gone"), 413: _l("Too large"), 422: _l("Not accepted"),
                 429: _l("Too many requests"), 500: _l("Internal error"), 503: _l("Unavailable")}


class PayloadMissing(RuntimeError):
    """The database names a payload the store does not have: lost data, not a bad request."""


# --- JSON: the API -------------------------------------------------------------------------

class ApiError(Exception):
    """An answer in the API's error shape (``{"error", "details"}``) with this status."""

    def __init__(self, status: int, message: str, details: Optional[Mapping[str, Any]] = None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


Body = Callable[[int, str, Any], dict[str, Any]]       # (status, message, details) → the JSON body


def edigate_body(status: int, message: str, details: Any) -> dict[str, Any]:
    """Our own API's error body."""
    return {"error": message, "details": details}


def error(status: int, message: str, details: Any = None, headers: Optional[dict[str, str]] = None, *,
          body: Body = edigate_body) -> Response:
    """The API's one error answer: ``{"error": message, "details": details}`` (or the ``body`` of an
    API that speaks another standard's error shape)."""
    response = jsonify(body(status, message, details))
    response.status_code = status
    response.headers.update(headers or {})
    return response


INVALID_VALUES = "invalid values"           # the message of a 422: what is wrong is in the details, by field

# the headers of an HTTP error worth passing on to a client
PASSED_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")

Translate = Callable[[Any], tuple[int, str, Any]]          # an exception → (status, message, details)


def json_errors(bp: Blueprint, *, translate: Optional[Mapping[type[Exception], Translate]] = None,
                prefix: Optional[str] = None, logger: logging.Logger = log, body: Body = edigate_body) -> None:
    """Answer every error of ``bp`` (and of the blueprints nested in it) in JSON (module docstring);
    ``body`` writes the JSON (default: ours, ``{"error", "details"}``)."""

    def http_error(e: HTTPException) -> Response:
        headers = {k: v for k, v in e.get_headers() if k in PASSED_HEADERS}
        return error(e.code or 500, e.description or e.name, getattr(e, "details", None), headers, body=body)

    def unrouted(e: HTTPException) -> Any:
        """URLs under ``prefix`` that match no route answer in JSON as well."""
        if prefix is not None and (request.path == prefix or request.path.startswith(prefix + "/")):
            return http_error(e)
        return e

    def api_error(e: ApiError) -> Response:
        return error(e.status, e.message, e.details, body=body)

    def payload_missing(e: PayloadMissing) -> Response:
        logger.error("%s", e)
        return error(500, str(e), body=body)

    def internal(e: HTTPException) -> Response:
        logger.error("API error on %s %s", request.method, request.path,
                     exc_info=getattr(e, "original_exception", None))
        return error(500, "internal error: the gateway logged it", body=body)

    def translated(how: Translate) -> Callable[[Exception], Response]:
        def answer(e: Exception) -> Response:
            return error(*how(e), body=body)
        return answer

    bp.register_error_handler(HTTPException, http_error)
    bp.register_error_handler(500, internal)
    bp.register_error_handler(ApiError, api_error)
    bp.register_error_handler(PayloadMissing, payload_missing)
    for exception, how in (translate or {}).items():
        bp.register_error_handler(exception, translated(how))
    if prefix is not None:
        bp.app_errorhandler(404)(unrouted)
        bp.app_errorhandler(405)(unrouted)


# --- HTML: the pages -------------------------------------------------------------------------

PageRenderer = Callable[[int, str, str], ResponseReturnValue]       # (status, title, message) → the page


def template_page(template: str) -> PageRenderer:
    """An error page drawn by ``template`` with ``title`` and ``message``."""

    def page(status: int, title: str, message: str) -> ResponseReturnValue:
        return render_template(template, title=title, message=message), status

    return page


def _form_refused() -> tuple[str, str]:
    return FORM_REFUSED


def _description(e: HTTPException) -> str:
    return e.description or ""


def _payload_missing(e: Exception) -> tuple[str, str]:
    return _("Payload missing"), str(e)


@dataclass(frozen=True)
class ErrorPages:
    """One kind of HTML error page: how it is drawn and what each error says on it.

    ``page`` draws it; ``csrf`` is (title, message) for a refused form; ``describe`` is the
    message for an HTTP error (its title is the status's name); ``payload_missing`` the
    (title, message) for a stored file gone missing (None: not this kind's business);
    ``unexpected`` the (title, message) for any other exception (None: the app's 500), which
    it may log."""

    page: PageRenderer
    csrf: Callable[[], tuple[str, str]] = _form_refused
    describe: Callable[[HTTPException], str] = _description
    payload_missing: Optional[Callable[[Exception], tuple[str, str]]] = _payload_missing
    unexpected: Optional[Callable[[Exception], tuple[str, str]]] = None


def _portal_payload_missing(e: Exception) -> tuple[str, str]:
    logging.getLogger("edigate.portal").error("%s", e)
    return _("File missing"), _("This file cannot be found on the server; the gateway's operators have been told.")


def _operator_unexpected(e: Exception) -> tuple[str, str]:
    """Any other exception on an operator page: logged with its traceback, told in a sentence
    (a person never reads Python's words for it)."""
    log.error("error on %s %s", request.method, request.path, exc_info=e)
    return (_("Something went wrong"), _("This page could not be shown because of a fault in the gateway; it has been "
                                         "logged with the time. Go back and try again; if it happens again, tell your "
                                         "administrator what you were doing and when."))


# the gateway's own kinds: the operator pages (and pages in their frame, like onboarding's
# staff pages) and the recipient portal
OPERATOR_PAGES = ErrorPages(page=template_page("error.html"), unexpected=_operator_unexpected)
PORTAL_PAGES = ErrorPages(page=template_page("portal/error.html"), payload_missing=_portal_payload_missing)


def page_errors(bp: Blueprint, kind: ErrorPages,
                also: Optional[Mapping[type[Exception], Callable[[Any], ResponseReturnValue]]] = None) -> None:
    """Answer every error of ``bp`` with ``kind``'s error page (module docstring)."""

    def refused_form(e: CSRFError) -> ResponseReturnValue:
        return kind.page(400, *kind.csrf())

    def http_error(e: HTTPException) -> ResponseReturnValue:
        return kind.page(e.code or 500, str(STATUS_TITLES.get(e.code or 500, e.name)), kind.describe(e))

    def worded(words: Callable[[Exception], tuple[str, str]]) -> Callable[[Exception], ResponseReturnValue]:
        def answer(e: Exception) -> ResponseReturnValue:
            return kind.page(500, *words(e))
        return answer

    def own(answer: Callable[[Any], ResponseReturnValue]) -> Callable[[Exception], ResponseReturnValue]:
        def handle(e: Exception) -> ResponseReturnValue:
            return answer(e)
        return handle

    bp.register_error_handler(CSRFError, refused_form)
    bp.register_error_handler(HTTPException, http_error)
    if kind.payload_missing is not None:
        bp.register_error_handler(PayloadMissing, worded(kind.payload_missing))
    if kind.unexpected is not None:           # any other exception (Flask picks the closest class)
        bp.register_error_handler(Exception, worded(kind.unexpected))
    for exception, answer in (also or {}).items():
        bp.register_error_handler(exception, own(answer))
