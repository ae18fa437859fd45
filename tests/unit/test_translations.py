"""The French catalogue is whole: every string the code and templates mark has a French entry, none
fuzzy or empty, none left over; placeholders agree; numbers and dates follow the language."""
from __future__ import annotations

import re
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import i18n

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import translations as upkeep  # noqa: E402  (tools/translations.py)

PLACEHOLDER = re.compile(r"%\((\w+)\)[sdf]|\{(\w+)\}")


def test_the_french_catalogue_has_every_marked_string_translated() -> None:
    problems = upkeep.problems("fr")
    assert problems == [], "run `make translations` and translate:\n" + "\n".join(problems[:40])


def test_a_translation_keeps_the_placeholders_of_its_msgid() -> None:
    wrong = []
    for m in upkeep.load("fr"):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = {x for i in ids for x in PLACEHOLDER.findall(i)}
        for s in strings:
            got = set(PLACEHOLDER.findall(s))
            if got - want or (want - got and len(ids) == 1):
                wrong.append((ids[0], s))
    assert wrong == []


def test_french_is_compiled_from_the_committed_po_and_english_is_the_code() -> None:
    catalogue = upkeep.load("fr")
    some = next(m for m in catalogue if m.id and isinstance(m.id, str) and m.string and "%(" not in m.id)
    assert i18n.gettext("fr", some.id) == some.string
    assert i18n.gettext("en", some.id) == some.id
    assert i18n.pick("fr-BE") == "fr" and i18n.pick("en_GB") == "en" and i18n.pick("de") == "fr"


@pytest.mark.parametrize("env, lang", [
    ({}, "en"), ({"LANG": "C.UTF-8"}, "en"), ({"LANG": "fr_FR.UTF-8"}, "fr"),
    ({"LANG": "fr_FR.UTF-8", "EDIGATE_LANG": "en"}, "en"), ({"LANGUAGE": "de:fr", "LANG": "en_US"}, "fr"),
])
def test_the_command_line_language(env, lang) -> None:
    assert i18n.cli_language(environ=env) == lang


def test_locales_for_numbers_and_dates() -> None:
    from babel.dates import format_date
    from babel.numbers import format_currency
    assert format_currency(Decimal("1234.5"), "EUR", locale=i18n.locale("fr")) == "1\u202f234,50\u00a0€"
    assert format_currency(Decimal("1234.5"), "EUR", locale=i18n.locale("en")) == "€1,234.50"
    assert format_date(date(2026, 3, 5), "short", locale=i18n.locale("fr")) == "05/03/2026"
