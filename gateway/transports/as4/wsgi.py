"""An AS4 endpoint as a WSGI application: a POST in, ``inbound.receive``, the signal out.

``As4Endpoint`` bundles what one AS4 URL needs (our identity, how partners are
found, the duplicate lookup, the store, the payload check, an ``on_inbound`` hook
that records what happened). The body is read within ``max_bytes`` (a larger
Content-Length is refused before a byte is read; chunked bodies are counted
while read) into a ``spool.Spooled``: in memory while small, in a temporary file
beyond, let go once the answer is made.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from .config import As4Identity
from .errors import As4Refusal
from .inbound import DEFAULT_MAX_BYTES, InboundResult, receive
from .signals import error_signal
from .spool import CHUNK, Spooled

log = logging.getLogger("edigate.as4")

_REASONS = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed", 411: "Length Required",
            413: "Content Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


class As4Endpoint:
    def __init__(self, *, identity: Callable[[], As4Identity] | As4Identity, find_partner, find_duplicate,
                 store, check=None, on_inbound: Optional[Callable[[InboundResult], None]] = None,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        self._identity = identity
        self.find_partner, self.find_duplicate, self.store, self.check = find_partner, find_duplicate, store, check
        self.on_inbound, self.max_bytes = on_inbound, max_bytes

    @property
    def identity(self) -> As4Identity:
        return self._identity() if callable(self._identity) else self._identity

    def receive(self, headers, body) -> InboundResult:
        result = receive(headers, body, identity=self.identity, find_partner=self.find_partner,
                         find_duplicate=self.find_duplicate, store=self.store, check=self.check,
                         max_bytes=self.max_bytes)
        if self.on_inbound is not None:
            try:
                self.on_inbound(result)
            except Exception:
                log.exception("AS4 on_inbound hook failed for %s", result.message_id)
        return result


def _read(environ, limit: int) -> tuple[Optional[Spooled], Optional[int]]:
    """The request body spooled (in memory while small, a temporary file beyond), or an HTTP
    status to refuse with."""
    stream = environ["wsgi.input"]
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if length:
        if not length.isdigit():
            return None, 400
        n = int(length)
        if n > limit:
            return None, 413
    elif not environ.get("wsgi.input_terminated"):
        return None, 411
    else:
        n = None
    body = Spooled()
    try:
        while n is None or body.size < n:
            chunk = stream.read(CHUNK if n is None else min(n - body.size, CHUNK))
            if not chunk:
                break
            body.write(chunk)
            if body.size > limit:
                body.close()
                return None, 413
    except BaseException:
        body.close()
        raise
    return body, None


def wsgi_app(endpoint: As4Endpoint):
    def app(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()

        def answer(code: int, body: bytes, ctype: str):
            start_response(f"{code} {_REASONS.get(code, 'Error')}",
                           [("Content-Type", ctype), ("Content-Length", str(len(body)))])
            return [body]

        if method in ("GET", "HEAD"):
            return answer(200, b"edigate AS4 endpoint (Peppol): POST AS4 messages here\n", "text/plain; charset=utf-8")
        if method != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST, GET"), ("Content-Type", "text/plain")])
            return [b"only POST\n"]
        body, err = _read(environ, endpoint.max_bytes)
        if err:
            refusal = As4Refusal("EBMS:0004", {400: "bad Content-Length", 411: "Content-Length required",
                                               413: f"message over the limit of {endpoint.max_bytes} bytes"}[err])
            return answer(err, error_signal(endpoint.identity, refusal, None)[1], "application/soap+xml; charset=utf-8")
        headers = [("Content-Type", environ.get("CONTENT_TYPE", ""))] + [
            (k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
        try:
            result = endpoint.receive(headers, body)
        except Exception as e:              # receive() does not raise on bad input: this is our bug
            log.exception("AS4 receive crashed")
            return answer(500, f"internal error: {type(e).__name__}\n".encode(), "text/plain; charset=utf-8")
        finally:
            body.close()
        result.close()
        return answer(result.http_status, result.response_body, result.response_type)

    return app
