"""The catalogues' upkeep: extract what the code marks (and the
command line's help texts), update the French ``.po``, say what is missing.

    python tools/translations.py update     # extract (babel.cfg) and merge into gateway/translations
    python tools/translations.py check      # exit 1, listing them, while an entry is missing, fuzzy or stale
    python tools/translations.py fill FILE  # take msgstrs from FILE (JSON {msgid: msgstr}) into the .po

``make translations`` runs ``update`` then ``check``; ``tests/unit/test_translations.py`` runs
``problems()``. Nothing is compiled here: ``gateway.i18n`` compiles the ``.po`` in memory.
"""
from __future__ import annotations

import json
import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway import i18n  # noqa: E402

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "lazy_ngettext": (1, 2),
            "N_": None, "NN_": (1, 2), "_l": None, "NP_": ((1, "c"), 2), "pgettext": ((1, "c"), 2)}
COMMENT_TAGS = ("Translators:",)


def extract() -> Catalog:
    """Every string the code and the templates mark, as a template catalogue (no locations: a
    moved line does not change the catalogue)."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    template = Catalog(project="edigate", charset="utf-8")
    for folder in ("gateway", "onboarding"):
        for filename, lineno, message, comments, context in extract_from_dir(
                REPO / folder, [(f"{pattern.split('/', 1)[1]}", method)
                                for pattern, method in method_map if pattern.startswith(folder + "/")],
                {pattern.split("/", 1)[1]: opts for pattern, opts in options_map.items()
                 if pattern.startswith(folder + "/")},
                KEYWORDS, COMMENT_TAGS, strip_comment_tags=True):
            template.add(message, None, [], auto_comments=comments, context=context)
    for text in cli_help():
        template.add(text, None, [], context=CLI_HELP)
    return template


CLI_HELP = "cli help"


def cli_help() -> list[str]:
    """The command line's help texts (docstrings and ``help=``, which carry no ``_()`` mark): read
    from the commands themselves, the extensions' included, as ``gateway.cli.helptext`` looks them up."""
    from gateway.cli import commands, main as root
    from gateway.cli.helptext import CONTEXT, clean, texts
    from gateway.cli.lazy import resolve
    assert CONTEXT == CLI_HELP
    from gateway.cli.documents import FLAVOURS_HEADING
    from gateway.syntaxes.registry import SYNTAXES
    found = list(texts(root))
    found += [FLAVOURS_HEADING, *(s.several for s in SYNTAXES.values() if s.several)]   # the root's --help
    for ref in commands().values():
        found.append(clean(ref.summary))
        found.extend(texts(resolve(ref.target)))
    return list(dict.fromkeys(found))


def load(lang: str = "fr") -> Catalog:
    with i18n.po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def save(catalog: Catalog, lang: str = "fr") -> None:
    catalog.fuzzy = False
    catalog.project, catalog.version = "edigate", "0.1.0"
    catalog.copyright_holder = "the edigate authors"
    catalog.msgid_bugs_address = ""
    catalog.last_translator = catalog.language_team = "the edigate authors"
    out = BytesIO()
    write_po(out, catalog, width=100, no_location=True, omit_header=False, ignore_obsolete=True)
    i18n.po_path(lang).parent.mkdir(parents=True, exist_ok=True)
    i18n.po_path(lang).write_bytes(out.getvalue())


def update(lang: str = "fr") -> Catalog:
    """The ``.po`` of ``lang`` updated to what the code marks now (new entries empty, gone ones dropped)."""
    template = extract()
    try:
        catalog = load(lang)
    except FileNotFoundError:
        catalog = Catalog(locale=lang, project="edigate", charset="utf-8")
    catalog.update(template, no_fuzzy_matching=True)
    save(catalog, lang)
    return catalog


def problems(lang: str = "fr") -> list[str]:
    """What keeps the catalogue from being complete: entries the code marks that it lacks, entries
    it has that the code no longer marks, untranslated and fuzzy ones."""
    catalog, marked = load(lang), extract()
    have = {_key(m): m for m in catalog if m.id}
    want = {_key(m) for m in marked if m.id}
    out = [f"missing from the catalogue: {k!r}" for k in sorted(want - set(have))]
    out += [f"no longer marked in the code: {k!r}" for k in sorted(set(have) - want)]
    for key, m in sorted(have.items()):
        if key not in want:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy:
            out.append(f"fuzzy: {key!r}")
        elif not all(strings):
            out.append(f"untranslated: {key!r}")
    return out


def _key(m) -> str:
    """An entry's msgid (the singular of a plural one), after its context and "::" when it has one."""
    msgid = m.id if isinstance(m.id, str) else m.id[0]
    return f"{m.context}::{msgid}" if m.context else msgid


def fill(path: str, lang: str = "fr") -> None:
    """Translations from a JSON file ({msgid: msgstr, or [singular, plural]}) into the catalogue."""
    given = json.loads(Path(path).read_text(encoding="utf-8"))
    catalog = load(lang)
    for m in catalog:
        key = _key(m)
        if key in given:
            value = given[key]
            m.string = tuple(value) if isinstance(value, list) else value
            m.flags.discard("fuzzy")
    save(catalog, lang)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "update":
        update()
        command = "check"
    if command == "fill":
        fill(argv[2])
        command = "check"
    if command == "check":
        found = problems()
        for line in found:
            print(line)
        print(f"{len(found)} problem(s) in {i18n.po_path('fr').relative_to(REPO)}")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
