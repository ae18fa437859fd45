"""E-mail out of the gateway: invoices to recipients who chose e-mail, and portal notifications.

A mail is built once, when its outbound exchange is created (``build_*``): the MIME
message, with its ``Message-ID`` and ``Date``, goes to the payload store and
its key to ``Exchange.payload_key``. Every attempt sends those same bytes, so a
resend carries the same Message-ID and a reader (or a mail filter) can tell it
from a new mail.

``deliver`` is the sender ``outbox.send_exchange`` calls for an ``email`` exchange
it claimed: the SMTP server accepting the mail makes the exchange ``sent`` (its
delivery ``delivered``); a 5xx reply fails it with the server's words; a 4xx
reply or a network problem retries it with the partner's backoff
(``outbox.settle_failure``).

SMTP has no idempotency key, so the one moment a crash could send a mail twice
(after the server took it, before we recorded so) is guarded instead: just
before handing the mail over, the exchange's history gets ``HANDOFF`` (committed).
An exchange found ``sending`` by a dead worker *after* that note is not sent
again automatically (``outbox.due_sends`` fails it with a reason saying the mail
may have gone, and an operator's retry resends the same message); one that died
before it is simply retried.
"""
from __future__ import annotations

import logging
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any, Iterable, Optional

import sqlalchemy as sa

from ..db import Exchange, ExchangeEvent, utcnow
from . import templating

log = logging.getLogger("edigate.email")

HANDOFF = "handing the mail to the SMTP server"
MAIL_MEDIA_TYPE = "message/rfc822"

_MAILERS: dict[tuple[str, int], tuple[threading.Lock, Any]] = {}
_MAILERS_LOCK = threading.Lock()


def mail_domain(mail_from: str) -> str:
    return mail_from.rsplit("@", 1)[-1].strip("<> ") or "edigate.local"


def new_message_id(mail_from: str) -> str:
    return make_msgid(idstring="edigate", domain=mail_domain(mail_from))


def _message(*, mail_from: str, to: Iterable[str], subject: str, message_id: str) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = mail_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = templating.one_line(subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"        # RFC 3834: no vacation replies, please
    return msg


def build_invoice_mail(profile: Any, summary: dict[str, Any], attachments: list[tuple[str, str, bytes]], *,
                       lang: str, mail_from: str, message_id: str) -> bytes:
    """The invoice mail for an ``EmailProfile``: subject and body from its templates (or the
    shipped defaults in ``lang``), the attachments as (file name, media type, bytes)."""
    names = ", ".join(name for name, _, _ in attachments)
    fields = templating.fields(summary, lang, attachments=names)
    subject = templating.render(profile.subject or templating.default("invoice_subject", lang), fields)
    body = templating.render(profile.body or templating.default("invoice_body", lang), fields)
    msg = _message(mail_from=mail_from, to=profile.addresses, subject=subject, message_id=message_id)
    msg.set_content(body)
    if profile.body_html:
        msg.add_alternative(templating.render(profile.body_html, fields, html=True), subtype="html")
    for name, media_type, data in attachments:
        maintype, _, subtype = media_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
    return msg.as_bytes()


def build_notification(to: Iterable[str], summary: dict[str, Any], *, link: str, lang: str,
                       mail_from: str, message_id: str) -> bytes:
    """"New invoice N from S" with a link to the document in the portal."""
    fields = templating.fields(summary, lang, link=link)
    msg = _message(mail_from=mail_from, to=to,
                   subject=templating.render(templating.default("portal_subject", lang), fields),
                   message_id=message_id)
    msg.set_content(templating.render(templating.default("portal_body", lang), fields))
    return msg.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.SMTP).parsebytes(raw)


def recipients(msg: EmailMessage) -> list[str]:
    fields = [v for h in ("To", "Cc", "Bcc") for v in msg.get_all(h, [])]
    return [addr for _, addr in getaddresses([str(f) for f in fields]) if addr]


def _mailer(settings: Any):
    """One mailer per SMTP URL in this process, used under a lock: the connection is reused
    and the rate limit (``mail_rate_per_minute``) holds for the whole process."""
    from ..transports.smtp import Mailer
    key = (settings.smtp_url, settings.mail_rate_per_minute)
    with _MAILERS_LOCK:
        if key not in _MAILERS:
            _MAILERS[key] = (threading.Lock(), Mailer.from_url(settings.smtp_url,
                                                               rate_per_minute=settings.mail_rate_per_minute))
        return _MAILERS[key]


def handed_off(session: Any, ex: Exchange) -> bool:
    """Whether the current attempt of ``ex`` reached the hand-off to the SMTP server."""
    last = session.scalars(sa.select(ExchangeEvent).where(ExchangeEvent.exchange_id == ex.id)
                           .order_by(ExchangeEvent.at.desc(), ExchangeEvent.id.desc()).limit(1)).first()
    return last is not None and last.status == "sending" and (last.reason or "").startswith(HANDOFF)


def deliver(gw, exchange_id: int) -> str:
    """Send a claimed ``email`` exchange's stored message; returns the exchange's status after."""
    from gateway.delivery.attempts import set_status, settle_failure
    from ..transports.smtp import SmtpError, SmtpPermanentError
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if not ex.payload_key:
            set_status(ex, "failed", "no mail was built for this exchange (no payload)")
            return ex.status
        msg = parse(gw.payloads.get(ex.payload_key))
        to = recipients(msg)
        if not to:
            set_status(ex, "failed", "the mail has no recipient")
            return ex.status
        ex.note(f"{HANDOFF} ({gw.settings.smtp_url.split('@')[-1].split('?')[0]}) for {', '.join(to)}")
    lock, mailer = _mailer(gw.settings)
    try:
        with lock:
            result = mailer.send(msg, sender=gw.settings.mail_from, recipients=to)
    except SmtpPermanentError as e:
        return settle_failure(gw, exchange_id, f"the SMTP server refused the mail: {e}", retryable=False)
    except SmtpError as e:
        return settle_failure(gw, exchange_id, f"SMTP: {e}", retryable=e.retryable)
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        ex.message_id = result.message_id
        refused = "; ".join(f"{r}: {why}" for r, why in result.refused.items())
        set_status(ex, "sent", f"accepted by the SMTP server for {', '.join(result.accepted)}"
                               + (f" (refused: {refused})" if refused else ""), at=now)
        return ex.status


def outbound(*, partner_id: int, raw_key: str, raw_size: int, message_id: str, filename: str,
             content_sha256: Optional[str] = None, content_size: Optional[int] = None, at=None) -> Exchange:
    """A queued ``email`` exchange carrying the stored mail ``raw_key``."""
    return Exchange.outbound("email", partner_id=partner_id, at=at, filename=filename,
                             content_type=MAIL_MEDIA_TYPE, message_id=message_id,
                             payload_key=raw_key, payload_size=raw_size,
                             content_sha256=content_sha256 or raw_key,
                             content_size=content_size if content_size is not None else raw_size)
