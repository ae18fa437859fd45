"""The gateway's records: SQLAlchemy 2 ORM on SQLite (embedded) or PostgreSQL (scale-out).

One module per concern: ``partners`` (our organisations, partners, identifiers,
certificates), ``exchanges`` (messages in and out, status history),
``documents`` (documents, renderings, deliveries), ``session`` (engines,
sessions, and ``compare_and_set``: the claim of a row by its expected state).
The schema is owned by the Alembic migrations in ``migrations/``;
``migrate(url)`` brings a database to the latest one.
"""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from .access import ROLES, ApiToken, User, authenticate_token, check_login, issue_token
from .approvals import ApprovalCase, ApprovalDecision, ApprovalDelegation, ApprovalNotice, ApprovalRuleSet
from .audit import Acknowledgement, AuditEvent
from .sftp import SftpAccount, SftpRemote
from .base import Base, StatusError, UTCDateTime, utcnow
from .controls import ControlFacts, ControlHold, ControlSetting, SupplierAccount
from .documents import (BUSINESS_STATUSES, DELIVERY_STATUSES, DOCUMENT_STATUSES, Delivery, DeliveryEvent,
                        DocumentRecord, DocumentStatusEvent, PrintBatch, RenderingRecord, duplicate_key, summarise)
from .networks import Network, NetworkParticipant
from .flows import Flow, FlowWebhook, WebhookAttempt, WebhookEvent
from .annuaire import AnnuaireLine, AnnuairePublication, AnnuaireState
from .archive import ArchiveCursor, ArchiveEntry, ArchiveSeal
from .exchanges import DIRECTIONS, INBOUND_STATUSES, OUTBOUND_STATUSES, Exchange, ExchangeEvent
from .partners import (CERT_USAGES, ENCRYPTION_ALGORITHMS, SCHEMES, SIGNING_ALGORITHMS, AS2Identity, Certificate,
                       Organisation, Partner, PartnerIdentifier, normalise_identifier)
from .session import compare_and_set, make_engine, make_sessionmaker, normalise_url, session_scope

__all__ = [
    "SftpAccount", "SftpRemote",
    "Base", "UTCDateTime", "utcnow", "StatusError",
    "Organisation", "AS2Identity", "Partner", "PartnerIdentifier", "Certificate",
    "SCHEMES", "SIGNING_ALGORITHMS", "ENCRYPTION_ALGORITHMS", "CERT_USAGES", "normalise_identifier",
    "Exchange", "ExchangeEvent", "DIRECTIONS", "INBOUND_STATUSES", "OUTBOUND_STATUSES",
    "DocumentRecord", "RenderingRecord", "Delivery", "DeliveryEvent", "DOCUMENT_STATUSES",
    "DELIVERY_STATUSES", "summarise", "duplicate_key",
    "BUSINESS_STATUSES", "DocumentStatusEvent", "PrintBatch", "Network", "NetworkParticipant",
    "Flow", "FlowWebhook", "WebhookEvent", "WebhookAttempt",
    "AnnuaireLine", "AnnuairePublication", "AnnuaireState",
    "ControlFacts", "ControlHold", "ControlSetting", "SupplierAccount",
    "ApprovalRuleSet", "ApprovalCase", "ApprovalDecision", "ApprovalDelegation", "ApprovalNotice",
    "ArchiveEntry", "ArchiveSeal", "ArchiveCursor",
    "AuditEvent", "Acknowledgement",
    "User", "ApiToken", "ROLES", "issue_token", "authenticate_token", "check_login",
    "make_engine", "make_sessionmaker", "normalise_url", "session_scope", "compare_and_set",
    "MIGRATIONS", "alembic_config", "migrate", "current_revision", "head_revision",
]

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: Optional[str] = None, **attributes: Any):
    """An Alembic ``Config`` for our migrations, independent of the working directory."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["keep_logging"] = True
    if url is not None:
        cfg.attributes["url"] = str(url)
    cfg.attributes.update(attributes)
    return cfg


@contextmanager
def _sqlite_migration_lock(url: str) -> Iterator[None]:
    """Serialise concurrent migrate() calls on one SQLite file (several workers starting at once)."""
    u = normalise_url(url)
    db = u.database if u.get_backend_name() == "sqlite" else None
    if not db or db == ":memory:" or db.startswith("file:"):
        yield
        return
    lock = Path(db).expanduser()
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock.with_name(lock.name + ".migrate-lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def migrate(url: Optional[str] = None, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (default: the configured one) to ``revision``."""
    from alembic import command

    if url is None:
        from ..config import load_settings
        url = load_settings().database_url
    url = str(url)
    with _sqlite_migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> Optional[str]:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
