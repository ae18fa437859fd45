"""Outgoing mail over SMTP: one place that knows hosts, TLS, authentication and SMTP replies.

    mailer = Mailer.from_url("smtp://user:secret@mail.example:587?starttls=required")
    result = mailer.send(message)          # an email.message.EmailMessage

Callers (invoice delivery by e-mail, portal notifications, onboarding campaigns)
build the message and decide what a failure means for their record; this
module only sends and classifies what the server said:

* ``SmtpPermanentError``: a 5xx reply (for the whole message or for every
  recipient). Retrying will not help; for a campaign it is a bounce.
* ``SmtpTemporaryError``: a 4xx reply, a dropped connection, a timeout, a
  refused connection. Retry later with backoff.

Mail is sent with the message's own ``Message-ID`` (set one before sending and
keep it: a retry reuses it, so a receiving server or a reader can tell a resend
from a new mail). STARTTLS is used when the server offers it, or required
(``starttls=required``); ``smtps://`` is TLS from the first byte. Credentials are
only sent over TLS, unless the server is on loopback.

``Mailer`` keeps its connection open between sends (a campaign sends
thousands) and reconnects when the server closed it. A connection lost *before*
the message's final "." went out (a kept connection the server timed out, a
reset while giving the envelope) is retried once on a new connection: the
server cannot have the mail. Lost *after* it and before the server's reply is
the one case SMTP leaves ambiguous: ``SmtpTemporaryError`` with ``maybe_sent``
set, never resent here (the caller decides: campaign mail is not sent again).
``send`` takes an ``EmailMessage``; ``send_bytes`` a message already written
(CRLF line ends, 7-bit or announced otherwise), as campaign mail is. It is not
thread-safe: use one per thread.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

from gateway.model.errors import EdigateError
from gateway.transports.throttle import Throttle

DEFAULT_TIMEOUT = 30.0


class SmtpError(EdigateError):
    """Sending failed; ``code`` is the SMTP reply code when the server gave one."""

    retryable = False

    def __init__(self, message: str, *, code: Optional[int] = None, refused: Optional[dict[str, str]] = None):
        super().__init__(message)
        self.code = code
        self.refused = refused or {}      # recipient -> "550 5.1.1 no such user"


class SmtpPermanentError(SmtpError):
    """5xx: the server will not take this mail (or these recipients). A bounce."""


class SmtpTemporaryError(SmtpError):
    """4xx, connection trouble or a timeout: try again later. ``maybe_sent``: the connection was
    lost after the whole message went out and before the server said whether it took it."""

    retryable = True

    def __init__(self, message: str, *, maybe_sent: bool = False, **kwargs):
        super().__init__(message, **kwargs)
        self.maybe_sent = maybe_sent


@dataclass(frozen=True)
class SmtpResult:
    message_id: str
    accepted: tuple[str, ...]
    refused: dict[str, str] = field(default_factory=dict)   # some recipients refused, others took it


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: str = "optional"          # required | optional | off
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    ca_file: Optional[str] = None       # trust this CA (a test server's, a private relay's)

    @classmethod
    def from_url(cls, url: str, *, ca_file: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT) -> SmtpConfig:
        u = urlsplit(url)
        if u.scheme not in ("smtp", "smtps") or not u.hostname:
            raise ValueError(f"not an SMTP URL: {u.scheme}://{u.hostname or ''}")
        starttls = parse_qs(u.query).get("starttls", ["optional"])[0]
        if starttls not in ("required", "optional", "off"):
            raise ValueError(f"starttls={starttls!r}: expected required, optional or off")
        implicit = u.scheme == "smtps"
        return cls(host=u.hostname, port=u.port or (465 if implicit else 25), implicit_tls=implicit,
                   starttls="off" if implicit else starttls,
                   username=unquote(u.username) if u.username else None,
                   password=unquote(u.password) if u.password else None,
                   timeout=timeout, ca_file=ca_file)

    @property
    def on_loopback(self) -> bool:
        return self.host in ("localhost", "127.0.0.1", "::1")


def new_message_id(domain: str = "edigate.local") -> str:
    return make_msgid(domain=domain)


class _Tracked:
    """Notes whether the current transaction's message went out whole (its final "." sent):
    what tells a lost connection that may have delivered from one that cannot have."""

    payload_sent = False

    def mail(self, *args, **kwargs):
        self.payload_sent = False
        return super().mail(*args, **kwargs)

    def send(self, s):
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):      # only DATA's payload is sent as bytes
            self.payload_sent = True


class _SMTP(_Tracked, smtplib.SMTP):
    pass


class _SMTPS(_Tracked, smtplib.SMTP_SSL):
    pass


class Mailer:
    """Sends ``EmailMessage``s over one reused SMTP connection, at most ``rate_per_minute`` a minute."""

    def __init__(self, config: SmtpConfig, *, rate_per_minute: Optional[int] = None):
        self.config = config
        self._smtp: Optional[smtplib.SMTP] = None
        self._rate = rate_per_minute or 0
        self._throttle = Throttle()

    @classmethod
    def from_url(cls, url: str, *, rate_per_minute: Optional[int] = None, **config) -> Mailer:
        return cls(SmtpConfig.from_url(url, **config), rate_per_minute=rate_per_minute)

    # --- connection -------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.config.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            if c.implicit_tls:
                smtp: smtplib.SMTP = _SMTPS(c.host, c.port, timeout=c.timeout, context=self._tls_context())
            else:
                smtp = _SMTP(c.host, c.port, timeout=c.timeout)
            smtp.ehlo()
            tls = c.implicit_tls
            if not c.implicit_tls and c.starttls != "off":
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                    tls = True
                elif c.starttls == "required":
                    smtp.close()
                    raise SmtpPermanentError(f"{c.host}:{c.port} does not offer STARTTLS, which is required")
            if c.username:
                if not tls and not c.on_loopback:
                    smtp.close()
                    raise SmtpPermanentError(f"refusing to send the SMTP password to {c.host} without TLS")
                smtp.login(c.username, c.password or "")
            return smtp
        except smtplib.SMTPAuthenticationError as e:
            raise SmtpPermanentError(f"SMTP login refused by {c.host}: {e.smtp_code} {_text(e.smtp_error)}",
                                     code=e.smtp_code) from e
        except smtplib.SMTPResponseException as e:
            raise _classify(e.smtp_code, f"{c.host} said {e.smtp_code} {_text(e.smtp_error)}") from e
        except (OSError, smtplib.SMTPException) as e:
            raise SmtpTemporaryError(f"cannot reach SMTP server {c.host}:{c.port}: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- sending ----------------------------------------------------------------------------

    def send(self, message: EmailMessage, *, sender: Optional[str] = None,
             recipients: Optional[list[str]] = None) -> SmtpResult:
        """Send ``message`` (a ``Message-ID`` is added when it has none). Raises ``SmtpPermanentError``
        when every recipient is refused or the message is, ``SmtpTemporaryError`` when it may work
        later; returns the recipients refused among those accepted otherwise."""
        if not message.get("Message-ID"):
            message["Message-ID"] = new_message_id()
        refused = self._transaction(lambda smtp: smtp.send_message(message, from_addr=sender, to_addrs=recipients))
        accepted = tuple(r for r in (recipients or _all_recipients(message)) if r not in refused)
        return SmtpResult(message_id=str(message["Message-ID"]), accepted=accepted,
                          refused={r: f"{code} {_text(msg)}" for r, (code, msg) in refused.items()})

    def send_bytes(self, data: bytes, *, sender: str, recipients: list[str], message_id: str = "") -> SmtpResult:
        """Send a message already written (``data``: headers and body, CRLF line ends), as ``send``."""
        refused = self._transaction(lambda smtp: smtp.sendmail(sender, recipients, data))
        return SmtpResult(message_id=message_id, accepted=tuple(r for r in recipients if r not in refused),
                          refused={r: f"{code} {_text(msg)}" for r, (code, msg) in refused.items()})

    def _transaction(self, send):
        """One SMTP transaction over the kept connection (see the module on lost connections);
        the recipients refused among those accepted."""
        if self._rate:
            self._throttle.wait(None, self._rate)       # one pace per Mailer: the first send does not wait
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            smtp.payload_sent = False
            try:
                return send(smtp)
            except smtplib.SMTPRecipientsRefused as e:
                self._reset()
                detail = {r: f"{code} {_text(msg)}" for r, (code, msg) in e.recipients.items()}
                codes = [code for code, _ in e.recipients.values()]
                cls = SmtpTemporaryError if all(400 <= c < 500 for c in codes) else SmtpPermanentError
                raise cls("every recipient refused: " + "; ".join(f"{r}: {d}" for r, d in detail.items()),
                          code=codes[0] if codes else None, refused=detail) from e
            except smtplib.SMTPResponseException as e:
                self._reset()
                raise _classify(e.smtp_code, f"{self.config.host} said {e.smtp_code} {_text(e.smtp_error)}") from e
            except (smtplib.SMTPServerDisconnected, ConnectionError) as e:
                maybe_sent = getattr(smtp, "payload_sent", True)
                self.close()
                if maybe_sent:
                    raise SmtpTemporaryError(f"connection to {self.config.host} lost after the message was sent, "
                                             f"before the server's reply: {e}", maybe_sent=True) from e
                if attempt == 2:        # a kept connection may have been closed by the server: one fresh try
                    raise SmtpTemporaryError(f"SMTP server {self.config.host} closed the connection: {e}") from e
            except (OSError, socket.timeout, smtplib.SMTPException) as e:
                maybe_sent = getattr(smtp, "payload_sent", True)
                self.close()
                raise SmtpTemporaryError(f"sending to {self.config.host} failed: {type(e).__name__}: {e}",
                                         maybe_sent=maybe_sent) from e
        raise AssertionError("unreachable")

    def _reset(self) -> None:
        """After a refusal the session is still usable once RSET; if not, drop it."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _classify(code: int, message: str) -> SmtpError:
    if 500 <= code < 600:
        return SmtpPermanentError(message, code=code)
    return SmtpTemporaryError(message, code=code)


def _all_recipients(message: EmailMessage) -> list[str]:
    from email.utils import getaddresses
    fields = [v for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])]
    return [addr for _, addr in getaddresses(fields) if addr]
