"""AS2 (RFC 4130) transport: bytes and partners, nothing about invoices.

    from gateway.transports.as2 import (As2Identity, As2Partner, receive, build, send,
                                        check_mdn, receive_mdn, As2Endpoint, wsgi_app)

* inbound:  ``receive(headers, body, identities=…, partners=…, is_duplicate=…, store=…)``
  → ``InboundResult`` (status, disposition, payload, MDN to answer or to post);
* outbound: ``build(payload, filename, content_type, identity=…, partner=…)`` →
  ``OutboundMessage``; ``send(outbound)`` → ``MdnResult`` | ``AwaitingAsyncMdn``;
  ``check_mdn(headers, body, outbound)`` → ``MdnResult``;
* asynchronous MDNs: ``receive_mdn(headers, body, find_outbound=…)`` (theirs for our
  messages), ``send_async_mdn(mdn)`` (ours for theirs);
* ``wsgi_app(As2Endpoint(...))`` serves it all over HTTP.

``compat`` is imported first: it lets oscrypto (under pyas2lib) load against
OpenSSL 3.0.x with a two-digit patch level.
"""
from . import compat  # noqa: F401  (must come before anything importing pyas2lib)
from .config import (As2Identity, As2Partner, ConfigError, DIGESTS, ENCRYPTIONS, micalg,
                     normalize_digest)
from .inbound import (DEFAULT_MAX_BYTES, DuplicateMessage, InboundResult, OutgoingMdn, mdn_url_policy,
                      receive, send_async_mdn)
from .mdn import Disposition, MdnResult, check_mdn, parse_disposition, receive_mdn
from .outbound import As2SendError, AwaitingAsyncMdn, OutboundMessage, build, send
from .wsgi import As2Endpoint, BackgroundMdnSender, wsgi_app

__all__ = [
    "As2Identity", "As2Partner", "ConfigError", "DIGESTS", "ENCRYPTIONS", "micalg", "normalize_digest",
    "DEFAULT_MAX_BYTES", "DuplicateMessage", "InboundResult", "OutgoingMdn", "mdn_url_policy", "receive",
    "send_async_mdn",
    "Disposition", "MdnResult", "check_mdn", "parse_disposition", "receive_mdn",
    "As2SendError", "AwaitingAsyncMdn", "OutboundMessage", "build", "send",
    "As2Endpoint", "BackgroundMdnSender", "wsgi_app",
]
