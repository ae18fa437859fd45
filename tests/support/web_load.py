"""Connection-exhaustion load on a web server: idle TCP connections and slow, trickling clients.

Shared by ``tests/e2e/test_web_server_load.py`` (does the server still answer?) and
``bench/web_load.py`` (how fast?). Idle clients connect and send nothing; slow
clients send an HTTP request one byte per ``interval`` seconds and never end
its headers (slowloris). Neither ever reads, so to the server they are pure
cost: a socket, a connection slot, and a thread if the server gives them one.
"""
from __future__ import annotations

import socket
import threading
from typing import Optional

import requests

# A request whose headers never end: after the request line and Host, an endless header value.
TRICKLE_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: "


class LoadClients:
    """``idle`` connections that send nothing and ``slow`` ones that trickle header bytes, held
    open until ``close()`` (also as a context manager). ``closed_by_server`` counts the slow
    connections the server cut (a send failed or the server's FIN/RST arrived)."""

    def __init__(self, host: str, port: int, *, idle: int = 500, slow: int = 50, interval: float = 1.0):
        self.address = (host, port)
        self.idle_count, self.slow_count, self.interval = idle, slow, interval
        self.idle: list[socket.socket] = []
        self.slow: list[socket.socket] = []
        self.sent = 0                       # bytes of TRICKLE_HEAD + filler sent on each slow socket
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _connect(self) -> socket.socket:
        s = socket.create_connection(self.address, timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)     # one byte is one segment
        return s

    def open(self) -> "LoadClients":
        """Connect everything (the kernel completes the handshake even when the server does not
        accept yet), then start trickling; the first byte goes out at once."""
        try:
            for _ in range(self.idle_count):
                self.idle.append(self._connect())
            for _ in range(self.slow_count):
                self.slow.append(self._connect())
        except BaseException:
            self.close()
            raise
        self._trickle_once()
        self._thread = threading.Thread(target=self._trickle, name="trickle", daemon=True)
        self._thread.start()
        return self

    def _trickle_once(self) -> None:
        i = self.sent
        byte = TRICKLE_HEAD[i:i + 1] or b"a"
        for s in list(self.slow):
            try:
                s.settimeout(0.5)
                s.send(byte)
            except OSError:
                self._server_closed(s)
        self.sent += 1

    def _server_closed(self, s: socket.socket) -> None:
        self.slow.remove(s)
        self.closed_by_server += 1
        s.close()

    def _trickle(self) -> None:
        while not self._stop.wait(self.interval):
            self._trickle_once()
            for s in list(self.slow):           # a FIN or RST from the server shows as readable
                try:
                    s.setblocking(False)
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        self._server_closed(s)
                except BlockingIOError:
                    pass
                except OSError:
                    self._server_closed(s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for s in self.idle + self.slow:
            s.close()
        self.idle, self.slow = [], []

    def __enter__(self) -> "LoadClients":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


AS2_UNKNOWN_PARTNER_HEADERS = {
    "AS2-Version": "1.2", "AS2-From": "NOBODY-WE-KNOW", "AS2-To": "EDIGATE-LOAD",
    "Message-ID": "<load-probe@edigate.test>", "Content-Type": "application/pkcs7-mime",
    "Subject": "load probe",
}


def probe_requests(base: str, token: str) -> dict[str, tuple[str, str, dict]]:
    """The three requests that must keep answering: (method, url, requests kwargs) by name."""
    return {
        "health": ("GET", base + "/health", {}),
        "api": ("GET", base + "/api/v1/partners", {"headers": {"Authorization": f"Bearer {token}"}}),
        "as2": ("POST", base + "/as2", {"headers": AS2_UNKNOWN_PARTNER_HEADERS,
                                        "data": b"not a real AS2 message"}),
    }


def probe(method: str, url: str, kwargs: dict, timeout: float) -> requests.Response:
    """One request on a fresh connection (no pooling: each probe needs a new connection slot,
    which is what exhaustion takes away)."""
    with requests.Session() as s:
        return s.request(method, url, timeout=timeout, **kwargs)
