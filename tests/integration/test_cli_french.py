"""The command line in French: its messages, refusals and identifier problems from the catalogue.

``edigate`` speaks French when ``--language fr`` says so, or ``EDIGATE_LANG`` / ``EDIGATE_LANGUAGE``,
or a French locale (``LANG=fr_FR.UTF-8``); English otherwise (``LANG=C``: what scripts read).
Every line a French run prints is judged against the French catalogue (tests/support/french_text.py),
the data it names (partner names, identifiers) set aside, and none of the English wording is left.
Runs on a fresh database under tmp_path.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.support.french_text import FrenchJudge

ENGLISH = ("Error", "fails its", "check digit", "no user", "added partner", "disabled", "warning", "typo",
           "has no identifier", "already")
DATA = {"Acme", "Lone", "nobody", "0009:73282932000074 (SIRET)", "0009:73282932000075", "73282932000075",
        "0009:73282932000074", "edigate partner id add", "--language"}


@pytest.fixture(scope="module")
def judge() -> FrenchJudge:
    return FrenchJudge.load()


def run(tmp_path, *args: str, **env: str | None):
    base = {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_DATABASE_URL": None, "EDIGATE_LANG": None,
            "EDIGATE_LANGUAGE": None, "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C.UTF-8"}
    return CliRunner().invoke(main, list(args), env={**base, **env}, catch_exceptions=False)


def french_lines(result, judge: FrenchJudge) -> list[str]:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines, result
    for line in lines:
        assert judge.verdict(line, DATA) is None, line
        assert not any(word in line for word in ENGLISH), line
    return lines


@pytest.mark.parametrize("how", ["option", "EDIGATE_LANG", "EDIGATE_LANGUAGE", "locale"])
def test_a_french_run_reads_french(tmp_path, judge, how) -> None:
    args, env = {"option": (["--language", "fr"], {"EDIGATE_LANG": "en"}),      # the option wins
                 "EDIGATE_LANG": ([], {"EDIGATE_LANG": "fr", "LANG": "en_GB.UTF-8"}),
                 "EDIGATE_LANGUAGE": ([], {"EDIGATE_LANGUAGE": "fr"}),
                 "locale": ([], {"LANG": "fr_FR.UTF-8"})}[how]

    r = run(tmp_path, *args, "partner", "add", "Acme", "--id", "SIRET:73282932000075", **env)
    assert r.exit_code == 2
    (line,) = french_lines(r, judge)
    assert line == ("Erreur : identifiant 0009:73282932000075 : le SIRET 73282932000075 ne respecte pas sa clé "
                    "de contrôle (Luhn) : une faute de frappe ?")

    r = run(tmp_path, *args, "partner", "add", "Acme", "--id", "SIRET:73282932000074", **env)
    assert r.exit_code == 0, r.output
    assert french_lines(r, judge)[0] == "partenaire n° 1 Acme ajouté : 0009:73282932000074 (SIRET)"

    r = run(tmp_path, *args, "partner", "add", "Lone", **env)
    lines = french_lines(r, judge)
    assert "le partenaire « Lone » n'a aucun identifiant" in "\n".join(lines)

    r = run(tmp_path, *args, "partner", "disable", "Acme", **env)
    assert french_lines(r, judge) == ["partenaire Acme désactivé"]

    r = run(tmp_path, *args, "user", "disable", "nobody", **env)
    assert r.exit_code == 1 and french_lines(r, judge) == ["Erreur : aucun utilisateur « nobody »"]

    r = run(tmp_path, *args, "partner", "show", "Nobody", **env)
    assert r.exit_code == 2 and french_lines(r, judge)[0].startswith("Erreur : aucun partenaire « Nobody »")


def test_without_a_language_the_command_line_reads_english(tmp_path) -> None:
    r = run(tmp_path, "partner", "add", "Acme", "--id", "SIRET:73282932000075")
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: identifier 0009:73282932000075: SIRET 73282932000075 fails its check digit "
                                "(Luhn): a typo?")
    r = run(tmp_path, "user", "disable", "nobody", LANG="de_DE.UTF-8")      # a language we do not speak
    assert r.stderr.strip() == "Error: no user 'nobody'"
