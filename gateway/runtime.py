"""One running gateway: settings, database, payload store and job queue, wired once.

Everything that serves requests or runs jobs (web app, AS2 endpoint, workers,
CLI) gets its parts from a ``Gateway`` instead of building its own, so the
embedded default and a scale-out deployment differ only in ``Settings``::

    gw = Gateway(load_settings())
    with gw.session() as s:
        ...
    gw.jobs.process(exchange_id)      # enqueue (huey)
"""
from __future__ import annotations

from datetime import datetime
from typing import ContextManager, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .config import Settings, load_settings
from .db import Exchange, StatusError, make_engine, make_sessionmaker, migrate, session_scope, utcnow
from .store.payloads import PayloadStore


class Gateway:
    """The parts of one gateway process. ``migrate_db``: bring the schema up to date first;
    ``immediate_jobs``: run jobs synchronously at enqueue (tests, one-shot CLI commands)."""

    def __init__(self, settings: Optional[Settings] = None, *, migrate_db: bool = True,
                 immediate_jobs: bool = False):
        self.settings = settings or load_settings()
        if migrate_db:
            migrate(self.settings.database_url)
        self.engine = make_engine(self.settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.payloads = PayloadStore(self.settings.payload_dir, max_size=self.settings.max_inbound_size)
        from .jobs import Jobs
        self.jobs = Jobs(self, immediate=immediate_jobs)
        self._directory = None

    @property
    def directory(self):
        """Our AS2 identities and partners' AS2 settings, from the database, cached."""
        if self._directory is None:
            from gateway.partners.as2_settings import Directory
            self._directory = Directory(self)
        return self._directory

    def session(self) -> ContextManager[Session]:
        """One unit of work: committed if the block ends normally, rolled back if it raises."""
        return session_scope(self.sessions)

    # --- operator actions ------------------------------------------------------------
    def retry_exchange(self, exchange_id: int, *, by: str = "operator",
                       at: Optional[datetime] = None) -> Exchange:
        """An operator's retry: an outbound exchange that failed or was refused is queued again
        (same Message-ID: a receiver that has it answers ``duplicate-document``); an inbound one
        whose processing failed is processed again. Raises ``StatusError`` for anything else."""
        at = at or utcnow()
        with self.session() as s:
            ex = s.get(Exchange, exchange_id)
            if ex is None:
                raise LookupError(f"no exchange {exchange_id}")
            reason = f"retry requested by {by}"
            if not ex.retryable:
                what = "a failed or refused send" if ex.direction == "out" else \
                    "an inbound exchange whose processing failed"
                raise StatusError(f"exchange {ex.id} is {ex.status}: only {what} can be retried")
            if ex.direction == "out":
                ex.set_status("queued", reason, at=at)
                ex.next_attempt_at = at
                ex.attempts = 0
                for d in _deliveries_of(s, ex):
                    if d.status == "failed":
                        d.set_status("pending", reason, at=at)
            else:
                ex.set_status("acknowledged", reason, at=at)
            direction = ex.direction
        if direction == "out":
            self.jobs.send(exchange_id)
        else:
            self.jobs.process(exchange_id)
        return ex

    def close(self) -> None:
        self.engine.dispose()


def _deliveries_of(s: Session, ex: Exchange):
    from .db import Delivery
    return s.scalars(sa.select(Delivery).where(Delivery.exchange_id == ex.id)).all()
