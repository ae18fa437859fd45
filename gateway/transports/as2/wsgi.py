"""An AS2 endpoint as a WSGI application (for tests now, mounted in the web app later).

``As2Endpoint`` bundles what one AS2 URL needs (identities, partners, the store,
the duplicate check, where async MDNs for our own messages go); ``wsgi_app``
turns a WSGI request into ``receive`` / ``receive_mdn`` and the result back into
a response. Asynchronous MDNs we owe are posted only after our HTTP response has
been written (from the response iterable's ``close``), by a small background
sender with a few retries; a durable job queue replaces it in the server.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Optional

from . import files
from ._mime import looks_like_mdn, raw_message
from .config import As2Identity, As2Partner
from .inbound import DEFAULT_MAX_BYTES, InboundResult, OutgoingMdn, receive, send_async_mdn
from .mdn import MdnResult, receive_mdn
from .outbound import As2SendError

log = logging.getLogger("edigate.as2")

#: Bodies above this are spooled to disk and opened from there (when the endpoint has a spool dir).
SPOOL_OVER = 8 * 1024 * 1024


def _by_name(items, attr="as2_name"):
    if items is None:
        return {}
    if hasattr(items, "get") and not isinstance(items, (list, tuple)):
        return items
    return {getattr(i, attr): i for i in items}


class BackgroundMdnSender:
    """Posts asynchronous MDNs from a thread pool: ``delay`` seconds after the response (a sender
    may still be recording that it awaits the MDN: django-pyas2 does, after the HTTP response),
    then up to 3 attempts, 1 s and 4 s apart. Not durable: the server uses a job queue."""

    def __init__(self, workers: int = 2, attempts: int = 3, delays: tuple = (1.0, 4.0),
                 timeout=(10, 60), delay: float = 1.0):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="as2-async-mdn")
        self.attempts, self.delays, self.timeout, self.delay = attempts, delays, timeout, delay
        self.futures: list[Future] = []
        self._lock = threading.Lock()

    def __call__(self, mdn: OutgoingMdn) -> Future:
        fut = self._pool.submit(self._deliver, mdn)
        with self._lock:
            self.futures.append(fut)
        return fut

    def _deliver(self, mdn: OutgoingMdn) -> int:
        if self.delay:
            time.sleep(self.delay)
        for attempt in range(self.attempts):
            try:
                return send_async_mdn(mdn, timeout=self.timeout)
            except As2SendError as e:
                log.warning("async MDN for %s to %s: attempt %d failed: %s",
                            mdn.original_message_id, mdn.url, attempt + 1, e)
                if not e.retryable or attempt + 1 >= self.attempts:
                    raise
                time.sleep(self.delays[min(attempt, len(self.delays) - 1)])
        raise AssertionError("unreachable")

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


class As2Endpoint:
    """One AS2 URL: inbound messages, and asynchronous MDNs for what we sent.

    ``on_inbound(result)`` sees every ``InboundResult`` (to keep the MDN, log, count);
    ``find_outbound(message_id)`` / ``on_mdn(result)`` serve asynchronous MDNs;
    ``async_mdn_sender(mdn)`` posts the MDNs we owe (default: ``BackgroundMdnSender``).
    ``on_answered(result)`` runs once the HTTP response is written (work that must not delay
    the answer, and that a crash may lose: e.g. prompting a job a sweep would also find).
    ``spool_dir``: a request body over ``spool_over`` bytes is written there as it arrives and
    its layers opened from files (memory stays bounded whatever the size); without it, bodies
    are read into memory.
    """

    def __init__(self, *, identities, partners, store: Callable[[bytes, dict], None],
                 is_duplicate: Callable[[str], bool],
                 find_outbound: Optional[Callable[[str], object]] = None,
                 on_mdn: Optional[Callable[[MdnResult], None]] = None,
                 on_inbound: Optional[Callable[[InboundResult], None]] = None,
                 async_mdn_sender: Optional[Callable[[OutgoingMdn], object]] = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, spool_dir=None, spool_over: int = SPOOL_OVER,
                 on_answered: Optional[Callable[[InboundResult], None]] = None):
        self.identities = _by_name(identities)
        self.partners = _by_name(partners)
        self.store, self.is_duplicate = store, is_duplicate
        self.find_outbound, self.on_mdn, self.on_inbound = find_outbound, on_mdn, on_inbound
        self.async_mdn_sender = async_mdn_sender or BackgroundMdnSender()
        self.max_bytes = max_bytes
        self.spool_dir, self.spool_over = spool_dir, spool_over
        self.on_answered = on_answered

    def receive(self, headers, body) -> InboundResult:
        result = receive(headers, body, identities=self.identities, partners=self.partners,
                         is_duplicate=self.is_duplicate, store=self.store, max_bytes=self.max_bytes)
        if self.on_inbound:
            try:
                self.on_inbound(result)
            except Exception:
                log.exception("on_inbound hook failed for %s", result.message_id)
        return result

    def after_response(self, result) -> None:
        """Called once the HTTP response is written: post the async MDN we owe, if any; then
        ``on_answered``."""
        mdn = getattr(result, "pending_mdn", None)
        if mdn is not None:
            self.async_mdn_sender(mdn)
        if self.on_answered is not None:
            self.on_answered(result)

    def receive_mdn(self, headers, body) -> MdnResult:
        if self.find_outbound is None:
            result = MdnResult(delivered=False, known_original=False,
                               error="this endpoint takes no MDNs")
        else:
            result = receive_mdn(headers, body, find_outbound=self.find_outbound)
        if self.on_mdn:
            try:
                self.on_mdn(result)
            except Exception:
                log.exception("on_mdn hook failed for %s", result.original_message_id)
        return result


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


def environ_headers(environ) -> list[tuple[str, str]]:
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        if value == "" and key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        out.append(("-".join(p.capitalize() for p in name.split("_")), value))
    return out


class _Body:
    """Response iterable whose ``close`` (called by the server after the response is sent)
    runs the after-response work."""

    def __init__(self, data: bytes, after: Optional[Callable[[], None]] = None):
        self._data, self._after = data, after

    def __iter__(self) -> Iterable[bytes]:
        yield self._data

    def close(self) -> None:
        if self._after is not None:
            after, self._after = self._after, None
            try:
                after()
            except Exception:
                log.exception("after-response work failed")


def _stream(stream, n: Optional[int]):
    """The body's chunks: ``n`` bytes, or to the end of a terminated input."""
    left = n
    while left is None or left > 0:
        chunk = stream.read(1 << 20 if left is None else min(left, 1 << 20))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


def _read(environ, limit: int, spool_over: Optional[int] = None, spool_dir=None):
    """The body as bytes, or spooled to a file (``files.Spool``) when over ``spool_over`` and
    ``spool_dir`` is set; or an HTTP error code."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        try:
            n = int(length)
        except ValueError:
            return None, 400
        if n > limit:
            return None, 413
        chunks = _stream(stream, n)
    elif environ.get("wsgi.input_terminated"):
        n, chunks = None, _stream(stream, None)
    elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None, 411
    else:
        return b"", None
    held, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None, 413
        held.append(chunk)
        if spool_dir is not None and spool_over is not None and size > spool_over:
            head = raw_message(environ_headers(environ), b"")
            spooled = files.spool(head, itertools.chain(held, chunks), limit, files.Scratch(spool_dir))
            return (spooled, None) if spooled is not None else (None, 413)
    return b"".join(held), None


def wsgi_app(receiver: As2Endpoint, *, mdn_path: Optional[str] = None):
    """A WSGI application serving ``receiver`` on any path. A POST to ``mdn_path`` — or any
    POST whose body is an MDN (multipart/report, possibly signed) — is an asynchronous MDN."""
    limit = getattr(receiver, "max_bytes", DEFAULT_MAX_BYTES)

    def app(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()

        def plain(code: int, text: str, extra=()):
            start_response(f"{code} {_REASONS.get(code, 'Error')}",
                           [("Content-Type", "text/plain; charset=utf-8"), *extra])
            return [text.encode() + b"\n"]

        if method in ("GET", "HEAD"):
            return plain(200, "edigate AS2 endpoint: POST AS2 messages here")
        if method != "POST":
            return plain(405, "only POST", [("Allow", "POST, GET")])
        body, err = _read(environ, limit, getattr(receiver, "spool_over", None),
                          getattr(receiver, "spool_dir", None))
        if err:
            return plain(err, {400: "bad Content-Length", 411: "Content-Length required",
                               413: f"message over the limit of {limit} bytes"}[err])
        headers = environ_headers(environ)
        path = environ.get("PATH_INFO", "")
        spooled = body if isinstance(body, files.Spool) else None
        try:
            if spooled is not None:
                if (mdn_path and path == mdn_path) or looks_like_mdn(headers, spooled.body.head(65536)):
                    return plain(413, "an MDN this large is not one we read")
            elif (mdn_path and path == mdn_path) or looks_like_mdn(headers, body):
                result = receiver.receive_mdn(headers, body)
                if not result.known_original:
                    return plain(404 if result.original_message_id else 400, result.error or "unknown MDN")
                return plain(200, f"MDN received: {result.status}")
            try:
                result = receiver.receive(headers, body)
            except Exception as e:          # receive() does not raise on bad input: this is our bug
                log.exception("AS2 receive crashed")
                return plain(500, f"internal error: {type(e).__name__}")
        finally:
            if spooled is not None:         # what is kept was linked into the payload store
                spooled.scratch.cleanup()
        code = result.http_status
        start_response(f"{code} {_REASONS.get(code, 'Error')}",
                       [(k, v) for k, v in result.response_headers]
                       + [("Content-Length", str(len(result.response_body)))])
        answered = getattr(receiver, "on_answered", None) is not None
        after = ((lambda: receiver.after_response(result)) if result.pending_mdn is not None or answered
                 else None)
        return _Body(result.response_body, after)

    return app


__all__ = ["As2Endpoint", "BackgroundMdnSender", "wsgi_app", "environ_headers",
           "As2Identity", "As2Partner"]
