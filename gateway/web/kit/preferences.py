"""A logged-in person's own settings, the same on the operator pages and the recipient portal: the
language of the pages (``User.language``; none: as the browser asks) and the time zone times are
shown in (``User.time_zone``; none: Europe/Paris).

``save(form)`` checks the form, writes both with an audit line, and says what to flash, already
in the language just chosen; each door has its own page (its own layout) around ``options()``,
served by ``page``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l

from ... import i18n
from ...db import User, audit
from . import display, language
from .current import gateway

# the languages a user may choose, each named in its own language ("": the browser's)
LANGUAGE_NAMES = (("", _l("As my browser asks")), ("fr", "Français"), ("en", "English"))


def options() -> dict[str, Any]:
    """What a preferences page shows: the choices and the user's current ones."""
    return {"zones": display.time_zones(), "current": display.zone_name(), "languages": LANGUAGE_NAMES,
            "current_language": g.user.language or "", "now_utc": lambda: datetime.now(timezone.utc)}


def save(form: Mapping[str, str]) -> tuple[bool, str]:
    """The form's language and time zone for ``g.user``: (saved, what to tell the user)."""
    zone = (form.get("time_zone") or "").strip()
    lang = (form.get("language") or "").strip()
    if zone not in display.time_zones():
        return False, _("Choose a time zone from the list.")
    if lang not in ("", *i18n.LANGUAGES):
        return False, _("Choose a language from the list.")
    with gateway().session() as s:
        user = s.get(User, g.user.id)
        before = (user.time_zone, user.language)
        user.time_zone = None if zone == display.DEFAULT_TIME_ZONE else zone
        user.language = lang or None
        audit.record(s, g.user.username, "user.preferences", "user", user.id,
                     f"time zone set to {zone}, language {lang or 'the browser'}",
                     {"time_zone": [before[0], user.time_zone], "language": [before[1], user.language]})
    g.user.language, g.user.time_zone = lang or None, user.time_zone
    language.refresh()          # the message below in the language just chosen
    return True, _("Times are now shown in %(zone)s.", zone=zone)


__all__ = ["LANGUAGE_NAMES", "options", "save"]


def page(endpoint: str, template: str):
    """The preferences page of one door: on POST, ``save`` the form, flash what it says and go back
    to ``endpoint``; else ``template`` (that door's layout) around ``options()``."""
    if request.method == "POST":
        saved, message = save(request.form)
        flash(message, "info" if saved else "error")
        return redirect(url_for(endpoint), code=303)
    return render_template(template, **options())
