"""The command line's words in its reader's language, from the one gettext catalogue.

The language: ``--language`` (``edigate --language fr partner list``), else ``EDIGATE_LANG``,
else ``EDIGATE_LANGUAGE`` (the gateway's own language setting), else the POSIX locale
(``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``), else English: a script run under ``C``
reads the English messages it always did (``gateway.i18n.cli_language``).

Messages, confirmations and refusals are marked ``_()`` here and translated in
``gateway/translations/fr``; ``--help`` texts are translated when click shows them
(``gateway.cli.helptext``), and click's own usage errors through ``gateway.cli.click_words``:
the root group reads ``--language`` before click parses anything. The labelled rows of a
``show`` or ``status`` are translated (``label_rows``); tables' column headers and values, and
JSON, stay as they are: scripts read them.
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


def label_rows(rows: list[tuple[str, Any]], indent: str = "  ", width: int = 15) -> list[str]:
    """``label: value`` lines, the labels (msgids marked ``N_``) in this run's language and aligned."""
    labels = [_("%(label)s:", label=_(label)) for label, _value in rows]
    width = max([width, *(len(label) + 1 for label in labels)])
    return [f"{indent}{label:<{width}}{value}" for label, (_label, value) in zip(labels, rows)]


def identifier_problem(problem: Any) -> str:
    """An identifier's problem (``gateway.model.problems``) in this run's language."""
    from gateway.partners.identifier_words import worded
    return worded(problem, language())


__all__ = ["ask", "language", "_", "ngettext", "label_rows", "identifier_problem"]
