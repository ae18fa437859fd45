"""The lazy root group: ``edigate --help`` lists every command without importing one, a command's
module is imported when it runs, and the listed summaries are the commands' own. What a fresh
interpreter imports, and the gateway built once on a home, are tested in
tests/integration/test_cli_lazy.py."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import COMMANDS, main
from gateway.cli.lazy import resolve, stand_in


def test_every_command_is_listed_with_its_own_summary() -> None:
    listed = CliRunner().invoke(main, ["--help"]).stdout.split("Commands:\n")[1]
    for name, ref in COMMANDS.items():
        command = resolve(ref.target)
        assert command.name == name
        assert ref.whole == bool(command.short_help), name
        for limit in (30, 45, 64, 200):
            assert stand_in(name, ref).get_short_help_str(limit) == command.get_short_help_str(limit), (name, limit)
        assert f"\n  {name} " in "\n" + listed
    assert "onboarding" in listed                   # from its extension's entry point


def test_unknown_command_is_a_usage_error() -> None:
    r = CliRunner().invoke(main, ["frobnicate"])
    assert r.exit_code == 2 and "No such command 'frobnicate'" in r.output


@pytest.mark.parametrize("args", [["partner", "list"], ["exchange", "list"], ["user", "list"], ["paper", "list"]])
def test_a_bad_setting_is_a_setup_error_before_any_work(args, tmp_path, monkeypatch) -> None:
    """The gateway on the click context reads the settings once: one that cannot be used
    stops the command with exit 3 and the setting's name."""
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.setenv("EDIGATE_HTTP_PORT", "eighty")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 3 and "EDIGATE_HTTP_PORT" in r.output, r.output
    assert not (tmp_path / "edigate.db").exists()
