"""The reader of the page being made: the language it reads and its time zone.

A leaf of the kit: ``language`` (Flask-Babel's wiring), ``display`` (how values are shown)
and ``words`` (the record's codes named) all ask it, and it asks none of them.
"""
from __future__ import annotations

import flask_babel
from flask import g, has_request_context

from ... import i18n

DEFAULT_TIME_ZONE = "Europe/Paris"      # the gateway's people are in France unless they say otherwise


def current() -> str:
    """The language of the page being made; English (the code's own) outside a request."""
    if not has_request_context():
        return i18n.SOURCE
    return i18n.pick(flask_babel.get_locale())


def zone_name() -> str:
    """The reader's time zone: the logged-in user's, else the default."""
    user = g.get("user") if has_request_context() else None
    return getattr(user, "time_zone", None) or DEFAULT_TIME_ZONE
