"""The AS2 endpoint (``POST /as2``): inbound messages and asynchronous MDNs for ours."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("as2", __name__)
