"""``--help``, click's usage errors and the ``show``/``status`` label rows in French, judged by the catalogue.

The language is read before click parses (``edigate --language fr --help``); help texts are looked up
in the French catalogue when shown, and click's own words (``Usage:``, ``Missing argument``…) come
from its ``click`` context. Each part of a printed line (lines split at column gaps and after a
label's colon) must read as French to the catalogue judge (tests/support/french_text.py), or be a
piece of one French entry (click wraps help texts at the terminal's width); option names, metavars,
command and flavour names, and the mapping files' own summaries are data. English stays the
default (the suite runs with ``EDIGATE_LANG=en``). Runs in this process (click's runner), on a
fresh database under tmp_path for the label rows.
"""
from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from gateway import i18n
from gateway.syntaxes import flavours
from tests.integration.test_cli_french import run
from tests.support.french_text import FrenchJudge, _norm

OPTION = re.compile(r"^-[-\w]*(?:, -[-\w]*)*(?: (?:[A-Z][A-Z_|.…]*|\[[\w|]+\]))?$")
COMMANDS = {"add", "disable", "enable", "id", "list", "pa-subscribe", "pa-unsubscribe", "set", "show", "remove",
            "ack", "annuaire", "approval", "archive", "cert", "controls", "exchange", "formats", "network",
            "onboarding", "org", "paper", "partner", "send", "serve", "sftp", "token", "translate", "user",
            "validate", "worker", "import", "refresh", "find"}


@pytest.fixture(scope="module")
def judge() -> FrenchJudge:
    return FrenchJudge.load()


@pytest.fixture(scope="module")
def french_entries() -> str:
    """Every French msgstr, normalised, one after the other (a wrapped line is a piece of one)."""
    with i18n.po_path("fr").open("rb") as f:
        catalog = read_po(f, locale="fr")
    return "\n".join(_norm(m.string) for m in catalog if m.id and isinstance(m.string, str))


@pytest.fixture(autouse=True)
def english_again():
    """A French run must not leave its language to the tests that call a group directly."""
    yield
    from gateway.cli import words
    words.ask(None)


def data() -> set[str]:
    found = flavours()
    return {*COMMANDS, *(f.name for f in found), *(f.summary_in("fr") for f in found), "[x>=0]", "-", "main"}


def assert_french(text: str, judge: FrenchJudge, entries: str, extra: set[str] = frozenset()) -> list[str]:
    known = data() | set(extra)
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    for line in lines:
        if line.startswith("Utilisation : "):
            continue                                    # the rest is the command's own usage
        for part in re.split(r"\s{2,}|(?<=\S:)\s|(?<=\s:)\s", line.strip()):
            part = part.strip()
            if not part or part in known or OPTION.match(part) or judge.verdict(part, known) is None:
                continue
            assert _norm(part) in entries, (part, line)
    return lines


def test_the_root_help_reads_french(judge, french_entries) -> None:
    r = run_help("--language", "fr", "--help")
    lines = assert_french(r.output, judge, french_entries)
    assert lines[0].startswith("Utilisation : ")
    assert "  edigate\u00a0: les factures électroniques à travers le modèle EN 16931." in lines   # no break before ":"
    assert "Commandes:" in lines and "Options:" in lines
    text = "\n".join(lines)
    assert "Afficher ce message et quitter." in text and "Show this message" not in text
    assert "Partenaires commerciaux : identifiants, format et canal,..." in text     # a summary, shortened
    assert "(un échange peut contenir plusieurs factures)" in text


def test_a_command_help_reads_french(judge, french_entries) -> None:
    r = run_help("--language", "fr", "partner", "--help")
    lines = assert_french(r.output, judge, french_entries)
    assert "  add             Ajouter le partenaire NAME." in lines

    r = run_help("--lang=fr", "partner", "add", "--help")
    text = "\n".join(assert_french(r.output, judge, french_entries))
    assert "Ajouter le partenaire NAME. Les réglages AS2 non précisés" in text
    assert "Le nom AS2 du partenaire (l'AS2-From de ce" in text and "AS2-From of what" not in text


def test_click_usage_errors_read_french(tmp_path, judge, french_entries) -> None:
    r = run(tmp_path, "--language", "fr", "partner", "add")
    assert r.exit_code == 2
    lines = assert_french(r.stderr, judge, french_entries)
    assert lines[-1] == "Erreur : Argument manquant 'NAME'."
    assert lines[1] == "Essayez « main partner add --help » pour obtenir de l'aide."

    r = run(tmp_path, "--language", "fr", "partner", "add", "Acme", "--bogus")
    assert r.exit_code == 2
    assert assert_french(r.stderr, judge, french_entries)[-1] == "Erreur : Option '--bogus' inconnue."

    r = run(tmp_path, "--language", "fr", "partnr")
    assert r.exit_code == 2
    assert assert_french(r.stderr, judge, french_entries)[-1] == "Erreur : Commande 'partnr' inconnue."


def test_network_show_and_annuaire_status_rows_read_french(tmp_path, judge, french_entries) -> None:
    assert run(tmp_path, "partner", "add", "Acme").exit_code == 0
    assert run(tmp_path, "network", "add", "EU", "--partner", "Acme", "--name", "Europe").exit_code == 0
    r = run(tmp_path, "--language", "fr", "network", "show", "EU")
    assert r.exit_code == 0, r.output
    lines = assert_french(r.stdout, judge, french_entries, {"EU", "Europe", "Acme (#1, -)", "1m", "1d"})
    assert lines[0] == "réseau n° 1 EU : Europe (actif)"
    assert lines[1].startswith("  point d'accès :") and lines[1].endswith("Acme (#1, -)")
    assert [line.split(" : ", 1)[1].strip() for line in lines if "dernière actualisation" in line] == [
        "- (pas d'annuaire)"]

    r = run(tmp_path, "--language", "fr", "annuaire", "status")
    assert r.exit_code == 0, r.output
    lines = assert_french(r.stdout, judge, french_entries, {"0"})
    assert lines[0] == "annuaire : non configuré (EDIGATE_ANNUAIRE_URL) (désactivé)"
    assert lines[1].split(":", 1)[1].strip() == "- (EDIGATE_PLATFORM_ID non renseigné)"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "notre plateforme", "lignes", "dernière actualisation", "dernier succès", "prochaine actualisation"]


def test_english_stays_the_default(tmp_path) -> None:
    run_help("--language", "fr", "--help")                  # a French run before: nothing of it stays
    r = run_help("--help", EDIGATE_LANG="en")
    assert "Show this message and exit." in r.output and "Commands:" in r.output
    assert "  edigate: e-invoices through the EN 16931 model." in r.output
    r = run(tmp_path, "partner", "add", EDIGATE_LANG="en")
    assert r.exit_code == 2 and r.stderr.splitlines()[-1] == "Error: Missing argument 'NAME'."
    r = run(tmp_path, "partner", "add", "--help", EDIGATE_LANG="en")
    assert "Add partner NAME." in r.output and "The partner's AS2 name" in r.output

    r = run(tmp_path, "annuaire", "status", EDIGATE_LANG="en")
    assert r.stdout.splitlines()[:2] == ["annuaire: not configured (EDIGATE_ANNUAIRE_URL) (off)",
                                         "  our platform:  - (EDIGATE_PLATFORM_ID not set)"]


def run_help(*args: str, **env: str):
    """``--help`` needs no database: a home under no tmp_path is never made."""
    from pathlib import Path
    r = run(Path("/nonexistent-edigate-home"), *args, **env)
    assert r.exit_code == 0, r.output
    return r
