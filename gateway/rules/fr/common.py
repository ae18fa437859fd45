"""What the French rules share: registration, the code lists and functions of the FNFE-MPE schematrons.

The Flux 2 schematrons (``BR-FR-Flux2-Schematron-{UBL,CII}``, FNFE-MPE
1.4.0.03) define a few ``custom:`` functions (identifier, date and number
formats, the SIRET/SIREN check, the framework tests) and code lists; they are
reproduced here on the model with XPath's value semantics: a missing value
is the empty string where the stylesheet takes a string value, and a general
comparison with nothing is false.

What the model cannot give back as the schematron sees it: the reader trims
values and reads a blank one as absent, and a number is kept as a
``Decimal`` written as in the source but for a leading ``+``, leading zeros
and a lone decimal point (``.5``, ``5.``), which it normalises.
FR-COVERAGE.md lists the rules concerned.
"""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Optional

from ..access import items
from ..registry import FATAL, WARNING, Check, Hit, rule
from ..xpath import blank, normalize_space

__all__ = ["RULE_SET", "fr", "FATAL", "WARNING", "Hit", "get", "items", "blank", "normalize_space", "text",
           "DOCUMENT_TYPES", "SELF_BILLED_TYPES", "BILLING_MODES", "BAR_TREATMENTS", "VAT_CATEGORIES",
           "VAT_RATES", "ATTACHMENT_CODES", "valid_id", "valid_date", "lexical", "decimal_19_2",
           "decimal_19_4", "decimal_19_6", "decimal_19_6_positive", "percent_4_2", "siren_ok",
           "siret_matches_siren", "scheme_format_ok", "framework", "special_contract", "multi_vendor",
           "bidirectional", "notes_text", "after_code", "bar_treatment", "identifiers_with_scheme"]

RULE_SET = "fr"


def _family(rule_id: str) -> str:
    """BR-FR-CO-10_BT-29-1 -> BR-FR-CO; BR-FR-DEC-01_BT-106 -> BR-FR-DEC; BR-FR-01_BT-1-1 -> BR-FR."""
    if rule_id.startswith("BR-FR-MV-BD"):          # the UBL id of BR-FR-BD-13
        return "BR-FR-BD"
    for family in ("BR-FR-CO", "BR-FR-DEC", "BR-FR-MV", "BR-FR-BD"):
        if rule_id.startswith(family + "-") or rule_id.startswith(family + "_"):
            return family
    return "BR-FR"


def fr(rule_id: str, *, terms: Iterable[str], description: Optional[str] = None) -> Callable[[Check], Check]:
    """``@rule`` for the ``fr`` rule set, in its family (BR-FR, BR-FR-CO, BR-FR-DEC, BR-FR-MV, BR-FR-BD).

    ``rule_id`` is the id the UBL stylesheet gives the assert (the CII one, when it differs, is
    in ``bindings.CII_IDS``); the severity is the standard stylesheet's flag, fatal for every one."""
    return rule(rule_id, terms=terms, description=description, rule_set=RULE_SET, family=_family(rule_id))


@lru_cache(maxsize=None)
def _steps(dotted: str) -> tuple[str, ...]:
    return tuple(dotted.split("."))


def get(obj: Any, dotted: str) -> Any:
    """``access.get`` with the path split once: ``get(inv, "seller.postal_address")``, None when a step is
    missing (the French rules read many paths of every invoice)."""
    for name in _steps(dotted):
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


def text(value: Any) -> str:
    """The string value XPath compares: '' for nothing, a Decimal as written (see ``lexical``)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return lexical(value)
    return str(value)


# --- code lists (the stylesheets' functions, in their order) ----------------------------------

# custom:is-valid-document-type-code (BR-FR-04)
DOCUMENT_TYPES = ("380", "389", "393", "501", "386", "500", "384", "471", "472", "473", "261", "262", "381",
                  "396", "502", "503")
# self-billed types: BR-FR-21, BR-FR-22, BR-FR-MV-13, BR-FR-BD-13
SELF_BILLED_TYPES = ("389", "501", "500", "471", "473", "261", "502")
# custom:is-valid-billing-mode (BR-FR-08): the "cadre de facturation" carried by BT-23
BILLING_MODES = ("B1", "S1", "M1", "B2", "S2", "M2", "S3", "B4", "S4", "M4", "S5", "S6", "B7", "S7", "B8", "S8",
                 "M8", "B9", "S9", "M9")
# custom:is-valid-bar-treatment (BR-FR-20, BR-FR-31): the treatment a note with subject code BAR names
BAR_TREATMENTS = ("B2B", "B2BINT", "B2C", "B2CINT", "OUTOFSCOPE", "ARCHIVEONLY")
# custom:is-valid-vat-category-code (BR-FR-15)
VAT_CATEGORIES = ("S", "E", "AE", "K", "G", "O", "Z")
# custom:is-valid-vat-rate (BR-FR-16): compared as written
VAT_RATES = ("0", "0.0", "0.00", "10", "10.0", "10.00", "13", "13.0", "13.00", "20", "20.0", "20.00",
             "8.5", "8.50", "19.6", "19.60", "2.1", "2.10", "5.5", "5.50", "7", "7.0", "7.00",
             "20.6", "20.60", "1.05", "0.9", "0.90", "1.75", "9.2", "9.20", "9.6", "9.60")
# custom:is-valid-attachment-code (BR-FR-17)
ATTACHMENT_CODES = ("RIB", "LISIBLE", "FEUILLE_DE_STYLE", "PJA", "BORDEREAU_SUIVI", "DOCUMENT_ANNEXE",
                    "BON_LIVRAISON", "BON_COMMANDE", "BORDEREAU_SUIVI_VALIDATION", "ETAT_ACOMPTE",
                    "FACTURE_PAIEMENT_DIRECT", "RECAPITULATIF_COTRAITANCE")


# --- the stylesheets' functions ---------------------------------------------------------------

_ID = re.compile(r"[A-Za-z0-9+\-_/]+")


def valid_id(value: Any) -> bool:
    """``custom:is-valid-id-format``: letters, digits and + - _ / only, no space (BR-FR-01, BR-FR-02)."""
    s = text(value)
    return _ID.fullmatch(normalize_space(s)) is not None and " " not in s


def valid_date(value: Any) -> bool:
    """``custom:is-valid-date-format`` on a date the reader accepted: a year from 2000 to 2099 (BR-FR-03).

    The stylesheet also checks the form (AAAA-MM-JJ in UBL, AAAAMMJJ in CII) and the day of the
    month; the reader refuses a date that is not one, so on the model only the year is left."""
    year = getattr(value, "year", None)
    return year is not None and 2000 <= year <= 2099


def lexical(value: Decimal) -> str:
    """A Decimal as written in the source (the model keeps the exponent: '100.00' stays so)."""
    return format(value, "f") if value.is_finite() else str(value)


def _decimal(value: Any, pattern: re.Pattern, width: int) -> bool:
    s = normalize_space(text(value))
    return pattern.fullmatch(s) is not None and len(s.replace(".", "")) <= width


_D19_2 = re.compile(r"-?\d{1,19}(\.\d{1,2})?")
_D19_4 = re.compile(r"-?\d{1,19}(\.\d{1,4})?")
_D19_6 = re.compile(r"-?\d{1,19}(\.\d{1,6})?")
_D19_6_POSITIVE = re.compile(r"\d{1,19}(\.\d{1,6})?")
_P4_2 = re.compile(r"\d{1,4}(\.\d{1,2})?")


def decimal_19_2(value: Any) -> bool:
    """``custom:is-valid-decimal-19-2``: an amount, at most 2 decimals and 19 characters besides the point."""
    return _decimal(value, _D19_2, 19)


def decimal_19_4(value: Any) -> bool:
    """``custom:is-valid-decimal-19-4``: a quantity, at most 4 decimals and 19 characters besides the point."""
    return _decimal(value, _D19_4, 19)


def decimal_19_6(value: Any) -> bool:
    """``custom:is-valid-decimal-19-6``: a unit price, at most 6 decimals, signed."""
    return _decimal(value, _D19_6, 19)


def decimal_19_6_positive(value: Any) -> bool:
    """``custom:is-valid-decimal-19-6-positive``: a unit price, at most 6 decimals, no sign."""
    return _decimal(value, _D19_6_POSITIVE, 19)


def percent_4_2(value: Any) -> bool:
    """``custom:is-valid-percent-4-2-positive``: a rate, at most 2 decimals and 4 digits, no sign."""
    return _decimal(value, _P4_2, 4)


_SIREN = re.compile(r"\d{9}")
_SIRET = re.compile(r"\d{14}")


def siren_ok(value: Any) -> bool:
    """``matches(normalize-space(x), '^\\d{9}$')``: a SIREN is nine digits."""
    return _SIREN.fullmatch(normalize_space(text(value))) is not None


def siret_matches_siren(siret: Any, siren: Any) -> bool:
    """``custom:check-siret-siren-coherence``: a SIRET of 14 digits beginning with the SIREN (BR-FR-09).

    ``siren`` None is the empty sequence: the comparison is then false."""
    s = text(siret)
    return _SIRET.fullmatch(s) is not None and siren is not None and s[:9] == text(siren)


_SCHEME_FORMAT = re.compile(r"[A-Za-z0-9+\-_.]+")


def scheme_format_ok(value: Any) -> bool:
    """``custom:is-valid-schemeid-format`` (BR-FR-23, BR-FR-24): letters, digits and + - _ . only."""
    return _SCHEME_FORMAT.fullmatch(text(value)) is not None


def framework(inv: Any) -> str:
    """The invoicing framework ("cadre de facturation", BT-23) as the framework tests compare it."""
    return normalize_space(get(inv, "process_control.business_process"))


def special_contract(inv: Any) -> bool:
    """``custom:isSpecialContract``: BT-23 is a multi-vendor (S8, B8, M8) or bidirectional (S9, B9, M9) one."""
    return get(inv, "process_control.business_process") is not None and \
        framework(inv) in ("S8", "B8", "M8", "S9", "B9", "M9")


def multi_vendor(inv: Any) -> bool:
    """``custom:isSpecialContractMV``: BT-23 is S8, B8 or M8 (multi-vendor invoice)."""
    return get(inv, "process_control.business_process") is not None and framework(inv) in ("S8", "B8", "M8")


def bidirectional(inv: Any) -> bool:
    """``custom:isSpecialContractBD``: BT-23 is S9, B9 or M9 (bidirectional invoice)."""
    return get(inv, "process_control.business_process") is not None and framework(inv) in ("S9", "B9", "M9")


# --- notes: the UBL binding reads them as one string -------------------------------------------

def notes_text(inv: Any) -> str:
    """``string-join(cbc:Note, '')``: the notes (BG-1) as UBL writes them, ``#CODE#text`` each."""
    out = []
    for _, note in items(get(inv, "notes")):
        code = note.subject_code
        out.append((f"#{code}#" if code is not None else "") + text(note.note))
    return "".join(out)


def after_code(joined: str, code: str) -> str:
    """The value the UBL stylesheet reads after ``#CODE#`` in the joined notes, up to the next ``#``
    ('' when the code is not there)."""
    marker = f"#{code}#"
    if marker not in joined:
        return ""
    after = joined.split(marker, 1)[1]
    return after.split("#", 1)[0]


def bar_treatment(inv: Any) -> str:
    """The treatment the note with subject code BAR names (BR-FR-11, 20 to 22), as UBL reads it."""
    return after_code(notes_text(inv), "BAR")


def identifiers_with_scheme(ids: Iterable[tuple[str, Any]], scheme: str) -> Iterator[tuple[str, Any]]:
    """(path, identifier) of the identifiers whose scheme is ``scheme`` (compared as written)."""
    for path, ident in ids:
        if ident is not None and getattr(ident, "scheme", None) == scheme:
            yield path, ident
