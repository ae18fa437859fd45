"""The PDF rendering process: HTML in, PDF out, under a memory cap (run by ``render.py``).

Run as ``python -I pdf_child.py MAX_MEMORY_BYTES``; it imports nothing of
edigate (only the standard library and WeasyPrint), so a rendering that goes
wrong can only take this process down, never the gateway. The address space is
capped with ``RLIMIT_AS`` before anything else is loaded; the parent kills the
process when a rendering outlasts its time cap.

Protocol on stdin/stdout, one request at a time, until stdin closes:

    request   u32 length + JSON {"variant": "pdf/a-3b" | null, "base_url": str, "max_pages": int}
              u64 length + the HTML (UTF-8)
    response  u32 length + JSON {"ok": bool, "pages": int, "limit": str, "message": str, "rss": int}
              u64 length + the PDF (empty when not ok)

``limit`` names the cap a failed rendering hit ("pages", "memory") or is
"error" for anything else, with the message.
"""
from __future__ import annotations

import json
import logging
import os
import resource
import struct
import sys
from typing import Any, BinaryIO, Optional


def _read_exact(stream: BinaryIO, n: int) -> Optional[bytes]:
    """``n`` bytes, or None at end of input (the parent closed the pipe)."""
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_request(stream: BinaryIO) -> Optional[tuple[dict, str]]:
    head = _read_exact(stream, 4)
    if head is None:
        return None
    header = json.loads(_read_exact(stream, struct.unpack(">I", head)[0]) or b"{}")
    size = struct.unpack(">Q", _read_exact(stream, 8) or b"\0" * 8)[0]
    html = (_read_exact(stream, size) or b"").decode("utf-8")
    return header, html


def _send(stream: BinaryIO, header: dict, pdf: bytes = b"") -> None:
    body = json.dumps(header).encode("utf-8")
    stream.write(struct.pack(">I", len(body)) + body + struct.pack(">Q", len(pdf)))
    stream.write(pdf)
    stream.flush()


def _no_fetch(url: str, *args: Any, **kwargs: Any):
    raise ValueError(f"the invoice renderer fetches no external resource ({url[:80]!r})")


def _render(html_class, header: dict, html: str) -> tuple[dict, bytes]:
    options: dict[str, Any] = {"uncompressed_pdf": False}
    if header.get("variant"):
        options["pdf_variant"] = header["variant"]
    document = html_class(string=html, base_url=header.get("base_url"), url_fetcher=_no_fetch).render(**options)
    pages = len(document.pages)
    max_pages = int(header.get("max_pages") or 0)
    if max_pages and pages > max_pages:
        return {"ok": False, "limit": "pages", "pages": pages,
                "message": f"{pages} pages, more than the {max_pages} accepted"}, b""
    return {"ok": True, "pages": pages}, document.write_pdf(**options)


def main(argv: list[str]) -> int:
    limit = int(argv[1]) if len(argv) > 1 else 0
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # the protocol owns the real stdout; anything a library prints goes to stderr
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    stdin = sys.stdin.buffer
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    from weasyprint import HTML
    while True:
        request = _read_request(stdin)
        if request is None:
            return 0
        header, html = request
        try:
            reply, pdf = _render(HTML, header, html)
        except MemoryError:
            reply, pdf = {"ok": False, "limit": "memory", "message": "out of memory"}, b""
        except RecursionError:
            reply, pdf = {"ok": False, "limit": "error", "message": "the page nests too deeply to lay out"}, b""
        except Exception as exc:     # noqa: BLE001 - reported to the parent, never a traceback on a pipe
            reply, pdf = {"ok": False, "limit": "error", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}, b""
        del html
        reply["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        _send(out, reply, pdf)
        if reply.get("limit") == "memory":
            return 0                  # a process that ran out of memory is not reused


if __name__ == "__main__":
    sys.exit(main(sys.argv))
