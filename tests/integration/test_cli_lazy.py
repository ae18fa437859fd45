"""The lazy root group seen from outside this process and on a gateway's home: ``edigate --help``
in a fresh interpreter imports no command and no gateway part, a command imports its own module
only, and the gateway on the click context is built once when needed and closed at exit. The
listing and the summaries themselves are tested in this process in tests/unit/test_cli_lazy.py."""
from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

# What listing the commands must not cost: the database, the job queue, the web app, the syntaxes.
HEAVY = ("sqlalchemy", "alembic", "huey", "flask", "lxml", "paramiko", "gateway.db", "gateway.runtime",
         "gateway.syntaxes", "gateway.web", "gateway.cli.partner", "gateway.cli.documents", "onboarding.cli")

PROBE = """
import json, sys
from gateway.cli import main
try:
    main(sys.argv[1:], prog_name="edigate")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(tuple(HEAVY)))), file=sys.stderr)
"""


def loaded_after(*args: str) -> list[str]:
    """The heavy modules imported by ``edigate ARGS`` in a fresh interpreter."""
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_listing_the_commands_imports_no_command_and_no_gateway_part() -> None:
    """``--help`` reads the commands' summaries, not their modules; only its paragraph of
    flavours reads the mapping files (``gateway.cli.documents.flavours_help``)."""
    loaded = set(loaded_after("--help"))
    assert not loaded & {"sqlalchemy", "alembic", "huey", "flask", "paramiko", "gateway.db", "gateway.runtime",
                         "gateway.web", "gateway.cli.partner", "onboarding.cli"}, loaded
    assert loaded_after("--version") == []


def test_a_command_imports_its_own_module_only() -> None:
    loaded = loaded_after("formats")
    assert "gateway.cli.documents" in loaded and "gateway.syntaxes" in loaded
    assert not {"gateway.cli.partner", "gateway.web", "flask", "huey", "onboarding.cli"} & set(loaded)
    loaded = loaded_after("partner", "--help")
    assert "gateway.cli.partner" in loaded and "gateway.cli.documents" not in loaded


def test_the_gateway_is_built_once_when_needed_and_closed_at_exit(tmp_path, monkeypatch) -> None:
    from gateway.cli import context as cli_context
    from gateway.runtime import Gateway

    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    built, closed = [], []
    real_init, real_close = Gateway.__init__, Gateway.close

    def init(self, *a, **k):
        built.append(self)
        real_init(self, *a, **k)

    def close(self):
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(Gateway, "__init__", init)
    monkeypatch.setattr(Gateway, "close", close)

    @click.command("twice")
    def twice() -> None:
        with cli_context.transaction():
            pass
        with cli_context.transaction():
            pass
        assert built == []                  # records alone: the database, not the job queue
        assert cli_context.current().gateway() is cli_context.current().gateway() is built[0]
        with cli_context.transaction() as s:
            assert s.bind.url == built[0].engine.url

    group = click.Group("g", commands={"twice": twice})
    r = CliRunner().invoke(group, ["twice"])
    assert r.exit_code == 0, r.output
    assert len(built) == 1 and closed == built
