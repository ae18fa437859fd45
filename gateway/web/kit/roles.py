"""Which roles may do what: reading is open to every role; these actions need one of the roles listed.

The views call ``allowed()`` (to show a button) or ``require_permission()`` (403
otherwise). A recipient organisation's login has the role ``RECIPIENT``: it
sees its own partner's records only, on the portal and the API routes that
admit it.
"""
from __future__ import annotations

from typing import Optional

from flask import g
from werkzeug.exceptions import Forbidden

from ...db import User

RECIPIENT = "recipient"          # the role of a recipient organisation's login (portal, ERP pull)

PERMISSIONS: dict[str, frozenset[str]] = {
    "retry": frozenset({"admin", "operator"}),
    "partners.write": frozenset({"admin", "operator"}),
    "documents.upload": frozenset({"admin", "operator", "staff"}),
    # setting an invoice's life-cycle status for its recipient (the recipient's own login may too)
    "documents.status": frozenset({"admin", "operator"}),
}


def allowed(action: str, user: Optional[User] = None) -> bool:
    """May ``user`` (default: ``g.user``) do ``action`` (a key of ``PERMISSIONS``)?"""
    user = user if user is not None else g.get("user")
    return user is not None and user.has_role(*PERMISSIONS[action])


def require_permission(action: str) -> None:
    """Raise 403 unless ``g.user`` may do ``action``."""
    if not allowed(action):
        roles = " or ".join(sorted(PERMISSIONS[action]))
        raise Forbidden(f"{action} needs the role {roles}")
