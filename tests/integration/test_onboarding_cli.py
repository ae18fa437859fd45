"""``edigate onboarding``: a whole campaign from the command line, mails to a real SMTP server."""
from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner

from gateway.cli import main

from tests.support.onboarding_fixtures import counterparty_csv


def test_import_campaign_wave_preview_run_and_funnel(tmp_path, smtp_server):  # noqa: F811
    env = {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_SMTP_URL": smtp_server.url,
           "EDIGATE_MAIL_FROM": "onboarding@edigate.test", "EDIGATE_PUBLIC_URL": "https://edigate.test"}
    run = CliRunner()

    def ok(*args: str, code: int = 0) -> str:
        r = run.invoke(main, ["onboarding", *args], env=env)
        assert r.exit_code == code, (args, r.output)
        return r.stdout

    f = tmp_path / "suppliers.csv"
    f.write_bytes(counterparty_csv(4, segment=lambda i: "transport" if i % 2 else "retail",
                                   language=lambda i: "en" if i == 3 else "fr"))
    ok("import", str(f))
    assert "Suppliers" not in ok("campaign", "list")
    assert ok("campaign", "create", "Suppliers", "--reminders", "2", "--interval", "4") == \
        "campaign 1: Suppliers (draft)\n"
    assert "already exists" in run.invoke(main, ["onboarding", "campaign", "create", "Suppliers"], env=env).output
    out = ok("wave", "add", "Suppliers", "transporters", "--segment", "transport", "--at", "now")
    assert "segment transport" in out and "campaign is draft: start it to send" in out
    bad = run.invoke(main, ["onboarding", "wave", "add", "Suppliers", "x", "--at", "next tuesday"], env=env)
    assert bad.exit_code == 2 and "expected 'now' or an ISO date" in bad.output

    preview = ok("template", "preview", "Suppliers", "invitation", "--language", "en")
    assert preview.startswith("[default wording]\nSubject: Suppliers invites Example Ltd to electronic invoicing")
    assert "https://edigate.test/register/EXAMPLE-TOKEN" in preview

    assert ok("run") == "nothing to do\n"                     # draft: nothing goes
    ok("campaign", "start", "Suppliers")
    assert ok("run").startswith("waves started: 1, invitations: 2, mails prompted: 2")
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["c1@example.test", "c3@example.test"]
    subjects = {m.rcpt_tos[0]: m.message["Subject"] for m in smtp_server.messages}
    assert subjects["c3@example.test"].endswith("to electronic invoicing")          # English
    assert subjects["c1@example.test"].endswith("à passer à la facture électronique")  # French

    shown = json.loads(ok("campaign", "show", "Suppliers", "--json"))
    assert shown["waves"][0]["status"] == "running"
    assert {f["stage"]: f["count"] for f in shown["funnel"]}["sent"] == 2
    text = ok("funnel", "Suppliers")
    assert text.splitlines()[0].split()[:2] == ["Invited", "2"]
    rows = list(csv.DictReader(io.StringIO(ok("funnel", "Suppliers", "--csv"))))
    assert {(r["wave"], r["stage"]): r["count"] for r in rows}[("transporters", "sent")] == "2"
    people = list(csv.DictReader(io.StringIO(ok("funnel", "Suppliers", "--csv", "--counterparties"))))
    assert [(p["email"], p["mails_sent"], p["last_step"]) for p in people] == [
        ("c1@example.test", "1", "invitation"), ("c3@example.test", "1", "invitation")]
    assert "no campaign 'Nope'" in run.invoke(main, ["onboarding", "funnel", "Nope"], env=env).output
