"""``edigate exchange list|show|retry`` on the web tests' known records: the same filters and
the same retry as the REST API, outcomes read back from the database."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.db import Exchange, ExchangeEvent
from gateway.syntaxes import write_document
from tests.support.invoice_builder import build_invoice
from tests.support.web_seed import T0, gw, seeded  # noqa: F401


@pytest.fixture
def cli_env(gw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:   # noqa: F811
    """The command line on the same home as the seeded gateway."""
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_JOBS_URL", "EDIGATE_PAYLOAD_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(*args: Any) -> Result:
    return CliRunner().invoke(main, ["exchange", *[str(a) for a in args]])


def ids(*args: Any) -> list[int]:
    r = run("list", "--json", *args)
    assert r.exit_code == 0, r.output
    return [item["id"] for item in json.loads(r.stdout)["items"]]


def test_list_filters_as_the_api(cli_env, seeded) -> None:   # noqa: F811
    everything = [seeded.out_ok, seeded.in_failed, seeded.out_failed, seeded.in_ok]       # newest first
    assert ids() == everything
    assert ids("--status", "failed") == [seeded.in_failed, seeded.out_failed]
    assert ids("--status", "failed", "--direction", "out") == [seeded.out_failed]
    assert ids("--partner", "ACME Supplies") == [seeded.out_ok, seeded.in_ok]
    assert ids("--partner", "acme-as2") == [seeded.out_ok, seeded.in_ok]                # by AS2 id too
    assert ids("--partner", str(seeded.globex)) == [seeded.out_failed]
    assert ids("--channel", "api") == [seeded.in_failed]
    assert ids("--message-id", "<in-1@acme>") == [seeded.in_ok]
    assert ids("--since", "2025-01-07") == [seeded.out_ok, seeded.in_failed, seeded.out_failed]
    assert ids("--until", "2025-01-07") == [seeded.out_failed, seeded.in_ok]             # a bare date: that whole day
    assert ids("--since", "2025-01-07T09:00:00Z", "--until", "2025-01-08T09:00:01+00:00") == \
        [seeded.in_failed, seeded.out_failed]
    assert ids("--since", "2025-01-07T10:00:00") == [seeded.out_ok, seeded.in_failed]   # no zone: UTC


def test_list_pages_and_json_shape(cli_env, seeded) -> None:   # noqa: F811
    r = run("list", "--json", "--limit", "2", "--offset", "1")
    page = json.loads(r.stdout)
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert [i["id"] for i in page["items"]] == [seeded.in_failed, seeded.out_failed]
    failed = page["items"][1]
    assert failed["partner"] == {"id": seeded.globex, "name": "Globex"}
    assert (failed["direction"], failed["status"], failed["retryable"]) == ("out", "failed", True)
    assert failed["reason"] == "connection refused by as2.globex.example"

    table = run("list", "--limit", "3")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["#", "created", "(UTC)"] and len(lines) == 4
    assert "--offset 3 for more" in table.stderr
    assert any("/inbox/acme/INV-2025-001.xml" in ln for ln in run("list").stdout.splitlines())


@pytest.mark.parametrize("args, says", [
    (["--partner", "Nobody"], "no partner 'Nobody'"),
    (["--status", "lost"], "'lost' is not one of"),
    (["--direction", "sideways"], "'sideways' is not one of"),
    (["--since", "yesterday"], "not an ISO 8601 date"),
    (["--limit", "501"], "501"),
])
def test_list_refusals(cli_env, seeded, args, says) -> None:   # noqa: F811
    r = run("list", *args)
    assert r.exit_code == 2 and says in r.output, r.output


def test_show_history_mdn_and_documents(cli_env, seeded) -> None:   # noqa: F811
    r = run("show", seeded.in_ok)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith(f"exchange #{seeded.in_ok} in over as2 from ACME Supplies: processed (1 document)")
    assert "acme-as2 → ours-as2" in out and "<in-1@acme>" in out
    assert "sync; automatic-action/MDN-sent-automatically; processed; at 2025-01-06 09:02:00 UTC" in out
    history = out.split("  history:\n")[1].split("  documents:")[0].splitlines()
    assert [ln.split()[2] for ln in history] == ["received", "stored", "acknowledged", "processed"]
    assert "MDN sent" in history[2]
    assert f"#{seeded.doc1} INV/2025/001: routed" in out

    detail = json.loads(run("show", seeded.out_failed, "--json").stdout)
    assert [(h["status"], h["reason"]) for h in detail["history"]] == \
        [("queued", None), ("sending", None), ("failed", "connection refused by as2.globex.example")]
    assert detail["documents"] == [] and detail["retryable"] is True
    assert json.loads(run("show", seeded.in_failed, "--json").stdout)["documents"] == [seeded.doc2]

    missing = run("show", 999)
    assert missing.exit_code == 2 and "no exchange 999" in missing.output


def test_retry_queues_a_failed_send_again(gw, cli_env, seeded) -> None:   # noqa: F811
    r = run("retry", seeded.out_failed, "--by", "alice")
    assert r.exit_code == 0, r.output
    assert f"exchange {seeded.out_failed}: queued again (retry requested by alice)" in r.stdout
    with gw.session() as s:
        ex = s.get(Exchange, seeded.out_failed)
        assert (ex.status, ex.reason, ex.attempts) == ("queued", "retry requested by alice", 0)
        assert ex.history[-1].status == "queued"


@pytest.mark.parametrize("which, says", [
    ("out_ok", "only a failed or refused send can be retried"),
    ("in_ok", "only an inbound exchange whose processing failed can be retried"),
])
def test_retry_refuses_what_did_not_fail(gw, cli_env, seeded, which, says) -> None:   # noqa: F811
    exchange_id = getattr(seeded, which)
    with gw.session() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(ExchangeEvent))
    r = run("retry", exchange_id)
    assert r.exit_code == 2 and says in r.output and "nothing changed" in r.output, r.output
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ExchangeEvent)) == before
    missing = run("retry", 999)
    assert missing.exit_code == 2 and "no exchange 999" in missing.output


def test_retry_now_processes_here_and_says_how_it_ended(gw, cli_env, seeded) -> None:   # noqa: F811
    """--now runs the processing in this process: a document it can read ends the exchange
    processed (exit 0); content it cannot read fails it again (exit 1)."""
    readable = gw.payloads.put(write_document(build_invoice(), "ubl").data)
    with gw.session() as s:
        ex = Exchange.inbound("api", at=T0 + timedelta(days=5), filename="again.xml", content_type="application/xml",
                              payload_key=readable.key, payload_size=readable.size,
                              content_sha256=readable.key, content_size=readable.size)
        for status in ("stored", "acknowledged"):
            ex.set_status(status, at=T0 + timedelta(days=5))
        ex.set_status("failed", "the worker died", at=T0 + timedelta(days=5))
        s.add(ex)
        s.flush()
        readable_id = ex.id
    ok = run("retry", readable_id, "--now")
    assert ok.exit_code == 0, ok.output
    with gw.session() as s:
        assert s.get(Exchange, readable_id).status == "processed"
    assert f"exchange {readable_id}: processed" in ok.stdout

    again = run("retry", seeded.in_failed, "--now")
    with gw.session() as s:
        status = s.get(Exchange, seeded.in_failed).status
    assert status in ("failed", "rejected")
    assert again.exit_code == 1, again.output
    assert f"exchange {seeded.in_failed}: {status}" in again.stdout
