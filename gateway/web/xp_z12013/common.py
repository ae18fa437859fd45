"""What both XP Z12-013 services share: their error shape, who is calling, bounded JSON bodies.

* Errors: the specification's ``Error`` object, ``{"errorCode", "errorMessage"[, "details"]}``,
  through the kit's JSON errors (``kit.errors.json_errors(..., body=afnor_body)``). A view
  raises ``Refused(status, message, code=..., details=...)`` to name the ``errorCode``;
  werkzeug's errors get the code of their status (``CODES``).
* Who: ``Authorization: Bearer`` with one of our API tokens (``edigate token create``), as for
  our own API; no cookies, so no CSRF. ``acting_partner``: a ``recipient`` login's token acts
  for its own partner (the ERP's company); an admin's or operator's names the partner in the
  ``Organization-Id`` header (our partner id, or the partner's SIREN or SIRET); other roles
  are refused. ``Request-Id`` (a UUID, as the specification types it) is echoed back.
* Bodies: a JSON object of at most ``MAX_JSON`` bytes, checked against its schema (``spec``).
"""
from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, request
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException, Unauthorized

from ...db import Partner, PartnerIdentifier, authenticate_token
from ..kit.current import gateway
from ..kit.errors import ApiError, error
from ..kit.roles import RECIPIENT
from ..kit.tokens import REALM, bearer_token

F = TypeVar("F", bound=Callable[..., Any])

MAX_JSON = 64 * 1024
CODES = {400: "BAD_REQUEST", 401: "MISSING_TOKEN", 403: "FORBIDDEN_ACCESS", 404: "MISSING_RESOURCE",
         405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT", 413: "FILE_SIZE_EXCEEDED",
         415: "UNSUPPORTED_MEDIA_TYPE", 422: "UNPROCESSABLE_ENTITY", 429: "TOO_MANY_REQUESTS",
         500: "INTERNAL_ERROR", 501: "NOT_IMPLEMENTED", 503: "RESOURCE_ERROR"}
ACTING_ROLES = ("admin", "operator")


class Refused(ApiError):
    """An answer in the specification's error shape, with its own ``errorCode``."""

    def __init__(self, status: int, message: str, *, code: Optional[str] = None, details: Any = None):
        super().__init__(status, message, {"errorCode": code or CODES.get(status, "ERROR"), "details": details})


def afnor_body(status: int, message: str, details: Any) -> dict[str, Any]:
    """The specification's ``Error`` object (``details`` is text there)."""
    code = CODES.get(status, "ERROR")
    if isinstance(details, Mapping) and "errorCode" in details:
        code, details = details["errorCode"], details.get("details")
    out: dict[str, Any] = {"errorCode": code, "errorMessage": message or code}
    if details is not None:
        out["details"] = details if isinstance(details, str) else json.dumps(details, ensure_ascii=False,
                                                                              default=str)[:4000]
    return out


class _NoToken(Unauthorized):
    """401 with its ``WWW-Authenticate`` challenge (the kit passes that header on)."""

    def __init__(self, message: str, invalid: bool):
        super().__init__(message)
        self.challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid else "")

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [*super().get_headers(environ, scope), ("WWW-Authenticate", self.challenge)]


def request_id() -> Optional[str]:
    """The ``Request-Id`` header, checked (a UUID); 400 otherwise."""
    value = request.headers.get("Request-Id")
    if value is None:
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise Refused(400, "Request-Id is not a UUID", code="INVALID_HEADER") from None


def authenticated(view: Optional[F] = None, *, request_id_checked: bool = True):
    """The view runs for a valid, unrevoked, unexpired token of an active user (any role: the view
    decides what it may see); ``g.user`` is set. The token is checked before anything else.
    ``request_id_checked``: a ``Request-Id`` that is not a UUID is a 400 (where the operation
    documents a 400; elsewhere it is ignored). OPTIONS is answered by ``unrouted``."""
    if view is None:
        return functools.partial(authenticated, request_id_checked=request_id_checked)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = bearer_token()
        if token is None:
            raise _NoToken("authentication required: send Authorization: Bearer <token>", invalid=False)
        with gateway().session() as s:
            user = authenticate_token(s, token)
        if user is None:
            raise _NoToken("invalid, expired or revoked token", invalid=True)
        g.user = user
        try:
            rid = request_id()
        except Refused:
            if request_id_checked:
                raise
            rid = None
        response = view(*args, **kwargs)
        if rid is not None and isinstance(response, Response):
            response.headers["Request-Id"] = rid
        return response

    wrapper.provide_automatic_options = False         # type: ignore[attr-defined]
    return wrapper


def _partner_named(s, text: str) -> Optional[int]:
    """The partner an ``Organization-Id`` names: its SIREN or SIRET (0002, 0009, 0225), else our id."""
    text = text.strip()
    if text.isdigit() and len(text) in (9, 14):
        scheme = "0002" if len(text) == 9 else "0009"
        found = s.scalar(sa.select(PartnerIdentifier.partner_id).where(sa.or_(
            sa.and_(PartnerIdentifier.scheme == scheme, PartnerIdentifier.value == text),
            sa.and_(PartnerIdentifier.scheme == "0225",
                    PartnerIdentifier.value == (text if len(text) == 9 else f"{text[:9]}_{text}")))).limit(1))
        if found is not None:
            return found
    if text.isdigit() and 0 < int(text) < 2 ** 63 and s.get(Partner, int(text)) is not None:
        return int(text)
    return None


def acting_partner() -> int:
    """The partner the request acts for (see the module docstring)."""
    user = g.user
    named = request.headers.get("Organization-Id")
    if user.role == RECIPIENT:
        if named is not None and named.strip():
            with gateway().session() as s:
                if _partner_named(s, named[:100]) != user.partner_id:
                    raise Refused(403, "a recipient login's token acts for its own organisation only")
        return user.partner_id
    if not user.has_role(*ACTING_ROLES):
        raise Refused(403, "the flow service is for an organisation's own login, or for an admin or operator "
                           "naming the organisation (Organization-Id)")
    if named is None or not named.strip():
        raise Refused(400, "an admin's or operator's token must name the organisation it acts for: "
                           "Organization-Id: <partner id, SIREN or SIRET>", code="MISSING_REQUIRED_FIELD")
    with gateway().session() as s:
        found = _partner_named(s, named[:100])
    if found is None:
        raise Refused(404, "no organisation with that Organization-Id")
    return found


def json_body(schema: Mapping[str, Any], *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object, at most ``MAX_JSON`` bytes, valid for ``schema``; 400 otherwise
    (413 when larger)."""
    if request.content_length is not None and request.content_length > MAX_JSON:
        raise Refused(413, f"a JSON body is at most {MAX_JSON} bytes", code="PAYLOAD_TOO_LARGE")
    raw = request.stream.read(MAX_JSON + 1)
    if len(raw) > MAX_JSON:
        raise Refused(413, f"a JSON body is at most {MAX_JSON} bytes", code="PAYLOAD_TOO_LARGE")
    if not raw.strip():
        if required:
            raise Refused(400, "expected a JSON body (Content-Type: application/json)", code="MISSING_REQUIRED_FIELD")
        raw = b"{}"
    if request.mimetype and request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise Refused(400, "expected a JSON body (Content-Type: application/json)", code="INVALID_REQUEST")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused(400, "the body is not JSON", code="INVALID_REQUEST") from None
    return checked(data, schema)


def checked(data: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` when it is valid for ``schema``; 400 naming each problem otherwise."""
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        problems = {"/".join(str(p) for p in e.absolute_path) or "body": e.message[:300] for e in errors[:20]}
        raise Refused(400, "invalid request: " + ", ".join(sorted(problems)), code="INVALID_REQUEST",
                      details=problems)
    return data


def datetime_value(text: str, field: str) -> datetime:
    """An RFC 3339 date-time (a zone is required; ``Z`` is UTC), as aware UTC."""
    try:
        value = datetime.fromisoformat(text.strip()) if "T" in text.upper() else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise Refused(400, f"{field} is not a date-time with its zone (RFC 3339)", code="INVALID_REQUEST")
    return value.astimezone(timezone.utc)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def unrouted(**_path: Any) -> Any:
    """Any other URL or method of a service: OPTIONS lists the methods a URL has, another method
    is a 405 with ``Allow``, any other URL a 404. Answered here, not raised: the app's own 404
    and 405 handlers (the API's) would take them first."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if not endpoint.rsplit(".", 1)[-1].startswith("unrouted"):
            allowed.append(method)
    if allowed and "GET" in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    if allowed and request.method == "OPTIONS":
        return Response(status=204, headers={"Allow": ", ".join([*allowed, "OPTIONS"])})
    if allowed:
        return error(405, f"{request.method} is not allowed here", None, {"Allow": ", ".join(allowed)},
                     body=afnor_body)
    return error(404, f"no such resource: {request.path[:200]}", None, body=afnor_body)


unrouted.provide_automatic_options = False          # type: ignore[attr-defined]
ALL_METHODS = [*METHODS, "OPTIONS"]


def catch_all(bp: Blueprint) -> None:
    """Every other URL under ``bp`` answers in the specification's shape (its error handlers)."""
    bp.add_url_rule("/", "unrouted", unrouted, methods=ALL_METHODS)
    bp.add_url_rule("/<path:rest>", "unrouted", unrouted, methods=ALL_METHODS)


def other_methods(app: Flask, name: str) -> None:
    """A routed URL of blueprint ``name`` asked with another method answers 405 in the
    specification's shape too: werkzeug stops at the URL's own rule (its 405 would be the app's
    page), so each such URL gets a rule of the blueprint for the methods it lacks."""
    used: dict[str, set[str]] = {}
    for rule in list(app.url_map.iter_rules()):
        if rule.endpoint.startswith(name + ".") and not rule.endpoint.rsplit(".", 1)[-1].startswith("unrouted"):
            used.setdefault(rule.rule, set()).update(rule.methods or ())
    for i, (path, methods) in enumerate(sorted(used.items())):
        missing = [m for m in ALL_METHODS if m not in methods]
        if missing:
            app.add_url_rule(path, f"{name}.unrouted_{i}", unrouted, methods=missing)
