"""E-mail out of the gateway: invoices to recipients who chose e-mail, and portal notifications.

A mail is built once, when its outbound exchange is created (``build_*``): the MIME
message, with its ``Message-ID`` and ``Date``, goes to the payload store and
its key to ``Exchange.payload_key``. Every attempt sends those same bytes, so a
resend carries the same Message-ID and a reader (or a mail filter) can tell it
from a new mail.

``deliver`` is the channel's sender (``delivery.attempts.send_exchange`` calls it
for an ``email`` exchange it claimed): the SMTP server accepting the mail makes
the exchange ``sent`` (its delivery ``delivered``); a 5xx reply fails it with the
server's words; a 4xx reply or a network problem retries it with the partner's
backoff (``delivery.attempts.settle_failure``).

SMTP has no idempotency key, so the one moment a crash could send a mail twice
(after the server took it, before we recorded so) is guarded instead: just
before handing the mail over, the exchange's history gets ``HANDOFF`` (committed).
An exchange found ``sending`` by a dead worker *after* that note is not sent
again automatically (``lease_expired`` fails it with a reason saying the mail may
have gone, and an operator's retry resends the same message); one that died
before it is simply retried.

A recipient's e-mail settings (``email`` in its channel settings): ``to``,
``subject``, ``body``, ``body_html`` (its own templates, sandboxed Jinja2; without them, the
gateway's wording, ``channels.wording``), ``attach`` (facturx, ubl, cii, facturx+ubl), ``lang``
(else ``templating.reader_language``: its portal users' language, the buyer's country, the
gateway's language).
"""
from __future__ import annotations

import logging
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional

import sqlalchemy as sa

from gateway.channels import templating, wording
from gateway.channels.settings import addresses, email_address, language
from gateway.db import Exchange, ExchangeEvent, utcnow
from gateway.delivery.attempts import settle_failure
from gateway.delivery.channel import Channel, ChannelSettingsError, DeliveryPlan
from gateway.delivery.state import set_status
from gateway.store.filenames import safe_filename
from gateway.syntaxes import extension
from gateway.transports.smtp import Mailer, SmtpError, SmtpPermanentError

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
    """The invoice mail for an ``EmailProfile``: subject and body from its own templates, else the
    gateway's wording in ``lang`` (``channels.wording``); the HTML part its own ``body_html``, else
    drawn from the text part; the attachments as (file name, media type, bytes)."""
    names = ", ".join(name for name, _, _ in attachments)
    fields = templating.fields(summary, lang, attachments=names)
    subject = (templating.render(profile.subject, fields) if profile.subject
               else wording.subject(wording.INVOICE, lang, fields))
    body = templating.render(profile.body, fields) if profile.body else wording.text(wording.INVOICE, lang, fields)
    msg = _message(mail_from=mail_from, to=profile.addresses, subject=subject, message_id=message_id)
    msg.set_content(body)
    if profile.body_html:
        msg.add_alternative(templating.render(profile.body_html, fields, html=True), subtype="html")
    else:
        msg.add_alternative(wording.html_of(body, lang=lang, title=templating.one_line(subject)), subtype="html")
    for name, media_type, data in attachments:
        maintype, _, subtype = media_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
    return msg.as_bytes()


def build_notification(to: Iterable[str], summary: dict[str, Any], *, link: str, lang: str,
                       mail_from: str, message_id: str) -> bytes:
    """"New invoice N from S" with a link to the document in the portal, text and HTML from one wording."""
    fields = templating.fields(summary, lang, link=link)
    subject = wording.subject(wording.NOTIFICATION, lang, fields)
    body = wording.text(wording.NOTIFICATION, lang, fields)
    msg = _message(mail_from=mail_from, to=to, subject=subject, message_id=message_id)
    msg.set_content(body)
    msg.add_alternative(wording.html_of(body, lang=lang, title=templating.one_line(subject)), subtype="html")
    return msg.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.SMTP).parsebytes(raw)


def recipients(msg: EmailMessage) -> list[str]:
    fields = [v for h in ("To", "Cc", "Bcc") for v in msg.get_all(h, [])]
    return [addr for _, addr in getaddresses([str(f) for f in fields]) if addr]


def _mailer(settings: Any):
    """One mailer per SMTP URL in this process, used under a lock: the connection is reused
    and the rate limit (``mail_rate_per_minute``) holds for the whole process."""
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


# --- the channel ----------------------------------------------------------------------------

ATTACH = ("facturx", "ubl", "cii", "facturx+ubl")
DEFAULT_ATTACH = "facturx"
_ATTACH_ALIASES = {"ubl+facturx": "facturx+ubl", "pdf": "facturx", "factur-x": "facturx"}


@dataclass(frozen=True)
class EmailProfile:
    addresses: tuple[str, ...]
    subject: Optional[str] = None          # None: the shipped default in the reader's language
    body: Optional[str] = None
    body_html: Optional[str] = None
    attach: str = DEFAULT_ATTACH
    lang: Optional[str] = None             # None: templating.reader_language
    why: str = ""
    channel: str = field(default="email", init=False)

    @property
    def syntaxes(self) -> tuple[str, ...]:
        return tuple(self.attach.split("+"))


def _email_of_buyer(invoice: Any) -> Optional[str]:
    buyer = getattr(invoice, "buyer", None)
    ident = getattr(buyer, "electronic_address", None) if buyer is not None else None
    if ident is None or (ident.scheme or "").strip().upper() != "EM" or not ident.value:
        return None
    try:
        return email_address(ident.value)
    except ValueError:
        return None


def _filename(number: Optional[str], syntax: str, fallback: str) -> str:
    return safe_filename(number, fallback) + (extension(syntax) or ".dat")


class EmailChannel(Channel):
    """Invoices by e-mail, each recipient with its own addresses, templates and attachments."""

    name, label = "email", "E-mail"
    self_service = True
    settings_keys = ("to", "subject", "body", "body_html", "attach", "lang")

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        out: dict[str, Any] = {}
        if "to" in settings:
            out["to"] = addresses(settings["to"], "email.to", required=False)
        for key, html in (("subject", False), ("body", False), ("body_html", True)):
            if settings.get(key) is not None:
                try:
                    out[key] = templating.check(settings[key], html=html)
                except templating.TemplateProblem as e:
                    raise ChannelSettingsError(f"email.{key}", str(e)) from None
        if "subject" in out and len(out["subject"]) > 500:
            raise ChannelSettingsError("email.subject", "at most 500 characters")
        attach = settings.get("attach")
        if attach is not None:
            norm = attach.strip().lower().replace(" ", "") if isinstance(attach, str) else attach
            norm = _ATTACH_ALIASES.get(norm, norm)
            if norm not in ATTACH:
                raise ChannelSettingsError("email.attach", f"{attach!r}: expected one of {', '.join(ATTACH)}")
            out["attach"] = norm
        if settings.get("lang") is not None:
            out["lang"] = language(settings["lang"], "email.lang")
        return out

    def settings_schema(self) -> dict[str, Any]:
        text = {"type": "string"}
        return {"type": "object", "additionalProperties": False, "properties": {
            "to": {"type": "array", "items": {"type": "string", "format": "email"}, "maxItems": 20},
            "subject": text, "body": text, "body_html": text,
            "attach": {"type": "string", "enum": list(ATTACH)},
            "lang": {"type": ["string", "null"], "enum": [*templating.LANGS, None]}}}

    def readiness(self, settings: Mapping[str, Any], contact_email: Optional[str]) -> Optional[str]:
        if not settings.get("to") and not contact_email:
            return "the email channel needs at least one address (email.to, or a contact e-mail)"
        return None

    def _profile(self, to: list[str], mine: Mapping[str, Any], why: str = "") -> EmailProfile:
        return EmailProfile(addresses=tuple(to), subject=mine.get("subject"), body=mine.get("body"),
                            body_html=mine.get("body_html"), attach=mine.get("attach", DEFAULT_ATTACH),
                            lang=mine.get("lang"), why=why)

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> EmailProfile:
        to = settings.get("to") or ([partner.contact_email] if partner.contact_email else [])
        if not to:
            raise ChannelSettingsError("email.to", "the email channel needs at least one address "
                                                   "(email.to, or the partner's contact e-mail)")
        return self._profile(to, settings, why)

    def fallback_profile(self, partner: Any, settings: Mapping[str, Any], invoice: Any) -> Optional[EmailProfile]:
        """As the gateway's default channel for a partner that chose none: to its e-mail
        settings, else its contact e-mail, else the buyer's electronic address (BT-49, scheme
        EM); None when there is no address at all."""
        to, source = None, ""
        if settings.get("to"):
            to, source = list(settings["to"]), "its e-mail settings"
        elif partner.contact_email:
            to, source = [partner.contact_email], "its contact e-mail"
        else:
            buyer = _email_of_buyer(invoice)
            if buyer:
                to, source = [buyer], "the buyer's electronic address (BT-49, scheme EM)"
        if not to:
            return None
        return self._profile(to, settings, f"no channel chosen: default e-mail to {', '.join(to)} ({source})")

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        profile: EmailProfile = plan.profile
        plan.format, plan.syntaxes, plan.transport = profile.attach, profile.syntaxes, self.name
        plan.lang = templating.reader_language(session, partner, invoice, profile.lang, plan.lang)
        return plan

    def prepare(self, gw: Any, plan: DeliveryPlan, invoice: Any, summary: dict[str, Any]) -> None:
        number = summary.get("number")
        attachments = [(_filename(number, r.syntax, "invoice"), r.media_type, r.data) for r, _ in plan.renderings]
        if len({name for name, _, _ in attachments}) < len(attachments):      # ubl and cii both .xml
            attachments = [(f"{name.rsplit('.', 1)[0]}-{r.syntax}.{name.rsplit('.', 1)[1]}", mt, data)
                           for (name, mt, data), (r, _) in zip(attachments, plan.renderings)]
        message_id = new_message_id(gw.settings.mail_from)
        raw = build_invoice_mail(plan.profile, summary, attachments, lang=plan.lang,
                                 mail_from=gw.settings.mail_from, message_id=message_id)
        ref = gw.payloads.put(raw)
        plan.extra["mail"] = (ref.key, ref.size, message_id)

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        primary, key = plan.renderings[0]
        mail_key, mail_size, message_id = plan.extra["mail"]
        out = outbound(partner_id=plan.recipient_id, raw_key=mail_key, raw_size=mail_size,
                       message_id=message_id, at=now,
                       filename=_filename(rec.number, plan.syntaxes[0], fallback_name),
                       content_sha256=key, content_size=len(primary.data))
        session.add(out)
        session.flush()
        delivery.exchange_id = out.id
        delivery.note(f"{plan.reason}; as {plan.format} by e-mail to {', '.join(plan.profile.addresses)} "
                      f"(exchange {out.id})", at=now)
        return [out.id]

    def send(self, gw: Any, exchange_id: int) -> str:
        return deliver(gw, exchange_id)

    def lease_expired(self, session: Any, exchange: Any) -> Optional[str]:
        if handed_off(session, exchange):
            # SMTP cannot tell us whether it took the mail: never send it twice unasked.
            return ("the sending worker stopped while handing the mail to the SMTP server: it may have been "
                    "sent; check with the recipient, then retry (the same message, same Message-ID)")
        return None


channel = EmailChannel()
