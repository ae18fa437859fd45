"""Which language a page speaks, and Flask-Babel wired to the one catalogue (``gateway.i18n``).

The reader's language, first that applies:

1. the page's own (``speak(lang)``): a public registration page speaks its counterparty's
   language, or the one its visitor switched to, from the first page to the last;
2. the logged-in user's preference (``User.language``, set on the preferences page);
3. the browser's Accept-Language, among French and English;
4. the gateway's ``EDIGATE_LANGUAGE``: French unless set.

Flask-Babel asks once per request and keeps the answer, so ``speak`` and the login
decorators call ``refresh`` when they learn something that changes it. Templates get
``_()``, ``gettext``, ``ngettext`` and ``{% trans %}``; Python tables use ``lazy_gettext``
(translated when shown, in the reader's language).
"""
from __future__ import annotations

from functools import cached_property
from typing import Optional

import flask_babel
from babel.support import NullTranslations
from flask import Flask, g, request

from ... import i18n
from .current import gateway
from .reader import current, zone_name  # noqa: F401 - current: this module's callers ask it here too

PAGE_LANGUAGE = "page_language"        # g's key for a page that chose its language


class _Catalogue(flask_babel.Domain):
    """Flask-Babel's domain, reading ``gateway.i18n``'s catalogues (compiled from the ``.po`` in
    memory) instead of ``.mo`` files on disk."""

    def get_translations(self) -> NullTranslations:
        return i18n.translations(current())


class _Babel(flask_babel.Babel):
    @cached_property
    def domain_instance(self) -> flask_babel.Domain:
        return _Catalogue()


def select() -> str:
    """The reader's language (see the module's docstring)."""
    chosen = g.get(PAGE_LANGUAGE)
    if chosen in i18n.LANGUAGES:
        return chosen
    user = g.get("user")
    preference = getattr(user, "language", None)
    if preference in i18n.LANGUAGES:
        return preference
    return request.accept_languages.best_match(i18n.LANGUAGES) or gateway().settings.language


def speak(lang: Optional[str]) -> str:
    """This page speaks ``lang`` (when it is one of ours) whatever else would apply."""
    if lang in i18n.LANGUAGES:
        setattr(g, PAGE_LANGUAGE, lang)
        flask_babel.refresh()
    return current()


def refresh() -> None:
    """Forget the language chosen so far in this request (the user is now known)."""
    flask_babel.refresh()


def install(app: Flask) -> None:
    """Flask-Babel on ``app``: the selectors above, the catalogue, ``lang`` in every template."""
    _Babel(app, locale_selector=select, timezone_selector=zone_name, default_locale=i18n.DEFAULT)

    from .words import helpers as words
    app.jinja_env.filters.update(words())     # status_word, direction_word…: as filters too (| map(...))

    @app.context_processor
    def _language() -> dict:
        lang = current()
        return {"lang": lang, "other_lang": "en" if lang == "fr" else "fr", **words()}
