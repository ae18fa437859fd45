"""The README's first ten minutes, run as written against a real ``edigate serve`` on an empty record.

The three shell blocks under "The first ten minutes" (each after a ``<!-- quickstart: NAME -->``
line) are read from README.md and run: the local test mail server (aiosmtpd, a real SMTP
server), ``edigate serve`` with its demo setup, then the commands of the third block one by
one in bash, each judged by what it must do (``OUTCOMES``; a command the README gains without
a judgement here fails the test). Only the addresses change: the ports are free ones, the
home a temporary folder whose database is the suite's migrated empty one (what a first start makes
before anything else; tests/e2e/test_serve.py starts on a bare home). Then the buyer's login the last command made opens the portal, where
the sample invoice is, and the mail server printed the buyer's notice.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable

import requests

from tests.support.gateway_process import ChildProcess
from tests.support.ports import free_port
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent           # the README says .venv/bin: the suite's own environment
README_BASE, README_SMTP = "127.0.0.1:8080", "127.0.0.1:1025"
PASSWORD = "a long password"


def blocks(text: str) -> dict[str, list[str]]:
    """The quick start's shell blocks by name, as commands (continuation lines joined, comments and
    blank lines left out)."""
    out: dict[str, list[str]] = {}
    for name, body in re.findall(r"<!-- quickstart: (\w+) -->\s*```sh\n(.*?)```", text, re.S):
        commands = []
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
        out[name] = commands
    return out


class Run:
    """What the commands of one shell share: the environment, and the addresses of this test."""

    def __init__(self, env: dict[str, str], base: str, smtp: str):
        self.env, self.base, self.smtp = env, base, smtp

    def local(self, command: str) -> str:
        """The README's command with this test's addresses and environment's programs."""
        command = command.replace(README_BASE, self.base.removeprefix("http://")).replace(README_SMTP, self.smtp)
        return command.replace(".venv/bin/", f"{BIN}/").replace("$PWD/.venv/bin", str(BIN))

    def bash(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", self.local(command)], cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=60)


def start(run: Run, command: str, log: Path) -> ChildProcess:
    """A long-running command of the README (``VAR=value program args``), in the background."""
    words = shlex.split(run.local(command))
    env = dict(run.env)
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    child = ChildProcess()
    child.proc = subprocess.Popen(words, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return child


def _token(result, run: Run) -> None:
    token = result.stdout.strip()
    assert result.returncode == 0 and len(token) >= 32 and "\n" not in token, result
    assert "shown only now" in result.stderr, result.stderr


def _upload(result, run: Run) -> None:
    assert result.returncode == 0, result
    answer = json.loads(result.stdout)
    assert answer["exchange"] == 1 and not answer["duplicate"], answer


def _show(result, run: Run) -> bool:
    """Polled: the inbound exchange processed, its invoice delivered (to the portal)."""
    return result.returncode == 0 and ": processed" in result.stdout and "DEMO-2026-001: delivered" in result.stdout


def _list(result, run: Run) -> bool:
    """Polled: the buyer's notice sent by mail."""
    rows = [line.split() for line in result.stdout.splitlines()]
    return result.returncode == 0 and any("email" in row and "sent" in row for row in rows)


def _user(result, run: Run) -> None:
    assert result.returncode == 0, result
    assert re.match(r"user demo-buyer \(recipient of partner Demo Buyer GmbH \(id \d+\)\) created", result.stdout), \
        result.stdout


# what each command of the third block must do: checked once (None), or polled until True
OUTCOMES: list[tuple[str, Callable]] = [
    ("export PATH=", lambda result, run: None),
    ("TOKEN=$(edigate token create", _token),
    ("curl ", _upload),
    ("edigate exchange show 1", _show),
    ("edigate exchange list", _list),
    ("echo ", _user),
]


# what the record must hold before a command shows it (the server's workers run in the background)
READY = {
    "edigate exchange show 1": "SELECT count(*) FROM exchanges e JOIN documents d ON d.exchange_id = e.id "
        "WHERE e.id = 1 AND e.status = 'processed' AND d.status = 'delivered'",
    "edigate exchange list": "SELECT count(*) FROM exchanges WHERE channel = 'email' AND status = 'sent'",
}


def recorded(home: Path, query: str) -> bool:
    with sqlite3.connect(f"file:{home / 'edigate.db'}?mode=ro", uri=True, timeout=5) as db:
        return bool(db.execute(query).fetchone()[0])


def judge_of(command: str) -> Callable:
    for start_, judge in OUTCOMES:
        if command.startswith(start_):
            return judge
    raise AssertionError(f"the quick start has a command this test does not judge yet: {command!r}")


def portal_sees(base: str, username: str, password: str) -> str:
    s = requests.Session()
    page = s.get(base + "/portal/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    r = s.post(base + "/portal/login", data={"username": username, "password": password, "csrf_token": token},
               timeout=10)
    assert r.status_code == 200 and r.url.rstrip("/").endswith("/portal"), (r.status_code, r.url)
    return r.text


def test_the_readme_quick_start_works_as_written(tmp_path, migrated_sqlite) -> None:
    quick = blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert set(quick) == {"mail", "serve", "use"}, quick
    port, smtp_port = free_port(), free_port()
    home = tmp_path / "var"
    home.mkdir()
    shutil.copyfile(migrated_sqlite.path(), home / "edigate.db")      # the schema only: no record yet
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGATE_")}
    env.update({"EDIGATE_HOME": str(home), "EDIGATE_HTTP_PORT": str(port), "EDIGATE_SFTP_PORT": str(free_port()),
                "EDIGATE_CERTS_DIR": str(tmp_path / "certs"), "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"})
    env.pop("LANGUAGE", None), env.pop("LC_ALL", None), env.pop("LC_MESSAGES", None)
    run = Run(env, f"http://127.0.0.1:{port}", f"127.0.0.1:{smtp_port}")
    children: list[ChildProcess] = []
    try:
        (mail_command,), (serve_command,) = quick["mail"], quick["serve"]
        children.append(start(run, mail_command, tmp_path / "mail.log"))
        children.append(start(run, serve_command, tmp_path / "serve.log"))

        def up() -> bool:
            assert children[1].proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return requests.get(run.base + "/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        wait_for(up, 60, "edigate serve answering")
        banner = (tmp_path / "serve.log").read_text()
        for line in (rf"\n\s+portal\s+{re.escape(run.base)}/portal/",
                     rf"\n\s+onboarding\s+{re.escape(run.base)}/onboarding/", r"demo setup", r"samples/demo-invoice\.xml", rf"smtp://127\.0\.0\.1:{smtp_port}"):
            assert re.search(line, banner), (line, banner)
        assert re.search(r"first login\s+admin / \S+", banner), banner

        for command in quick["use"]:
            judge = judge_of(command)
            assigned = re.match(r"^(\w+)=\$\((.*)\)\s*(#.*)?$", command)
            if assigned:                   # VAR=$(command): its output kept for the next commands
                result = run.bash(assigned.group(2))
                run.env = {**run.env, assigned.group(1): result.stdout.strip()}
                judge(result, run)
            elif command.startswith("export "):
                key, _, value = command.removeprefix("export ").partition("=")
                run.env = {**run.env, key: run.local(value).replace("$PATH", run.env.get("PATH", ""))}
            else:
                ready = next((q for start_, q in READY.items() if command.startswith(start_)), None)
                if ready:                      # the server's workers first (read in the record, cheaply)
                    wait_for(lambda: recorded(home, ready), 60, f"the record behind {command!r}")
                result = run.bash(command)
                assert judge(result, run) is not False, (command, result.stdout, result.stderr)

        listing = portal_sees(run.base, "demo-buyer", PASSWORD)
        assert "DEMO-2026-001" in listing and "Demo Supplier SARL" in listing, listing[-2000:]
        mail = wait_for(lambda: (m := (tmp_path / "mail.log").read_text(errors="replace"))
                        and "DEMO-2026-001" in m and m, 10, "the buyer's notice at the mail server")
        assert "To: accounts@demo-buyer.example" in mail and "Subject: New invoice DEMO-2026-001" in mail, mail
        assert f"{run.base}/portal/documents/" in mail, mail
    finally:
        for child in reversed(children):
            child.stop()
