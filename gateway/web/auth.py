"""Who is asking: bearer tokens for the API, a login session for the pages, roles for actions.

* ``require_token``: the API authenticates every request by its
  ``Authorization: Bearer edg_…`` header (no cookies, so no CSRF to ride on);
  a missing or bad token gets a JSON 401 with a ``WWW-Authenticate`` challenge.
  A recipient login's token (role ``recipient``) is refused (403) except on the
  routes that say ``@require_token(recipients=True)``, which then show it its
  own partner's records only.
* ``login_required``: the operator pages want a logged-in gateway user (Flask's
  signed session holds the user id and a marker of the password, so disabling
  a user or changing a password ends their sessions at the next request);
  anonymous visitors are sent to ``/login?next=…`` with a ``next`` that can only
  be a path on this site, never an absolute URL elsewhere. A recipient login is
  refused there (403; on ``/`` it is sent to its portal).
* ``recipient_required``: the recipient portal's pages want a recipient login;
  anonymous visitors go to ``/portal/login``, gateway users are refused (403):
  staff never act as a recipient.
* ``PERMISSIONS``: which roles may do what; the views call ``allowed()`` /
  ``require_permission()``. Both set ``g.user`` (a detached ``User``).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar
from urllib.parse import urlsplit

from flask import g, jsonify, redirect, request, session, url_for
from werkzeug.exceptions import Forbidden
from werkzeug.routing import BuildError

from ..db import User, authenticate_token

F = TypeVar("F", bound=Callable[..., Any])

REALM = "edigate"
RECIPIENT = "recipient"          # the role of a recipient organisation's login (portal, ERP pull)

# Reading is open to every role; these actions need one of the roles listed.
PERMISSIONS: dict[str, frozenset[str]] = {
    "retry": frozenset({"admin", "operator"}),
    "partners.write": frozenset({"admin", "operator"}),
    "documents.upload": frozenset({"admin", "operator", "staff"}),
    # setting an invoice's life-cycle status for its recipient (the recipient's own login may too)
    "documents.status": frozenset({"admin", "operator"}),
}


def _gateway():
    from . import gateway
    return gateway()


# --- API: bearer tokens ------------------------------------------------------------------

def bearer_token() -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _unauthorised(message: str, *, invalid: bool):
    challenge = f'Bearer realm="{REALM}"'
    if invalid:
        challenge += ', error="invalid_token"'
    response = jsonify({"error": message, "details": None})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = challenge
    return response


def _forbidden_json(message: str):
    response = jsonify({"error": message, "details": None})
    response.status_code = 403
    return response


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
            with _gateway().session() as s:
                user = authenticate_token(s, token)
            if user is None:
                return _unauthorised("invalid, expired or revoked token", invalid=True)
            if user.role == RECIPIENT and not recipients:
                return _forbidden_json("this route is for gateway users; a recipient login's token may use "
                                       "its documents' status and the ERP pull routes")
            g.user = user
            return view(*args, **kwargs)

        wrapper.recipients_allowed = recipients          # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


# --- pages: login session ----------------------------------------------------------------

SESSION_USER = "user_id"
SESSION_MARKER = "user_marker"


def safe_next(target: Optional[str], default: str = "/") -> str:
    """``target`` if it is a path on this site (``/exchanges?status=failed``), else ``default``:
    no scheme, no host, no ``//host`` or ``/\\host`` (browsers read both as another site),
    no control characters."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def log_in(user: User) -> None:
    session.clear()                          # a new session id's worth: no fixation
    session[SESSION_USER] = user.id
    session[SESSION_MARKER] = user.session_marker


def log_out() -> None:
    session.clear()


def current_user() -> Optional[User]:
    """The logged-in, still active user whose password has not changed since, else None."""
    user_id = session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return None
    with _gateway().session() as s:
        user = s.get(User, user_id)
    if user is None or not user.active or session.get(SESSION_MARKER) != user.session_marker:
        session.clear()
        return None
    return user


def _here() -> str:
    """The current path and query, as ``next`` for the login page."""
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def _portal_home() -> Optional[str]:
    try:
        return url_for("portal.index")
    except BuildError:                          # an app without the portal
        return None


def login_required(view: F) -> F:
    """The view runs for a logged-in gateway user; anonymous visitors go to the login page and
    back; a recipient login is refused (sent to its portal from the dashboard)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        user = current_user()
        if user is None:
            return redirect(url_for("pages.login", next=safe_next(_here())))
        if user.role == RECIPIENT:
            home = _portal_home()
            if request.path == "/" and request.method == "GET" and home:
                return redirect(home)
            raise Forbidden("These pages are for the gateway's own users. A recipient organisation's login "
                            "uses the recipient portal" + (f" ({home})." if home else "."))
        g.user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def recipient_required(view: F) -> F:
    """The view runs for a logged-in recipient login (``g.user.partner_id`` is its partner);
    anonymous visitors go to the portal's login page and back; gateway users are refused."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        user = current_user()
        if user is None:
            return redirect(url_for("portal.login", next=safe_next(_here(), "/portal/")))
        if user.role != RECIPIENT or user.partner_id is None:
            raise Forbidden("The recipient portal is for recipient organisations' logins; "
                            "gateway users work on the operator pages.")
        g.user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# --- roles ---------------------------------------------------------------------------------

def allowed(action: str, user: Optional[User] = None) -> bool:
    """May ``user`` (default: ``g.user``) do ``action`` (a key of ``PERMISSIONS``)?"""
    user = user if user is not None else g.get("user")
    return user is not None and user.has_role(*PERMISSIONS[action])


def require_permission(action: str) -> None:
    """Raise 403 unless ``g.user`` may do ``action``."""
    if not allowed(action):
        roles = " or ".join(sorted(PERMISSIONS[action]))
        raise Forbidden(f"{action} needs the role {roles}")
