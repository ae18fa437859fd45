"""The response headers every HTML page of ours carries (operator pages, portal, onboarding).

A strict Content Security Policy (no script at all, styles and images from us only, forms
posted to us only, never framed), no MIME sniffing, and no caching of pages that show
business data. Registered by each page blueprint with ``bp.after_request(page_headers)``
(``public_page_headers`` for pages whose URL holds a credential), so the pages cannot
drift apart.
"""
from __future__ import annotations

from flask import Response

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def page_headers(response: Response) -> Response:
    """Set the page headers a view has not set itself (a view may, e.g., a stricter Referrer-Policy)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def public_page_headers(response: Response) -> Response:
    """``page_headers`` for pages whose URL carries a token (a signed link): never a Referer."""
    response.headers["Referrer-Policy"] = "no-referrer"
    return page_headers(response)
