"""A new SQLite database in a test is a copy of one migrated once per session.

Every ``Gateway`` a test opens on a fresh home migrates an empty SQLite file to head first,
which replays the whole Alembic history: about a second each, for thousands of tests. So the
session migrates one file with the real migrations (``MigratedTemplate``, on first need), and
while a test runs, an upgrade to head of a SQLite file that does not exist yet copies that
file (``copying_template``), and one of an existing file already at that head does nothing
(what Alembic would do, after loading every migration script to find it out: a test reopening
a home paid that each time). Everything else goes to Alembic as before: PostgreSQL, a file at
another revision, another target. The copy is the database the migrations made, rows and
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
import sqlite3
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
        self.head: Optional[str] = None     # its revision, once made

    def path(self) -> Path:
        with self._lock:
            if not self._made:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                migrate(f"sqlite:///{self.file}")
                self.head = revision_of(self.file)
                self._made = True
        return self.file


def revision_of(file: Path) -> Optional[str]:
    """The Alembic revision a SQLite file is at (None: no such table, or not one revision)."""
    try:
        conn = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return rows[0][0] if len(rows) == 1 else None


@contextmanager
def copying_template(template: MigratedTemplate) -> Iterator[None]:
    """While inside: an upgrade to head of a SQLite file that does not exist is ``template`` copied,
    one of a file already at the template's head does nothing."""
    upgrade = command.upgrade

    def upgrade_or_copy(config, revision, *args, **kwargs):
        target = sqlite_file(config.attributes.get("url"))
        if revision != "head" or args or kwargs or target is None or target == template.file:
            return upgrade(config, revision, *args, **kwargs)
        if target.exists():
            template.path()
            if template.head is not None and revision_of(target) == template.head:
                return None
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
