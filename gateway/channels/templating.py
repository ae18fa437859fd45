"""Texts partners may word themselves (e-mail subjects and bodies): Jinja2, sandboxed.

A partner's template is data typed by an operator or a registering company, so it
runs in Jinja2's immutable sandbox (no attribute tricks, no mutation) and sees
only plain strings: the invoice fields below, already formatted for the reader's
language. Plain-text templates are not escaped (nothing interprets them); HTML
ones are autoescaped. A template naming a field that does not exist fails when
it is *set* (``check``), with the list of fields, not when the first invoice goes out.

What the gateway says when a partner words nothing itself is not a template but the
catalogue's wording (``channels.wording``). Which language a partner reads: ``reader_language``.
"""
from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

from gateway.channels.settings import LANGS  # noqa: F401 (the languages mails are written in)
from gateway.model.invoice import CREDIT_NOTE_TYPE_CODES
from gateway.syntaxes.render import DOCUMENT_TYPES, choose_lang, format_date, format_money

TEMPLATES = Path(__file__).with_name("templates")          # the paper cover sheet's

# What a template can use; every value is a string (or a bool for credit_note).
FIELDS: dict[str, str] = {
    "number": "invoice number (BT-1)",
    "title": "document title: Invoice, Credit note, Facture, Avoir…",
    "credit_note": "true for a credit note",
    "issue_date": "issue date (BT-2), formatted",
    "due_date": "due date (BT-9), formatted, or empty",
    "seller": "seller name (BT-27)",
    "buyer": "buyer name (BT-44)",
    "amount": "amount due (BT-115) with its currency, formatted",
    "currency": "currency code (BT-5)",
    "attachments": "names of the attached files",
    "link": "where to see the document (portal notifications)",
}
MAX_TEMPLATE = 20_000


class TemplateProblem(ValueError):
    """A template that does not compile or uses something that is not a field."""


@lru_cache(maxsize=2)
def _environment(html: bool):
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    return ImmutableSandboxedEnvironment(autoescape=html, undefined=StrictUndefined,
                                         keep_trailing_newline=False)


SAMPLE = {"number": "F-2025-0042", "title": "Invoice", "credit_note": False, "issue_date": "2 Mar 2025",
          "due_date": "1 Apr 2025", "seller": "Seller SA", "buyer": "Buyer SARL", "amount": "€1,234.56",
          "currency": "EUR", "attachments": "F-2025-0042.pdf", "link": "https://edigate.example/portal/documents/1"}


def check(text: Any, *, html: bool = False) -> str:
    """``text`` if it is a template that renders with the invoice fields; else ``TemplateProblem``."""
    if not isinstance(text, str) or not text.strip():
        raise TemplateProblem("expected a non-empty template text")
    if len(text) > MAX_TEMPLATE:
        raise TemplateProblem(f"at most {MAX_TEMPLATE} characters")
    from jinja2 import TemplateError, UndefinedError
    try:
        _environment(html).from_string(text).render(**SAMPLE)
    except UndefinedError as e:
        raise TemplateProblem(f"{e}; the fields are: {', '.join(FIELDS)}") from None
    except TemplateError as e:
        line = getattr(e, "lineno", None)
        raise TemplateProblem(f"template error{f' on line {line}' if line else ''}: {e}") from None
    return text


def render(text: str, fields: Mapping[str, Any], *, html: bool = False) -> str:
    return _environment(html).from_string(text).render(**fields)


def one_line(text: str, limit: int = 250) -> str:
    """A header value: no line breaks (no header injection), bounded; no-break spaces stay."""
    return re.sub(r"[ \t\r\n\v\f\x85\u2028\u2029]+", " ", text).strip()[:limit]


def fields(summary: Mapping[str, Any], lang: str, *, attachments: str = "", link: str = "") -> dict[str, Any]:
    """The template fields from a document summary (``gateway.db.summarise`` or a
    ``DocumentRecord``'s columns of the same names), formatted for ``lang``."""
    code = (summary.get("type_code") or "380").strip()
    credit = code in CREDIT_NOTE_TYPE_CODES
    default_title = {"en": ("Invoice", "Credit note"), "fr": ("Facture", "Avoir")}[lang][credit]
    amount = summary.get("amount_due")
    if amount is None:
        amount = summary.get("total_with_vat")

    def day(d: Optional[date]) -> str:
        return format_date(d, lang) if d else ""

    return {
        "number": summary.get("number") or "",
        "title": DOCUMENT_TYPES[lang].get(code, default_title),
        "credit_note": credit,
        "issue_date": day(summary.get("issue_date")),
        "due_date": day(summary.get("due_date")),
        "seller": summary.get("seller_name") or "",
        "buyer": summary.get("buyer_name") or "",
        "amount": format_money(amount, summary.get("currency"), lang) if amount is not None else "",
        "currency": summary.get("currency") or "",
        "attachments": attachments,
        "link": link,
    }


def record_summary(doc: Any) -> dict[str, Any]:
    """The summary fields of a ``DocumentRecord``."""
    return {k: getattr(doc, k) for k in ("number", "type_code", "issue_date", "due_date", "seller_name",
                                         "buyer_name", "amount_due", "total_with_vat", "currency")}


def language_for(invoice: Any, wanted: Optional[str]) -> str:
    """The language of a mail about ``invoice``: ``wanted`` (the recipient's setting), else by the
    buyer's country; English when neither says."""
    try:
        return choose_lang(invoice, wanted)
    except ValueError:
        return "en"


def users_language(session: Any, partner: Any) -> Optional[str]:
    """The language the partner's people chose for their portal pages (``User.language``): the one
    most of its active logins chose, the earliest login's on a tie; None when none chose."""
    if session is None or partner is None or getattr(partner, "id", None) is None:
        return None
    import sqlalchemy as sa
    from gateway.db import User
    chosen = session.execute(sa.select(User.language).where(
        User.partner_id == partner.id, User.active.is_(True), User.language.in_(LANGS))
        .order_by(User.id).limit(100)).scalars().all()
    if not chosen:
        return None
    return max(dict.fromkeys(chosen), key=chosen.count)


def reader_language(session: Any, partner: Any, invoice: Any, wanted: Optional[str], default: str) -> str:
    """The language a partner reads its mails in, the first that says: its channel's ``lang``
    setting (``wanted``), the language its portal users chose (``users_language``), the buyer's
    country when the invoice gives one, the gateway's language (``default``: EDIGATE_LANGUAGE)."""
    if wanted:
        return language_for(invoice, wanted)
    chosen = users_language(session, partner)
    if chosen:
        return chosen
    buyer = getattr(invoice, "buyer", None)
    address = getattr(buyer, "postal_address", None) if buyer is not None else None
    if address is not None and (getattr(address, "country_code", None) or "").strip():
        return language_for(invoice, None)
    return default if default in LANGS else "en"
