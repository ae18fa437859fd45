"""The API's refusals of a body's values: ``Invalid`` (422, every problem by field) and
``Conflict`` (409, a clash with another record).

Partners themselves are created and changed by ``gateway.partners.service`` (the CLI's and
the registration's too); its ``PartnerError`` is answered by the blueprint the same way.
"""
from __future__ import annotations

from typing import Any, Optional


class Invalid(ValueError):
    def __init__(self, details: dict[str, str]):
        super().__init__("invalid partner: " + "; ".join(f"{k}: {v}" for k, v in details.items()))
        self.details = details


class Conflict(ValueError):
    def __init__(self, message: str, details: Optional[dict[str, Any]] = None):
        super().__init__(message)
        self.details = details
