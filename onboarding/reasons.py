"""Why onboarding refused or noted something, as a code and its values, worded in the reader's language.

An import's rows are checked once and their reasons kept in the batch's report; a counterparty
that cannot be invited again is told so at once; a bounce's reason is kept on the counterparty.
Staff read them later, in French or English. So a reason is made as a ``Problem`` (the model's
"English words with a code and values": ``str()`` is the English, what the report's ``reasons``,
the command line and older readers show) and its code and values are kept beside it
(``stored``); ``worded(stored, lang)`` says it again from the catalogue. A nested problem (a
SIRET's check digit…) is worded by ``gateway.partners.identifier_words``.

Bounce reasons are the receiving server's words (``DSN: 5.1.1 user unknown``): those stay as the
server wrote them, and ``bounce_worded`` puts in front what their status code means (RFC 3463),
in the reader's language.

Data, not code: a table of codes and their English messages (marked for the catalogue).
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from gateway import i18n
from gateway.i18n import N_
from gateway.model.problems import Problem

REASONS: dict[str, str] = {
    # an import's rows
    "fields_count": N_("%(found)s fields where the header has %(expected)s: a separator inside an unquoted value?"),
    "too_long": N_("%(field)s longer than %(limit)s characters"),
    "no_name": N_("missing company name"),
    "bad_siret": N_("bad SIRET: %(problem)s%(hint)s"),
    "bad_siren": N_("bad SIREN: %(problem)s%(hint)s"),
    "bad_gln": N_("bad GLN: %(problem)s%(hint)s"),
    "siren_siret_mismatch": N_("SIREN %(siren)s and SIRET %(siret)s do not match (a SIRET starts with its SIREN)"),
    "bad_vat": N_("bad VAT number: %(problem)s"),
    "vat_not_siren": N_("VAT number %(vat)s is not SIREN %(siren)s's (it ends with %(tail)s)"),
    "vat_shape": N_("bad VAT number: %(vat)s does not have the shape of a %(country)s VAT number "
                    "(%(country)s + %(pattern)s)"),
    "vat_generic": N_("bad VAT number: %(vat)s is not a country code + 2 to 13 letters or digits"),
    "no_email": N_("missing e-mail address (needed to invite)"),
    "several_emails": N_("bad e-mail: %(email)s: give one address per row"),
    "bad_email": N_("bad e-mail: %(problem)s"),
    "unknown_language": N_("unknown language %(language)s: expected one of %(expected)s (français, english…)"),
    "column_ignored": N_("column %(column)s ignored (not one we import)"),
    "several_matches": N_("matches several counterparties on record (%(names)s): merge them or fix the identifiers"),
    "same_as_line": N_("same company as line %(line)s: ignored"),
    "new_email_after_bounce": N_("new e-mail address (the previous one bounced on %(date)s): it may be invited again"),
    "opted_out_on": N_("opted out on %(date)s: it will not be invited"),
    "already_partner": N_("already a partner of this gateway: %(partner)s (partner %(id)s); not invited"),
    "reachable_elsewhere": N_("reachable through network %(network)s (%(name)s) by %(by)s; not invited"),
    # a file that cannot be imported at all
    "not_utf8": N_("the file is not UTF-8 text (byte 0x%(byte)s on line %(line)s): save it as \"CSV UTF-8\" and "
                   "import it again"),
    "nul_byte": N_("line %(line)s: the file holds a NUL byte: it is not a CSV text file"),
    "empty_file": N_("the file is empty: expected a header line, then one line per company"),
    "too_many_rows": N_("more than %(max)s rows: split the file"),
    "csv_error": N_("line %(line)s: %(error)s (a quote left open?)"),
    "same_column": N_("header: columns %(first)s (%(first_name)s) and %(second)s (%(second_name)s) are both the "
                      "%(field)s column: keep one"),
    "no_name_column": N_("header: no company name (\"Raison sociale\", \"Company name\") column; found %(found)s"),
    "no_email_column": N_("header: no e-mail (\"Courriel\", \"E-mail\") column; found %(found)s"),
    "no_columns": N_("header: no company name (\"Raison sociale\", \"Company name\") and no e-mail (\"Courriel\", "
                     "\"E-mail\") column; found %(found)s"),
    # the spreadsheet hints after a bad number
    "hint_leading_zero": N_(" (a leading zero lost by a spreadsheet? a %(what)s has %(n)s digits)"),
    "hint_as_number": N_(" (a spreadsheet wrote it as a number: format the column as text)"),
    # inviting again
    "campaign_closed": N_("campaign %(campaign)s is closed"),
    "not_again": N_("%(name)s is not invited again: %(why)s"),
    "is_enrolled": N_("it is enrolled already"),
    "is_partner": N_("it is a partner already"),
    "elsewhere": N_("it is reached through another network"),
    "opted_out": N_("it opted out"),
    "no_address": N_("it has no e-mail address: add one first"),
    "address_bounced": N_("its address bounced: correct it first"),
    # a campaign mail that could not be sent (onboarding.send_failures): what failed, what to do
    "mail_unreachable": N_("the mail server %(server)s could not be reached (connection refused or no such host): "
                           "check the gateway's SMTP address and that the server is running, then send again"),
    "mail_timeout": N_("the mail server %(server)s did not answer in time: check the network and the server's load, "
                       "then send again"),
    "mail_tls": N_("the secure connection (TLS) to the mail server %(server)s failed: check its certificate and "
                   "the TLS setting of the gateway's SMTP address"),
    "mail_login": N_("the mail server %(server)s refused our login: check the user name and password in the "
                     "gateway's SMTP address"),
    "mail_recipient_refused": N_("the mail server %(server)s refused the address %(address)s (reply %(reply)s): "
                                 "check the counterparty's e-mail address, or ask the server's administrator"),
    "mail_refused": N_("the mail server %(server)s refused the mail (reply %(reply)s): ask the server's "
                       "administrator why, then send again"),
    "mail_lost": N_("the connection to the mail server %(server)s was lost: send again once it is reachable"),
    "mail_not_built": N_("the mail could not be written from the campaign's template: correct the template, "
                         "then send again"),
    "mail_failed": N_("sending through the mail server %(server)s failed: see the technical detail"),
}


def reason(code: str, **params: Any) -> Problem:
    """A reason: its English words (``str()``), its code and values (nested reasons as values)."""
    return Problem(code, say(code, params, i18n.SOURCE), **params)


def stored(value: Any) -> Any:
    """A reason (or a value of one) as JSON: ``{"code", "params"}``; a nested problem of the
    identifiers' (its code not ours) keeps its English words too (``text``)."""
    if isinstance(value, Problem):
        out = {"code": value.code, "params": {k: stored(v) for k, v in value.params.items()}}
        if value.code not in REASONS:
            out["text"] = str(value)
        return out
    return value


def _revived(value: Any) -> Any:
    if isinstance(value, Mapping) and "code" in value and "params" in value:
        params = {k: _revived(v) for k, v in (value.get("params") or {}).items()}
        text = value.get("text")
        if text is None:
            text = say(str(value["code"]), params, i18n.SOURCE)
        return Problem(str(value["code"]), str(text), **params)
    return value


def _value(value: Any, lang: str) -> Any:
    if isinstance(value, Problem):
        if value.code in REASONS:
            return say(value.code, value.params, lang)
        if lang == i18n.SOURCE:
            return str(value)                   # the identifiers' English words, as they always read
        from gateway.partners.identifier_words import clause, worded as identifier_worded
        return clause(identifier_worded(value, lang))
    return "" if value is None else value


def say(code: str, params: Mapping[str, Any], lang: str) -> str:
    """``code`` with ``params`` in ``lang`` (a code we do not know: the code itself)."""
    message = REASONS.get(code)
    if message is None:
        return code
    values = {k: _day(v, lang) if k == "date" else _value(v, lang) for k, v in params.items()}
    return i18n.gettext(lang, message, **values)


def _day(value: Any, lang: str) -> Any:
    """An ISO date as the reader writes it (05/03/2026 in French)."""
    if lang == i18n.SOURCE or not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    return f"{value[8:10]}/{value[5:7]}/{value[:4]}"


def worded(item: Any, lang: str, fallback: Optional[str] = None) -> str:
    """A stored reason (``stored``) in ``lang``; ``fallback`` (its English words) when it is none."""
    revived = _revived(item)
    if isinstance(revived, Problem) and revived.code in REASONS:
        return say(revived.code, revived.params, lang)
    return fallback if fallback is not None else str(item or "")


def report_reasons(entry: Mapping[str, Any], lang: str) -> list[str]:
    """An import report's row: its reasons in ``lang`` where they were stored with their codes
    (``said``), else its English words as they are."""
    reasons = list(entry.get("reasons") or ())
    said = entry.get("said")
    if not isinstance(said, list) or len(said) != len(reasons):
        return [str(r) for r in reasons]
    return [worded(s, lang, str(r)) for s, r in zip(said, reasons)]


def reasons_are_worded(entry: Mapping[str, Any]) -> bool:
    said = entry.get("said")
    return isinstance(said, list) and len(said) == len(entry.get("reasons") or ())


# --- bounces ---------------------------------------------------------------------------------

# RFC 3463 enhanced status codes: the common ones by their whole code, the others by their subject
BOUNCE_STATUS: dict[str, str] = {
    "1.1": N_("the mailbox does not exist"),
    "1.2": N_("the domain does not exist"),
    "1.3": N_("the address is not valid"),
    "1.10": N_("the domain receives no mail"),
    "2.1": N_("the mailbox is disabled"),
    "2.2": N_("the mailbox is full"),
    "2.3": N_("the message is too large for the mailbox"),
    "3.4": N_("the message is too large"),
    "4.4": N_("the mail could not be routed"),
    "4.7": N_("the delivery time expired"),
    "7.1": N_("the receiving server refuses our mail (policy)"),
}
BOUNCE_SUBJECT: dict[str, str] = {
    "0": N_("delivery failed"),
    "1": N_("address problem"),
    "2": N_("mailbox problem"),
    "3": N_("a problem of the receiving mail system"),
    "4": N_("network or routing problem"),
    "5": N_("mail protocol problem"),
    "6": N_("message content problem"),
    "7": N_("refused by a security policy"),
}
BOUNCE = N_("%(meaning)s (%(status)s); the server said: %(said)s")
BOUNCE_NO_STATUS = N_("the mail was refused; the server said: %(said)s")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def bounce_worded(reason: Optional[str], lang: str) -> str:
    """A stored bounce reason (``DSN: 5.1.1 …`` or an SMTP refusal) in ``lang``: what its status
    code means, then the server's own words as they are."""
    text = (reason or "").strip()
    if not text:
        return ""
    said = text[4:].strip() if text.startswith("DSN:") else text
    m = _STATUS.search(text)
    if m is None:
        return i18n.gettext(lang, BOUNCE_NO_STATUS, said=said)
    status = ".".join(m.groups())
    meaning = BOUNCE_STATUS.get(f"{m.group(2)}.{m.group(3)}") or BOUNCE_SUBJECT.get(m.group(2), BOUNCE_SUBJECT["0"])
    return i18n.gettext(lang, BOUNCE, meaning=i18n.gettext(lang, meaning), status=status, said=said)


__all__ = ["REASONS", "reason", "stored", "say", "worded", "report_reasons", "reasons_are_worded", "bounce_worded"]
