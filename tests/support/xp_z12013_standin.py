"""A stand-in for another certified platform's XP Z12-013 Flow Service, on loopback.

A STAND-IN, not a real platform: no other platform's software can run here, so this small
WSGI app answers as AFNOR's published description says (XP Z12-013 Annex A, Flow Service
1.3.0, read from the shared corpus by path) and judges every request it gets against that
description's own request schemas (``FlowInfo``, ``SearchFlowParams``, ``WebhookParams``),
recording each violation in ``invalid`` (a test asserts it stays empty) and answering it
400 with the spec's ``Error``. It is what lets the pa channel's tests see what a
conforming platform sees, and script what a platform does: acknowledge a flow Ok or Error,
be down, keep a flow and answer too late, make a flow available to us and call our webhook
with a signed ``Flow`` (``publish``).

It runs in a real threaded WSGI server (``start``/``stop``, restartable on the same port).
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from socketserver import ThreadingMixIn
from typing import Any, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from gateway.transports.xp_z12013 import sign_webhook
from tests.support.corpus import CORPUS

SPEC = CORPUS / "fr" / "annuaire" / "XP_Z12-013_AnnexA_Flow_Service-1.3.0-swagger.json"


def spec_or_skip() -> dict:
    """The official description, or the test is skipped saying where it was looked for."""
    if not SPEC.is_file():
        pytest.skip(f"the XP Z12-013 Flow Service description is not in the shared corpus ({SPEC})")
    return json.loads(SPEC.read_text(encoding="utf-8"))


class RequestSchemas:
    """The spec's request schemas as JSON Schema validators (its ``$ref``s resolved in it)."""

    def __init__(self, spec: dict):
        from jsonschema import Draft7Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7

        registry = Registry().with_resource("urn:xp-z12-013", Resource(contents=spec, specification=DRAFT7))
        self._validators = {
            name: Draft7Validator({"$ref": f"urn:xp-z12-013#/components/schemas/{name}"}, registry=registry)
            for name in ("FlowInfo", "SearchFlowParams", "WebhookParams")}

    def problems(self, name: str, value: Any) -> list[str]:
        return [f"{name}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in self._validators[name].iter_errors(value)]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StoredFlow:
    flow_id: str
    info: dict[str, Any]
    data: bytes
    direction: str
    flow_type: str
    submitted_at: str
    updated_at: str
    ack: dict[str, Any] = field(default_factory=lambda: {"status": "Pending"})

    def as_json(self) -> dict[str, Any]:
        flow = {"flowId": self.flow_id, "submittedAt": self.submitted_at, "updatedAt": self.updated_at,
                "name": self.info["name"], "flowSyntax": self.info["flowSyntax"],
                "flowProfile": self.info.get("flowProfile", "Undefined"),
                "processingRule": self.info.get("processingRule", "B2B"), "processingRuleSource": "Computed",
                "flowType": self.flow_type, "flowDirection": self.direction, "acknowledgement": dict(self.ack),
                "sha256": hashlib.sha256(self.data).hexdigest()}
        if self.info.get("trackingId") is not None:
            flow["trackingId"] = self.info["trackingId"]
        return flow


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class FlowServiceStandIn:
    """See the module docstring. ``token``: the bearer token it accepts; ``base``: its Flow
    Service base URL once started (``/v1/flows`` below it)."""

    PREFIX = "/flow-service"

    def __init__(self, spec: dict, *, token: str = "standin-token"):
        self.schemas = RequestSchemas(spec)
        self.token = token
        self.lock = threading.Lock()
        self.flows: dict[str, StoredFlow] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.submissions: list[dict[str, Any]] = []      # every flowInfo accepted by POST /v1/flows
        self.requests: list[tuple[str, str]] = []        # (method, path) of every request
        self.invalid: list[str] = []                     # what broke the spec's request schemas
        self.down = False                                # answer 503 to everything
        self.stall_after_store = 0.0                     # keep a submitted flow, then answer this late
        self.search_pages_served = 0
        self.port: Optional[int] = None
        self.httpd: Optional[_Server] = None

    # --- running ---------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.PREFIX}"

    def start(self) -> "FlowServiceStandIn":
        self.httpd = make_server("127.0.0.1", self.port or 0, self, server_class=_Server, handler_class=_Quiet)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Closed: connections to its port are refused until ``start`` again."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    # --- what a platform does on its side ----------------------------------------------------
    def acknowledge(self, flow_id: str, status: str, details: Optional[list[dict[str, Any]]] = None) -> None:
        with self.lock:
            flow = self.flows[flow_id]
            flow.ack = {"status": status, **({"details": details} if details else {})}
            flow.updated_at = _now()

    def publish(self, data: bytes, *, name: str, syntax: str, flow_type: str) -> str:
        """A flow made available to us (``In``, acknowledged Ok); its id."""
        flow_id = str(uuid.uuid4())
        now = _now()
        with self.lock:
            self.flows[flow_id] = StoredFlow(flow_id, {"name": name, "flowSyntax": syntax}, data, "In", flow_type,
                                             now, now, {"status": "Ok"})
        return flow_id

    def callback_body(self, flow_id: str) -> bytes:
        return json.dumps(self.flows[flow_id].as_json()).encode("utf-8")

    def notify(self, flow_id: str, *, body: Optional[bytes] = None, headers: Optional[dict] = None,
               key: Optional[str] = None) -> list[requests.Response]:
        """POST the flow to every webhook whose filters match, signed with its key (``body``,
        ``headers``, ``key``: what a test sends instead, to tamper)."""
        flow = self.flows[flow_id]
        out = []
        for hook in list(self.webhooks.values()):
            if hook.get("flowDirection") not in (None, flow.direction):
                continue
            if hook.get("flowTypes") and flow.flow_type not in hook["flowTypes"]:
                continue
            payload = body if body is not None else self.callback_body(flow_id)
            sent = {"Content-Type": "application/json",
                    **(headers if headers is not None else sign_webhook(payload, key or hook["signingKey"]))}
            out.append(requests.post(hook["callbackUrl"], data=payload, headers=sent, timeout=60))
        return out

    def submitted(self) -> int:
        with self.lock:
            return len(self.submissions)

    # --- the API -----------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        with self.lock:
            self.requests.append((method, path))
        status, headers, out = self._answer(method, path, environ, body)
        start_response(status, headers)
        return [out]

    @staticmethod
    def _json(code: str, value: Any) -> tuple[str, list, bytes]:
        return code, [("Content-Type", "application/json")], json.dumps(value).encode("utf-8")

    def _error(self, code: str, error_code: str, message: str) -> tuple[str, list, bytes]:
        return self._json(code, {"errorCode": error_code, "errorMessage": message})

    def _invalid(self, problems: list[str]) -> Optional[tuple[str, list, bytes]]:
        if not problems:
            return None
        with self.lock:
            self.invalid.extend(problems)
        return self._error("400 Bad Request", "INVALID_REQUEST", "; ".join(problems)[:500])

    def _answer(self, method: str, path: str, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        if self.down:
            return self._error("503 Service Unavailable", "RESOURCE_ERROR", "down for maintenance")
        if not path.startswith(self.PREFIX + "/v1/"):
            return self._error("404 Not Found", "MISSING_RESOURCE", "no such resource")
        path = path[len(self.PREFIX):]
        if path == "/v1/healthcheck":
            return "200 OK", [], b""
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.token}":
            return self._error("401 Unauthorized", "MISSING_TOKEN", "a bearer token is required")
        if path == "/v1/flows" and method == "POST":
            return self._submit(environ, body)
        if path == "/v1/flows/search" and method == "POST":
            return self._search(body)
        if path.startswith("/v1/flows/") and method == "GET":
            return self._get(path[len("/v1/flows/"):], environ)
        if path == "/v1/webhooks" and method == "POST":
            return self._hook(body)
        if path == "/v1/webhooks" and method == "GET":
            hooks = [{k: v for k, v in h.items() if k != "signingKey"} for h in self.webhooks.values()]
            return self._json("200 OK", {"count": len(hooks), "webhookIds": [h["webhookId"] for h in hooks],
                                         "webhooks": hooks})
        if path.startswith("/v1/webhooks/") and method == "DELETE":
            if self.webhooks.pop(path[len("/v1/webhooks/"):], None) is None:
                return self._error("404 Not Found", "MISSING_RESOURCE", "no such webhook")
            return "204 No Content", [], b""
        return self._error("404 Not Found", "MISSING_RESOURCE", f"no {method} {path}")

    def _submit(self, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        ctype = environ.get("CONTENT_TYPE", "")
        if not ctype.startswith("multipart/form-data"):
            return self._invalid([f"POST /v1/flows: expected multipart/form-data, got {ctype!r}"])
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        missing = [n for n in ("flowInfo", "file") if n not in parts]
        if missing:
            return self._invalid([f"POST /v1/flows: missing part(s) {', '.join(missing)}"])
        if parts["flowInfo"].get_content_type() != "application/json":
            return self._invalid([f"flowInfo part is {parts['flowInfo'].get_content_type()}, not application/json"])
        try:
            info = json.loads(parts["flowInfo"].get_payload(decode=True))
        except ValueError as e:
            return self._invalid([f"flowInfo is not JSON: {e}"])
        bad = self._invalid(self.schemas.problems("FlowInfo", info))
        if bad:
            return bad
        data = parts["file"].get_payload(decode=True) or b""
        if info.get("sha256") and hashlib.sha256(data).hexdigest() != info["sha256"]:
            return self._error("400 Bad Request", "CHECKSUM_MISMATCH", "the file does not match its sha256")
        flow_id, now = str(uuid.uuid4()), _now()
        lc = info["flowSyntax"] == "CDAR"
        with self.lock:
            self.flows[flow_id] = StoredFlow(flow_id, info, data, "Out", "CustomerInvoiceLC" if lc else
                                             "CustomerInvoice", now, now)
            self.submissions.append(info)
        if self.stall_after_store:
            time.sleep(self.stall_after_store)
        return self._json("202 Accepted", {"flowId": flow_id, "submittedAt": now, **info})

    def _get(self, flow_id: str, environ: dict) -> tuple[str, list, bytes]:
        from urllib.parse import parse_qs, unquote
        flow = self.flows.get(unquote(flow_id))
        if flow is None:
            return self._error("404 Not Found", "MISSING_RESOURCE", "Requested resource is Not Found")
        doc_type = (parse_qs(environ.get("QUERY_STRING", "")).get("docType") or ["Metadata"])[0]
        if doc_type == "Metadata":
            return self._json("200 OK", flow.as_json())
        if doc_type == "Original":
            media = "application/pdf" if flow.data[:5] == b"%PDF-" else "application/xml"
            return "200 OK", [("Content-Type", media),
                              ("Content-Disposition", f"attachment;filename={flow.info['name']}")], flow.data
        if doc_type in ("Converted", "ReadableView"):
            return self._error("404 Not Found", "MISSING_RESOURCE", f"no {doc_type} document for this flow")
        return self._invalid([f"GET /v1/flows/{{flowId}}: docType {doc_type!r} is not one of the enum"])

    def _search(self, body: bytes) -> tuple[str, list, bytes]:
        try:
            params = json.loads(body)
        except ValueError as e:
            return self._invalid([f"search body is not JSON: {e}"])
        bad = self._invalid(self.schemas.problems("SearchFlowParams", params))
        if bad:
            return bad
        where = params["where"]
        if not where:
            return self._invalid(["SearchFlowParams.where: at least one criterion is required"])
        with self.lock:
            found = sorted(self.flows.values(), key=lambda f: (f.updated_at, f.flow_id))
            self.search_pages_served += 1
        if "trackingId" in where:
            found = [f for f in found if f.info.get("trackingId") == where["trackingId"]]
        if "flowDirection" in where:
            found = [f for f in found if f.direction in where["flowDirection"]]
        if "flowType" in where:
            found = [f for f in found if f.flow_type in where["flowType"]]
        if "ackStatus" in where:
            found = [f for f in found if f.ack.get("status") == where["ackStatus"]]
        if "updatedAfter" in where:
            found = [f for f in found if f.updated_at > where["updatedAfter"]]
        limit = params.get("limit", 25)
        start = int(base64.urlsafe_b64decode(params["cursor"]).decode()) if params.get("cursor") else 0
        page = found[start:start + limit]
        answer: dict[str, Any] = {"limit": limit, "filters": where, "results": [f.as_json() for f in page]}
        if start + limit < len(found):
            answer["nextCursor"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        return self._json("200 OK", answer)

    def _hook(self, body: bytes) -> tuple[str, list, bytes]:
        try:
            params = json.loads(body)
        except ValueError as e:
            return self._invalid([f"webhook body is not JSON: {e}"])
        bad = self._invalid(self.schemas.problems("WebhookParams", params))
        if bad:
            return bad
        hook = {"webhookId": str(uuid.uuid4()), "signingKey": base64.b64encode(secrets.token_bytes(32)).decode(),
                "createdAt": _now(), **params}
        with self.lock:
            self.webhooks[hook["webhookId"]] = hook
        return self._json("201 Created", {k: hook[k] for k in ("webhookId", "signingKey", "createdAt")})
