"""The words pages show for codes the record keeps: statuses, directions, certificate usages.

The record keeps codes (``processed``, ``awaiting_mdn``, ``in``); a page shows each as a word
in the reader's language. English shows the code as it is (the pages always did, and the
API and the command line say the same), French its translation. Data, not code: one table.
"""
from __future__ import annotations

from typing import Optional

from flask_babel import gettext, lazy_gettext as _l

STATUS_WORDS = {
    # exchanges
    "received": _l("received"), "stored": _l("stored"), "acknowledged": _l("acknowledged"),
    "failed": _l("failed"), "processed": _l("processed"), "rejected": _l("rejected"),
    "duplicate": _l("duplicate"), "queued": _l("queued"), "sending": _l("sending"),
    "awaiting_mdn": _l("awaiting_mdn"), "retrying": _l("retrying"), "sent": _l("sent"),
    # documents
    "valid": _l("valid"), "invalid": _l("invalid"), "held": _l("held"), "routed": _l("routed"),
    "delivered": _l("delivered"),
    # deliveries
    "pending": _l("pending"), "awaiting_ack": _l("awaiting_ack"), "cancelled": _l("cancelled"),
    "pending_approval": _l("pending_approval"),
}

DIRECTIONS = {"in": _l("inbound"), "out": _l("outbound")}

ROLES = {"admin": _l("admin"), "operator": _l("operator"), "staff": _l("staff"), "recipient": _l("recipient")}

SEVERITIES = {"fatal": _l("fatal"), "warning": _l("warning"), "information": _l("information")}

USAGES = {"both": _l("both"), "signing": _l("signing"), "encryption": _l("encryption")}

# approvals: a case's state, a decision, in what capacity it was taken
APPROVAL_STATES = {"waiting": _l("waiting"), "on_hold": _l("on hold"), "approved": _l("approved"),
                   "refused": _l("refused")}
DECISIONS = {"approved": _l("approved"), "refused": _l("refused"), "on_hold": _l("on hold")}
CAPACITIES = {"approver": _l("approver"), "delegate": _l("delegate"), "escalation": _l("escalation")}

# controls: what a control does with what it finds, where a supplier's known account came from
CONTROL_ACTIONS = {"warn": _l("warns"), "hold": _l("holds")}
ACCOUNT_SOURCES = {"learned": _l("learned"), "confirmed": _l("confirmed"), "operator": _l("operator")}


def status_word(status: Optional[str]) -> str:
    """A status as the reader's language says it (an unknown code as it is)."""
    if not status:
        return ""
    return str(STATUS_WORDS.get(status, status))


def document_type(code: Optional[str]) -> str:
    """An invoice's type (UNTDID 1001) named in the page's language."""
    from ...syntaxes.invoice_words import document_type as named
    from .reader import current
    return named(code, current())


def identifier_problem(problem: object) -> str:
    """An identifier's problem (``gateway.model.problems.Problem``) in the reader's language."""
    from ...partners.identifier_words import worded
    from .reader import current
    return worded(problem, current())


def clause(sentence: str) -> str:
    from ...partners.identifier_words import clause as made
    return made(sentence)


def refusal(e: Exception) -> str:
    """A refused change's words in the reader's language where the model gave its problem a code
    (an identifier's check digit…), else its own words."""
    from .reader import current
    problem = getattr(e, "problem", None)
    if getattr(problem, "code", None) is None or current() == "en":
        return str(e)
    value = getattr(e, "value", None)
    if isinstance(value, tuple) and len(value) == 2:
        return gettext("Identifier %(scheme)s:%(value)s: %(problem)s", scheme=value[0], value=value[1],
                       problem=clause(identifier_problem(problem)))
    return identifier_problem(problem)


def helpers() -> dict:
    return {"document_type": document_type, "severity_word": lambda s: str(SEVERITIES.get(s, s)),"status_word": status_word, "direction_word": lambda d: str(DIRECTIONS.get(d, d)),
            "usage_word": lambda u: str(USAGES.get(u, u)), "role_word": lambda r: str(ROLES.get(r, r)),
            "identifier_problem": identifier_problem,
            "approval_state_word": lambda s: str(APPROVAL_STATES.get(s, s)),
            "decision_word": lambda d: str(DECISIONS.get(d, d)),
            "capacity_word": lambda c: str(CAPACITIES.get(c, c)),
            "control_action_word": lambda a: str(CONTROL_ACTIONS.get(a, a)),
            "account_source_word": lambda s: str(ACCOUNT_SOURCES.get(s, s))}
