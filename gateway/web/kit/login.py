"""Who is logged in on the pages: the session, the two doors (operator pages, recipient portal), and
the decorators that keep each set of pages to its own people.

* The session: Flask's signed cookie holds the user id and a marker of the password, so
  disabling a user or changing a password ends their sessions at the next request
  (``current_user``). Logging in starts a fresh session (no fixation).
* A ``Door`` is one login page: its blueprint, its template, which role it admits.
  ``login_views(bp, door)`` adds ``/login`` (GET, POST) and ``/logout`` (POST) to the door's
  blueprint; ``next`` is kept only when it is a path on this site under the blueprint's
  prefix (``safe_next``), never an absolute URL elsewhere.
* ``login_required``: the operator pages want a logged-in gateway user; anonymous visitors go
  to ``/login?next=…``; a recipient login is refused (403; on ``/`` it is sent to its portal).
* ``recipient_required``: the portal's pages want a recipient login; anonymous visitors go to
  ``/portal/login``; gateway users are refused (403): staff never act as a recipient.

Both decorators set ``g.user`` (a detached ``User``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import Forbidden
from werkzeug.routing import BuildError

from ...db import User, check_login
from . import language
from .current import gateway
from .roles import RECIPIENT

F = TypeVar("F", bound=Callable[..., Any])

SESSION_USER = "user_id"
SESSION_MARKER = "user_marker"
UNKNOWN = "Unknown user, wrong password, or account disabled."


# --- the session ---------------------------------------------------------------------------

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
    with gateway().session() as s:
        user = s.get(User, user_id)
    if user is None or not user.active or session.get(SESSION_MARKER) != user.session_marker:
        session.clear()
        return None
    return user


# --- the doors -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Door:
    """One login page. ``blueprint`` owns its views (``<blueprint>.login``, ``.logout``),
    ``home`` is where a login goes without a ``next``, ``role`` the only role it admits
    (None: any), ``refusal`` what a login of another role is told (403)."""

    blueprint: str
    template: str
    home: str
    role: Optional[str] = None
    refusal: str = ""

    @property
    def login_endpoint(self) -> str:
        return f"{self.blueprint}.login"

    def admits(self, user: User) -> bool:
        return self.role is None or user.role == self.role


OPERATOR = Door(blueprint="pages", template="login.html", home="pages.dashboard")
PORTAL = Door(blueprint="portal", template="portal/login.html", home="portal.index", role=RECIPIENT,
              refusal="This login is for recipient organisations. Gateway users log in on the operator pages.")


def login_views(bp: Blueprint, door: Door) -> None:
    """Add the door's ``/login`` and ``/logout`` views to ``bp`` (its blueprint)."""
    if bp.name != door.blueprint:
        raise ValueError(f"the door of {door.blueprint!r} opens on that blueprint, not on {bp.name!r}")
    within = (bp.url_prefix or "") + "/"

    def login() -> ResponseReturnValue:
        home = url_for(door.home)
        target = safe_next(request.values.get("next"), home)
        if not target.startswith(within):
            target = home
        if request.method == "GET":
            user = current_user()
            if user is not None and door.admits(user):
                return redirect(target)
            return render_template(door.template, next=target)
        username = request.form.get("username", "")
        with gateway().session() as s:
            user = check_login(s, username, request.form.get("password", ""))
        if user is None:
            flash(UNKNOWN, "error")
            return render_template(door.template, next=target, username=username), 200
        if not door.admits(user):
            flash(door.refusal, "error")
            return render_template(door.template, next=target, username=username), 403
        log_in(user)
        return redirect(target)

    def logout() -> ResponseReturnValue:
        log_out()
        flash("Logged out.", "info")
        return redirect(url_for(door.login_endpoint))

    bp.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])


# --- the decorators --------------------------------------------------------------------------

def _here() -> str:
    """The current path and query, as ``next`` for the login page."""
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def _portal_home() -> Optional[str]:
    try:
        return url_for(PORTAL.home)
    except BuildError:                          # an app without the portal
        return None


def login_required(view: F) -> F:
    """The view runs for a logged-in gateway user; anonymous visitors go to the login page and
    back; a recipient login is refused (sent to its portal from the dashboard)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        user = current_user()
        if user is None:
            return redirect(url_for(OPERATOR.login_endpoint, next=safe_next(_here())))
        if user.role == RECIPIENT:
            home = _portal_home()
            if request.path == "/" and request.method == "GET" and home:
                return redirect(home)
            raise Forbidden("These pages are for the gateway's own users. A recipient organisation's login "
                            "uses the recipient portal" + (f" ({home})." if home else "."))
        g.user = user
        language.refresh()                  # the user's own language, now that it is known
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def recipient_required(view: F) -> F:
    """The view runs for a logged-in recipient login (``g.user.partner_id`` is its partner);
    anonymous visitors go to the portal's login page and back; gateway users are refused."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        user = current_user()
        if user is None:
            return redirect(url_for(PORTAL.login_endpoint, next=safe_next(_here(), "/portal/")))
        if user.role != RECIPIENT or user.partner_id is None:
            raise Forbidden("The recipient portal is for recipient organisations' logins; "
                            "gateway users work on the operator pages.")
        g.user = user
        language.refresh()                  # the user's own language, now that it is known
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
