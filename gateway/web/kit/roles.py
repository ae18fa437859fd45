"""Which roles may see and do what: the pages show a button only when ``allowed()``, and every view that
acts or shows an invoice's content calls ``require_permission()`` (403 otherwise).

The roles (``ROLE_HELP`` says the same to people, on the operator pages' "Roles" help):

* ``admin``: everything an operator does, and the gateway's users and tokens (command line).
* ``operator``: runs the exchange: opens and downloads every invoice and message, works the
  exception queue (retry, redeliver, assign a held invoice, acknowledge), edits partners and
  certificates.
* ``staff``: onboarding officers and the people who upload invoices: the onboarding pages,
  uploads through the API, and the gateway's lists (dashboard counts, exchanges, documents,
  partners, certificates) to follow who sends what; they do not open an invoice's page nor
  download any invoice, message or rendering (an invoice's content is the business of those
  who run the exchange, and of its recipient), and change nothing here.
* ``recipient``: a recipient organisation's login: only the recipient portal and the API
  routes that admit it, and only its own partner's invoices.
"""
from __future__ import annotations

from typing import Optional

from flask import g
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import Forbidden

from ...db import User

RECIPIENT = "recipient"          # the role of a recipient organisation's login (portal, ERP pull)

RUNS_THE_EXCHANGE = frozenset({"admin", "operator"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "retry": RUNS_THE_EXCHANGE,
    "partners.write": RUNS_THE_EXCHANGE,
    "certificates.write": RUNS_THE_EXCHANGE,
    # the exception queue's own actions: acknowledge, assign / create / propose a held invoice
    "exceptions": RUNS_THE_EXCHANGE,
    # an invoice's page, its files and renderings, an exchange's raw message, content and MDN
    "documents.open": RUNS_THE_EXCHANGE,
    "documents.upload": frozenset({"admin", "operator", "staff"}),
    # setting an invoice's life-cycle status for its recipient (the recipient's own login may too)
    "documents.status": RUNS_THE_EXCHANGE,
}

# What each role may see and do, as the pages tell it (key: role; value: (sees, does))
ROLE_HELP: dict[str, tuple[str, str]] = {
    "admin": (_l("Everything."),
              _l("Everything an operator does, and manages the gateway's users and API tokens (command line).")),
    "operator": (_l("Every page: exchanges, documents with their content and files, partners, certificates, "
                    "the exception queue."),
                 _l("Retries and redelivers, assigns held invoices, acknowledges exceptions, edits partners and "
                    "certificates, sets an invoice's status for its recipient.")),
    "staff": (_l("The dashboard, the lists of exchanges, documents and partners, certificates, and the onboarding "
                 "pages. Not an invoice's page nor any file (invoices, messages, renderings)."),
              _l("Onboarding work, and uploads invoices through the API. Changes nothing on these pages.")),
    "recipient": (_l("Only the recipient portal: its own organisation's invoices."),
                  _l("Downloads, exports, accepts, refuses or disputes its invoices.")),
}


def allowed(action: str, user: Optional[User] = None) -> bool:
    """May ``user`` (default: ``g.user``) do ``action`` (a key of ``PERMISSIONS``)?"""
    user = user if user is not None else g.get("user")
    return user is not None and user.has_role(*PERMISSIONS[action])


def require_permission(action: str) -> None:
    """Raise 403 unless ``g.user`` may do ``action``, naming the roles that may (the API answers it as is)."""
    if not allowed(action):
        roles = " or ".join(sorted(PERMISSIONS[action]))
        raise Forbidden(f"{action} needs the role {roles}")
