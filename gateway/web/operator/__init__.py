"""The operator pages (``/``): exchanges, documents, partners, certificates, for the gateway's own users.

``views.bp`` is the blueprint (its templates in ``templates/``: ``base.html`` frames every
operator page, extensions' staff pages too).
"""
from __future__ import annotations

from .views import bp
from . import exceptions, editing  # noqa: F401,E402  (their views join the blueprint)
from . import approvals  # noqa: F401,E402  (the approval trail on a document's page)
from . import peppol_certs  # noqa: F401,E402  (our Peppol certificates beside the others)
from . import audit_words  # noqa: F401,E402  (the trail's events worded for the reader)
from . import sftp_account  # noqa: F401,E402  (a partner's account on our SFTP server, from its page)

__all__ = ["bp"]
