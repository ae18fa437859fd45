"""The words onboarding's staff pages show for the codes its records keep, in the reader's language.

The record keeps codes (``running``, ``reminder-2``, ``opted_out``); a page shows each as a word
of the catalogue (English as the msgid, French from ``gateway/translations``). A timeline event
is a sentence made from its kind and its detail (never the detail as a dict). Data, not code:
tables of lazily translated messages.
"""
from __future__ import annotations

from typing import Any, Optional

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

STATUS = {
    # counterparties
    "new": _l("new"), "existing_partner": _l("existing partner"), "reachable_elsewhere": _l("reachable elsewhere"),
    "invited": _l("invited"), "registering": _l("registering"), "enrolled": _l("enrolled"),
    "opted_out": _l("opted out"), "bounced": _l("bounced"),
    # campaigns, waves
    "draft": _l("draft"), "running": _l("running"), "paused": _l("paused"), "closed": _l("closed"),
    "scheduled": _l("scheduled"), "done": _l("done"), "cancelled": _l("cancelled"),
    # invitations, mails
    "pending": _l("pending"), "sent": _l("sent"), "expired": _l("expired"), "stopped": _l("stopped"),
    "sending": _l("sending"), "failed": _l("failed"), "uncertain": _l("uncertain"),
}

STEP = {"information": _l("information mail"), "invitation": _l("invitation"), "reminder": _l("reminder")}

STAGE = {
    "invited": _l("Invited"), "sent": _l("Mail sent"), "opened": _l("Opened"), "clicked": _l("Clicked the link"),
    "registration_started": _l("Started registering"), "enrolled": _l("Enrolled"), "bounced": _l("Bounced"),
    "opted_out": _l("Opted out"),
}

KIND = {"customers": _l("customers (we send them our invoices)"),
        "suppliers": _l("suppliers (they send us their invoices)")}

SOURCE = {"import": _l("import"), "held_document": _l("held document"), "manual": _l("manual")}

SENDS_BY = {
    "portal": _l("upload on our portal"), "email": _l("e-mail to our address"), "as2": _l("AS2"),
    "sftp": _l("SFTP"), "pa": _l("its certified platform (PA)"), "peppol": _l("Peppol"),
}

FIELD = {"name": _l("name"), "email": _l("e-mail"), "contact_name": _l("contact"), "language": _l("language"),
         "segment": _l("segment")}

LANGUAGE = {"fr": _l("French"), "en": _l("English")}

OUTCOME = {"created": _l("created"), "updated": _l("updated"), "rejected": _l("rejected"),
           "duplicate": _l("duplicate"), "existing_partner": _l("existing partner"),
           "reachable_elsewhere": _l("reachable elsewhere")}

SENDING_DETAIL = {"address": _l("from the address"), "as2_id": _l("AS2 id"), "participant": _l("Peppol participant"),
                  "platform": _l("platform"), "routing": _l("its address at the platform"),
                  "sftp_account": _l("SFTP account"), "portal_login": _l("portal login"), "setup": _l("set up")}

SETUP = {
    "participant_added": _l("its Peppol participant is now one of its identifiers"),
    "participant_taken": _l("its Peppol participant belongs to another partner: to check"),
    "platform_address_added": _l("its address at the platform is now one of its identifiers"),
    "platform_address_taken": _l("its address at the platform belongs to another partner: to check"),
    "french_reform": _l("marked subject to the French reform"),
    "as2_id_set": _l("AS2 id recorded; certificates to exchange"),
    "as2_id_taken": _l("this AS2 id belongs to another partner: to check"),
    "as2_same": _l("same AS2 id and certificate as for receiving"),
    "as2_other": _l("another AS2 id than for receiving: to check"),
    "sftp_account": _l("drops its invoices in its SFTP account"),
    "sftp_to_create": _l("SFTP account to create"),
    "portal_login": _l("uploads with its portal login"),
    "portal_to_create": _l("portal login to create"),
    "address_recorded": _l("sending address recorded"),
}

REGISTRATION = {
    "name": _l("Company name"), "identifiers": _l("Identifiers"), "company_email": _l("Company e-mail address"),
    "contact_name": _l("Contact"), "contact_email": _l("Contact e-mail address"), "contact_phone": _l("Phone"),
    "channel": _l("Receives our invoices"), "preferred_format": _l("Format"), "channel_settings": _l("Settings"),
    "as2_id": _l("AS2 id"), "as2_url": _l("AS2 URL"), "network_id": _l("Network"),
    "terms_accepted_at": _l("Terms accepted"), "sends_by": _l("Sends us its invoices"),
    "sends_detail": _l("How it sends"),
}
_HIDDEN = ("certificate_pem", "sftp_keys", "portal_password")


def status_word(code: Optional[str]) -> str:
    return str(STATUS.get(code or "", code or ""))


def step_word(step: Optional[str]) -> str:
    """``reminder-2`` → "reminder 2", ``invitation-2`` → "invitation (sent again)"."""
    if not step:
        return ""
    base, _sep, number = step.partition("-")
    word = str(STEP.get(base, base))
    if base == "reminder" and number:
        return _("%(step)s %(n)s", step=word, n=number)
    if base == "invitation" and number:
        return _("%(step)s (sent again)", step=word)
    return word


def stage_word(stage: str) -> str:
    return str(STAGE.get(stage, stage))


def _fields(names: Any) -> str:
    return ", ".join(str(FIELD.get(n, n)) for n in names or []) if isinstance(names, list) else ""


def event_sentence(kind: str, detail: Optional[dict[str, Any]]) -> str:
    """One timeline event as staff read it."""
    d = detail or {}
    step = step_word(d.get("step"))
    reason = str(d.get("reason") or "")
    if kind == "imported":
        if d.get("held_document_id"):
            return _("Proposed from a held invoice (%(number)s)", number=d.get("number") or d["held_document_id"])
        return _("Imported (line %(line)s of import %(batch)s)", line=d.get("line", "?"),
                 batch=d.get("import_batch_id", "?"))
    if kind == "sent":
        return _("Mail sent: %(step)s", step=step)
    if kind == "bounced":
        return _("Mail bounced (%(step)s): %(reason)s", step=step, reason=bounce_words(reason)) if reason \
            else _("Mail bounced (%(step)s)", step=step)
    if kind == "failed":
        return _("Mail not sent (%(step)s): %(reason)s", step=step, reason=failure_words(d))
    if kind == "opened":
        return _("Mail opened (%(step)s)", step=step)
    if kind == "clicked":
        return _("Registration link opened")
    if kind == "registration_started":
        return _("Registration form submitted")
    if kind == "enrolled":
        return _("Enrolled: now a partner of ours")
    if kind == "opted_out":
        return _("Opted out: no more mail")
    if kind == "edited":
        return _("Details corrected by %(who)s: %(fields)s", who=d.get("by") or "?", fields=_fields(d.get("fields")))
    if kind == "reinvited":
        return _("Invited again by %(who)s: a new link, the old ones no longer work", who=d.get("by") or "?")
    return kind.replace("_", " ")


def failure_words(detail: Optional[dict[str, Any]]) -> str:
    """Why a mail was not sent, in the reader's language where its event kept the reason's code
    (``said``); an older event's recorded text as it is."""
    from gateway.web.kit.reader import current
    from ..reasons import worded
    d = detail or {}
    reason = str(d.get("reason") or "")
    return worded(d["said"], current(), reason) if d.get("said") else reason


def failure_detail(kind: str, detail: Optional[dict[str, Any]]) -> str:
    """The technical text behind a worded failure (shown one click away), else ""."""
    d = detail or {}
    return str(d.get("reason") or "") if kind == "failed" and d.get("said") else ""


def bounce_words(reason: Optional[str]) -> str:
    """A bounce's reason: what its status code means in the reader's language, then the server's words."""
    from gateway.web.kit.reader import current
    from ..reasons import bounce_worded
    return bounce_worded(reason, current())


def report_reasons(entry: dict[str, Any]) -> list[str]:
    """An import report row's reasons in the reader's language (English where they kept no code)."""
    from gateway.web.kit.reader import current
    from ..reasons import report_reasons as worded
    return worded(entry, current())


def _plain(value: Any) -> str:
    """A recorded value as a person reads it: lists joined, mappings as "key: value" pairs."""
    if isinstance(value, dict):
        return " · ".join(f"{str(k).replace('_', ' ')}: {_plain(v)}" for k, v in sorted(value.items())
                          if v not in (None, "", [], {}))
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _identifier(text: str) -> str:
    from gateway.db.partners import SCHEMES
    scheme, _sep, value = str(text).partition(":")
    return f"{SCHEMES.get(scheme, scheme)} {value}" if value else str(text)


def registration_summary(data: Optional[dict[str, Any]]) -> list[tuple[str, str]]:
    """A registration's recorded data as (label, value) rows, in a fixed order, secrets left out."""
    from .messages import channel_labels
    from gateway.web.kit.reader import current
    data = data or {}
    rows = []
    for key in REGISTRATION:
        value = data.get(key)
        if value in (None, "", [], {}) or key in _HIDDEN:
            continue
        if key == "identifiers":
            shown = ", ".join(_identifier(v) for v in value)
        elif key == "channel":
            shown = channel_labels(current()).get(value, value)
        elif key == "sends_by":
            shown = str(SENDS_BY.get(value, value))
        elif key == "terms_accepted_at":
            from datetime import datetime
            from gateway.web.kit.display import when
            try:
                shown = when(datetime.fromisoformat(str(value)))
            except ValueError:
                shown = str(value)
        elif key == "sends_detail" and isinstance(value, dict):
            shown = " · ".join(f"{SENDING_DETAIL.get(k, k)}: {v}" for k, v in sorted(value.items())
                               if v and k != "setup")
        else:
            shown = _plain(value)
        rows.append((str(REGISTRATION[key]), shown))
    return rows


def origin_word(origin: str) -> str:
    """Which wording a mail uses (``templating.TemplateSource.origin``), as staff read it."""
    if origin == "default":
        return _("the default wording")
    if origin == "campaign":
        return _("the campaign's own wording")
    if origin.startswith("campaign, segment "):
        return _("the campaign's own wording for segment %(segment)s", segment=origin[len("campaign, segment "):])
    return origin


def helpers() -> dict[str, Any]:
    """What the staff templates call."""
    return {"ob_status": status_word, "step_word": step_word, "stage_word": stage_word,
            "event_sentence": event_sentence, "kind_word": lambda k: str(KIND.get(k, k)),
            "source_word": lambda s: str(SOURCE.get(s, s)), "sends_word": lambda c: str(SENDS_BY.get(c, c)),
            "language_word": lambda lang: str(LANGUAGE.get(lang, lang)),
            "origin_word": origin_word, "outcome_word": lambda o: str(OUTCOME.get(o, o)),
            "setup_words": lambda codes: ", ".join(str(SETUP.get(c, c)) for c in str(codes or "").split()),
            "sending_detail_word": lambda k: str(SENDING_DETAIL.get(k, k)), "registration_summary": registration_summary,
            "bounce_words": bounce_words, "failure_detail": failure_detail, "report_reasons": report_reasons}
