"""A client of a certified platform's AFNOR XP Z12-013 Flow Service (Annex A, version 1.3.0).

edigate talks to another platform the way a company's ERP does: it submits a file as a
*flow* (``POST /v1/flows``, multipart: a ``flowInfo`` JSON part and the ``file``), reads a
flow's metadata and acknowledgement (``GET /v1/flows/{flowId}``) or its file
(``?docType=Original``), searches its flows (``POST /v1/flows/search``, cursor pages),
and manages the webhooks the platform calls back with a signed ``Flow`` JSON
(``/v1/webhooks``). Bytes and partners only: nothing here reads an invoice.

Every request goes to the URL an operator configured, so every one goes through
``gateway.transports.safe_http`` (public addresses only unless ``allow_private``), with
a timeout, no redirects followed and a bound on what is read back. A failure is a
``FlowServiceError`` carrying the HTTP status, the API's ``Error`` (``errorCode``,
``errorMessage``) and whether trying again may help.

Authentication is a static bearer token or OAuth2 client credentials (the spec's two
security schemes; the token comes from ``gateway.transports.oauth2``).

Webhook signatures. The spec says: "a SHA-256 fingerprint is generated based on the
concatenation of the JSON payload (as is), a separator ``@``, the current epoch time in
seconds; a HMAC signature is computed over the fingerprint with the callback signing
key; the signature is base64 encoded" (``Afnor-Signature``; the time in
``Afnor-Signature-Timestamp``). It leaves open whether the HMAC runs over the digest or
over the concatenation itself, and whether the key is the base64 text we were given or
the bytes it encodes. ``verify_webhook_signature`` accepts a signature made by any of
those readings (each needs the key: none is easier to forge) and refuses a timestamp
outside ``max_skew`` of our clock (a replayed callback). ``sign_webhook`` signs as
edigate's own Flow Service does (``gateway.channels.flow_webhooks``): the HMAC of the
fingerprint's hexadecimal text (the way the spec writes ``FlowInfo.sha256``), keyed with
the bytes the base64 key encodes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence, Union
from urllib.parse import quote

from gateway.transports.safe_http import BodyRefused, forbidden_cause, read_body, url_problem
from gateway.transports.safe_http import session as safe_http_session

SYNTAXES = ("CII", "UBL", "Factur-X", "CDAR", "FRR")
PROFILES = ("Basic", "CIUS", "Extended-CTC-FR", "Undefined")
DOC_TYPES = ("Metadata", "Original", "Converted", "ReadableView")
DIRECTIONS = ("In", "Out")
ACK_STATUSES = ("Pending", "Ok", "Error")
MAX_ID = 64                         # NotOnlyUuid
MAX_NAME = 255                      # CoreFlowInfo.name
MAX_PAGE = 100                      # Limit.maximum
MAX_JSON = 2 * 1024 * 1024          # a JSON answer (a page of 100 flows is far less)
MAX_FILE = 100 * 1024 * 1024        # "Flow file: Max size = 100 MB"
MAX_ERROR_TEXT = 500
DEFAULT_TIMEOUT = (10.0, 60.0)      # connect, read (seconds)
TOTAL_FACTOR = 5                    # a whole answer within this many read timeouts
DEFAULT_SKEW = 300                  # seconds a webhook's timestamp may be off our clock
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

Timeout = Union[float, tuple]


class FlowServiceError(Exception):
    """A request that did not succeed: ``http_status`` (None: no answer), the API's ``error_code``
    and ``error_message`` when it gave its ``Error`` object, and ``retryable``."""

    def __init__(self, message: str, *, http_status: Optional[int] = None, error_code: Optional[str] = None,
                 error_message: Optional[str] = None, retryable: bool = False):
        super().__init__(message)
        self.http_status, self.error_code, self.error_message = http_status, error_code, error_message
        self.retryable = retryable


class WebhookSignatureError(Exception):
    """A callback whose signature is missing, wrong or stale: refuse it (401), store nothing."""


# --- authentication ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BearerToken:
    """A static token the platform gave us (``Authorization: Bearer …``)."""
    token: str = field(repr=False)

    def header(self, client: "FlowClient") -> str:
        return f"Bearer {self.token}"

    def forget(self) -> None:
        """Nothing cached to forget."""


class ClientCredentials:
    """OAuth2 client credentials (``gateway.transports.oauth2``: a token fetched from
    ``token_url``, kept until shortly before it expires, forgotten when the API answers 401)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, scope: Optional[str] = None,
                 allow_private: bool = False):
        from gateway.transports.oauth2 import ClientCredentials as Credentials, OAuth2Client
        self.oauth = OAuth2Client(Credentials(token_url, client_id, client_secret, scope=scope,
                                              allow_private=allow_private))

    def __repr__(self) -> str:
        return f"<ClientCredentials {self.oauth.credentials.client_id!r} at {self.oauth.credentials.token_url}>"

    def header(self, client: "FlowClient") -> str:
        from gateway.transports.oauth2 import HttpError
        try:
            return f"Bearer {self.oauth.token()}"
        except HttpError as e:
            raise FlowServiceError(f"OAuth2 token: {e.message}", http_status=e.status,
                                   retryable=e.retryable) from None

    def forget(self) -> None:
        self.oauth.invalidate()


Auth = Union[BearerToken, ClientCredentials]


# --- HTTP ---------------------------------------------------------------------------------------



def _excerpt(data: bytes) -> str:
    text = data[:MAX_ERROR_TEXT * 2].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:MAX_ERROR_TEXT] + ("…" if len(text) > MAX_ERROR_TEXT else "")


def _read(resp, limit: int, url: str, deadline: float) -> bytes:
    """The response body within ``limit`` bytes and by ``deadline`` (``safe_http.read_body``)."""
    try:
        return read_body(resp, limit, deadline)
    except BodyRefused as e:
        raise FlowServiceError(f"{url} answer {e}", http_status=resp.status_code,
                               retryable=not e.too_large) from None


def _error(resp, body: bytes, what: str, url: str) -> FlowServiceError:
    code = message = None
    try:
        err = json.loads(body)
        if isinstance(err, dict):
            code = str(err.get("errorCode"))[:100] if err.get("errorCode") is not None else None
            parts = [str(err[k]) for k in ("errorMessage", "details") if err.get(k)]
            message = "; ".join(parts)[:MAX_ERROR_TEXT] or None
    except ValueError:
        pass
    said = (f"{code}: {message}" if code and message else code or message) or _excerpt(body) or resp.reason
    return FlowServiceError(f"{what}: HTTP {resp.status_code} from {url}: {said}", http_status=resp.status_code,
                            error_code=code, error_message=message or (_excerpt(body) or None),
                            retryable=resp.status_code in RETRYABLE)


def _request(method: str, url: str, *, allow_private: bool, timeout: Timeout, session: Any = None,
             limit: int = MAX_JSON, what: str = "request", **kwargs: Any):
    """One request through ``safe_http``'s rules; the response with its body read (bounded) into
    ``resp._content``. Raises ``FlowServiceError`` for a refused URL, no answer or a non-2xx."""
    import requests

    problem = url_problem(url, allow_private=allow_private)
    if problem:
        raise FlowServiceError(f"{what}: URL {url} refused: {problem}")
    sess = session or safe_http_session(allow_private)
    read = timeout[-1] if isinstance(timeout, tuple) else timeout
    deadline = time.monotonic() + TOTAL_FACTOR * float(read)
    try:
        resp = sess.request(method, url, timeout=timeout, allow_redirects=False, stream=True, **kwargs)
        body = _read(resp, limit if resp.status_code < 300 else MAX_JSON, url, deadline)
    except requests.RequestException as e:
        refused = forbidden_cause(e)
        if refused is not None:
            raise FlowServiceError(f"{what}: URL {url} refused: {refused}") from e
        raise FlowServiceError(f"{what}: no answer from {url}: {type(e).__name__}: {e}", retryable=True) from e
    resp._content = body
    if resp.status_code >= 300:
        raise _error(resp, body, what, url)
    return resp


def _json(resp, url: str) -> Any:
    try:
        return json.loads(resp.content)
    except ValueError:
        raise FlowServiceError(f"{url} answered HTTP {resp.status_code} with something that is not JSON: "
                               f"{_excerpt(resp.content)}", http_status=resp.status_code) from None


def check_id(value: Any, what: str = "flowId") -> str:
    """An identifier the API takes (NotOnlyUuid: a text of 1 to 64 printable characters)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID or not value.isprintable():
        raise FlowServiceError(f"{what} {value!r:.80} is not an identifier of 1 to {MAX_ID} printable characters")
    return value


# --- the client ---------------------------------------------------------------------------------

@dataclass
class FlowClient:
    """One platform's Flow Service, as one of its users (the owner of ``auth``). ``base_url``:
    the service's base (``https://api.flow.pa.example/flow-service``), ``/v1/…`` appended.
    ``organization_id``: sent as ``Organization-Id`` (delegation in a multi-tenant platform)."""

    base_url: str
    auth: Auth = field(repr=False)
    allow_private: bool = False
    timeout: Timeout = DEFAULT_TIMEOUT
    organization_id: Optional[str] = None
    session: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    def _call(self, method: str, path: str, *, limit: int = MAX_JSON, what: str, **kwargs: Any):
        url = self.base_url + path
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Request-Id"] = str(uuid.uuid4())
        if self.organization_id:
            headers["Organization-Id"] = self.organization_id
        for attempt in (1, 2):
            headers["Authorization"] = self.auth.header(self)
            try:
                return _request(method, url, allow_private=self.allow_private, timeout=self.timeout,
                                session=self.session, limit=limit, what=what, headers=headers, **kwargs)
            except FlowServiceError as e:
                # an OAuth2 token may have been revoked early: fetch a new one, once
                if e.http_status == 401 and attempt == 1 and isinstance(self.auth, ClientCredentials):
                    self.auth.forget()
                    continue
                raise
        raise AssertionError("unreachable")

    # --- flows ---------------------------------------------------------------------------------
    def submit_flow(self, data: bytes, *, name: str, syntax: str, profile: Optional[str] = None,
                    tracking_id: Optional[str] = None, processing_rule: Optional[str] = None,
                    content_type: Optional[str] = None) -> dict[str, Any]:
        """``POST /v1/flows``: the file with its ``flowInfo`` (``sha256`` computed here); the
        platform's answer (``FullFlowInfo``: ``flowId``, ``submittedAt``…)."""
        if syntax not in SYNTAXES:
            raise ValueError(f"flowSyntax {syntax!r} is not one of {', '.join(SYNTAXES)}")
        if profile is not None and profile not in PROFILES:
            raise ValueError(f"flowProfile {profile!r} is not one of {', '.join(PROFILES)}")
        if not name or len(name) > MAX_NAME:
            raise ValueError(f"a flow's name is 1 to {MAX_NAME} characters")
        info: dict[str, Any] = {"name": name, "flowSyntax": syntax, "sha256": hashlib.sha256(data).hexdigest()}
        if profile:
            info["flowProfile"] = profile
        if tracking_id is not None:
            info["trackingId"] = check_id(tracking_id, "trackingId")
        if processing_rule:
            info["processingRule"] = processing_rule
        media = content_type or ("application/pdf" if data[:5] == b"%PDF-" else "application/xml")
        files = {"flowInfo": (None, json.dumps(info, ensure_ascii=False).encode("utf-8"), "application/json"),
                 "file": (name, data, media)}
        resp = self._call("POST", "/v1/flows", files=files, what="flow submission")
        body = _json(resp, self.base_url + "/v1/flows")
        if not isinstance(body, dict) or not isinstance(body.get("flowId"), str):
            raise FlowServiceError(f"flow submission: HTTP {resp.status_code} without a flowId: "
                                   f"{_excerpt(resp.content)}", http_status=resp.status_code)
        check_id(body["flowId"])
        return body

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        """``GET /v1/flows/{flowId}``: the flow's metadata and acknowledgement (``Flow``)."""
        path = f"/v1/flows/{quote(check_id(flow_id), safe='')}"
        resp = self._call("GET", path, params={"docType": "Metadata"}, headers={"Accept": "application/json"},
                          what=f"flow {flow_id}")
        body = _json(resp, self.base_url + path)
        if not isinstance(body, dict):
            raise FlowServiceError(f"flow {flow_id}: the answer is not a Flow object", http_status=resp.status_code)
        return body

    def get_flow_file(self, flow_id: str, doc_type: str = "Original", *,
                      max_bytes: int = MAX_FILE) -> tuple[bytes, Optional[str], Optional[str]]:
        """``GET /v1/flows/{flowId}?docType=…``: ``(bytes, file name from Content-Disposition,
        content type)``, refused past ``max_bytes``."""
        if doc_type not in DOC_TYPES or doc_type == "Metadata":
            raise ValueError(f"docType {doc_type!r}: a file is one of Original, Converted, ReadableView")
        path = f"/v1/flows/{quote(check_id(flow_id), safe='')}"
        resp = self._call("GET", path, params={"docType": doc_type}, limit=max_bytes,
                          what=f"flow {flow_id} ({doc_type})")
        return resp.content, _filename(resp.headers.get("Content-Disposition")), \
            (resp.headers.get("Content-Type") or "").split(";")[0].strip() or None

    def search_page(self, where: Mapping[str, Any], *, limit: int = 25,
                    cursor: Optional[str] = None) -> tuple[list[dict[str, Any]], Optional[str]]:
        """One page of ``POST /v1/flows/search``: ``(flows, nextCursor or None)``."""
        if not where:
            raise ValueError("a flow search needs at least one criterion")
        body: dict[str, Any] = {"where": dict(where), "limit": max(1, min(int(limit), MAX_PAGE))}
        if cursor:
            body["cursor"] = cursor
        resp = self._call("POST", "/v1/flows/search", json=body, what="flow search")
        page = _json(resp, self.base_url + "/v1/flows/search")
        results = page.get("results") if isinstance(page, dict) else None
        if not isinstance(results, list):
            raise FlowServiceError("flow search: the answer has no results list", http_status=resp.status_code)
        nxt = page.get("nextCursor")
        return [r for r in results if isinstance(r, dict)], (nxt if isinstance(nxt, str) and nxt else None)

    def search_flows(self, *, updated_after: Optional[str] = None, flow_direction: Optional[Sequence[str]] = None,
                     flow_type: Optional[Sequence[str]] = None, ack_status: Optional[str] = None,
                     tracking_id: Optional[str] = None, limit: int = 25,
                     max_pages: int = 10) -> Iterator[dict[str, Any]]:
        """The flows matching every criterion given, page after page (``cursor``/``nextCursor``),
        at most ``max_pages`` pages (a cursor that never ends cannot hold us) and never the same
        cursor twice."""
        where: dict[str, Any] = {}
        if updated_after:
            where["updatedAfter"] = updated_after
        if flow_direction:
            where["flowDirection"] = list(flow_direction)
        if flow_type:
            where["flowType"] = list(flow_type)
        if ack_status:
            where["ackStatus"] = ack_status
        if tracking_id is not None:
            where["trackingId"] = check_id(tracking_id, "trackingId")
        cursor: Optional[str] = None
        seen: set[str] = set()
        for _ in range(max(1, max_pages)):
            flows, cursor = self.search_page(where, limit=limit, cursor=cursor)
            yield from flows
            if cursor is None or cursor in seen:
                return
            seen.add(cursor)

    def find_by_tracking_id(self, tracking_id: str) -> Optional[dict[str, Any]]:
        """The flow we submitted with ``tracking_id`` (the first the platform lists), or None."""
        for flow in self.search_flows(tracking_id=tracking_id, limit=MAX_PAGE, max_pages=3):
            if flow.get("trackingId") in (None, tracking_id) and isinstance(flow.get("flowId"), str):
                return flow
        return None

    # --- webhooks ------------------------------------------------------------------------------
    def create_webhook(self, callback_url: str, *, flow_types: Optional[Sequence[str]] = None,
                       flow_direction: Optional[str] = None, ack_status: Optional[str] = None) -> dict[str, Any]:
        """``POST /v1/webhooks``: ``{webhookId, signingKey, createdAt}`` (keep the key secret)."""
        body: dict[str, Any] = {"callbackUrl": callback_url}
        if flow_types:
            body["flowTypes"] = list(flow_types)
        if flow_direction:
            body["flowDirection"] = flow_direction
        if ack_status:
            body["ackStatus"] = ack_status
        resp = self._call("POST", "/v1/webhooks", json=body, what="webhook creation")
        made = _json(resp, self.base_url + "/v1/webhooks")
        if not isinstance(made, dict) or not isinstance(made.get("webhookId"), str) \
                or not isinstance(made.get("signingKey"), str) or not made["signingKey"]:
            raise FlowServiceError("webhook creation: the answer lacks webhookId or signingKey",
                                   http_status=resp.status_code)
        check_id(made["webhookId"], "webhookId")
        return made

    def list_webhooks(self) -> list[dict[str, Any]]:
        """``GET /v1/webhooks``: the webhooks the owner of our token created."""
        resp = self._call("GET", "/v1/webhooks", what="webhook list")
        body = _json(resp, self.base_url + "/v1/webhooks")
        hooks = body.get("webhooks") if isinstance(body, dict) else None
        return [h for h in hooks if isinstance(h, dict)] if isinstance(hooks, list) else []

    def delete_webhook(self, webhook_id: str) -> None:
        """``DELETE /v1/webhooks/{webhookUid}``."""
        self._call("DELETE", f"/v1/webhooks/{quote(check_id(webhook_id, 'webhookId'), safe='')}",
                   what=f"webhook {webhook_id} removal")


def _filename(disposition: Optional[str]) -> Optional[str]:
    if not disposition:
        return None
    m = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition, re.IGNORECASE)
    if not m:
        return None
    name = m.group(1).strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name[:MAX_NAME] or None


def acknowledgement(flow: Mapping[str, Any]) -> tuple[str, str]:
    """A flow's acknowledgement as ``(status, what its details say)``: ``Pending`` when absent."""
    ack = flow.get("acknowledgement") if isinstance(flow, Mapping) else None
    status = ack.get("status") if isinstance(ack, Mapping) else None
    status = status if status in ACK_STATUSES else "Pending"
    said = []
    for d in (ack.get("details") if isinstance(ack, Mapping) else None) or []:
        if isinstance(d, Mapping):
            said.append(" ".join(str(d.get(k)) for k in ("level", "reasonCode") if d.get(k))
                        + (f" on {d['item']}" if d.get("item") else "")
                        + (f": {d['reasonMessage']}" if d.get("reasonMessage") else ""))
    return status, "; ".join(said)[:2000]


# --- webhook signatures -------------------------------------------------------------------------

def _keys(key: Union[str, bytes]) -> list[bytes]:
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    keys = [raw]
    try:
        decoded = base64.b64decode(raw, validate=True)
        if decoded and decoded != raw:
            keys.insert(0, decoded)
    except (binascii.Error, ValueError):
        pass
    return keys


def _messages(body: bytes, timestamp: str) -> list[bytes]:
    joined = body + b"@" + timestamp.encode("ascii")
    digest = hashlib.sha256(joined)
    return [digest.digest(), digest.hexdigest().encode("ascii"), joined]


def sign_webhook(body: bytes, key: Union[str, bytes], timestamp: Optional[int] = None) -> dict[str, str]:
    """The headers a platform sends with a callback: ``Afnor-Signature`` (base64 HMAC-SHA-256 of
    the hexadecimal SHA-256 of ``body@timestamp``, keyed with the key's decoded bytes) and
    ``Afnor-Signature-Timestamp``."""
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    mac = hmac.new(_keys(key)[0], _messages(body, ts)[1], hashlib.sha256).digest()
    return {"Afnor-Signature": base64.b64encode(mac).decode("ascii"), "Afnor-Signature-Timestamp": ts}


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def verify_webhook_signature(body: bytes, headers: Mapping[str, str], key: Union[str, bytes], *,
                             max_skew: int = DEFAULT_SKEW, now: Optional[float] = None) -> int:
    """Check a callback's ``Afnor-Signature`` over ``body`` (the bytes as received) and its
    timestamp (within ``max_skew`` seconds of ``now``); returns the timestamp. Raises
    ``WebhookSignatureError`` saying what is wrong (unsigned, malformed, stale, mismatch)."""
    if not key:
        raise WebhookSignatureError("no signing key on record for this webhook")
    signature = _header(headers, "Afnor-Signature")
    stamp = _header(headers, "Afnor-Signature-Timestamp")
    if not signature:
        raise WebhookSignatureError("unsigned callback (no Afnor-Signature)")
    if not stamp or not stamp.strip().isdigit() or len(stamp.strip()) > 19:
        raise WebhookSignatureError("no usable Afnor-Signature-Timestamp (epoch seconds)")
    stamp = stamp.strip()
    moment = int(stamp)
    now = time.time() if now is None else now
    if abs(now - moment) > max_skew:
        raise WebhookSignatureError(f"Afnor-Signature-Timestamp {moment} is more than {max_skew} s from our clock "
                                    "(a late or replayed callback)")
    try:
        given = base64.b64decode(signature.strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise WebhookSignatureError("Afnor-Signature is not base64") from None
    if len(given) != hashlib.sha256().digest_size:
        raise WebhookSignatureError("Afnor-Signature is not an HMAC-SHA-256")
    ok = False
    for k in _keys(key):
        for message in _messages(body, stamp):
            ok |= hmac.compare_digest(hmac.new(k, message, hashlib.sha256).digest(), given)
    if not ok:
        raise WebhookSignatureError("Afnor-Signature does not match the body and timestamp")
    return moment


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID.match(value))
