"""What a control's finding says, in its reader's language, from a code and parameters.

Why codes: a finding is stored once, when the invoice is received, and read later by operators
in French or English (pages, API). Its ``extra`` keeps ``code`` and ``params`` (the evidence:
the amount and the supplier's usual range, the accounts compared, the dates…) and its
``message`` the English sentence made from them, for logs and readers that know no code;
``worded(finding, lang)`` says it again in ``lang`` from the catalogue. A finding stored before
codes existed has its English text only: it is shown as it is (``worded`` gives None).

Data, not code: one line per code below (its message, or its singular and plural), and how its
parameters are shown (amounts and numbers by the reader's locale, dates ISO in English and
day/month/year in French).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, Optional, Union

from babel.lists import format_list
from babel.numbers import format_decimal

from gateway import i18n
from gateway.i18n import N_, NN_

Message = Union[str, tuple[str, str]]       # a msgid, or (singular, plural) counted by ``count_of``


def _money(lang: str, value: Any, currency: Any) -> str:
    from gateway.syntaxes.render import format_money
    if value is None:
        return ""
    return format_money(value, currency or None, lang) if currency else _number(lang, value)


def _number(lang: str, value: Any) -> str:
    try:
        return format_decimal(Decimal(str(value)), locale=i18n.locale(lang), decimal_quantization=False)
    except (InvalidOperation, ValueError, TypeError):
        return str(value)


def _day(lang: str, value: Any) -> str:
    """An ISO date as the reader writes it: as it is in English, 05/03/2026 in French."""
    text = str(value or "")[:10]
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return text
    return d.isoformat() if lang == "en" else d.strftime("%d/%m/%Y")


def _rates(lang: str, values: Any) -> str:
    rates = [f"{_number(lang, v)}\u00a0%" if lang == "fr" else f"{_number(lang, v)} %" for v in (values or ())]
    return format_list(rates, locale=i18n.locale(lang)) if rates else ""


def _amounts(lang: str, p: Mapping[str, Any]) -> dict[str, str]:
    return {"amount": _money(lang, p.get("amount"), p.get("currency")),
            "median": _money(lang, p.get("median"), p.get("currency")),
            "ratio": _number(lang, p.get("ratio")), "count": _number(lang, p.get("count")),
            "factor": _number(lang, p.get("factor"))}


def _dates(lang: str, p: Mapping[str, Any]) -> dict[str, str]:
    return {"date": _day(lang, p.get("issued")), "received": _day(lang, p.get("received")),
            "limit": _number(lang, p.get("limit"))}


# code → (message, its values in ``lang`` from the stored parameters, the count of a plural)
CODES: dict[str, tuple[Message, Callable[[str, Mapping[str, Any]], dict[str, str]], Optional[str]]] = {
    "amount_above": (N_("amount %(amount)s is %(ratio)s times the median %(median)s of this supplier's last "
                        "%(count)s invoices (more than %(factor)s times)"), _amounts, None),
    "amount_below": (N_("amount %(amount)s is %(ratio)s times below the median %(median)s of this supplier's "
                        "last %(count)s invoices"), _amounts, None),
    "bank_account_changed": (
        N_("bank account %(account)s is not the one on record for this supplier (%(previous)s, since %(since)s): "
           "held until an operator confirms the change"),
        lambda lang, p: {"account": str(p.get("account") or ""), "previous": str(p.get("previous") or ""),
                         "since": _day(lang, p.get("since"))}, None),
    "issue_date_future": (
        NN_("issue date %(date)s is %(num)d day after the day it was received (%(received)s; more than "
            "%(limit)s accepted)",
            "issue date %(date)s is %(num)d days after the day it was received (%(received)s; more than "
            "%(limit)s accepted)"), _dates, "days"),
    "issue_date_past": (
        NN_("issue date %(date)s is %(num)d day before the day it was received (%(received)s; more than "
            "%(limit)s accepted)",
            "issue date %(date)s is %(num)d days before the day it was received (%(received)s; more than "
            "%(limit)s accepted)"), _dates, "days"),
    "near_duplicate": (
        N_("same supplier and amount %(amount)s as invoice %(number)s (document %(document)s, issued %(date)s), "
           "under another number"),
        lambda lang, p: {"amount": _money(lang, p.get("amount"), p.get("currency")),
                         "number": str(p.get("number") or ""), "document": str(p.get("document") or ""),
                         "date": _day(lang, p.get("issued"))}, None),
    "vat_rate_unusual": (
        NN_("VAT rate %(unusual)s not used by this supplier in its last %(count)s invoices (it used %(usual)s)",
            "VAT rates %(unusual)s not used by this supplier in its last %(count)s invoices (it used %(usual)s)"),
        lambda lang, p: {"unusual": _rates(lang, p.get("unusual")), "usual": _rates(lang, p.get("usual")),
                         "count": _number(lang, p.get("count"))}, "unusual"),
    "control_failed": (N_("control %(control)s could not run: %(error)s"),
                       lambda lang, p: {"control": str(p.get("control") or ""), "error": str(p.get("error") or "")},
                       None),
}


def say(code: str, params: Mapping[str, Any], lang: str) -> Optional[str]:
    """The sentence of ``code`` with ``params`` in ``lang``; None for a code we do not know (a
    finding stored by a later version: its own English message is shown)."""
    entry = CODES.get(code)
    if entry is None:
        return None
    message, values_of, counted = entry
    values = values_of(lang, params or {})
    if isinstance(message, tuple):
        n = params.get(counted)
        n = len(n) if isinstance(n, (list, tuple)) else abs(int(n or 0))
        return i18n.ngettext(lang, *message, n, **values)
    return i18n.gettext(lang, message, **values)


def said(code: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What a control puts in its finding: the English ``message`` and the ``code`` and ``params``
    it is said again from (``base.finding(..., **said(...))``)."""
    return {"message": say(code, params, "en") or code, "code": code, "params": dict(params)}


def worded(finding: Mapping[str, Any], lang: str) -> Optional[str]:
    """A stored finding (its dict) said in ``lang``; None when it has no code (an older finding, or
    not a control's): its ``message`` is then the one to show."""
    extra = finding.get("extra") or {}
    code = extra.get("code") if isinstance(extra, Mapping) else None
    if not code:
        return None
    return say(str(code), extra.get("params") or {}, lang)


def _bank_hold(evidence: Mapping[str, Any]) -> Optional[tuple[str, dict[str, Any]]]:
    new = list(evidence.get("new_accounts") or ())
    previous = list(evidence.get("previous") or ())
    if not new:
        return None
    first = previous[0] if previous and isinstance(previous[0], Mapping) else {}
    return "bank_account_changed", {"account": new[0], "previous": first.get("account"), "since": first.get("since")}


HOLDS = {"CTRL-BANK-01": _bank_hold}        # a holding control's rule (bank_account.RULE) → its evidence read


def hold_params(control: str, evidence: Mapping[str, Any]) -> Optional[tuple[str, dict[str, Any]]]:
    """The code and parameters of a hold, from its evidence (kept since the first holds)."""
    read = HOLDS.get(control)
    return read(evidence) if read is not None else None


def hold_worded(hold: Any, lang: str) -> str:
    """Why a ``ControlHold`` holds its invoice, in ``lang`` ("" when its evidence does not say)."""
    found = hold_params(hold.control, hold.evidence or {})
    return (say(*found, lang) or "") if found else ""


__all__ = ["CODES", "say", "said", "worded", "hold_params", "hold_worded"]
