"""AFNOR XP Z12-013 served to our members' ERPs, beside our own API: the Flow Service (Annex A)
and the Directory Service (Annex B), version 1.3.0.

The specification's server URL is ``{base-path}/{service-name}``; ours is ``BASE`` =
``/xp-z12-013``: ``/xp-z12-013/flow-service/v1/…`` (``flow_service``) and
``/xp-z12-013/directory-service/v1/…`` (``directory_service``). Both take our API tokens as
bearer tokens (no cookies: exempt from CSRF) and answer errors in the specification's
``Error`` shape through the kit (``common``). What they may hold is ``spec``'s; the flows
themselves are the ``flow_api`` channel's (``gateway.channels.flows``).

    xp_z12013.init_app(app, csrf)        # in the app factory
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from ..kit.errors import json_errors
from . import directory_service, flow_service
from .common import afnor_body, other_methods

BASE = "/xp-z12-013"

bp = Blueprint("xp_z12013", __name__, url_prefix=BASE)
bp.register_blueprint(flow_service.bp)
bp.register_blueprint(directory_service.bp)
json_errors(bp, body=afnor_body, logger=flow_service.log)


def init_app(app: Flask, csrf: Any) -> None:
    """Register both services on ``app``, exempt from CSRF (bearer tokens, no cookies)."""
    csrf.exempt(bp)
    csrf.exempt(flow_service.bp)
    csrf.exempt(directory_service.bp)
    app.register_blueprint(bp)
    other_methods(app, bp.name)
