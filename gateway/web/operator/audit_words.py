"""An audit event's "what" in the reader's language.

The trail keeps a summary written in English when the change was made, and its detail (the
fields changed, the fingerprints before and after…). A page words the events it knows from
their action and detail, in the reader's language; any other shows its recorded summary, marked
``lang="en"`` (it is the record's own text, as a technical reason is).
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup, escape

from .views import bp


def _keys(values: Any) -> str:
    return ", ".join(str(v) for v in values or []) or "—"


def _worded(action: str, d: dict[str, Any]) -> str | None:
    if action == "partner.create":
        return _("partner %(name)s created", name=d.get("name", ""))
    if action == "partner.update":
        return _("changed %(fields)s", fields=", ".join(sorted(d)))
    if action in ("certificate.import", "certificate.retire") and "certificate_id" in d:
        if action == "certificate.import":
            return _("certificate #%(id)s imported", id=d["certificate_id"])
        return _("certificate #%(id)s retired", id=d["certificate_id"])
    if action == "sftp.account.create":
        return _("SFTP account %(username)s created with the key(s) %(after)s", username=d.get("username", ""),
                 after=_keys(d.get("keys_after")))
    if action == "sftp.account.update":
        return _("SFTP account %(username)s: %(state)s (login before: %(before)s)", username=d.get("username", ""),
                 state=_("enabled") if d.get("active") else _("disabled"), before=d.get("username_before", ""))
    if action == "sftp.key.add":
        return _("SFTP account %(username)s: key(s) added %(added)s; keys before: %(before)s; after: %(after)s",
                 username=d.get("username", ""), added=_keys(d.get("added")), before=_keys(d.get("keys_before")),
                 after=_keys(d.get("keys_after")))
    if action == "sftp.key.remove":
        return _("SFTP account %(username)s: key(s) removed %(removed)s; keys before: %(before)s; after: %(after)s",
                 username=d.get("username", ""), removed=_keys(d.get("removed")), before=_keys(d.get("keys_before")),
                 after=_keys(d.get("keys_after")))
    return None


@bp.app_template_global()
def audit_summary(event: Any) -> Markup:
    """The event's "what" worded for the reader, else its recorded summary marked as English."""
    detail = event.detail if isinstance(event.detail, dict) else {}
    try:
        text = _worded(event.action, detail)
    except (KeyError, TypeError, ValueError):
        text = None
    if text is None:
        return Markup('<span lang="en">%s</span>') % escape(event.summary)
    return Markup(escape(text))
