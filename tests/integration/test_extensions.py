"""Extensions on a gateway: the fake extension's jobs are registered and swept by a gateway's
job queue, its pages served by the gateway's web app, and nothing of it remains without it.
Finding it, its command and a broken one are tested without a gateway in tests/unit/test_extensions.py."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway import extensions
from gateway.cli import main
from gateway.config import load_settings
from gateway.runtime import Gateway
from gateway.web import create_app
from tests.support.fake_extension import fake  # noqa: F401 - a fixture


@pytest.fixture
def gw(tmp_path: Path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    yield gw
    gw.close()


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


def test_without_it_nothing_of_it_remains(gw) -> None:
    assert "fake" not in {ext.name for ext in extensions.load()}
    assert "fake" not in gw.jobs.extensions and "onboarding" in gw.jobs.extensions
    assert "fake-hello" not in CliRunner().invoke(main, ["--help"]).stdout
