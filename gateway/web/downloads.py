"""Stored bytes as downloads: an exchange's raw message, content and MDN; a document's
original and renderings. Used by the API (tokens) and the pages (login session) alike;
authentication is the caller's business.

Every download is an attachment with ``X-Content-Type-Options: nosniff`` and a
sandboxing CSP: the bytes come from partners, and an HTML or SVG "invoice" must
never run as a page of the operator console. File names are built from invoice
numbers and partner-given names, so they are reduced to ``[A-Za-z0-9._-]``.
The payload's SHA-256 (its store key) is the ETag.
"""
from __future__ import annotations

import mimetypes
from typing import Optional

from flask import Response, send_file
from werkzeug.exceptions import NotFound

from .. import syntaxes
from ..db import DocumentRecord, Exchange, RenderingRecord
from ..store.filenames import safe_filename
from ..store.payloads import PayloadNotFound
from .kit.current import gateway
from .kit.errors import PayloadMissing

_MEDIA_EXTENSIONS = {"application/pdf": ".pdf", "text/csv": ".csv", "application/xml": ".xml",
                     "text/xml": ".xml", "application/edifact": ".edi"}
# What a download is ever served as (the API's description lists exactly these): the syntaxes
# the gateway reads and writes, JSON, plain text; anything else — a media type a partner
# declared, a guess from a file name — goes out as application/octet-stream.
MEDIA_TYPES = ("application/xml", "text/xml", "application/pdf", "text/csv", "application/edifact",
               "application/json", "text/plain", "application/octet-stream")


def served_type(declared: Optional[str]) -> str:
    """``declared`` (``application/EDIFACT``, ``text/csv; charset=utf-8``) as one of ``MEDIA_TYPES``."""
    value = (declared or "").split(";")[0].strip().lower()
    return value if value in MEDIA_TYPES else "application/octet-stream"


def basename(path: Optional[str]) -> str:
    """The last part of a partner-given path (``/in/acme/inv.xml`` → ``inv.xml``)."""
    return (path or "").replace("\\", "/").rsplit("/", 1)[-1]


def extension(syntax: str, media_type: str) -> str:
    """The file extension of a rendering: its flavour's, else its media type's, else ``.bin``."""
    return syntaxes.extension(syntax) or _MEDIA_EXTENSIONS.get(media_type.split(";")[0].strip().lower()) or ".bin"


def payload_response(key: Optional[str], *, filename: str, media_type: str = "application/octet-stream",
                     missing: str = "no such payload") -> Response:
    """The payload ``key`` streamed as an attachment; ``NotFound(missing)`` when there is no key."""
    if not key:
        raise NotFound(missing)
    try:
        f = gateway().payloads.open(key)
    except PayloadNotFound:
        raise PayloadMissing(f"payload {key} is missing from the payload store") from None
    response = send_file(f, mimetype=served_type(media_type), as_attachment=True, download_name=filename,
                         conditional=False, etag=False, max_age=0)
    response.set_etag(key)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _exchange(exchange_id: int) -> Exchange:
    with gateway().session() as s:
        ex = s.get(Exchange, exchange_id)
    if ex is None:
        raise NotFound(f"no exchange {exchange_id}")
    return ex


def exchange_raw(exchange_id: int) -> Response:
    """The message as received or sent (AS2: headers and body)."""
    ex = _exchange(exchange_id)
    return payload_response(ex.payload_key, filename=f"exchange-{ex.id}.raw",
                            missing=f"exchange {ex.id} has no raw message stored")


def _content(ex: Exchange, stem: str) -> Response:
    name = safe_filename(basename(ex.filename), f"{stem}.bin")
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return payload_response(ex.content_sha256, filename=name, media_type=guessed,
                            missing=f"exchange {ex.id} has no content stored")


def exchange_content(exchange_id: int) -> Response:
    """The business content once unwrapped (decrypted, verified, decompressed)."""
    ex = _exchange(exchange_id)
    return _content(ex, f"exchange-{ex.id}")


def exchange_mdn(exchange_id: int) -> Response:
    ex = _exchange(exchange_id)
    return payload_response(ex.mdn_payload_key, filename=f"exchange-{ex.id}-mdn.raw",
                            missing=f"exchange {ex.id} has no MDN stored")


def document_original(document_id: int) -> Response:
    """The file the document was read from: its exchange's content."""
    with gateway().session() as s:
        doc = s.get(DocumentRecord, document_id)
        if doc is None:
            raise NotFound(f"no document {document_id}")
        ex = doc.exchange
    return _content(ex, f"document-{document_id}")


def document_rendering(document_id: int, rendering_id: int) -> Response:
    """One rendering of one document, named ``<invoice number>.<ext>``."""
    with gateway().session() as s:
        r = s.get(RenderingRecord, rendering_id)
        if r is None or r.document_id != document_id:
            raise NotFound(f"document {document_id} has no rendering {rendering_id}")
        number = r.document.number
    name = safe_filename(number, f"document-{document_id}") + extension(r.syntax, r.media_type)
    return payload_response(r.payload_key, filename=name, media_type=r.media_type,
                            missing=f"rendering {rendering_id} has no payload")
