"""A new SQLite database in a test is a copy of one migrated once per session.

Every ``Gateway`` a test opens on a fresh home migrates an empty SQLite file to head first,
which replays the whole Alembic history: about a second each, for thousands of tests. So the
session migrates one file with the real migrations (``MigratedTemplate``, on first need), and
while a test runs, an upgrade to head of a SQLite file that does not exist yet copies that
file (``copying_template``). Everything else goes to Alembic as before: PostgreSQL, an
existing file, another revision. The copy is the database the migrations made, rows and
pragmas included, so what a test sees does not change.

Tests about the migrations themselves opt out with ``@pytest.mark.real_migrations``; the
gateway's own processes (``edigate serve``, workers, the CLI run as a program) always
migrate for real.

A unit test has no database at all (``refusing_migrations``): every gateway's home, a
``Gateway``, the web app on it or a command on a home, opens its database by migrating it
first, so a unit test doing so fails, naming where it belongs.
"""
from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import pytest
from alembic import command

from gateway.db import migrate, normalise_url


def sqlite_file(url: Optional[str]) -> Optional[Path]:
    """The file of a SQLite URL, or None (another engine, in memory, a URI filename)."""
    if not url:
        return None
    u = normalise_url(str(url))
    db = u.database if u.get_backend_name() == "sqlite" else None
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser().absolute()


class MigratedTemplate:
    """A SQLite file in ``folder`` migrated to head by the real migrations the first time it is
    asked for (a session that opens no database pays nothing)."""

    def __init__(self, folder: Path):
        self.file = (Path(folder) / "template.db").absolute()
        self._lock = threading.Lock()
        self._made = False

    def path(self) -> Path:
        with self._lock:
            if not self._made:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                migrate(f"sqlite:///{self.file}")
                self._made = True
        return self.file


@contextmanager
def copying_template(template: MigratedTemplate) -> Iterator[None]:
    """While inside: an upgrade to head of a SQLite file that does not exist is ``template`` copied."""
    upgrade = command.upgrade

    def upgrade_or_copy(config, revision, *args, **kwargs):
        target = sqlite_file(config.attributes.get("url"))
        if (revision != "head" or args or kwargs or target is None or target == template.file
                or target.exists()):
            return upgrade(config, revision, *args, **kwargs)
        source = template.path()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.copying")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        return None

    command.upgrade = upgrade_or_copy
    try:
        yield
    finally:
        command.upgrade = upgrade


@contextmanager
def refusing_migrations(why: str) -> Iterator[None]:
    """While inside: opening a gateway's database (its migration to a revision) fails the test with ``why``."""
    upgrade = command.upgrade

    def refuse(config, revision, *args, **kwargs):
        pytest.fail(f"{why} (it opened the database {config.attributes.get('url')})", pytrace=False)

    command.upgrade = refuse
    try:
        yield
    finally:
        command.upgrade = upgrade
