"""An ERP on the XP Z12-013 Flow Service, and the loopback server standing for ERPs' webhook
endpoints, for the tests that drive a running gateway's flow API (one platform, or two).

``Erp(base, token)`` talks to ``base``'s Flow Service with a recipient login's bearer token;
``Callbacks(plan)`` keeps every callback it gets and answers as ``plan`` says per path;
``signed_right(call, key)`` checks an ``Afnor-Signature`` as the specification describes it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

FLOWS = "/xp-z12-013/flow-service/v1"


class Callbacks:
    """A loopback HTTP server standing for the ERPs' webhook endpoints: it keeps every request and
    answers what ``plan`` says for a path (one status per call, the last one repeating)."""

    def __init__(self, plan: dict[str, list[int]]):
        self.plan, self.calls, self.lock = plan, [], threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    n = sum(1 for c in outer.calls if c["path"] == self.path)
                    statuses = outer.plan.get(self.path, [200])
                    status = statuses[min(n, len(statuses) - 1)]
                    outer.calls.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                        "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, path: str, flow_id: str | None = None) -> list[dict]:
        with self.lock:
            return [c for c in self.calls if c["path"] == path
                    and (flow_id is None or json.loads(c["body"])["flowId"] == flow_id)]

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


def signed_right(call: dict, key: str) -> bool:
    """The specification's signature: HMAC-SHA-256, with the signing key's bytes, of the SHA-256
    fingerprint (lowercase hex) of the body as sent, ``@`` and the epoch seconds; base64."""
    ts = call["headers"]["Afnor-Signature-Timestamp"]
    fingerprint = hashlib.sha256(call["body"] + b"@" + ts.encode()).hexdigest()
    expected = base64.b64encode(hmac.new(base64.b64decode(key), fingerprint.encode(), hashlib.sha256).digest())
    return hmac.compare_digest(expected.decode(), call["headers"]["Afnor-Signature"])


class Erp:
    """An ERP of one organisation talking to the Flow Service with its recipient login's token."""

    def __init__(self, base: str, token: str):
        self.base, self.auth = base + FLOWS, {"Authorization": f"Bearer {token}"}

    def submit(self, data: bytes, info: dict) -> requests.Response:
        return requests.post(self.base + "/flows", headers=self.auth, timeout=30,
                             files={"flowInfo": (None, json.dumps(info), "application/json"),
                                    "file": (info["name"], io.BytesIO(data), "application/xml")})

    def search(self, where: dict, **more) -> list[dict]:
        r = requests.post(self.base + "/flows/search", headers=self.auth, json={"where": where, **more}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["results"]

    def get(self, flow_id: str, doc_type: str = "Metadata") -> requests.Response:
        return requests.get(f"{self.base}/flows/{flow_id}", params={"docType": doc_type}, headers=self.auth,
                            timeout=60)

    def ack(self, flow_id: str) -> dict:
        r = self.get(flow_id)
        assert r.status_code == 200, r.text
        return r.json()["acknowledgement"]

    def webhook(self, url: str, **filters) -> dict:
        r = requests.post(self.base + "/webhooks", headers=self.auth, json={"callbackUrl": url, **filters}, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()
