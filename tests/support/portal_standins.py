"""Two STAND-INS of buyers' procurement portals, shaped differently, for the ``http`` deposit channel.

No real buyer portal can be reached from here; these are stand-ins of the two common
shapes such portals publish, real WSGI servers on loopback, each judging our requests
(what is wrong lands in ``invalid``, which the tests assert empty) and counting what it
keeps (``deposits``):

* ``MultipartPortal`` ("portal A"): ``POST /api/v2/invoices``, ``multipart/form-data`` with
  the file in a ``document`` part and ``invoiceNumber`` / ``supplierVat`` fields, an API key
  in ``X-Api-Key``, an ``Idempotency-Key`` header it dedups on (the same key answers the
  same deposit, nothing new kept); answer 201 ``{"id": …}``; the status at
  ``GET /api/v2/invoices/{id}/status`` → ``{"state": {"code": …}, "messages": [...]}``.
* ``JsonPortal`` ("portal B"): OAuth2 client credentials (``POST /oauth/token``), then
  ``POST /submissions`` with a JSON body (``supplier.vat``, ``invoice.number``,
  ``invoice.total``, ``content.filename``, ``content.base64``); its answer carries the
  outcome at once: ``{"result": {"ticket": …, "state": "ACCEPTED" | "REJECTED",
  "errors": [{"message": …}]}}``; no status URL, no idempotency, no lookup.

``stall_after_store`` keeps a deposit and answers late (a timeout on our side); ``down``
answers 503; ``stop()``/``start()`` refuses connections.
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Optional
from urllib.parse import parse_qs

from tests.support.choruspro_standin import LoopbackService, bearer, json_answer


class MultipartPortal(LoopbackService):
    """Portal A (see the module docstring)."""

    def __init__(self, *, api_key: str = "cle-portail-a-0123456789") -> None:
        super().__init__()
        self.api_key = api_key
        self.deposits: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}              # Idempotency-Key -> deposit id
        self.invalid: list[str] = []
        self.stall_after_store = 0.0

    def set_state(self, deposit_id: str, code: str, messages: tuple[str, ...] = ()) -> None:
        self.deposits[deposit_id]["state"] = code
        self.deposits[deposit_id]["messages"] = list(messages)

    def answer(self, method: str, path: str, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        if environ.get("HTTP_X_API_KEY") != self.api_key:
            return json_answer("401 Unauthorized", {"error": "missing or wrong API key"})
        if method == "POST" and path == "/api/v2/invoices":
            return self._deposit(environ, body)
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 5 and parts[:3] == ["api", "v2", "invoices"] and parts[4] == "status":
            d = self.deposits.get(parts[3])
            if d is None:
                return json_answer("404 Not Found", {"error": "no such invoice"})
            return json_answer("200 OK", {"invoice": parts[3], "state": {"code": d["state"]},
                                          "messages": [{"text": m} for m in d["messages"]]})
        self.invalid.append(f"{method} {path}: not an endpoint of portal A")
        return json_answer("404 Not Found", {"error": "not found"})

    def _deposit(self, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        ctype = environ.get("CONTENT_TYPE", "")
        if not ctype.startswith("multipart/form-data"):
            self.invalid.append(f"deposit: expected multipart/form-data, got {ctype!r}")
            return json_answer("415 Unsupported Media Type", {"error": "multipart/form-data expected"})
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        missing = [n for n in ("document", "invoiceNumber", "supplierVat") if n not in parts]
        if missing:
            self.invalid.append(f"deposit: missing part(s) {', '.join(missing)}")
            return json_answer("400 Bad Request", {"error": f"missing {', '.join(missing)}"})
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        if not key:
            self.invalid.append("deposit without an Idempotency-Key")
        with self.lock:
            if key and key in self.keys:                     # the same deposit again: nothing new kept
                return json_answer("201 Created", {"id": self.keys[key], "replayed": True})
            deposit_id = f"A-{len(self.deposits) + 1:06d}"
            self.deposits[deposit_id] = {
                "data": parts["document"].get_payload(decode=True) or b"",
                "filename": parts["document"].get_filename(),
                "number": parts["invoiceNumber"].get_content().strip(),
                "supplier_vat": parts["supplierVat"].get_content().strip(), "state": "RECEIVED", "messages": []}
            if key:
                self.keys[key] = deposit_id
        if self.stall_after_store:
            time.sleep(self.stall_after_store)
        return json_answer("201 Created", {"id": deposit_id})


class JsonPortal(LoopbackService):
    """Portal B (see the module docstring)."""

    def __init__(self, *, client_id: str = "edigate", client_secret: str = "secret-portail-b") -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.deposits: list[dict[str, Any]] = []
        self.reject: dict[str, list[str]] = {}        # invoice number -> the errors it answers with
        self.invalid: list[str] = []
        self.stall_after_store = 0.0

    def answer(self, method: str, path: str, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        if method == "POST" and path == "/oauth/token":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != \
                    ("client_credentials", self.client_id, self.client_secret):
                return json_answer("401 Unauthorized", {"error": "invalid_client"})
            token = uuid.uuid4().hex
            self.tokens.add(token)
            self.tokens_issued += 1
            return json_answer("200 OK", {"access_token": token, "token_type": "bearer", "expires_in": 600})
        if bearer(environ) not in self.tokens:
            return json_answer("401 Unauthorized", {"error": "invalid_token"})
        if method == "POST" and path == "/submissions":
            return self._submit(environ, body)
        self.invalid.append(f"{method} {path}: not an endpoint of portal B")
        return json_answer("404 Not Found", {"error": "not found"})

    def _submit(self, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
            self.invalid.append(f"submission: Content-Type {environ.get('CONTENT_TYPE')!r}")
        try:
            sub = json.loads(body)
            number, vat = sub["invoice"]["number"], sub["supplier"]["vat"]
            data = base64.b64decode(sub["content"]["base64"], validate=True)
            filename, total = sub["content"]["filename"], sub["invoice"]["total"]
        except (ValueError, KeyError, TypeError) as e:
            self.invalid.append(f"submission: {type(e).__name__}: {e}")
            return json_answer("400 Bad Request", {"result": {"state": "INVALID", "errors": [{"message": str(e)}]}})
        ticket = f"B-{uuid.uuid4().hex[:8]}"
        errors = self.reject.get(number, [])
        with self.lock:
            self.deposits.append({"ticket": ticket, "number": number, "vat": vat, "data": data, "filename": filename,
                                  "total": total})
        if self.stall_after_store:
            time.sleep(self.stall_after_store)
        return json_answer("200 OK", {"result": {"ticket": ticket, "state": "REJECTED" if errors else "ACCEPTED",
                                                 "errors": [{"message": m} for m in errors]}})

    def kept(self, number: Optional[str] = None) -> int:
        return sum(1 for d in self.deposits if number is None or d["number"] == number)
