"""Extensions plug in through the ``edigate.extensions`` entry points: a distribution installed
by the test alone (its metadata and module in a folder on ``sys.path``) brings jobs, pages and
a command, and the gateway picks each up without naming it anywhere."""
from __future__ import annotations

import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway import extensions
from gateway.cli import main
from gateway.config import load_settings
from gateway.runtime import Gateway
from gateway.web import create_app

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


@pytest.fixture
def gw(tmp_path: Path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    yield gw
    gw.close()


def test_the_extension_is_found_by_its_entry_point(fake) -> None:
    found = {ext.name: ext for ext in extensions.load()}
    assert "fake" in found and "onboarding" in found           # the test's and the project's own
    assert found["fake"].commands == {"fake-hello": extensions.CommandRef("fake_edigate_ext_cli:hello",
                                                                         "Say hello from the fake extension.")}
    assert [ext.name for ext, _ in extensions.with_hook("init_app")] == sorted(found)


def test_jobs_register_its_tasks_and_sweep_it(fake, gw) -> None:
    ext = gw.jobs.extensions["fake"]
    assert ext.ping(41)() == 42                                # its own task on the gateway's huey (run at once)
    now = datetime.now(timezone.utc)
    assert gw.jobs.sweep(now)["fake_swept"] == 1
    assert sys.modules["fake_edigate_ext"].swept == [now]


def test_the_web_app_serves_its_pages(fake, gw) -> None:
    client = create_app(gw, testing=True).test_client()
    r = client.get("/fake/hello")
    assert r.status_code == 200 and r.get_json() == {"hello": "from the fake extension"}


def test_the_command_line_lists_it_and_imports_it_when_it_runs(fake) -> None:
    listed = CliRunner().invoke(main, ["--help"])
    assert "fake-hello  Say hello from the fake extension." in listed.stdout
    assert "fake_edigate_ext_cli" not in sys.modules            # listed, not imported
    r = CliRunner().invoke(main, ["fake-hello", "extension"])
    assert r.exit_code == 0 and r.stdout == "hello, extension\n"


def test_without_it_nothing_of_it_remains(gw) -> None:
    assert "fake" not in {ext.name for ext in extensions.load()}
    assert "fake" not in gw.jobs.extensions and "onboarding" in gw.jobs.extensions
    assert "fake-hello" not in CliRunner().invoke(main, ["--help"]).stdout


def test_an_extension_that_cannot_load_stops_the_start_naming_it(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "site"
    install(folder, "broken-edigate-ext", "broken = broken_edigate_ext", {"broken_edigate_ext.py": "import nowhere\n"})
    monkeypatch.syspath_prepend(str(folder))
    with pytest.raises(extensions.ExtensionError, match="extension 'broken' .*ModuleNotFoundError"):
        extensions.load()
