"""``edigate partner``, ``edigate cert`` and ``edigate org``: who we exchange with, and the keys.

The operator's tools for the records in ``gateway.db.partners``; register
the groups in the main command line with ``main.add_command(partner_group)``
(and ``cert_group``, ``org_group``, ``sftp_group``). The commands live in ``gateway.admin``
(one module per group, plus ``common``), kept small by concern.

Each command opens the configured database (``EDIGATE_DATABASE_URL`` /
``EDIGATE_HOME``), brings it to the latest schema, and works in one
transaction: a command that refuses something writes nothing at all.

Everything is checked before it is stored, because a wrong partner record
fails late and far away (an invoice routed to nobody, an AS2 send refused at
night): identifiers by their check digits (``gateway.model.identifiers``),
algorithms, URLs and certificate files by ``gateway.partners.checks``, and
uniqueness by asking the database first, so that the message can name the
partner already holding a name, AS2 id or identifier.

Exit codes: 0 done; 1 problems found (``cert expiring``: some certificate
expires soon or has expired); 2 bad input (refused, nothing written; also
click's usage errors); 3 setup problem (a setting cannot be used).

Listings go to stdout (``--json`` for machines); warnings and errors to stderr.
"""
from __future__ import annotations

from gateway.cli.cert import cert_group
from gateway.cli.common import EXIT_BAD_INPUT, EXIT_OK, EXIT_PROBLEMS, EXIT_SETUP, BadInput
from gateway.cli.org import org_group
from gateway.cli.partner import partner_group
from gateway.cli.sftp import sftp_group

__all__ = ["partner_group", "cert_group", "org_group", "sftp_group", "BadInput",
           "EXIT_OK", "EXIT_PROBLEMS", "EXIT_BAD_INPUT", "EXIT_SETUP"]
