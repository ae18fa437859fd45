"""Why a campaign mail could not be sent, as a reason staff can act on.

The transport (``gateway.transports.smtp``) says what the server or the socket said, in the
words of SMTP and of Python (``[Errno 111] Connection refused``, ``every recipient refused:
…``); staff need what failed and what to do. ``classify`` turns the error into a reason of
``onboarding.reasons`` (a code and its values, worded in the reader's language); the original
text is kept beside it as the technical detail.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Optional

from gateway.model.problems import Problem
from gateway.transports.smtp import SmtpError

from .reasons import reason


def _causes(exc: BaseException):
    seen = 0
    while exc is not None and seen < 10:            # bounded: a cause chain is short
        yield exc
        exc = exc.__cause__ or exc.__context__
        seen += 1


def classify(exc: Optional[BaseException], server: str) -> Problem:
    """The reason for ``exc`` (an ``SmtpError`` and its cause) when sending through ``server``
    (``host:port``); ``None``: the mail could not be written."""
    if exc is None:
        return reason("mail_not_built")
    causes = list(_causes(exc))
    if isinstance(exc, SmtpError) and exc.refused:
        address, reply = next(iter(exc.refused.items()))
        return reason("mail_recipient_refused", server=server, address=address, reply=reply)
    if any(isinstance(c, smtplib.SMTPAuthenticationError) for c in causes):
        return reason("mail_login", server=server)
    if any(isinstance(c, ssl.SSLError) for c in causes) or "STARTTLS" in str(exc):
        return reason("mail_tls", server=server)
    if any(isinstance(c, (socket.timeout, TimeoutError)) for c in causes):
        return reason("mail_timeout", server=server)
    if any(isinstance(c, (ConnectionRefusedError, socket.gaierror)) for c in causes):
        return reason("mail_unreachable", server=server)
    if any(isinstance(c, (smtplib.SMTPServerDisconnected, ConnectionError)) for c in causes):
        return reason("mail_lost", server=server)
    if isinstance(exc, SmtpError) and exc.code:
        return reason("mail_refused", server=server, reply=str(exc.code))
    return reason("mail_failed", server=server)
