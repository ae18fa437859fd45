"""Alembic environment: the database URL comes from, in order, ``-x url=…``, the
``url`` attribute set by ``gateway.db.migrate()``, ``sqlalchemy.url`` in the ini,
and the gateway's settings (``EDIGATE_DATABASE_URL`` or the embedded SQLite)."""
from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

from gateway.config import load_settings
from gateway.db import Base
import onboarding.models  # noqa: F401  (its tables live in this database too)
from gateway.db.session import make_engine, normalise_url

config = context.config
target_metadata = Base.metadata

# Only the command line configures logging; gateway.db.migrate() leaves the caller's alone.
if config.config_file_name is not None and not config.attributes.get("keep_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

PG_MIGRATION_LOCK = 0x65646967   # "edig": one migrating process at a time on PostgreSQL


def database_url() -> str:
    x = context.get_x_argument(as_dictionary=True)
    return (x.get("url") or config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
            or load_settings().database_url)


def configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,          # SQLite can only ALTER by rebuilding tables
        **kwargs,
    )


def run_migrations_offline() -> None:
    configure(url=normalise_url(database_url()), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run(connection: sa.Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    # Foreign keys off on SQLite while migrating: a table rebuild must not cascade deletes.
    engine = make_engine(database_url(), foreign_keys=False, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
