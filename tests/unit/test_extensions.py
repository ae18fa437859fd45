"""Extensions plug in through the ``edigate.extensions`` entry points: a distribution installed
by the test alone (tests/support/fake_extension.py) brings jobs, pages and a command, and the
gateway picks each up without naming it anywhere. Here: it is found, its command listed and run,
and one that cannot load stops the start; its jobs and pages on a gateway are tested in
tests/integration/test_extensions.py."""
from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from gateway import extensions
from gateway.cli import main
from tests.support.fake_extension import fake, install  # noqa: F401 - fake is a fixture


def test_the_extension_is_found_by_its_entry_point(fake) -> None:
    found = {ext.name: ext for ext in extensions.load()}
    assert "fake" in found and "onboarding" in found           # the test's and the project's own
    assert found["fake"].commands == {"fake-hello": extensions.CommandRef("fake_edigate_ext_cli:hello",
                                                                         "Say hello from the fake extension.")}
    assert [ext.name for ext, _ in extensions.with_hook("init_app")] == sorted(found)


def test_the_command_line_lists_it_and_imports_it_when_it_runs(fake) -> None:
    listed = CliRunner().invoke(main, ["--help"])
    assert "fake-hello  Say hello from the fake extension." in listed.stdout
    assert "fake_edigate_ext_cli" not in sys.modules            # listed, not imported
    r = CliRunner().invoke(main, ["fake-hello", "extension"])
    assert r.exit_code == 0 and r.stdout == "hello, extension\n"


def test_an_extension_that_cannot_load_stops_the_start_naming_it(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "site"
    install(folder, "broken-edigate-ext", "broken = broken_edigate_ext", {"broken_edigate_ext.py": "import nowhere\n"})
    monkeypatch.syspath_prepend(str(folder))
    with pytest.raises(extensions.ExtensionError, match="extension 'broken' .*ModuleNotFoundError"):
        extensions.load()
