"""Identifier schemes and check digits (gateway.model.identifiers): known numbers, every one-digit typo,
and agreement with python-stdnum's implementations where it is installed."""
from __future__ import annotations

import random

import pytest

from gateway.model.identifiers import check, gs1_check_digit, luhn_ok, parse, scheme_code

# Checked by hand with the algorithms (and by python-stdnum): Luhn for SIREN/SIRET, GS1 mod 10 for GLN,
# (12 + 3 × SIREN) mod 97 for the French VAT key.
SIREN = "732829320"
SIRET = "73282932000074"
GLN = "4000001000005"
VAT_FR = "FR44732829320"
LA_POSTE_HEAD_OFFICE = "35600000000048"     # follows Luhn
LA_POSTE_OFFICE = "35600000000010"          # digit sum 15: La Poste's own rule, fails Luhn


@pytest.mark.parametrize("scheme, value", [
    ("0002", SIREN), ("SIREN", SIREN), ("0009", SIRET), ("siret", SIRET), ("0088", GLN), ("GLN", GLN),
    ("9957", VAT_FR), ("VAT", VAT_FR), ("0009", "732 829 320 00074"), ("0009", LA_POSTE_HEAD_OFFICE),
    ("0009", LA_POSTE_OFFICE), ("9957", "FR90000012345"), ("EM", "ap@example.com"),
])
def test_valid_identifiers(scheme: str, value: str) -> None:
    assert check(scheme, value) is None


def test_la_poste_office_fails_luhn_so_its_own_rule_is_what_accepts_it() -> None:
    assert not luhn_ok(LA_POSTE_OFFICE)
    assert check("0009", "35600000000011") is not None     # digit sum 16


@pytest.mark.parametrize("scheme, valid", [("0002", SIREN), ("0009", SIRET), ("0088", GLN), ("9957", VAT_FR)])
def test_every_single_digit_typo_is_caught(scheme: str, valid: str) -> None:
    start = 4 if scheme == "9957" else 0         # VAT: the digits after FR + key
    for pos in range(start, len(valid)):
        for digit in "0123456789":
            if digit != valid[pos]:
                typo = valid[:pos] + digit + valid[pos + 1:]
                assert check(scheme, typo) is not None, typo


@pytest.mark.parametrize("scheme, value, words", [
    ("SIREN", "73282932", "9 digits"),
    ("SIREN", "73282932A", "9 digits"),
    ("SIREN", "732829321", "check digit"),
    ("SIRET", "7328293200007", "14 digits"),
    ("SIRET", "73282932000075", "Luhn"),
    ("SIRET", "35600000000011", "La Poste"),
    ("SIRET", "73282932100073", "Luhn"),
    ("GLN", "400000100000", "13 digits"),
    ("GLN", "4000001000006", "expected 5"),
    ("VAT", "FR45732829320", "expected 44"),
    ("9957", "44732829320", "FR + a 2-character key"),
    ("9957", "FR44732829321", "SIREN"),
    ("EM", "not-an-address", "e-mail"),
])
def test_problems_are_named(scheme: str, value: str, words: str) -> None:
    problem = check(scheme, value)
    assert problem is not None and words in problem, problem


def test_siret_whose_siren_part_fails() -> None:
    # passes Luhn over 14 digits, but its first nine digits are no SIREN
    value = next(f"100000000{n:05d}" for n in range(100000) if luhn_ok(f"100000000{n:05d}"))
    assert not luhn_ok(value[:9])
    assert "not a valid SIREN" in check("0009", value)


def test_gs1_check_digit() -> None:
    assert gs1_check_digit("400000100000") == 5
    assert gs1_check_digit("501234567890") == 0       # GS1's example GTIN-13 5012345678900


def test_schemes_without_known_structure_are_not_checked() -> None:
    assert check("0060", "anything-goes") is None
    assert check("0208", "0123.456.789") is None


@pytest.mark.parametrize("given, value, code", [
    ("siret", "", "0009"), ("SIREN", "", "0002"), ("Gln", "", "0088"), ("0088", "", "0088"),
    ("duns", "", "0060"), ("KvK", "", "0106"), ("bce", "", "0208"), ("kbo/bce (be)", "", "0208"),
    ("VAT", "FR44732829320", "9957"), ("vat", "de123456789", "9930"), ("VAT (DE)", "", "9930"),
    ("email", "", "EM"), ("em", "", "EM"), ("0192", "", "0192"), ("AQ", "", "AQ"),
])
def test_scheme_labels_and_codes(given: str, value: str, code: str) -> None:
    assert scheme_code(given, value) == code


def test_ambiguous_and_unknown_schemes() -> None:
    with pytest.raises(ValueError, match="ambiguous.*9930.*9957|ambiguous.*9957.*9930"):
        scheme_code("VAT", "12345")
    with pytest.raises(ValueError, match="unknown identifier scheme 'SIRTE'.*SIRET"):
        scheme_code("SIRTE")
    assert "unknown identifier scheme" in check("SIRTE", "1")


def test_parse() -> None:
    assert parse("SIRET:732 829 320 00074") == ("0009", SIRET)
    assert parse("em:AP@Example.COM") == ("EM", "ap@example.com")
    assert parse("vat:fr44 732829320") == ("9957", VAT_FR)
    for bad in ("73282932000074", "SIRET:", ":123", "SIRTE:1"):
        with pytest.raises(ValueError):
            parse(bad)


# --- agreement with python-stdnum (an independent implementation), on many random numbers ------------

@pytest.mark.parametrize("scheme, module, length", [
    ("0002", "stdnum.fr.siren", 9), ("0009", "stdnum.fr.siret", 14), ("0088", "stdnum.ean", 13),
])
def test_agrees_with_stdnum(scheme: str, module: str, length: int) -> None:
    std = pytest.importorskip(module)
    rng = random.Random(20261122)
    numbers = [f"{rng.randrange(10 ** length):0{length}d}" for _ in range(3000)]
    if scheme == "0009":
        numbers += [f"356000000{rng.randrange(10 ** 5):05d}" for _ in range(500)]
    verdicts = {(check(scheme, n) is None) == std.is_valid(n) for n in numbers}
    assert verdicts == {True}
    assert sum(check(scheme, n) is None for n in numbers) > 100      # both outcomes were exercised


def test_french_vat_agrees_with_stdnum() -> None:
    tva = pytest.importorskip("stdnum.fr.tva")
    rng = random.Random(7)
    for _ in range(3000):
        siren = f"{rng.randrange(10 ** 9):09d}"
        key = rng.choice([(12 + 3 * int(siren)) % 97, rng.randrange(100)])
        number = f"FR{key:02d}{siren}"
        assert (check("9957", number) is None) == tva.is_valid(number), number
