"""Retention per document type, as data (``retention.yaml``, or the file
``EDIGATE_ARCHIVE_RETENTION`` names): how long the payloads of an archived entry are kept.

An entry's documents are found from the records it names: the document itself (renderings,
status messages), the documents read from its exchange (an original), delivered by it (what
was sent) or reported by it (a status message). Their type codes (BT-3) give the years.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from gateway.db import Delivery, DocumentRecord, DocumentStatusEvent
from gateway.db.archive import ArchiveEntry
from gateway.model.errors import EdigateError

SHIPPED = Path(__file__).with_name("retention.yaml")


class RetentionError(EdigateError):
    """The retention file cannot be used; the message says why."""


@dataclass(frozen=True)
class Policy:
    default_years: int
    by_code: dict[str, tuple[str, int]]          # type code -> (type name, years)

    def years_for(self, codes: set[str]) -> tuple[str, int]:
        """(what, years) for documents of these type codes: the longest; the default for none."""
        found = [self.by_code[c] for c in codes if c in self.by_code]
        unknown = [c for c in codes if c not in self.by_code]
        best = max(found, key=lambda t: t[1], default=None)
        if best is None or (unknown and self.default_years > best[1]):
            return ("no document" if not codes else f"type {', '.join(sorted(codes))}"), self.default_years
        return best


def load_policy(path: Optional[Path] = None) -> Policy:
    path = path or SHIPPED
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        default = int(data["default_years"])
        by_code: dict[str, tuple[str, int]] = {}
        for name, spec in (data.get("types") or {}).items():
            years = int(spec["years"])
            if years < 0 or default < 0:
                raise ValueError("years cannot be negative")
            for code in spec["codes"]:
                by_code[str(code)] = (str(name), years)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise RetentionError(f"retention file {path}: {e}") from None
    return Policy(default, by_code)


def add_years(at: datetime, years: int) -> datetime:
    try:
        return at.replace(year=at.year + years)
    except ValueError:                      # 29 February into a common year
        return at.replace(year=at.year + years, day=28)


def type_codes(s: Session, entry: ArchiveEntry) -> set[str]:
    """The type codes of the documents ``entry`` belongs to."""
    docs: set[int] = {entry.document_id} if entry.document_id else set()
    if entry.exchange_id:
        x = entry.exchange_id
        docs |= set(s.scalars(sa.select(DocumentRecord.id).where(DocumentRecord.exchange_id == x)))
        docs |= set(s.scalars(sa.select(Delivery.document_id).where(Delivery.exchange_id == x)))
        docs |= set(s.scalars(sa.select(DocumentStatusEvent.document_id)
                              .where(DocumentStatusEvent.report_exchange_id == x)))
    if not docs:
        return set()
    return {c or "?" for c in s.scalars(sa.select(DocumentRecord.type_code).where(DocumentRecord.id.in_(docs)))}


def retain_until(s: Session, entry: ArchiveEntry, policy: Policy) -> tuple[datetime, str, int]:
    """When ``entry``'s payload may go, what it is (the type) and its years."""
    what, years = policy.years_for(type_codes(s, entry))
    return add_years(entry.at, years), what, years
