"""Who is calling the API: a bearer token in every request, no cookies (so no CSRF to ride on).

``require_token`` lets a view run only for an ``Authorization: Bearer edg_…`` header of a
valid, unrevoked, unexpired token of an active user; otherwise a JSON 401 (the API's error
shape) with a ``WWW-Authenticate`` challenge. A recipient login's token (role ``recipient``)
is refused (403) except on the routes that say ``@require_token(recipients=True)``, which
then show it its own partner's records only. Sets ``g.user`` (a detached ``User``).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar

from flask import Response, g, request

from ...db import authenticate_token
from .current import gateway
from .errors import error
from .roles import RECIPIENT

F = TypeVar("F", bound=Callable[..., Any])

REALM = "edigate"


def bearer_token() -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _unauthorised(message: str, *, invalid: bool) -> Response:
    challenge = f'Bearer realm="{REALM}"'
    if invalid:
        challenge += ', error="invalid_token"'
    return error(401, message, None, {"WWW-Authenticate": challenge})


def require_token(view: Optional[F] = None, *, recipients: bool = False):
    """The view runs only for a valid, unrevoked, unexpired token of an active user; a
    recipient login's token only where ``recipients=True`` (the view then keeps it to its
    own partner's records). Use as ``@require_token`` or ``@require_token(recipients=True)``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            token = bearer_token()
            if token is None:
                return _unauthorised("authentication required: send Authorization: Bearer <token>", invalid=False)
            with gateway().session() as s:
                user = authenticate_token(s, token)
            if user is None:
                return _unauthorised("invalid, expired or revoked token", invalid=True)
            if user.role == RECIPIENT and not recipients:
                return error(403, "this route is for gateway users; a recipient login's token may use "
                                  "its documents' status and the ERP pull routes")
            g.user = user
            return view(*args, **kwargs)

        wrapper.recipients_allowed = recipients          # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate
