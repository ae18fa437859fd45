"""AS4 (ebMS 3, Peppol AS4 profile ``peppol-transport-as4-v2_0``): bytes and partners, nothing about invoices.

    from gateway.transports.as4 import (As4Identity, As4Partner, Addressing, build, send,
                                        receive, As4Endpoint, wsgi_app)

* outbound: ``build(payload, identity=…, partner=…, addressing=…, message_id=…)`` →
  ``OutboundMessage`` (gzip, signed, AES-128-GCM encrypted); ``send(outbound)`` →
  ``SignalResult`` (the Receipt checked: signature, our MessageId, our digests) or
  ``As4SendError``;
* inbound: ``receive(headers, body, identity=…, find_partner=…, find_duplicate=…,
  store=…, check=…)`` → ``InboundResult`` with the Receipt or Error signal to answer;
* ``wsgi_app(As4Endpoint(...))`` serves it over HTTP.

One module per job: ``ns`` (namespaces, algorithms, the Peppol processing mode),
``errors`` (ebMS error codes), ``config``, ``wss`` (signatures), ``xenc``
(encryption), ``message`` (UserMessage and MIME), ``signals`` (Receipt, Error),
``inbound``, ``freshness`` (how old a new message may be), ``spool`` (a large
message read from a temporary file, never whole in memory), ``outbound``, ``wsgi``.
Written by hand on lxml and cryptography: the ``as4`` package on PyPI was checked
and not used (see ``tests/peers/as4_lib.py``).
"""
from .config import As4Identity, As4Partner
from .errors import CODES, PEPPOL_NOT_SERVICED, As4Refusal
from .inbound import DEFAULT_MAX_BYTES, DuplicateMessage, InboundResult, inflate, receive
from .message import Addressing, Envelope, read_envelope
from .outbound import As4SendError, OutboundMessage, build, send
from .signals import SignalResult, check_signal
from .wsgi import As4Endpoint, wsgi_app

__all__ = ["As4Identity", "As4Partner", "CODES", "PEPPOL_NOT_SERVICED", "As4Refusal", "DEFAULT_MAX_BYTES",
           "DuplicateMessage", "InboundResult", "inflate", "receive", "Addressing", "Envelope", "read_envelope",
           "As4SendError", "OutboundMessage", "build", "send", "SignalResult", "check_signal", "As4Endpoint",
           "wsgi_app"]
