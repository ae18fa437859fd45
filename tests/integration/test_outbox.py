"""Outbound AS2 as durable jobs: retries with backoff, bounded, same Message-ID; async MDNs
and their timeout; the operator's retry; deliveries and documents following along.

The receiver is a real AS2 endpoint on loopback (our transport's WSGI app, its own
keys and store) whose HTTP behaviour a test can script (answer 503, 400, or hold
the asynchronous MDN). The gateway under test is in-process; its job queue is
replaced by a recorder of what would be scheduled when, so that each test drives
the attempts itself instead of waiting for backoff delays (no AS2 counterpart is
replaced: every message really goes over HTTP and every MDN is really judged).
"""
from __future__ import annotations

import threading
from datetime import timedelta
from socketserver import ThreadingMixIn
from types import SimpleNamespace
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from gateway import certs
from gateway.config import load_settings
from gateway.db import Exchange, Partner, utcnow
from gateway.channels.as2 import queue_file
from gateway.delivery import attempts
from gateway.delivery.attempts import send_exchange
from gateway.runtime import Gateway
from gateway.transports.as2 import As2Endpoint, As2Identity, As2Partner, DuplicateMessage, wsgi_app

from tests.support.gateway_process import setup_records


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class Receiver:
    """A partner's AS2 server. ``script``: HTTP codes to answer instead of processing, in order."""

    def __init__(self, keys, our_cert: bytes, *, async_hold: bool = False):
        self.script: list[int] = []
        self.stored: dict[str, bytes] = {}
        self.seen: list[str] = []               # Message-IDs of every POST, in order
        self.held_mdns = []
        self.lock = threading.Lock()
        ident = As2Identity("RECV", "recv.test", keys)
        sender = As2Partner("EDIGATE", [our_cert], mdn_url_private=True)   # our MDN URL is on loopback
        self.endpoint = As2Endpoint(identities={"RECV": ident}, partners={"EDIGATE": sender},
                                    store=self._store, is_duplicate=lambda mid: mid in self.stored,
                                    async_mdn_sender=self.held_mdns.append if async_hold else None)
        self.app = wsgi_app(self.endpoint)
        self.httpd = make_server("127.0.0.1", 0, self._wsgi, server_class=_Server, handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/as2"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _store(self, data: bytes, meta: dict) -> None:
        with self.lock:
            if meta["message_id"] in self.stored:
                raise DuplicateMessage(meta["message_id"])
            self.stored[meta["message_id"]] = data

    def _wsgi(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            with self.lock:
                self.seen.append((environ.get("HTTP_MESSAGE_ID") or "").strip("<>"))
                code = self.script.pop(0) if self.script else None
            if code is not None:
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                start_response(f"{code} Scripted", [("Content-Type", "text/plain")])
                return [b"scripted answer\n"]
        return self.app(environ, start_response)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def world(tmp_path):
    keys = certs.ensure_dev_keypair(tmp_path / "keys", "edigate")
    recv_keys = certs.ensure_dev_keypair(tmp_path / "keys", "recv")
    receiver = Receiver(recv_keys, keys.cert_pem)
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}))
    scheduled = []
    gw.jobs.send = lambda exchange_id, at=None: scheduled.append((exchange_id, at))   # the recorder
    rec = setup_records(gw, identity="EDIGATE", our_key=keys.key_path, partners=[
        dict(name="Receiver", as2_id="RECV", as2_url=receiver.url, cert_pem=recv_keys.cert_pem,
             as2_options={"retry_backoff_seconds": [5, 60], "max_attempts": 3})])
    yield SimpleNamespace(gw=gw, receiver=receiver, scheduled=scheduled, partner_id=rec.partner_ids["Receiver"],
                          keys=keys, recv_keys=recv_keys)
    receiver.close()
    gw.close()


def _exchange(gw, ex_id) -> Exchange:
    with gw.session() as s:
        ex = s.get(Exchange, ex_id)
        _ = ex.history
        return ex


def test_transient_failures_are_retried_with_backoff_and_the_same_message_id(world, monkeypatch):
    gw, rcv = world.gw, world.receiver
    rcv.script = [503, 502]
    ex = queue_file(gw, b"UNA:+.? '" + b"x" * 2000, partner_id=world.partner_id, filename="a.edi",
                    content_type="application/EDIFACT")
    assert world.scheduled == [(ex.id, None)]
    t0 = utcnow()
    clock = [t0]                                  # the attempts' clock, stopped: backoffs exact, not timed
    monkeypatch.setattr(attempts, "utcnow", lambda: clock[0])
    assert send_exchange(gw, ex.id, now=t0) == "retrying"
    (_, at1) = world.scheduled[-1]
    assert at1 - t0 == timedelta(seconds=5)                                  # backoff step 1: 5 s
    assert send_exchange(gw, ex.id, now=at1 - timedelta(seconds=1)) is None  # an early prompt sends nothing
    assert len(rcv.seen) == 1
    clock[0] = at1
    assert send_exchange(gw, ex.id, now=at1) == "retrying"
    (_, at2) = world.scheduled[-1]
    assert at2 - at1 == timedelta(seconds=60)                                # backoff step 2: 60 s
    clock[0] = at2
    assert send_exchange(gw, ex.id, now=at2) == "acknowledged"
    e = _exchange(gw, ex.id)
    assert [h.status for h in e.history] == ["queued", "sending", "retrying", "sending", "retrying",
                                             "sending", "acknowledged"]
    assert "HTTP 503" in e.history[2].reason and "HTTP 502" in e.history[4].reason
    assert rcv.seen == [e.message_id] * 3 and rcv.stored[e.message_id].startswith(b"UNA")
    assert e.attempts == 3 and e.mic and "MIC verified" in e.reason


def test_bounded_retries_end_failed_with_the_reason_and_the_operator_can_retry(world):
    gw, rcv = world.gw, world.receiver
    rcv.script = [503, 503, 503]
    ex = queue_file(gw, b"payload-1" * 100, partner_id=world.partner_id, filename="b.bin")
    later = utcnow() + timedelta(days=1)
    statuses = [send_exchange(gw, ex.id, now=later + timedelta(minutes=i)) for i in range(3)]
    assert statuses == ["retrying", "retrying", "failed"]
    e = _exchange(gw, ex.id)
    assert "HTTP 503" in e.reason and "after 3 attempts" in e.reason
    assert [h.status for h in e.history] == ["queued", "sending", "retrying", "sending", "retrying",
                                             "sending", "failed"]
    assert len(set(rcv.seen)) == 1 and len(rcv.seen) == 3                   # one Message-ID, three POSTs
    assert e.message_id == rcv.seen[0]
    assert send_exchange(gw, ex.id, now=later + timedelta(hours=1)) is None   # failed: nothing more is sent
    assert len(rcv.seen) == 3

    gw.retry_exchange(ex.id, by="alice")
    e = _exchange(gw, ex.id)
    assert e.status == "queued" and e.history[-1].reason == "retry requested by alice"
    assert world.scheduled[-1] == (ex.id, None)
    assert send_exchange(gw, ex.id) == "acknowledged"
    e = _exchange(gw, ex.id)
    assert e.message_id == rcv.seen[-1] == rcv.seen[0]
    assert rcv.stored[e.message_id] == b"payload-1" * 100
    assert e.mdn_disposition == "processed" and gw.payloads.exists(e.mdn_payload_key)


def test_a_refusal_that_retrying_cannot_fix_fails_at_once(world):
    gw, rcv = world.gw, world.receiver
    rcv.script = [400]
    ex = queue_file(gw, b"payload-2", partner_id=world.partner_id)
    assert send_exchange(gw, ex.id) == "failed"
    assert "not retryable" in _exchange(gw, ex.id).reason
    assert len(rcv.seen) == 1


def test_a_partner_without_a_url_or_certificate_fails_with_a_clear_reason(world):
    gw = world.gw
    with gw.session() as s:
        p = s.get(Partner, world.partner_id)
        p.as2_url = None
    ex = queue_file(gw, b"payload-3", partner_id=world.partner_id)
    assert send_exchange(gw, ex.id) == "failed"
    assert "has no AS2 URL" in _exchange(gw, ex.id).reason
    assert world.receiver.seen == []


def test_two_workers_prompted_at_once_send_once(world):
    gw, rcv = world.gw, world.receiver
    ex = queue_file(gw, b"payload-4", partner_id=world.partner_id)
    results = []
    threads = [threading.Thread(target=lambda: results.append(send_exchange(gw, ex.id))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("acknowledged") == 1 and results.count(None) == 3
    assert len(rcv.seen) == 1


def test_async_mdn_timeout_resends_then_fails(world):
    gw = world.gw
    rcv = Receiver(world.recv_keys, world.keys.cert_pem, async_hold=True)
    try:
        with gw.session() as s:
            p = s.get(Partner, world.partner_id)
            p.as2_url, p.as2_mdn_mode = rcv.url, "async"
            p.as2_options = {"max_attempts": 2, "mdn_timeout_minutes": 10}
        ex = queue_file(gw, b"payload-5", partner_id=world.partner_id)
        assert send_exchange(gw, ex.id) == "awaiting_mdn"
        e = _exchange(gw, ex.id)
        assert e.mdn_due_at is not None and len(rcv.held_mdns) == 1
        # Before the deadline nothing changes; after it, a resend (same Message-ID), then failure.
        assert gw.jobs.sweep(now=e.mdn_due_at - timedelta(seconds=1))["mdn_timeouts"] == 0
        counts = gw.jobs.sweep(now=e.mdn_due_at + timedelta(seconds=1))
        assert counts["mdn_timeouts"] == 1
        assert _exchange(gw, ex.id).status == "retrying"
        assert send_exchange(gw, ex.id, now=e.mdn_due_at + timedelta(seconds=2)) == "awaiting_mdn"
        e = _exchange(gw, ex.id)
        gw.jobs.sweep(now=e.mdn_due_at + timedelta(seconds=1))
        e = _exchange(gw, ex.id)
        assert e.status == "failed" and "no asynchronous MDN" in e.reason and "after 2 attempts" in e.reason
        assert len(set(rcv.seen)) == 1 and len(rcv.seen) == 2
    finally:
        rcv.close()


def test_async_mdn_posted_to_our_endpoint_settles_the_exchange_and_its_delivery(world, tmp_path):
    """The partner posts its MDN to our web app's /as2, served on loopback."""
    from gateway.web import create_app
    gw = world.gw
    app = create_app(gw, testing=True)
    httpd = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    rcv = Receiver(world.recv_keys, world.keys.cert_pem, async_hold=True)
    try:
        with gw.session() as s:
            p = s.get(Partner, world.partner_id)
            p.as2_url, p.as2_mdn_mode = rcv.url, "async"
        gw.settings = gw.settings.__class__(**{**gw.settings.__dict__,
                                                "public_url": f"http://127.0.0.1:{httpd.server_port}"})
        gw._directory = None
        ex = queue_file(gw, b"payload-6", partner_id=world.partner_id)
        assert send_exchange(gw, ex.id) == "awaiting_mdn"
        (mdn,) = rcv.held_mdns
        assert mdn.url == f"http://127.0.0.1:{httpd.server_port}/as2"
        from gateway.transports.as2 import send_async_mdn
        assert send_async_mdn(mdn) == 200
        e = _exchange(gw, ex.id)
        assert e.status == "acknowledged" and e.mdn_mode == "async" and e.mdn_disposition == "processed"
        assert "MIC verified" in e.reason
        assert send_async_mdn(mdn) == 200                   # a late second copy changes nothing
        e2 = _exchange(gw, ex.id)
        assert e2.status == "acknowledged" and "late asynchronous MDN ignored" in e2.history[-1].reason
    finally:
        rcv.close()
        httpd.shutdown()
        httpd.server_close()


def test_cli_send_wait_exits_0_only_when_acknowledged(world, monkeypatch):
    """``edigate send --wait``: a wait that ends before a final state is exit 3, not success."""
    from click.testing import CliRunner
    from gateway.cli import main

    monkeypatch.setenv("EDIGATE_HOME", str(world.gw.settings.home))
    f = world.gw.settings.home / "x.edi"
    f.write_bytes(b"UNA:+.? 'UNB+UNOC:3+A+B'")
    r = CliRunner().invoke(main, ["send", str(f), "--to", "Receiver", "--wait", "0.5"])
    assert r.exit_code == 3, r.output                   # nobody sends it here: still queued
    assert r.output.strip().splitlines()[-1].endswith(": queued")
    r = CliRunner().invoke(main, ["send", str(f), "--to", "Receiver"])
    assert r.exit_code == 0, r.output                   # queued is what was asked without --wait
