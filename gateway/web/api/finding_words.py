"""Findings in the API caller's language: a control's finding (``controls.wording``) is said
again from its code and parameters, which its ``extra`` keeps; every other finding (a business
rule's message, as its rule set publishes it) and one stored before codes existed as it is.

The caller's language is the pages' (``kit.language.select``): the user's preference, else the
request's Accept-Language, else the gateway's ``EDIGATE_LANGUAGE``."""
from __future__ import annotations

from typing import Any

from flask import has_request_context
from marshmallow import fields

from ... import i18n


def caller_language() -> str:
    if not has_request_context():
        return i18n.SOURCE
    from ..kit.language import select
    return select()


def reworded(finding: Any, lang: str) -> Any:
    from ...controls.wording import worded
    if not isinstance(finding, dict):
        return finding
    text = worded(finding, lang)
    return {**finding, "message": text} if text else finding


class Findings(fields.List):
    """A list of stored findings, controls' ones in the caller's language (the schema is the list's)."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        out = super()._serialize(value, attr, obj, **kwargs)
        if not out:
            return out
        lang = caller_language()
        return [reworded(f, lang) for f in out]
