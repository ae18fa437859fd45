"""A fake extension for the tests of ``edigate.extensions``: a distribution installed by the test
alone (its metadata and module in a folder on ``sys.path``) that brings jobs, pages and a command.
``fake`` is the fixture installing it (tests/unit/test_extensions.py, tests/integration/test_extensions.py)."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from gateway import extensions

MODULE = '''
"""A fake extension: one task and a sweep, one page, one command (by reference)."""
import click
from flask import Blueprint

commands = {"fake-hello": ("fake_edigate_ext_cli:hello", "Say hello from the fake extension.")}
swept = []


class FakeJobs:
    def __init__(self, jobs):
        self.gateway = jobs.gateway

        @jobs.huey.task(name="fake_ping")
        def ping(n):
            return n + 1

        self.ping = ping

    def sweep(self, now):
        swept.append(now)
        return {"fake_swept": 1}


def register_jobs(jobs):
    return FakeJobs(jobs)


def init_app(app, csrf):
    bp = Blueprint("fake_ext", __name__, url_prefix="/fake")

    @bp.get("/hello")
    def hello():
        return {"hello": "from the fake extension"}

    app.register_blueprint(bp)
'''

CLI_MODULE = '''
import click


@click.command("fake-hello")
@click.argument("who", default="world")
def hello(who):
    """Say hello from the fake extension."""
    click.echo(f"hello, {who}")
'''


def install(folder: Path, name: str, entry: str, files: dict[str, str]) -> None:
    """A distribution ``name`` in ``folder``: its dist-info (metadata, entry points) and modules."""
    info = folder / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{extensions.GROUP}]\n{entry}\n")
    for filename, text in files.items():
        (folder / filename).write_text(textwrap.dedent(text))


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "site"
    install(folder, "fake-edigate-ext", "fake = fake_edigate_ext",
            {"fake_edigate_ext.py": MODULE, "fake_edigate_ext_cli.py": CLI_MODULE})
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for module in ("fake_edigate_ext", "fake_edigate_ext_cli"):
        sys.modules.pop(module, None)
