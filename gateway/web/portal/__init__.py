"""The recipient portal (``/portal``): a recipient organisation's login sees, decides on, downloads
and exports the invoices sent to it.

``views.bp`` is the blueprint (templates in ``templates/portal/``); ``search`` reads the
list's search form into a query, ``files`` gives invoices as downloads and exports,
``approvals`` the approval queue, decisions and delegations; ``preferences`` the
recipient's language and time zone.
"""
from __future__ import annotations

from .views import bp
from . import approvals  # noqa: F401,E402  (the approval pages, on the same blueprint)
from . import preferences  # noqa: F401,E402  (the recipient's language and time zone)

__all__ = ["bp"]
