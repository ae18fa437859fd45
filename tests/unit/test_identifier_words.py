"""Identifier problems: a code and values in the model, worded in the reader's language above it.

The model (``gateway.model.identifiers``, ``addressing``) imports nothing of ours, so it gives
each problem a code and its values (``gateway.model.problems.Problem``, still its English
words as a string); ``gateway.partners.identifier_words`` words it from the catalogue. Every
code the model can give has its words, in English the model's own and in French a
translation the catalogue holds (judged with tests/support/french_text.py).
"""
from __future__ import annotations

import pickle

import pytest

from gateway.model import identifiers as ids
from gateway.model.addressing import french_address
from gateway.model.problems import IdentifierError, Problem
from gateway.partners.identifier_words import WORDS, worded
from tests.support.french_text import FrenchJudge

# one wrong value per problem the model knows, and the code it must give
CASES = [
    (lambda: ids.check("SIREN", "732829321"), "siren_check"),
    (lambda: ids.check("SIREN", "12345"), "digits"),
    (lambda: ids.check("SIRET", "73282932000075"), "siret_check"),
    (lambda: ids.check("SIRET", "35600000000049"), "siret_la_poste"),
    (lambda: ids.check("SIRET", "12345678000006"), "siret_siren"),
    (lambda: ids.check("GLN", "4000001000006"), "gln_check"),
    (lambda: ids.check("VAT", "FR4473282932"), "vat_fr_shape"),
    (lambda: ids.check("VAT", "FR00732829320"), "vat_fr_key"),
    (lambda: ids.check("VAT", "FR44732829321"), "vat_fr_siren"),
    (lambda: ids.check("EM", "not-an-address"), "email"),
    (lambda: ids.check("0225", "732829321"), "address"),
    (lambda: ids.check("0225", "73282932"), "address_siren"),
    (lambda: ids.check("0225", "732829320_12345678901234"), "address_siret"),
    (lambda: ids.check("0225", "732829320_73282932000074_a b+c"), "address_routing"),
    (lambda: ids.check("0225", "732829320_a+b"), "address_suffix"),
    (lambda: ids.check("PA", "12"), "digits"),
    (lambda: ids.check("VAT", "XX123"), "scheme_ambiguous"),
    (lambda: ids.check("WHATEVER", "1"), "scheme_unknown"),
    (lambda: ids.check("0009", "  "), "empty"),
    (lambda: ids.check_iban("FR76 3000 6000 0112 3456 7890 188"), "iban_check"),
    (lambda: ids.check_iban("FR76-3000"), "iban_shape"),
]


@pytest.fixture(scope="module")
def judge() -> FrenchJudge:
    return FrenchJudge.load()


@pytest.mark.parametrize("make,code", CASES, ids=[c for _, c in CASES])
def test_each_problem_has_a_code_and_reads_in_both_languages(make, code, judge) -> None:
    problem = make()
    assert isinstance(problem, Problem) and problem.code == code, (problem, getattr(problem, "code", None))
    assert code in WORDS
    assert worded(problem, "en") == str(problem)           # English: the model's words, as scripts read them
    french = worded(problem, "fr")
    assert french != str(problem)
    assert judge.verdict(french, set(map(str, problem.params.values()))) is None, french
    for english_piece in ("fails its", "is not", "digits, not", "a typo?"):
        assert english_piece not in french, french


def test_nested_problems_are_worded_whole() -> None:
    problem = ids.check("VAT", "FR44732829321")             # its SIREN's check digit
    assert problem.code == "vat_fr_siren" and problem.params["problem"].code == "siren_check"
    assert worded(problem, "fr") == ("Numéro de TVA FR44732829321 : le SIREN 732829321 ne respecte pas sa clé "
                                     "de contrôle (Luhn) : une faute de frappe ?")
    assert worded(ids.check("SIREN", "12345"), "fr") == "Un SIREN compte 9 chiffres, pas « 12345 »."
    assert worded(ids.check("PA", "12"), "fr") == "Un numéro de plateforme compte 4 chiffres, pas « 12 »."


def test_parsers_raise_a_value_error_that_carries_the_problem() -> None:
    with pytest.raises(ValueError) as caught:
        ids.parse("SIRET")
    assert isinstance(caught.value, IdentifierError) and caught.value.problem.code == "not_scheme_value"
    assert "expected SCHEME:VALUE" in str(caught.value)
    assert worded(caught.value.problem, "fr").startswith("« SIRET » : attendu SCHÉMA:VALEUR")
    with pytest.raises(IdentifierError) as caught:
        french_address("1_2")
    assert caught.value.problem.code == "address_siren"


def test_a_valid_value_is_no_problem_and_problems_survive_pickling() -> None:
    assert ids.check("SIRET", "73282932000074") is None and ids.check_iban("FR7630006000011234567890189") is None
    problem = ids.check("GLN", "4000001000006")
    again = pickle.loads(pickle.dumps(problem))
    assert (again.code, again.params, str(again)) == (problem.code, problem.params, str(problem))


def test_text_without_a_code_is_shown_as_it_is() -> None:
    assert worded("something else", "fr") == "something else"
    assert worded(Problem("no-such-code", "words"), "fr") == "words"
