"""The product's two languages, French and English, from one gettext catalogue.

Every word a person reads (pages, mails, the invoice PDF's labels, CSV headers, the command
line's most common messages) is written in English in the code, marked for extraction
(``_()``, ``lazy_gettext``, ``{% trans %}``), and translated in
``gateway/translations/fr/LC_MESSAGES/messages.po``: Flask-Babel's layout, one catalogue
for the gateway and onboarding. ``make translations`` extracts the marked strings
(``babel.cfg``) and updates the catalogue; ``tests/unit/test_translations.py`` fails while a
French entry is missing, fuzzy, or no longer matches what the code marks.

Only the ``.po`` is committed: it is compiled in memory the first time a language is asked
for in a process (a few milliseconds), so a ``.mo`` can never be older than its ``.po``.

Who reads which language:

* a logged-in user: ``User.language``, else the browser's Accept-Language, else French
  (``gateway.web.kit.language``);
* a counterparty or partner, for what it receives (mails, PDFs): its own setting
  (``Counterparty.language``, a channel's ``lang``, else what the partner's portal users chose:
  ``channels.templating.reader_language``), passed here as ``lang``;
* the command line: ``--language``, else ``EDIGATE_LANG``, else ``EDIGATE_LANGUAGE``, else ``LANG``
  (``cli_language``).

Outside a request, ``gettext(lang, msgid, **values)`` translates with ``%(name)s`` placeholders,
as Flask-Babel's ``gettext`` does inside one, and ``jinja_env(lang)`` installs the same
catalogue in a Jinja2 environment.
"""
from __future__ import annotations

import os
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Iterable, Optional

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("fr", "en")          # the first is the default: the gateway's people are in France first
DEFAULT = "fr"
SOURCE = "en"                     # the language the code is written in (msgids)
DOMAIN = "messages"
TRANSLATIONS = Path(__file__).with_name("translations")


def po_path(lang: str) -> Path:
    """The committed catalogue of ``lang``."""
    return TRANSLATIONS / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def pick(lang: Any, default: str = DEFAULT) -> str:
    """``"fr"`` or ``"en"`` from a code such as ``fr-BE``, ``en_GB``, ``FR``; ``default`` for anything else."""
    if isinstance(lang, Locale):
        lang = lang.language
    if not isinstance(lang, str) or not lang:
        return default
    base = lang.replace("_", "-").split("-")[0].strip().lower()
    return base if base in LANGUAGES else default


def best_of(accepted: Iterable[str], default: Optional[str] = DEFAULT) -> Optional[str]:
    """The first of ``accepted`` (an Accept-Language's or $LANGUAGE's order) we speak, else ``default``."""
    for item in accepted:
        lang = pick(item, "")
        if lang:
            return lang
    return default


@lru_cache(maxsize=None)
def translations(lang: str) -> NullTranslations:
    """``lang``'s catalogue, compiled from its ``.po`` (fuzzy entries left out, as ``pybabel compile``
    does); English, the code's own language, translates nothing."""
    lang = pick(lang)
    if lang == SOURCE:
        return NullTranslations()
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext(lang: str, msgid: str, **values: Any) -> str:
    """``msgid`` in ``lang``, its ``%(name)s`` placeholders filled from ``values``."""
    text = translations(lang).ugettext(msgid)
    return text % values if values else text


def ngettext(lang: str, singular: str, plural: str, n: int, **values: Any) -> str:
    """The singular or plural form of a message in ``lang``; ``%(num)d`` is ``n``."""
    text = translations(lang).ungettext(singular, plural, n)
    return text % {"num": n, **values}


def pgettext(lang: str, context: str, msgid: str, **values: Any) -> str:
    """``msgid`` in ``lang`` where the same English word needs another translation (``context``)."""
    text = translations(lang).upgettext(context, msgid)
    return text % values if values else text


def NP_(context: str, msgid: str) -> tuple[str, str]:
    """Marks ``msgid`` with its ``context`` for extraction; ``pgettext`` translates the pair later."""
    return context, msgid


def NN_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural message for extraction; ``ngettext(lang, *pair, n)`` translates it later."""
    return singular, plural


def N_(msgid: str) -> str:
    """Marks ``msgid`` for extraction where it is translated later, by a language known then
    (tables of labels read for a partner's PDF or mail)."""
    return msgid


@lru_cache(maxsize=8)
def locale(lang: str) -> Locale:
    """Babel's locale for formatting numbers, amounts and dates: ``fr_FR`` or ``en_GB`` (day
    before month, as the gateway's English readers in Europe expect)."""
    return Locale.parse("fr_FR" if pick(lang) == "fr" else "en_GB")


def jinja_env_install(env: Any, lang: str) -> Any:
    """Installs ``lang``'s catalogue in a Jinja2 environment made with the ``jinja2.ext.i18n``
    extension (``{% trans %}``, ``_()``, ``gettext()`` with ``%(name)s`` placeholders)."""
    env.install_gettext_translations(translations(lang), newstyle=True)
    return env


def cli_language(asked: Optional[str] = None, environ: Optional[dict] = None) -> str:
    """The command line's language: ``asked`` (``--language``), else ``EDIGATE_LANG``, else
    ``EDIGATE_LANGUAGE`` (the gateway's language setting), else the POSIX locale's (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``); English when none
    names a language we speak (``C``, ``POSIX``: scripts read the English messages)."""
    if asked:
        return pick(asked, SOURCE)
    env = os.environ if environ is None else environ
    for name in ("EDIGATE_LANG", "EDIGATE_LANGUAGE"):
        if env.get(name):
            return pick(env[name], SOURCE)
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return best_of(value.split(":"), SOURCE) or SOURCE
    return SOURCE


__all__ = ["LANGUAGES", "DEFAULT", "SOURCE", "TRANSLATIONS", "po_path", "pick", "best_of", "translations",
           "gettext", "ngettext", "pgettext", "N_", "NN_", "NP_", "locale", "jinja_env_install", "cli_language"]
