"""Campaign mail wording: the defaults from the catalogue, overridden per campaign; rendering.

The defaults are ``onboarding.wording``'s: English messages the French catalogue translates
(``gateway/translations``), the same mechanism as every other word of the product. A campaign
overrides them with ``CampaignTemplate`` rows; the most specific wins:

    campaign row (step, language, segment)  >  campaign row (step, language, any segment)
    >  default (step, language, the campaign's kind)

A wording is a subject and a plain-text body; the HTML part is drawn from the text when the
mail is rendered (``wording.html_of``), so the two parts always say the same thing (a row's
``body_html``, from before, is not used).

Templates are Jinja2 written by staff, so they run in a **sandboxed** environment (no
attribute tricks, no access to Python internals), with ``StrictUndefined`` (a misspelt
variable is an error when the template is saved, not a blank in 10,000 mails); the HTML part
escapes every value (a company name with ``<script>`` stays text). The context holds only
strings and numbers.

Variables (``VARIABLES``): ``company``, ``contact`` (may be empty), ``greeting`` ("Dear …,"
or "Dear Sir or Madam," in the counterparty's language), ``inviter`` (the inviting company),
``sender`` (who signs; may be empty), ``email``, ``siren``, ``siret``, ``vat``, ``gln``,
``segment``, ``language``, ``campaign``, ``registration_url``, ``optout_url``, ``expires_on``
(the link's expiry date, written for the language), ``reminder_number``, ``reminder_count``.

Every mail carries the opt-out link: a text body that does not show ``optout_url`` is refused
when saved, and gets a footer with it if it ever comes to sending one (a template edited in
the database by hand).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Optional

import sqlalchemy as sa
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from gateway import i18n
from gateway.model.errors import EdigateError

from . import wording
from .models import CAMPAIGN_KINDS, LANGUAGES, STEPS, Campaign, CampaignTemplate

VARIABLES = ("company", "contact", "greeting", "inviter", "sender", "email", "siren", "siret", "vat", "gln", "segment", "language", "campaign",
             "registration_url", "optout_url", "expires_on", "reminder_number", "reminder_count")
MAX_SUBJECT = 200

_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


class TemplateProblem(EdigateError, ValueError):
    """A template that cannot be used; the message says which part (subject, text, HTML) and why."""


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body_text: str
    body_html: Optional[str]
    origin: str                 # "default", or "campaign" / "campaign, segment X" for an override


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: Optional[str]
    origin: str


def template_step(step: str) -> str:
    """A mail's step (``reminder-2``) → its template's step (``reminder``)."""
    base = step.split("-", 1)[0]
    if base not in STEPS:
        raise ValueError(f"step {step!r}: expected one of {', '.join(STEPS)} (or reminder-N)")
    return base


def long_date(when: datetime, language: str) -> str:
    months = _MONTHS.get(language, _MONTHS["en"])
    if language == "fr":
        return f"{when.day}{'er' if when.day == 1 else ''} {months[when.month - 1]} {when.year}"
    return f"{when.day} {months[when.month - 1]} {when.year}"


# --- defaults (the catalogue) ------------------------------------------------------------------

@lru_cache(maxsize=None)
def default_template(step: str, language: str, kind: str = "customers") -> TemplateSource:
    """The shipped wording for a step, language and campaign kind (``onboarding.wording``)."""
    step = template_step(step)
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: expected one of {', '.join(LANGUAGES)}")
    if kind not in CAMPAIGN_KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(CAMPAIGN_KINDS)}")
    subject, text = wording.default_source(step, language, kind)
    return TemplateSource(subject, text, None, "default")


def resolve(session: Optional[Session], campaign_id: Optional[int], step: str, language: str,
            segment: str = "") -> TemplateSource:
    """The wording a mail of ``step`` to a counterparty of ``language``/``segment`` uses (see module)."""
    step = template_step(step)
    if session is not None and campaign_id is not None:
        rows = session.scalars(sa.select(CampaignTemplate).where(
            CampaignTemplate.campaign_id == campaign_id, CampaignTemplate.step == step,
            CampaignTemplate.language == language, CampaignTemplate.segment.in_({segment or "", ""}))).all()
        for row in sorted(rows, key=lambda r: r.segment == ""):        # the segment's own row first
            origin = f"campaign, segment {row.segment}" if row.segment else "campaign"
            return TemplateSource(row.subject, row.body_text, None, origin)
        kind = session.scalar(sa.select(Campaign.kind).where(Campaign.id == campaign_id))
        return default_template(step, language, kind or "customers")
    return default_template(step, language)


# --- rendering ---------------------------------------------------------------------------------

_text_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_html_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    return (_html_env if html else _text_env).from_string(source)


def _render(source: str, context: dict[str, Any], *, html: bool, part: str) -> str:
    try:
        return _compiled(source, html).render(context)
    except TemplateError as e:
        where = f" (line {e.lineno})" if getattr(e, "lineno", None) else ""
        raise TemplateProblem(f"{part}{where}: {e.message or e}") from None
    except Exception as e:          # the sandbox refusing something, a bad filter argument…
        raise TemplateProblem(f"{part}: {type(e).__name__}: {e}") from None


def _one_line(text: str) -> str:
    """Subjects are headers: one line (no header injection through a company name), bounded."""
    line = re.sub(r"\s+", " ", text).strip()
    return line[:MAX_SUBJECT]


def render(source: TemplateSource, context: dict[str, Any], *, ensure_optout: bool = True) -> RenderedMail:
    """Subject, text and HTML of one mail (the HTML drawn from the text). Raises ``TemplateProblem``."""
    subject = _one_line(_render(source.subject, context, html=False, part="subject"))
    text = _render(source.body_text, context, html=False, part="text body")
    url = context.get("optout_url")
    lang = i18n.pick(context.get("language"), i18n.SOURCE)
    if ensure_optout and url and url not in text:
        text = text.rstrip("\n") + "\n\n--\n" + i18n.gettext(lang, wording._FOOTER[0], optout_url=url) + "\n"
    html = wording.html_of(text, lang=lang, title=subject, registration_url=context.get("registration_url"))
    return RenderedMail(subject, text, html, source.origin)


def sample_context(language: str = "fr", segment: str = "", *, public_url: str = "https://edigate.example",
                   campaign: str = "Campaign") -> dict[str, Any]:
    """Made-up values for previews and for checking a template before it is saved."""
    from datetime import timezone
    fr = language == "fr"
    return {
        "company": "Exemple SARL" if fr else "Example Ltd", "contact": "Camille Martin" if fr else "Alex Smith",
        "greeting": wording.greeting(language, "Camille Martin" if fr else "Alex Smith"),
        "inviter": "Groupe Exemple" if fr else "Example Group", "sender": "",
        "email": "compta@exemple.fr" if fr else "accounts@example.com",
        "siren": "732829320", "siret": "73282932000074", "vat": "FR44732829320", "gln": "3012345000010",
        "segment": segment, "language": language, "campaign": campaign,
        "registration_url": f"{public_url.rstrip('/')}/register/EXAMPLE-TOKEN",
        "optout_url": f"{public_url.rstrip('/')}/optout/EXAMPLE-TOKEN",
        "expires_on": long_date(datetime(2030, 6, 30, tzinfo=timezone.utc), language),
        "reminder_number": 1, "reminder_count": 3,
    }


def check_template(step: str, language: str, subject: str, body_text: str,
                   body_html: Optional[str] = None) -> RenderedMail:
    """Render with sample values; refuse what would fail or lose the opt-out link. Returns the
    sample rendering (what the preview shows). ``body_html`` is not used any more (the HTML part
    is drawn from the text): kept for callers of before."""
    template_step(step)
    if language not in LANGUAGES:
        raise TemplateProblem(f"language {language!r}: expected one of {', '.join(LANGUAGES)}")
    if not subject.strip():
        raise TemplateProblem("subject: empty")
    if not body_text.strip():
        raise TemplateProblem("text body: empty (every mail has a plain-text part)")
    source = TemplateSource(subject, body_text, None, "draft")
    ctx = sample_context(language)
    rendered = render(source, ctx, ensure_optout=False)
    if ctx["optout_url"] not in rendered.text:
        raise TemplateProblem("text body: it must show the opt-out link ({{ optout_url }}): every mail "
                              "offers a way to stop receiving them")
    return rendered
