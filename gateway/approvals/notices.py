"""What approvers are told: notification records (``ApprovalNotice``), not mail.

Users have no mail address on record (a login is a username and a role), so the workflow
writes a notice per addressee: an invoice now waits for you, a reminder, an escalation. The
portal's approval queue and the API's show them. Each notice also goes to whoever stands in
for the addressee now (``delegation``), so nothing waits unseen while someone is away.

A notice keeps its kind (the code) and its parameters (the invoice's number, the rule, since
when the step waits), not words: ``worded`` says it in the reader's language from the one
catalogue (``gateway.i18n``; French and English), the time in the reader's time zone. Its
English text is kept beside them (``message``) for what reads the record without a language,
and is what a notice written before the parameters were kept shows.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from babel.dates import format_datetime

from gateway import i18n
from gateway.i18n import N_
from gateway.db import ApprovalCase, ApprovalNotice, DocumentRecord

from . import delegation

MAX_LIST = 50
DEFAULT_ZONE = "Europe/Paris"
WORDING = {
    "waiting": N_("Invoice %(number)s waits for your approval (rule %(rule)s)."),
    "reminder": N_("Reminder: invoice %(number)s has been waiting for your approval since %(since)s."),
    "escalation": N_("Escalated to you: invoice %(number)s has been waiting for approval since %(since)s."),
}
_TIME_PATTERNS = {"en": "yyyy-MM-dd HH:mm", "fr": "dd/MM/yyyy HH:mm"}


def params_of(case: ApprovalCase, doc: Optional[DocumentRecord]) -> dict[str, Any]:
    """What a notice about ``case`` names: the invoice's number, the rule, since when it waits (UTC)."""
    return {"number": ((doc.number if doc is not None else None) or f"#{case.document_id}")[:200],
            "rule": case.rule_name, "since": case.step_since.astimezone(timezone.utc).isoformat()}


def _zone(name: Optional[str]) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _moment(value: Optional[str], lang: str, zone: Optional[str]) -> str:
    try:
        at = datetime.fromisoformat(value or "")
    except ValueError:
        return value or ""
    local = (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(_zone(zone))
    return f"{format_datetime(local, _TIME_PATTERNS[lang], locale=i18n.locale(lang))} {local.strftime('%Z')}"


def say(kind: str, params: dict[str, Any], lang: str, zone: Optional[str] = None) -> str:
    """A notice of ``kind`` with ``params`` in ``lang`` (``fr`` or ``en``), its time in ``zone``."""
    lang = i18n.pick(lang)
    values = {k: str(v) for k, v in params.items()}
    if "since" in values:
        values["since"] = _moment(values["since"], lang, zone)
    return i18n.gettext(lang, WORDING[kind], **values)


def worded(notice: ApprovalNotice, lang: str, zone: Optional[str] = None) -> str:
    """The notice as its reader reads it (a notice kept without parameters: its English text)."""
    if not notice.params or notice.kind not in WORDING:
        return notice.message
    return say(notice.kind, notice.params, lang, zone)


def tell(s, case: ApprovalCase, user_ids: Iterable[int], kind: str, now: datetime) -> list[int]:
    """A notice of ``kind`` for each of ``user_ids`` and their delegates now; the users told."""
    params = params_of(case, s.get(DocumentRecord, case.document_id))
    message = say(kind, params, "en", "UTC")[:500]
    told: list[int] = []
    for user_id in user_ids:
        for who in [user_id, *delegation.delegates_of(s, user_id, now)]:
            if who not in told:
                s.add(ApprovalNotice(case_id=case.id, user_id=who, kind=kind, params=params, message=message, at=now))
                told.append(who)
    return told


def of_user(s, user_id: int, *, limit: int = MAX_LIST) -> list[ApprovalNotice]:
    """A user's latest notices, newest first."""
    return list(s.scalars(sa.select(ApprovalNotice).where(ApprovalNotice.user_id == user_id)
                          .order_by(ApprovalNotice.at.desc(), ApprovalNotice.id.desc()).limit(limit)))


def of_case(s, case_id: int) -> list[ApprovalNotice]:
    return list(s.scalars(sa.select(ApprovalNotice).where(ApprovalNotice.case_id == case_id)
                          .order_by(ApprovalNotice.at, ApprovalNotice.id)))
