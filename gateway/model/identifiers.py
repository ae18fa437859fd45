"""Party identifiers as operators type them: scheme labels, and check digits.

Why here and not in the database layer: a partner is found by its
identifiers, so a mistyped SIRET creates a partner nobody ever reaches and
misroutes the invoices meant for it. Catching the typo when it is entered
(CLI, onboarding) is the cheap place; the database only normalises spelling
(``normalise_identifier``).

* ``scheme_code("SIRET")`` → ``"0009"``: labels of ``SCHEMES``
  (case-insensitive; "VAT" picks the country from the value's prefix), or a code;
* ``parse("SIRET:732 829 320 00074")`` → ``("0009", "73282932000074")``;
* ``check(scheme, value)`` → ``None`` or the problem in words, for the schemes
  with a known structure: SIREN and SIRET (Luhn; La Poste's SIRETs use their
  own rule), GLN (GS1 mod-10), French VAT (key mod 97), French directory
  addresses (0225: their shape, SIREN and SIRET; ``addressing``), e-mail addresses.
  Other schemes are accepted as given.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from .problems import IdentifierError, Problem, problem_of


# Identifier schemes (ISO 6523 ICD / EAS codes) seen most; any code is accepted.
SCHEMES = {
    "0002": "SIREN",
    "0009": "SIRET",
    "0060": "DUNS",
    "0088": "GLN",
    "0106": "KvK (NL)",
    "0208": "KBO/BCE (BE)",
    "9930": "VAT (DE)",
    "9957": "VAT (FR)",
    "0225": "French directory address",
    "EM": "e-mail address",
    "PA": "certified platform (PA) number",       # its matricule in the PPF directory: 4 digits
}


def normalise_identifier(scheme: str, value: str) -> tuple[str, str]:
    """One spelling per identifier: scheme upper-case; value without blanks, upper-case
    (e-mail addresses lower-case), so 'fr 12 345…' and 'FR12345…' are the same partner."""
    scheme = scheme.strip().upper()
    value = "".join(value.split())
    value = value.lower() if scheme == "EM" else value.upper()
    if not scheme or not value:
        raise IdentifierError("empty", "an identifier needs a scheme and a value")
    return scheme, value


SIREN, SIRET, GLN, VAT_FR, EMAIL = "0002", "0009", "0088", "9957", "EM"

# La Poste: its establishments' SIRETs do not follow Luhn but have a digit sum divisible by 5
# (the head office, 35600000000048, follows Luhn).
LA_POSTE_SIREN, LA_POSTE_HEAD_OFFICE = "356000000", "35600000000048"

_CODE = re.compile(r"^(\d{4}|[A-Z]{2})$")       # an ISO 6523 ICD code, or an EAS letter code (EM, AN…)
_COUNTRY = re.compile(r"\(([A-Z]{2})\)")        # "VAT (FR)" → FR


def _aliases(label: str) -> set[str]:
    """'KBO/BCE (BE)' → {'KBO/BCE (BE)', 'KBO/BCE', 'KBO', 'BCE'}, upper-case."""
    full = label.upper()
    short = full.split(" (")[0].strip()
    return {full, short, *short.split("/")}


def _label_index() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for code, label in SCHEMES.items():
        for alias in _aliases(label):
            index.setdefault(alias, []).append(code)
    for alias in ("EMAIL", "E-MAIL", "MAIL"):
        index.setdefault(alias, []).append(EMAIL)
    return index


def scheme_code(scheme: str, value: str = "") -> str:
    """The scheme code for a code or a label (case-insensitive). A label shared by several
    schemes ("VAT") is settled by the value's country prefix ("FR…" → 9957).

    Raises ``ValueError`` naming the known labels when nothing matches."""
    s = scheme.strip().upper()
    if s in SCHEMES:
        return s
    codes = _label_index().get(s)
    if codes and len(codes) == 1:
        return codes[0]
    if codes:
        prefix = "".join(value.split())[:2].upper()
        for code in codes:
            m = _COUNTRY.search(SCHEMES[code].upper())
            if m and m.group(1) == prefix:
                return code
        choices = ", ".join(f"{c} ({SCHEMES[c]})" for c in codes)
        raise IdentifierError("scheme_ambiguous", f"scheme {scheme!r} is ambiguous: give the code, one of {choices}"
                              " (or start the value with its country code)", scheme=scheme, choices=choices)
    if _CODE.match(s):
        return s
    labels = ", ".join(sorted({SCHEMES[c].split(" (")[0] for c in SCHEMES}))
    raise IdentifierError("scheme_unknown", f"unknown identifier scheme {scheme!r}: give a code (0009, 0088, 9957, "
                          f"EM…) or a label ({labels})", scheme=scheme, labels=labels)


def parse(text: str) -> tuple[str, str]:
    """``"SCHEME:VALUE"`` → (scheme code, normalised value). Does not check the value: see ``check``."""
    scheme, sep, value = text.partition(":")
    if not sep or not scheme.strip() or not value.strip():
        raise IdentifierError("not_scheme_value", f"{text!r}: expected SCHEME:VALUE, e.g. SIRET:73282932000074 or "
                              "0088:4000001000005", text=text)
    return normalise_identifier(scheme_code(scheme, value), value)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def gs1_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of ``body`` (weights 3, 1, 3… from the right)."""
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _digits(value: str, n: int, what: str) -> Optional[Problem]:
    if not value.isascii() or not value.isdigit() or len(value) != n:
        return Problem("digits", f"a {what} is {n} digits, not {value!r}", what=what, n=n, value=value)
    return None


def check_siren(value: str) -> Optional[Problem]:
    problem = _digits(value, 9, "SIREN")
    if problem is None and not luhn_ok(value):
        problem = Problem("siren_check", f"SIREN {value} fails its check digit (Luhn): a typo?", value=value)
    return problem


def check_siret(value: str) -> Optional[Problem]:
    problem = _digits(value, 14, "SIRET")
    if problem:
        return problem
    if value.startswith(LA_POSTE_SIREN) and value != LA_POSTE_HEAD_OFFICE:
        if sum(map(int, value)) % 5:
            return Problem("siret_la_poste", f"SIRET {value} (La Poste) fails its check (digit sum not a multiple "
                           "of 5): a typo?", value=value)
        return None
    if not luhn_ok(value):
        return Problem("siret_check", f"SIRET {value} fails its check digit (Luhn): a typo?", value=value)
    if not luhn_ok(value[:9]):
        return Problem("siret_siren", f"SIRET {value}: its first nine digits are not a valid SIREN (Luhn): a typo?",
                       value=value)
    return None


def check_gln(value: str) -> Optional[Problem]:
    problem = _digits(value, 13, "GLN")
    if problem is None and gs1_check_digit(value[:-1]) != int(value[-1]):
        expected = gs1_check_digit(value[:-1])
        problem = Problem("gln_check", f"GLN {value} fails its GS1 check digit (expected {expected} "
                          f"as the last digit): a typo?", value=value, expected=expected)
    return problem


def check_vat_fr(value: str) -> Optional[Problem]:
    """FR + a 2-character key + the SIREN; a numeric key is (12 + 3 × SIREN) mod 97.
    Monaco's numbers (000… after the key) are not SIRENs; letter keys are checked for shape only."""
    if not re.fullmatch(r"FR[0-9A-HJ-NP-Z]{2}\d{9}", value):
        return Problem("vat_fr_shape", f"a French VAT number is FR + a 2-character key + the 9-digit SIREN, "
                       f"not {value!r}", value=value)
    key, siren = value[2:4], value[4:]
    if not siren.startswith("000"):
        problem = check_siren(siren)
        if problem:
            return Problem("vat_fr_siren", f"VAT number {value}: {problem}", value=value, problem=problem)
    if (key.isascii() and key.isdigit()) and int(key) != (12 + 3 * int(siren)) % 97:
        expected = f"{(12 + 3 * int(siren)) % 97:02d}"
        return Problem("vat_fr_key", f"VAT number {value}: key {key} does not match SIREN {siren} "
                       f"(expected {expected}): a typo?", value=value, key=key, siren=siren, expected=expected)
    return None


def check_email(value: str) -> Optional[Problem]:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", value):
        return Problem("email", f"{value!r} is not an e-mail address", value=value)
    return None


def check_fr_address(value: str) -> Optional[Problem]:
    """A 0225 address: SIREN, SIREN_SIRET, SIREN_SIRET_routing code or SIREN_suffix, its numbers checked."""
    from .addressing import french_address
    try:
        address = french_address(value)
    except ValueError as exc:
        return problem_of(exc)
    problem = check_siren(address.siren)
    if problem is None and address.siret:
        problem = check_siret(address.siret)
    return Problem("address", f"address {value}: {problem}", value=value, problem=problem) if problem else None


def check_platform(value: str) -> Optional[Problem]:
    """A certified platform's matricule in the PPF annuaire (matriculePlateforme): 4 digits. The
    scheme ``PA`` (a letter code like EM) marks the partner that is that platform."""
    return _digits(value, 4, "platform matricule")


CHECKS: dict[str, Callable[[str], Optional[str]]] = {
    SIREN: check_siren, SIRET: check_siret, GLN: check_gln, VAT_FR: check_vat_fr, EMAIL: check_email,
    "0225": check_fr_address, "PA": check_platform,
}


def check(scheme: str, value: str) -> Optional[Problem]:
    """What is wrong with identifier ``scheme``/``value`` (a code or a label; blanks ignored),
    or ``None`` when nothing is: unknown schemes are not checked."""
    try:
        code, value = normalise_identifier(scheme_code(scheme, value), value)
    except ValueError as exc:
        return problem_of(exc)
    test = CHECKS.get(code)
    return test(value) if test else None


def check_iban(value: str) -> Optional[Problem]:
    """An IBAN (ISO 13616): two letters of country, two check digits, up to 30 letters and digits,
    the whole mod 97 equal to 1 once the first four are moved to the end (blanks ignored)."""
    text = "".join(value.split()).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", text):
        return Problem("iban_shape", f"an IBAN is 2 letters of country, 2 check digits and 11 to 30 letters or "
                       f"digits, not {value[:40]!r}", value=value[:40])
    number = int("".join(str(int(ch, 36)) for ch in text[4:] + text[:4]))
    if number % 97 != 1:
        return Problem("iban_check", f"IBAN {text} fails its check digits (mod 97): a typo?", value=text)
    return None
