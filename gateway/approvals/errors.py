"""The approval workflow's refusals, each saying what was wrong and where."""
from __future__ import annotations

from typing import Optional

from gateway.model.errors import EdigateError


class RuleError(EdigateError, ValueError):
    """A rule document that cannot be used: ``errors`` maps each field (``rules[1].approvers[0]``)
    to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())))


class ApprovalError(EdigateError):
    """A decision that cannot be taken. ``kind``: ``forbidden`` (not this user's to decide),
    ``missing`` (no such case for this user), ``conflict`` (the case is closed or moved on),
    ``invalid`` (a value: a reason or reason code the life cycle refuses); ``field`` names it."""

    def __init__(self, message: str, *, kind: str = "invalid", field: Optional[str] = None):
        super().__init__(message)
        self.kind, self.field = kind, field
