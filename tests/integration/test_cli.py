"""The ``edigate`` console script run as a program (a child process): it translates, and a file
it cannot read exits 2 with a message, not a traceback. The commands themselves are tested in
this process in tests/unit/test_cli.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.syntaxes import read_document
from tests.unit.test_cli import garbage, valid_ubl  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[2]


def test_console_script(valid_ubl: Path, garbage: Path):
    exe = Path(sys.executable).with_name("edigate")
    if not exe.exists():
        exe = REPO / ".venv" / "bin" / "edigate"
    if not exe.exists():
        pytest.skip("the edigate console script is not installed (make install)")
    ok = subprocess.run([str(exe), "translate", str(valid_ubl), "--to", "cii"], capture_output=True, timeout=120)
    assert ok.returncode == 0, ok.stderr.decode()
    assert read_document(ok.stdout).syntax == "cii"
    bad = subprocess.run([str(exe), "validate", str(garbage)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "not a document edigate recognises" in bad.stdout and "Traceback" not in bad.stderr
