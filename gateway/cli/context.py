"""What the commands of one ``edigate`` run share: the settings, the database and the gateway,
on the click context.

The root group puts a ``CliContext`` in ``ctx.obj``; a command asks it for one transaction
with ``transaction()``, or for the ``Gateway`` (payload store, jobs) with ``@pass_gateway`` or
``current().gateway()``. Each is built on first use, once per run (commands that only read
files, such as ``translate``, build neither), and closed when the run ends. A group invoked
on its own (``partner_group`` in tests) gets a context too.

This module stays light (click only): the gateway's parts are imported when first needed,
so listing the commands costs nothing of the database or the job queue.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, Optional, TypeVar

import click

from gateway.cli.errors import BadInput, SetupError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.config import Settings
    from gateway.runtime import Gateway

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

F = TypeVar("F", bound=Callable[..., Any])


class CliContext:
    """The settings, the database and the gateway of one run, each made once, when first asked
    for. A command that only reads and writes records (``partner``, ``user``, ``exchange list``…)
    gets the database alone; the gateway (payload store, job queue, the channels' tasks) is
    built for the commands that send, process, poll or sweep, and uses the same database."""

    def __init__(self, *, debug: bool = False):
        self.debug = debug
        self._settings: Optional[Settings] = None
        self._gateway: Optional[Gateway] = None
        self._engine: Any = None
        self._sessions: Optional[Callable[[], Session]] = None

    @property
    def settings(self) -> "Settings":
        """``EDIGATE_*`` settings; a setting that cannot be used is a ``SetupError`` (exit 3)."""
        if self._settings is None:
            from gateway.config import ConfigError, load_settings
            try:
                self._settings = load_settings()
            except ConfigError as exc:
                raise SetupError(str(exc)) from None
        return self._settings

    def gateway(self, *, immediate_jobs: bool = False) -> "Gateway":
        """The gateway (database migrated to the latest schema first). ``immediate_jobs``: jobs
        run in this process as they are queued (``send --now``, ``onboarding run``)."""
        if self._gateway is None:
            from gateway.config import ConfigError
            from gateway.runtime import Gateway
            try:
                self._gateway = Gateway(self.settings, immediate_jobs=immediate_jobs,
                                        migrate_db=self._sessions is None)
            except ConfigError as exc:          # an extension's own setting (onboarding's bounce address…)
                raise SetupError(str(exc)) from None
        elif self._gateway.jobs.huey.immediate != immediate_jobs:
            raise RuntimeError("the gateway of this run was built with other job settings")
        return self._gateway

    def sessions(self) -> Callable[[], "Session"]:
        """The database's session factory, the schema migrated first: the gateway's when it is
        built, else the run's own (the job queue and the channels are not needed to read a record)."""
        if self._gateway is not None:
            return self._gateway.sessions
        if self._sessions is None:
            from gateway.db import make_engine, make_sessionmaker, migrate
            migrate(self.settings.database_url)
            self._engine = make_engine(self.settings.database_url)
            self._sessions = make_sessionmaker(self._engine)
        return self._sessions

    @contextmanager
    def transaction(self) -> Iterator["Session"]:
        """One transaction: committed when the block ends, rolled back when it raises (a
        ``BadInput`` inside writes nothing). A unique constraint hit at commit (another process
        was quicker than our checks) is bad input too, not a traceback."""
        import sqlalchemy as sa
        from gateway.db import session_scope
        try:
            with session_scope(self.sessions()) as session:
                yield session
        except sa.exc.IntegrityError as exc:
            from gateway.cli.words import _
            raise BadInput(_("conflicts with an existing record (%(detail)s); nothing written",
                             detail=str(exc.orig))) from None

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = self._sessions = None


def current() -> CliContext:
    """The ``CliContext`` of the running command (made on the root context if there is none)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
        root.call_on_close(root.obj.close)
    return root.obj


def transaction() -> ContextManager["Session"]:
    """``current().transaction()``: one transaction on the gateway's database."""
    return current().transaction()


def pass_gateway(f: F) -> F:
    """Pass the run's ``Gateway`` as the command's first argument (built on first use)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return f(current().gateway(), *args, **kwargs)
    return update_wrapper(wrapper, f)  # type: ignore[return-value]
