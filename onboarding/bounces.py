"""Bounces that come back later: delivery-status notifications (RFC 3464) in the return Maildir.

A relay that accepted a campaign mail may fail to deliver it hours later; it
then writes a DSN (``multipart/report; report-type=delivery-status``) to the
mail's envelope sender. Each campaign mail goes out with its own return path,
``bounces+<mail id>-<tag>@domain`` (``compose.return_path``; the tag is an HMAC,
so a made-up address bounces nobody), delivered into a Maildir
(``EDIGATE_BOUNCE_MAILDIR``). The sweep reads ``new/``:

* the mail is found by the return path the DSN was addressed to
  (``Delivered-To``, ``X-Original-To``, ``Envelope-To``, ``To``), else by the
  Message-ID of the returned headers (``text/rfc822-headers`` or
  ``message/rfc822`` part), which is ours and unguessable;
* ``Action: failed`` for its recipient is a bounce (``tracking.record_bounce``);
  ``delayed``, ``delivered``, ``relayed`` and ``expanded`` are not;
* anything else (an auto-reply, spam, a DSN about nothing of ours) is left alone.

Every file read is then moved to ``cur/`` (with the Maildir "seen" flag), whatever
it was, so it is never counted twice; the move comes after the database commit,
and recording a bounce twice is a no-op, so a crash in between is harmless.
Hostile or broken files never stop the sweep: they are logged and moved.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.transports import mime

from .config import OnboardingSettings
from .links import Secret
from .compose import bounce_tag
from .models import CampaignMail
from .tracking import record_bounce

log = logging.getLogger("edigate.onboarding.bounces")

MAX_DSN_SIZE = 5 * 1024 * 1024          # a DSN is small; a huge file is read no further
ADDRESS_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")


@dataclass
class DsnRecipient:
    final_recipient: Optional[str]
    action: Optional[str]
    status: Optional[str]
    diagnostic: Optional[str]


@dataclass
class Dsn:
    addressed_to: list[str] = field(default_factory=list)
    recipients: list[DsnRecipient] = field(default_factory=list)
    original_message_id: Optional[str] = None

    @property
    def failed(self) -> list[DsnRecipient]:
        return [r for r in self.recipients if (r.action or "").lower() == "failed"]


def _value(field_value: Optional[str]) -> Optional[str]:
    """``rfc822; a@b`` → ``a@b``; ``smtp; 550 …`` → ``550 …``."""
    if field_value is None:
        return None
    text = " ".join(str(field_value).split())
    return text.split(";", 1)[1].strip() if ";" in text else text


def _blocks(text: str) -> list[Message]:
    """The field groups of a message/delivery-status body, separated by blank lines (RFC 3464)."""
    return [HeaderParser().parsestr(b) for b in re.split(r"\r?\n[ \t]*\r?\n", text) if b.strip()]


def parse_dsn(data: bytes) -> Optional[Dsn]:
    """The delivery-status report in a mail, or None when it is not one. Read with the bounded
    MIME reader, one level at a time: a returned mail is a stranger's bytes, and the standard
    parser recurses into however many levels of nesting it holds."""
    try:
        report = mime.parse(data[:MAX_DSN_SIZE])
        if report.content_type != "multipart/report" or \
                (report.param("report-type") or "").lower() != "delivery-status":
            return None
        parts = report.parts()
    except mime.MimeError:
        return None
    dsn = Dsn()
    for name in ADDRESS_HEADERS:
        dsn.addressed_to += [a for _, a in getaddresses([str(v) for v in report.headers.get_all(name, [])]) if a]
    for part in parts:
        ctype = part.content_type
        try:
            body = bytes(part.decoded())
        except mime.MimeError:
            continue
        if ctype == "message/delivery-status":
            for block in _blocks(body.decode("utf-8", "replace")):
                if block.get("Action") is None:         # the per-message block: skipped
                    continue
                dsn.recipients.append(DsnRecipient(_value(block.get("Final-Recipient")),
                                                   (block.get("Action") or "").strip().lower(),
                                                   (block.get("Status") or "").strip() or None,
                                                   _value(block.get("Diagnostic-Code"))))
        elif ctype in ("text/rfc822-headers", "message/rfc822") and dsn.original_message_id is None:
            try:
                returned = mime.parse(body)
            except mime.MimeError:
                continue
            dsn.original_message_id = (returned.get("Message-ID") or "").strip() or None
    return dsn


def find_mail(session: Session, dsn: Dsn, config: OnboardingSettings, secret: Secret) -> Optional[CampaignMail]:
    """The campaign mail a DSN is about: by our VERP return path (tag checked), else by Message-ID."""
    pattern = re.compile(rf"^{re.escape(config.bounce_local)}\+(\d+)-([0-9a-f]{{10}})@{re.escape(config.bounce_domain)}$",
                         re.IGNORECASE)
    for address in dsn.addressed_to:
        m = pattern.match(address.strip())
        if m and len(m.group(1)) < 19 and bounce_tag(secret, int(m.group(1))) == m.group(2).lower():
            mail = session.get(CampaignMail, int(m.group(1)))
            if mail is not None:
                return mail
    if dsn.original_message_id:
        return session.scalar(sa.select(CampaignMail).where(CampaignMail.message_id == dsn.original_message_id))
    return None


def handle(session: Session, data: bytes, config: OnboardingSettings, secret: Secret, now: datetime) -> str:
    """What one returned mail was: ``bounced`` (recorded now), ``already`` (recorded before),
    ``not_failed`` (a DSN saying delayed/delivered), ``unknown`` (no mail of ours), ``not_dsn``."""
    dsn = parse_dsn(data)
    if dsn is None:
        return "not_dsn"
    mail = find_mail(session, dsn, config, secret)
    if mail is None:
        return "unknown"
    failed = dsn.failed         # each campaign mail has one recipient: a failure is about it (or its alias)
    if not failed:
        return "not_failed"
    r = failed[0]
    reason = f"DSN: {r.status or '?'} {r.diagnostic or 'delivery failed'}"
    return "bounced" if record_bounce(session, mail, reason, now, source="dsn") else "already"


def read_maildir(gw: Any, maildir: Path, config: OnboardingSettings, secret: Secret, now: datetime) -> dict[str, int]:
    """Read every file in ``maildir/new``, record the bounces, move each file to ``cur/``."""
    counts = {"dsn_read": 0, "dsn_bounced": 0}
    new, cur = Path(maildir) / "new", Path(maildir) / "cur"
    if not new.is_dir():
        return counts
    cur.mkdir(exist_ok=True)
    for path in sorted(new.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:           # another worker took it
            continue
        try:
            with gw.session() as s:
                outcome = handle(s, data, config, secret, now)
        except Exception:                   # noqa: BLE001 - a file we cannot read must not stop the sweep
            log.exception("bounce mailbox: cannot process %s; moved to cur/ unprocessed", path.name)
            outcome = "error"
        counts["dsn_read"] += 1
        counts["dsn_bounced"] += outcome == "bounced"
        if outcome in ("unknown", "not_dsn"):
            log.info("bounce mailbox: %s is %s", path.name, "not a DSN" if outcome == "not_dsn" else
                     "a DSN about no mail of ours")
        name = path.name.split(":", 1)[0] + ":2,S"
        try:
            os.replace(path, cur / name)
        except FileNotFoundError:
            pass
    return counts
