"""The web server under connection exhaustion: it keeps answering, and slow clients are cut.

A real ``edigate serve`` gets 500 idle TCP connections and 50 clients
trickling a request's headers a byte at a time (slowloris), all held open;
then the health check, an authenticated API call and an AS2 POST must each get
an answer. waitress's defaults (100 connections, select()) left all three
hanging behind the idle connections. The requests' 10 s timeout only tells
"answered" from "hung": how fast is what ``bench/web_load.py`` measures.
"""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from gateway.config import ConfigError, load_settings
from gateway.db.access import User, issue_token

from tests.support.gateway_process import REPO, GatewayProcess
from tests.support.ports import free_port
from tests.support.waiting import wait_for
from tests.support.web_load import LoadClients, probe, probe_requests

ANSWERED = 10.0         # seconds: a request taking longer is a hung request, not a slow one


def _start_with_token(home) -> tuple[GatewayProcess, str]:
    """A gateway with an operator's API token (made before the start, as the other tests do)."""
    server = GatewayProcess(home)
    gw = server.gateway()
    with gw.session() as s:
        user = User.create("operator", "operator-password", "operator")
        s.add(user)
        s.flush()
        _, token = issue_token(s, user, "load test")
    gw.close()
    server.start()
    return server, token


def _still_open(s: socket.socket) -> bool:
    """True while the server has neither closed nor reset the connection."""
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_health_api_and_as2_answer_with_500_idle_and_50_slow_connections(tmp_path):
    server, token = _start_with_token(tmp_path / "home")
    try:
        with LoadClients("127.0.0.1", server.port, idle=500, slow=50, interval=0.5) as load:
            answers = {name: probe(method, url, kwargs, timeout=ANSWERED)
                       for name, (method, url, kwargs) in probe_requests(server.base, token).items()}
            # The load was all there while the requests were answered: nothing was shed to make room.
            assert len(load.slow) == 50 and load.closed_by_server == 0
            assert sum(_still_open(s) for s in load.idle) == 500
        assert answers["health"].status_code == 200 and answers["health"].json() == {"status": "ok"}
        assert answers["api"].status_code == 200 and isinstance(answers["api"].json(), (list, dict))
        assert 400 <= answers["as2"].status_code < 500, answers["as2"].text   # unknown partner: refused
        assert "up to 1000 connections" in server.log_tail()
    finally:
        server.stop()


def test_a_client_trickling_headers_is_cut_at_the_header_deadline_an_idle_one_is_not(tmp_path):
    # Trickling one byte every 0.3 s, a client is never idle: only a deadline counted from the
    # request's first byte ends it. Without one it would stay until its headers reach 64 KiB.
    server = GatewayProcess(tmp_path / "home", extra_env={"EDIGATE_HTTP_HEADER_TIMEOUT": "2"})
    server.start()
    try:
        with LoadClients("127.0.0.1", server.port, idle=5, slow=5, interval=0.3) as load:
            wait_for(lambda: load.closed_by_server == 5, 30, "the trickling clients to be cut")
            assert all(_still_open(s) for s in load.idle)      # idle ones wait for the idle timeout
            method, url, kwargs = probe_requests(server.base, token="none needed")["health"]
            assert probe(method, url, kwargs, timeout=ANSWERED).status_code == 200
        assert "within 2 s" in server.log_tail()
    finally:
        server.stop()


def test_open_files_limit_raised_and_connection_limit_fitted_to_it():
    """In a child process (limits are per process): soft limit 300 under a hard one of 600 is raised
    to 600, and 1000 connections, which cannot fit, become 600 - 256 kept for everything else."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (300, 600))\n"
        "from gateway.config import load_settings\n"
        "from gateway.server import web_server\n"
        "server, limits = web_server(lambda env, start: [], load_settings({'EDIGATE_HTTP_PORT': sys.argv[1]}))\n"
        "server.close()\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE))\n"
        "print(limits)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(free_port())], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "(600, 600)"
    assert "up to 344 connections (open files 600)" in out.stdout
    assert "does not fit in 600 open files" in out.stderr


@pytest.mark.parametrize("name, value", [
    ("HTTP_CONNECTION_LIMIT", "0"), ("HTTP_THREADS", "many"), ("HTTP_IDLE_TIMEOUT", "-5"),
    ("HTTP_HEADER_TIMEOUT", "-1"), ("HTTP_MAX_HEADER_SIZE", "100"), ("HTTP_MAX_HEADER_SIZE", "2G"),
])
def test_bad_web_server_settings_are_refused_by_name(name, value):
    with pytest.raises(ConfigError, match="EDIGATE_" + name):
        load_settings({"EDIGATE_" + name: value})


def test_web_server_settings_have_defaults_and_are_read():
    assert (load_settings({}).http_connection_limit, load_settings({}).http_header_timeout) == (1000, 30)
    s = load_settings({"EDIGATE_HTTP_CONNECTION_LIMIT": "5000", "EDIGATE_HTTP_HEADER_TIMEOUT": "0",
                       "EDIGATE_HTTP_IDLE_TIMEOUT": "90", "EDIGATE_HTTP_THREADS": "16",
                       "EDIGATE_HTTP_MAX_HEADER_SIZE": "32K"})
    assert (s.http_connection_limit, s.http_header_timeout, s.http_idle_timeout, s.http_threads,
            s.http_max_header_size) == (5000, 0, 90, 16, 32 * 1024)
