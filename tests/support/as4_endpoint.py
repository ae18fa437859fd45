"""An AS4 receiver for the tests: our transport's WSGI app behind a real HTTP server on loopback.

``As4Receiver`` keeps what it stores in memory (payloads and receipts by MessageId,
as the channel's store keeps them in the database) and counts every store, so a
test can say "nothing stored" or "stored once". Run as a module it serves one in
its own process (``python -m tests.support.as4_endpoint KEY CERT PARTNER_CERT``),
prints its port, and answers ``GET /stats`` with its memory figures: how the 50 MB
test measures the receiving side alone.
"""
from __future__ import annotations

import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Optional

from werkzeug.serving import WSGIRequestHandler, make_server

from gateway.certs import KeyPair
from gateway.transports import as4


class _Quiet(WSGIRequestHandler):
    def log(self, *args, **kwargs):
        pass


class As4Receiver:
    def __init__(self, identity: as4.As4Identity, partners: list[as4.As4Partner], *,
                 max_bytes: int = as4.DEFAULT_MAX_BYTES, fail_store: bool = False):
        self.identity, self.partners = identity, partners
        self.stored: dict[str, dict] = {}
        self.store_calls = 0
        self.fail_store = fail_store
        self.keep_payloads = True
        self._lock = threading.Lock()
        self.endpoint = as4.As4Endpoint(identity=identity, find_partner=self.find_partner,
                                        find_duplicate=self.find_duplicate, store=self.store, max_bytes=max_bytes)
        self.app = as4.wsgi_app(self.endpoint)
        self._server = None
        self.port: Optional[int] = None

    def find_partner(self, party_id, cert):
        return next((p for p in self.partners if cert is not None and p.owns(cert)), None)

    def find_duplicate(self, message_id, partner):
        with self._lock:
            got = self.stored.get(message_id)
        return got["receipt"] if got else None

    def store(self, payload, meta: dict) -> None:
        """``payload``: the transport's spooled payload; its hash counted here from a stream, as a
        store writing it to disk would read it (kept in memory only with ``keep_payloads``)."""
        with self._lock:
            self.store_calls += 1
            if self.fail_store:
                raise OSError("disk full (told to fail)")
            if meta["message_id"] in self.stored:
                raise as4.DuplicateMessage(meta["message_id"])
            digest, size, reader = hashlib.sha256(), 0, payload.reader()
            while chunk := reader.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            self.stored[meta["message_id"]] = {
                "payload": payload.read() if self.keep_payloads else None, "sha256": digest.hexdigest(),
                "size": size, "receipt": meta["receipt"], "meta": {k: v for k, v in meta.items()
                                                                  if k not in ("raw_message", "partner")}}

    def start(self, port: int = 0) -> "As4Receiver":
        self._server = make_server("127.0.0.1", port, self._route, threaded=True, request_handler=_Quiet)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/as4"

    def _route(self, environ, start_response):
        if environ.get("PATH_INFO") == "/stats":
            body = json.dumps(_memory() | {"stored": {k: {"size": v["size"], "sha256": v["sha256"]}
                                                      for k, v in self.stored.items()}}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return self.app(environ, start_response)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _memory() -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def main(argv: list[str]) -> None:
    key, cert, partner_cert = (Path(a) for a in argv[:3])
    me = as4.As4Identity(KeyPair.load(key, cert))
    them = as4.As4Partner("sender", [partner_cert.read_bytes()])
    r = As4Receiver(me, [them])
    r.keep_payloads = False
    r.start()
    print(json.dumps({"port": r.port} | _memory()), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
