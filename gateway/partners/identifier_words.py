"""An identifier's problem worded in the reader's language, from its code (``gateway.model.problems``).

The model says which problem and with what values; this table says it in words, marked for the
catalogue. English readers read the model's own words (what the API, the logs and scripts read,
unchanged); the msgids below say the same for the translators, and French readers read their
translation. A problem whose code is not here is shown in the model's words. Data, not code.
"""
from __future__ import annotations

from typing import Any, Optional

from gateway import i18n
from gateway.i18n import N_

WORDS = {
    "empty": N_("An identifier needs a scheme and a value."),
    "scheme_ambiguous": N_("The scheme “%(scheme)s” is ambiguous: give the code, one of %(choices)s "
                           "(or start the value with its country code)."),
    "scheme_unknown": N_("Unknown identifier scheme “%(scheme)s”: give a code (0009, 0088, 9957, EM…) "
                         "or a label (%(labels)s)."),
    "not_scheme_value": N_("“%(text)s”: expected SCHEME:VALUE, for example SIRET:73282932000074 or "
                           "0088:4000001000005."),
    "digits": N_("A %(what)s is %(n)s digits, not “%(value)s”."),
    "siren_check": N_("SIREN %(value)s fails its check digit (Luhn): a typo?"),
    "siret_la_poste": N_("SIRET %(value)s (La Poste) fails its check (digit sum not a multiple of 5): a typo?"),
    "siret_check": N_("SIRET %(value)s fails its check digit (Luhn): a typo?"),
    "siret_siren": N_("SIRET %(value)s: its first nine digits are not a valid SIREN (Luhn): a typo?"),
    "gln_check": N_("GLN %(value)s fails its GS1 check digit (expected %(expected)s as the last digit): a typo?"),
    "vat_fr_shape": N_("A French VAT number is FR, a 2-character key and the 9-digit SIREN, not “%(value)s”."),
    "vat_fr_siren": N_("VAT number %(value)s: %(problem)s"),
    "vat_fr_key": N_("VAT number %(value)s: the key %(key)s does not match SIREN %(siren)s "
                     "(expected %(expected)s): a typo?"),
    "email": N_("“%(value)s” is not an e-mail address."),
    "address": N_("Address %(value)s: %(problem)s"),
    "address_siren": N_("A 0225 address starts with a 9-digit SIREN, not “%(siren)s”."),
    "address_siret": N_("The SIRET %(siret)s of a 0225 address does not start with its SIREN %(siren)s."),
    "address_routing": N_("The routing code “%(routing)s” of a 0225 address is not 1 to 100 of "
                          "A-Z a-z 0-9 - _ / @."),
    "address_suffix": N_("After the SIREN, a 0225 address holds a 14-digit SIRET or a suffix of 1 to 100 of "
                         "A-Z a-z 0-9 - _ . @, not “%(rest)s”."),
    "iban_shape": N_("An IBAN is 2 letters of country, 2 check digits and 11 to 30 letters or digits, "
                     "not “%(value)s”."),
    "iban_check": N_("IBAN %(value)s fails its check digits (mod 97): a typo?"),
}

# the kinds of number a "digits" problem names
WHATS = {"SIREN": N_("SIREN"), "SIRET": N_("SIRET"), "GLN": N_("GLN"), "platform matricule": N_("platform number")}


def worded(problem: Any, lang: str) -> str:
    """``problem`` (a ``Problem``, or any text) in ``lang``; nested problems worded too."""
    code = getattr(problem, "code", None)
    words = WORDS.get(code) if code else None
    if words is None or i18n.pick(lang) == i18n.SOURCE:
        return str(problem) if problem is not None else ""
    values: dict[str, Any] = {}
    for name, value in problem.params.items():
        if name == "problem":
            value = worded(value, lang)
        elif name == "what":
            value = i18n.gettext(lang, WHATS.get(value, value)) if value in WHATS else value
        values[name] = value
    if "problem" in values:
        values["problem"] = clause(values["problem"])
    return i18n.gettext(lang, words, **values)


def clause(sentence: str) -> str:
    """A sentence made the end of another ("…: a SIREN is 9 digits…"): no capital (unless its first
    word is an acronym), no full stop."""
    inner = sentence.rstrip(".")
    first = inner.split(" ", 1)[0]
    return inner if len(first) > 1 and first.isupper() else inner[:1].lower() + inner[1:]


def worded_or_none(problem: Optional[Any], lang: str) -> Optional[str]:
    """``worded`` for a check's answer, ``None`` staying ``None``."""
    return None if problem is None else worded(problem, lang)


__all__ = ["WORDS", "worded", "worded_or_none", "clause"]
