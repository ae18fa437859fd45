"""What the commands of one ``edigate`` run share: the settings and the gateway, on the click context.

The root group puts a ``CliContext`` in ``ctx.obj``; a command asks it for the ``Gateway``
(database sessions, payload store, jobs) with ``@pass_gateway`` or ``current().gateway()``,
or for one transaction with ``transaction()``. The gateway is built on first use, once per
run (commands that only read files, such as ``translate``, never build it), and closed when
the run ends. A group invoked on its own (``partner_group`` in tests) gets a context too.

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
    """The settings and the gateway of one run, each made once, when first asked for."""

    def __init__(self, *, debug: bool = False):
        self.debug = debug
        self._settings: Optional[Settings] = None
        self._gateway: Optional[Gateway] = None

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
                self._gateway = Gateway(self.settings, immediate_jobs=immediate_jobs)
            except ConfigError as exc:          # an extension's own setting (onboarding's bounce address…)
                raise SetupError(str(exc)) from None
        elif self._gateway.jobs.huey.immediate != immediate_jobs:
            raise RuntimeError("the gateway of this run was built with other job settings")
        return self._gateway

    @contextmanager
    def transaction(self) -> Iterator["Session"]:
        """One transaction: committed when the block ends, rolled back when it raises (a
        ``BadInput`` inside writes nothing). A unique constraint hit at commit (another process
        was quicker than our checks) is bad input too, not a traceback."""
        import sqlalchemy as sa
        try:
            with self.gateway().session() as session:
                yield session
        except sa.exc.IntegrityError as exc:
            raise BadInput(f"conflicts with an existing record ({exc.orig}); nothing written") from None

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None


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
