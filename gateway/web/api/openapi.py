"""The API's OpenAPI machinery: flask-smorest, set up the way edigate's API works.

flask-smorest generates the OpenAPI 3.1 document from the routes and the
marshmallow schemas (``schemas``) that validate requests; this module adapts it:

* ``Blueprint`` reads query strings and JSON bodies with ``Parser``: a body that is
  not JSON, or not a JSON object, is a 400; a value a schema refuses is a 400 (query)
  or 422 (body) in the API's one error shape, ``{"error": …, "details": {field: …}}``;
* ``Api`` documents that error shape (``schemas.Error``) for every error status and
  leaves error handling to the API blueprint (``kit.errors.json_errors``): the operator
  pages, the portal and onboarding keep their HTML error pages;
* ``Paths`` writes paths relative to the one server, ``/api/v1``, and gives each
  operation an ``operationId`` from its view's name (``list_partners`` →
  ``listPartners``); the bearer token is the document's security scheme;
* ``bp.authenticated`` is ``kit.tokens.require_token`` plus its 401 (and 403) in the document;
  ``bp.errors(…)`` documents the other error statuses a route answers.
"""
from __future__ import annotations

import http
from typing import Any, Callable, Mapping, Optional, TypeVar

import flask_smorest
from flask_smorest.utils import prepare_response
from flask import Flask
from marshmallow import Schema, ValidationError
from marshmallow.utils import missing
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest

from .. import bounds
from ..kit.errors import INVALID_VALUES, ApiError
from ..kit.tokens import require_token
from . import schemas

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "/api/v1"
SECURITY_SCHEME = "bearer"
NOT_JSON = "expected a JSON body (Content-Type: application/json)"

# what each error status means here (the document's descriptions)
ERRORS: dict[int, str] = {
    400: "Unusable query or body (details: per parameter or field)",
    401: "No valid token: missing, unknown, expired, revoked, or its user disabled",
    403: "The token's user lacks the role (or a recipient's token acts for another partner)",
    404: "No such record (or URL)",
    405: "Method not allowed (Allow lists the methods)",
    409: "Conflicts with the current state or another record",
    413: "Larger than the gateway accepts",
    422: "Well-formed but invalid values (details: per field)",
    500: "The gateway's fault, logged (e.g. a stored file is missing)",
}


class Parser(FlaskParser):
    """webargs as the API reads requests (see the module docstring)."""

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req: Any) -> Any:
        if not req.is_json:
            raise BadRequest(NOT_JSON)
        data = super()._raw_load_json(req)
        if data is not None and not isinstance(data, dict):
            raise BadRequest("expected a JSON object")
        return data

    def load_json(self, req: Any, schema: Schema) -> Any:
        data = super().load_json(req, schema)
        if data is None or data is missing:          # an empty body, or JSON null
            raise BadRequest(NOT_JSON)
        return data

    def _handle_invalid_json_error(self, error: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
        raise BadRequest(NOT_JSON)

    def handle_error(self, error: ValidationError, req: Any, schema: Schema, *, error_status_code: Optional[int],
                     error_headers: Optional[Mapping[str, str]]) -> Any:
        status = error_status_code or self.DEFAULT_VALIDATION_STATUS
        messages = error.messages if isinstance(error.messages, dict) else {"body": error.messages}
        location = next(iter(messages), "body") if len(messages) == 1 else "body"
        details = schemas.flatten(messages.get(location, messages))
        if location in ("query", "querystring", "headers"):
            raise ApiError(status, "invalid query parameters: " + ", ".join(sorted(details)), details)
        raise ApiError(status, INVALID_VALUES, details)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint reading requests with ``Parser``, with the API's decorators."""

    ARGUMENTS_PARSER = Parser()

    def errors(self, *statuses: int) -> Callable[[F], F]:
        """Document that a route may answer these error statuses (in the error shape)."""

        def decorate(view: F) -> F:
            for status in statuses:
                view = self.alt_response(status, http.HTTPStatus(status).name)(view)
            return view

        return decorate

    def authenticated(self, view: Optional[F] = None, *, recipients: bool = False):
        """``kit.tokens.require_token``, outermost (it runs before the query or body is read, so an
        anonymous caller learns nothing but 401), documented: 401, and 403 (the role).
        ``recipients``: a recipient login's token may call it (see ``require_token``)."""

        def decorate(view: F) -> F:
            return require_token(self.errors(401, 403)(view), recipients=recipients)

        return decorate(view) if view is not None else decorate


class Paths(flask_smorest.spec.plugins.FlaskPlugin):
    """Paths relative to ``/api/v1`` (the document's one server), an operationId for each."""

    def path_helper(self, rule: Any, operations: Any, parameters: Any, **kwargs: Any) -> str:
        path = super().path_helper(rule, operations, parameters, **kwargs)
        return path[len(PREFIX):] if path.startswith(PREFIX + "/") else path

    def operation_helper(self, path: Any = None, operations: Any = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        name = rule.endpoint.split(".", 1)[-1].replace(".", "_")
        words = name.split("_")
        base = words[0] + "".join(w.title() for w in words[1:])
        for method, operation in operations.items():
            if isinstance(operation, dict):
                operation.setdefault("operationId", base if len(operations) == 1 else f"{base}{method.title()}")


class Api(flask_smorest.Api):
    """flask-smorest's Api for an app that is more than its API (see the module docstring)."""

    ERROR_SCHEMA = schemas.Error
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        """Nothing app-wide: the API blueprint answers its own errors in JSON."""

    def _register_responses(self) -> None:
        for status, description in ERRORS.items():
            response: dict[str, Any] = {"description": description, "schema": self.ERROR_SCHEMA}
            if status == 401:
                response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                            "description": 'Bearer realm="edigate"'}}
            if status == 405:
                response["headers"] = {"Allow": {"schema": {"type": "string"}}}
            prepare_response(response, self.spec, "application/json")
            self.spec.components.response(http.HTTPStatus(status).name, response, lazy=True)


DESCRIPTION = """\
Partners, exchanges (messages in and out), documents (invoices read from them), uploads, retries,
redeliveries, the invoice life cycle and the ERP pull. Every route but this description wants
`Authorization: Bearer <token>` (tokens: `edigate token create`). Times are ISO 8601 in UTC,
amounts are decimal strings, ids are 1 to 2^63-1. Lists page with `limit` and `offset`; the ERP
pull pages with an opaque `next_cursor`. Every error is `{"error": "...", "details": ...}`.
Generated from the code (gateway/web/api/schemas.py): it is what the gateway validates and answers."""


def init_app(app: Flask) -> Api:
    """The flask-smorest ``Api`` of ``app``, with the bearer scheme and the bounded id converter
    documented (``bounds.install`` has replaced the app's ``int`` converter already)."""
    api = Api(app, spec_kwargs={
        "title": "edigate REST API", "version": "1", "openapi_version": "3.1.0",
        "info": {"description": DESCRIPTION},
        "servers": [{"url": PREFIX}],
        "security": [{SECURITY_SCHEME: []}],
        "flask_plugin": Paths(),
    })
    api.spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer", "description": "An edigate API token (edg_…)"})
    api.register_converter(bounds.IdConverter, flask_smorest.spec.plugins.integerconverter2paramschema)
    api.register_field(schemas.DecimalString, "string", "decimal")
    for schema in schemas.REFERENCED:
        api.spec.components.schema(schema.__name__, schema=schema)
    return api
