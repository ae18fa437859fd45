"""The command line's words in its reader's language, from the one gettext catalogue.

The language: ``--language`` (``edigate --language fr partner list``), else ``EDIGATE_LANG``,
else ``EDIGATE_LANGUAGE`` (the gateway's own language setting), else the POSIX locale
(``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``), else English: a script run under ``C``
reads the English messages it always did (``gateway.i18n.cli_language``).

Messages, confirmations and refusals are marked ``_()`` here and translated in
``gateway/translations/fr``; ``--help`` texts stay English (click reads them when the
commands are defined, before any language is known), as do click's own usage errors.
Tables' column headers and values stay as they are: scripts read them.
"""
from __future__ import annotations

from typing import Any, Optional

_asked: Optional[str] = None       # --language of the running command


def ask(language: Optional[str]) -> None:
    """The root group's ``--language`` (``None``: from the environment)."""
    global _asked
    _asked = language


def language() -> str:
    """``fr`` or ``en`` for this run."""
    from gateway import i18n
    return i18n.cli_language(_asked)


def _(msgid: str, **values: Any) -> str:
    """``msgid`` in this run's language, ``%(name)s`` placeholders filled."""
    from gateway import i18n
    return i18n.gettext(language(), msgid, **values)


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    from gateway import i18n
    return i18n.ngettext(language(), singular, plural, n, **values)


def identifier_problem(problem: Any) -> str:
    """An identifier's problem (``gateway.model.problems``) in this run's language."""
    from gateway.partners.identifier_words import worded
    return worded(problem, language())


__all__ = ["ask", "language", "_", "ngettext", "identifier_problem"]
