"""Buyers of held documents proposed to onboarding from the sweep, without anyone running the CLI.

``importer.propose_from_held`` reads every held document; the sweep runs every minute, so
``HeldProposals.run(now)`` calls it only when it may find something: a document held since the
last pass (one ``max(id)`` query tells), or ``PROPOSE_EVERY`` since it (a document held again
later, under an older id, is still seen). The state is the process's: after a restart the
first sweep makes one full pass, which proposes nobody twice (``propose_from_held`` is idempotent).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa

from gateway.db import DocumentRecord

from .importer import propose_from_held

log = logging.getLogger("edigate.onboarding.held")

PROPOSE_EVERY = timedelta(minutes=30)


class HeldProposals:
    """When the last pass ran, and the newest held document it saw."""

    def __init__(self, gw: Any, every: timedelta = PROPOSE_EVERY):
        self.gw, self.every = gw, every
        self.seen = 0                           # the newest held document's id at the last pass
        self.ran_at: Optional[datetime] = None

    def run(self, now: datetime) -> int:
        """Counterparties proposed by this call (0 when the pass was not needed)."""
        with self.gw.session() as s:
            newest = s.scalar(sa.select(sa.func.max(DocumentRecord.id)).where(DocumentRecord.status == "held"))
        if newest is None:
            return 0
        stale = self.ran_at is None or now - self.ran_at >= self.every
        if newest <= self.seen and not stale:
            return 0
        counts = propose_from_held(self.gw, now=now)
        self.seen, self.ran_at = newest, now
        if counts["proposed"]:
            log.info("proposed %d buyer(s) of held documents for onboarding", counts["proposed"])
        return counts["proposed"]
