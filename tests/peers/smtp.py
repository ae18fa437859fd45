"""A real SMTP server on loopback for the tests: aiosmtpd, in a thread of the test process.

    with SmtpServer() as smtp:                      # or the ``smtp_server`` fixture
        ... send to smtp.url ...
        msg = smtp.wait_for(lambda m: m["To"] == "a@example.com")

Every accepted message is kept, parsed (``email.message.EmailMessage``) with its
envelope. ``refuse`` maps recipient addresses to a reply ("550 5.1.1 no such
user"): those RCPT TO are refused, as a real server refuses an unknown mailbox.
``tls=True`` offers STARTTLS with a self-signed certificate (``ca_file`` to
trust it); ``auth`` = (user, password) requires AUTH LOGIN/PLAIN.
"""
from __future__ import annotations

import datetime as dt
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.support.ports import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    at: float


class _Handler:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.server.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.server.fail_data:
            return self.server.fail_data
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self.server._cond:
            self.server.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                                 envelope.content, msg, time.time()))
            self.server._cond.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, *, tls: bool = False, auth: Optional[tuple[str, str]] = None):
        self.port = free_port()
        self.messages: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.fail_data: Optional[str] = None       # e.g. "451 4.3.0 try later" for every DATA
        self._cond = threading.Condition()
        self._tls, self._auth = tls, auth
        self._tmp = tempfile.TemporaryDirectory(prefix="smtp-")
        self.ca_file: Optional[str] = None
        self._controller = None

    @property
    def url(self) -> str:
        user = f"{self._auth[0]}:{self._auth[1]}@" if self._auth else ""
        query = "?starttls=required" if self._tls else "?starttls=off"
        return f"smtp://{user}127.0.0.1:{self.port}{query}"

    def _tls_context(self) -> ssl.SSLContext:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        d = Path(self._tmp.name)
        (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
        self.ca_file = str(d / "cert.pem")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
        return ctx

    def start(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller

        kwargs: dict = {}
        if self._tls:
            kwargs.update(tls_context=self._tls_context(), require_starttls=True)
        if self._auth:
            user, password = self._auth

            def authenticator(server, session, envelope, mechanism, auth_data):
                from aiosmtpd.smtp import AuthResult
                ok = (getattr(auth_data, "login", b"") == user.encode()
                      and getattr(auth_data, "password", b"") == password.encode())
                return AuthResult(success=ok)

            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=self._tls)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self._tmp.cleanup()

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def to(self, address: str) -> list[Received]:
        """The messages whose envelope went to ``address``."""
        with self._cond:
            return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, match: Callable[[Received], bool] = lambda m: True, *, count: int = 1,
                 timeout: float = 30.0) -> list[Received]:
        """Wait until ``count`` received messages match; returns them (raises AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if match(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} expected mail(s) arrived within {timeout}s "
                                         f"({len(self.messages)} in all)")
                self._cond.wait(left)


@pytest.fixture
def smtp_server():
    """A fresh server per test, not one per session: it starts in milliseconds, and a test's
    mailbox, refusals and failures are then its own (no mail of an earlier test arrives late)."""
    with SmtpServer() as server:
        yield server
