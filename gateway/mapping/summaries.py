"""A mapping file's one-line summary in the reader's language.

The summary is wording people read (``edigate --help``, the registration page's format
choice), so it is data beside the English one: ``summary`` (English, the code's language;
default: the description) and ``summary_fr``. A file without ``summary_fr`` still reads, in
English, everywhere; ``tests/unit/test_mapping_summaries.py`` keeps every shipped file bilingual.
"""
from __future__ import annotations

from typing import Any, Mapping

# language -> the key a mapping file words its summary under (English is the default)
KEYS = {"en": "summary", "fr": "summary_fr"}


def summaries(own: Mapping[str, Any]) -> dict[str, str]:
    """``{language: summary}`` of a file's own keys (``extends`` not applied: a summary is the
    file's own); the English one falls back on the description, others are absent when unsaid."""
    out = {"en": str(own.get("summary") or own.get("description") or "")}
    for lang, key in KEYS.items():
        if lang != "en" and own.get(key):
            out[lang] = str(own[key])
    return out


def pick(summaries: Mapping[str, str], lang: str) -> str:
    """The summary in ``lang``, else the English one."""
    return summaries.get(lang) or summaries.get("en", "")
