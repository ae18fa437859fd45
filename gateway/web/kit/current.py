"""The Gateway (database, payload store, jobs) of the app handling the current request.

Its own module, below every blueprint and the app factory, so that views reach the
Gateway without importing the app that registers them.
"""
from __future__ import annotations

from flask import current_app

from ...runtime import Gateway

EXTENSION = "edigate"           # the key of the Gateway in ``app.extensions``


def gateway() -> Gateway:
    """The Gateway of the app handling the current request."""
    return current_app.extensions[EXTENSION]
