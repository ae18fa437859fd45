"""A problem with a value someone typed, as a code and its values, not only as English words.

The model imports nothing of ours, so it cannot word a problem in the reader's language; it
says *which* problem (``code``) and *with what* (``params``), and keeps English words beside
them (``str()`` of it, what logs, the API's ``details`` and older callers read). The
presentation layer words it again in the reader's language from the code
(``gateway.partners.identifier_words``, through the gettext catalogue).

``Problem`` is a ``str`` (the English words), so ``problem = check_siret(v); if problem: …``
and f-strings keep working; ``IdentifierError`` is the ``ValueError`` a parser raises, with
the same code and values (``.problem``).
"""
from __future__ import annotations

from typing import Any


class Problem(str):
    """English words, with ``code`` and ``params`` for wording them in another language."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, text: str, /, **params: Any) -> "Problem":
        made = super().__new__(cls, text)
        made.code = code
        made.params = params
        return made

    def __reduce__(self):            # pickles (worker processes) keep the code and values
        return _rebuild, (self.code, str(self), self.params)


def _rebuild(code: str, text: str, params: dict[str, Any]) -> Problem:
    return Problem(code, text, **params)


class IdentifierError(ValueError):
    """An identifier that cannot be read; ``problem`` says which problem, with its values."""

    def __init__(self, code: str, text: str, /, **params: Any):
        super().__init__(text)
        self.problem = Problem(code, text, **params)


def problem_of(exc: ValueError) -> Problem:
    """The ``Problem`` an error carries, or its words under the code ``other``."""
    carried = getattr(exc, "problem", None)
    return carried if isinstance(carried, Problem) else Problem("other", str(exc), text=str(exc))


__all__ = ["Problem", "IdentifierError", "problem_of"]
