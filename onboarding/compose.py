"""One campaign mail: its wording rendered for a counterparty, its signed links and headers, and
the bytes that carry it.

``parts`` renders what a mail says once; two writers turn the same parts into a mail:

* ``to_bytes``: what the sender sends, written directly by ``onboarding.mime_writer``
  (about 0.05 ms a mail, where building and flattening an ``EmailMessage`` took
  about 2 ms, the largest cost of a campaign mail when profiled);
* ``to_message``: the same mail as an ``email.message.EmailMessage``, the
  reference. ``to_bytes`` gives it back for what the direct writer does not take
  on (an address that is not plain ASCII ``local@domain``, which may need
  SMTPUTF8: ``smtplib.send_message`` decides), and
  ``tests/unit/test_onboarding_compose.py`` reads both back with the standard
  parser and checks that they say the same on awkward inputs.

Each mail carries ``List-Unsubscribe`` + ``List-Unsubscribe-Post`` (RFC 8058
one-click: a mail provider's POST of ``List-Unsubscribe=One-Click`` to the signed
opt-out URL opts out; a person following the link confirms with a button), its
Message-ID fixed in its row, and in the HTML part the open pixel. The envelope
sender is the mail's VERP return path, signed (``return_path``) so that a bounce
is matched to its mail and nobody can bounce addresses by writing to made-up ones.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from html import escape
from typing import Any, Optional, Union

from . import mime_writer as mime
from .campaigns import mail_context
from .config import OnboardingSettings
from .links import Secret, open_pixel_url, optout_url, registration_url
from .templating import TemplateSource, render

ONE_CLICK = "List-Unsubscribe=One-Click"


def bounce_tag(secret: Secret, mail_id: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"bounce:{mail_id}".encode(), hashlib.sha256).hexdigest()[:10]


def return_path(config: OnboardingSettings, secret: Secret, mail_id: int) -> str:
    """The VERP envelope sender of one mail: ``bounces+<mail id>-<tag>@domain`` (the tag, an HMAC,
    keeps anyone from bouncing addresses by writing to made-up return paths)."""
    return f"{config.bounce_local}+{mail_id}-{bounce_tag(secret, mail_id)}@{config.bounce_domain}"


def new_message_id(mail_id: int, domain: str) -> str:
    return f"<edigate-onboarding.{mail_id}.{secrets.token_hex(6)}@{domain}>"


def with_pixel(html: str, pixel_url: str) -> str:
    img = f'<img src="{escape(pixel_url)}" width="1" height="1" alt="" style="display:block;border:0">'
    i = html.lower().rfind("</body>")
    return html[:i] + img + html[i:] if i >= 0 else html + img


@dataclass(frozen=True)
class Parts:
    """Everything one mail says, rendered: the two writers only lay it out."""
    sender: str             # the From header: the campaign's address or EDIGATE_MAIL_FROM
    to_name: str
    to_address: str
    subject: str
    date: str
    message_id: str
    optout_url: str
    text: str
    html: Optional[str]     # with the open pixel


def from_header(address: str, name: Optional[str]) -> str:
    """``address`` (``a@b`` or ``Name <a@b>``) with ``name`` as its display name when given: who
    invites, as the recipient's mail client shows it."""
    display, addr = parseaddr(address)
    name = " ".join((name or display or "").split())
    return formataddr((name, addr or address)) if name else (addr or address)


def parts(source: TemplateSource, campaign: Any, counterparty: Any, invitation: Any, mail: Any, *,
          public_url: str, secret: Secret, mail_from: str, now: datetime, inviter: Optional[str] = None) -> Parts:
    """Render one mail. ``campaign``, ``counterparty``, ``invitation`` and ``mail`` are rows or
    anything with their attributes (``name``, ``email``, ``token_nonce``, ``expires_at``, ``step``,
    ``message_id``…); ``inviter``: the inviting company when the campaign does not name one
    (``campaigns.inviter_of``). The From header's display name is the campaign's sender name,
    else the inviting company. Raises ``TemplateProblem``."""
    opt = optout_url(public_url, secret, invitation)
    ctx = mail_context(campaign, counterparty, registration_url=registration_url(public_url, secret, invitation),
                       optout_url=opt, expires_at=invitation.expires_at, step=mail.step)
    if inviter and not getattr(campaign, "inviter", None):
        ctx["inviter"] = inviter
    rendered = render(source, ctx)
    html = with_pixel(rendered.html, open_pixel_url(public_url, secret, mail.id)) if rendered.html else None
    shown = getattr(campaign, "sender_name", None) or ctx["inviter"]
    return Parts(from_header(campaign.from_address or mail_from, shown),
                 " ".join((counterparty.contact_name or counterparty.name).split())[:200], counterparty.email,
                 rendered.subject, format_datetime(now), mail.message_id, opt, rendered.text, html)


def to_message(p: Parts) -> EmailMessage:
    """The reference: the mail through the ``email`` package. Raises ``ValueError`` for an
    address it cannot write."""
    msg = EmailMessage()
    msg["From"] = p.sender
    try:
        msg["To"] = Address(display_name=p.to_name, addr_spec=p.to_address)
    except (ValueError, IndexError) as e:
        raise ValueError(f"cannot write to {p.to_address!r}: {e}") from None
    msg["Subject"] = p.subject
    msg["Date"] = p.date
    msg["Message-ID"] = p.message_id
    msg["List-Unsubscribe"] = f"<{p.optout_url}>"
    msg["List-Unsubscribe-Post"] = ONE_CLICK
    msg.set_content(p.text)
    if p.html:
        msg.add_alternative(p.html, subtype="html")
    return msg


@lru_cache(maxsize=64)
def _from_line(sender: str) -> str:
    """The From line as the ``email`` package writes it (a campaign's own address may be any
    mailbox list, with a display name in any script): computed once per address."""
    msg = EmailMessage()
    msg["From"] = sender
    return msg.policy.clone(linesep="\r\n").fold("From", msg["From"])


def to_bytes(p: Parts) -> Union[bytes, EmailMessage]:
    """The mail as the bytes to send; the ``EmailMessage`` instead when its address is not plain
    ASCII (the sender gives it to ``smtplib.send_message``). Raises ``ValueError`` as ``to_message``."""
    try:
        headers = [_from_line(p.sender), mime.mailbox("To", p.to_name, p.to_address),
                   mime.unstructured("Subject", p.subject), mime.header("Date", p.date),
                   mime.header("Message-ID", p.message_id), mime.header("List-Unsubscribe", f"<{p.optout_url}>"),
                   mime.header("List-Unsubscribe-Post", ONE_CLICK)]
    except mime.NotPlain:
        return to_message(p)
    if not _from_line(p.sender).isascii():
        return to_message(p)
    return mime.message(headers, p.text, p.html)
