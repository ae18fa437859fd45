"""A partner's own flavour from an overlay folder (tests/unit/test_flavours.py), taken by
``edigate partner add`` and ``set`` on a gateway's home (a migrated database)."""
from __future__ import annotations

import json

from gateway.db import migrate
from tests.unit.test_flavours import ACME_CSV, overlay, run


def test_partner_add_and_set_take_a_partner_flavour(tmp_path, monkeypatch):
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    (tmp_path / "home").mkdir()
    migrate(f"sqlite:///{tmp_path / 'home'}/edigate.db")
    r = run("partner", "add", "ACME", "--channel", "sftp", "--format", "acme-csv")
    assert r.exit_code == 2 and "unknown format 'acme-csv'" in r.output
    overlay(tmp_path / "partners", monkeypatch, {"acme-csv": ACME_CSV})
    r = run("partner", "add", "ACME", "--channel", "sftp", "--format", "acme-csv")
    assert r.exit_code == 0, r.output
    listed = json.loads(run("partner", "list", "--json").stdout)
    assert [(p["name"], p["format"]) for p in listed] == [("ACME", "acme-csv")]
    assert run("partner", "set", "ACME", "--format", "csv-lines").exit_code == 0
    assert json.loads(run("partner", "list", "--json").stdout)[0]["format"] == "csv-lines"
