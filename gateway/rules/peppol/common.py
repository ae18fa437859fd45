"""What the Peppol rules share: registration, the stylesheet's variables and functions, on the model.

The Peppol schematron (``PEPPOL-EN16931-UBL.xslt``) computes a few values once
for the whole document - the business process profile, the supplier's and
customer's countries - and defines check-digit functions (``u:gln``,
``u:mod11``, ``u:TinVerification`` ...). They are reproduced here on the
model, with XPath's value semantics (``number()`` gives NaN rather than
failing, a general comparison with nothing is false, ``substring`` counts from
1, ``matches`` anchors ``$`` at the very end).

Where the stylesheet tests the document's root (``ubl-invoice:Invoice`` or
``ubl-creditnote:CreditNote``), the model, which has no root, answers with the
invoice type code (BT-3): a credit note type code (UNTDID 1001) is what our
UBL writer puts under a CreditNote root. PEPPOL-COVERAGE.md lists the rules
concerned.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import yaml

from gateway.model.invoice import CREDIT_NOTE_TYPE_CODES

from .. import codelists as cen_codelists
from ..access import get, items
from ..registry import FATAL, WARNING, Check, Hit, register_guard, rule
from ..xpath import normalize_space

__all__ = ["peppol", "FATAL", "WARNING", "Hit", "code_set", "code_list", "profile", "supplier_country", "customer_country",
           "postal_country", "country_is", "is_credit_note", "payment_means", "has_payment_means",
           "xnumber", "nan", "matches", "substring", "castable_integer", "castable_date", "gln", "mod11",
           "mod97_0208", "check_codice_ipa", "check_cf", "check_piva_se_it", "abn", "tin_verification",
           "check_se_orgnr", "party_identifiers", "get", "items", "normalize_space"]

RULE_SET = "peppol"
CODELISTS_FILE = Path(__file__).with_name("codelists.yaml")


NATIONAL = ("NO", "DK", "IT", "SE", "GR", "IS", "NL", "DE")


def peppol(rule_id: str, family: str, *, terms: Iterable[str], severity: str = FATAL,
           description: Optional[str] = None) -> Callable[[Check], Check]:
    """``@rule`` for the ``peppol`` rule set, with the family the id's prefix does not tell
    (``PEPPOL-EN16931-R001`` belongs to ``PEPPOL-EN16931``). A national family's rules are
    guarded by the supplier's country (``supplier_countries``)."""
    guard = ("peppol_country", family) if family in NATIONAL else None
    return rule(rule_id, terms=terms, severity=severity, description=description, rule_set=RULE_SET,
                family=family, guard=guard)


# --- code lists -----------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    with CODELISTS_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=None)
def code_set(name: str) -> frozenset[str]:
    """A Peppol code list (``codelists.yaml``), or the CEN list it is the same as."""
    doc = _document()
    if name in doc["lists"]:
        return frozenset(doc["lists"][name])
    return cen_codelists.code_set(doc["same_as_en16931"][name])


def code_list(name: str) -> tuple[str, ...]:
    """The codes of a list in the stylesheet's order (for lists whose order is part of a message)."""
    doc = _document()
    if name in doc["lists"]:
        return tuple(doc["lists"][name])
    return cen_codelists.code_list(doc["same_as_en16931"][name])


# --- XPath value semantics --------------------------------------------------------------------

_DOUBLE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN")
_WS = " \t\r\n"


def xnumber(value: Any) -> float:
    """XPath ``number()``: the value as xs:double, NaN when it is not one (or absent)."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip(_WS)
    if not _DOUBLE.fullmatch(text):
        return math.nan
    try:
        return float(text.replace("INF", "inf"))
    except (ValueError, OverflowError):
        return math.nan


def nan(value: Any) -> bool:
    """``string(number(x)) = 'NaN'``."""
    return math.isnan(xnumber(value))


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re.Pattern:
    """An XPath regular expression as Python's: ``$`` (no 'm' flag) is the very end of the string
    (Python's also matches before a final newline), ``\\s`` the four XML blanks only, ``.`` any
    character but a newline or a carriage return."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append((" \\t\\n\\r" if in_class else "[ \\t\\n\\r]") if nxt == "s" else c + nxt)
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
        elif c == ".":
            out.append("[^\\n\\r]")
        elif c == "$":
            out.append("\\Z")
        else:
            out.append(c)
        i += 1
    return re.compile("".join(out))


def matches(value: Any, pattern: str) -> bool:
    """XPath ``matches(value, pattern)`` (an absent value is the empty string)."""
    return _regex(pattern).search("" if value is None else str(value)) is not None


def substring(value: Any, start: int, length: Optional[int] = None) -> str:
    """XPath ``substring(s, start, length)`` for whole-number arguments (positions from 1)."""
    s = "" if value is None else str(value)
    first = max(start, 1)
    end = len(s) + 1 if length is None else start + length
    return s[first - 1:max(end - 1, first - 1)]


_INTEGER = re.compile(r"[+-]?[0-9]+")


def castable_integer(value: Any) -> bool:
    return value is not None and _INTEGER.fullmatch(str(value).strip(_WS)) is not None


_DATE = re.compile(r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")


def castable_date(value: Any) -> bool:
    """``value castable as xs:date``."""
    if value is None:
        return False
    m = _DATE.fullmatch(str(value).strip(_WS))
    if not m:
        return False
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return day <= days


# --- the stylesheet's variables ---------------------------------------------------------------

def profile(inv: Any) -> str:
    """``$profile``: '01', '02' or 'Unknown', from the business process (BT-23)."""
    bp = normalize_space(get(inv, "process_control.business_process"))
    if bp in code_set("PROFILE_01"):
        return "01"
    if bp in code_set("PROFILE_02"):
        return "02"
    return "Unknown"


def _vat_prefix(vat: Any) -> Optional[str]:
    """``upper-case(normalize-space(PartyTaxScheme[VAT]/substring(cbc:CompanyID, 1, 2)))`` when that
    substring is not empty (the stylesheet tests it as a boolean), else None."""
    if vat is None:
        return None
    head = substring(vat, 1, 2)
    return normalize_space(head).upper() if head else None


def supplier_country(inv: Any) -> str:
    """``$supplierCountry``: the seller's VAT identifier prefix, else the tax representative's,
    else the seller's country code, else 'XX'."""
    for vat in (get(inv, "seller.vat_identifier"), get(inv, "tax_representative.vat_identifier")):
        prefix = _vat_prefix(vat)
        if prefix is not None:
            return prefix
    code = get(inv, "seller.postal_address.country_code")
    return normalize_space(code).upper() if code is not None else "XX"


def supplier_countries(inv: Any) -> set[str]:
    """Every way a national rule tells the supplier's country: ``$supplierCountry``,
    ``$accountingSupplierCountry``, the country code as written and normalised in upper case; GR
    when one of them is EL. A national family's rules cannot fire unless its country is among
    them (guard ``peppol_country``, see ``gateway.rules.registry``)."""
    code = postal_country(inv, "seller")
    found = {supplier_country(inv), accounting_supplier_country(inv), code, normalize_space(code).upper()}
    if found & {"GR", "EL"}:
        found.add("GR")
    return found


register_guard("peppol_country", supplier_countries)


def accounting_supplier_country(inv: Any) -> str:
    """``$accountingSupplierCountry`` (the Greek rules): as ``$supplierCountry`` without the tax
    representative."""
    prefix = _vat_prefix(get(inv, "seller.vat_identifier"))
    if prefix is not None:
        return prefix
    code = get(inv, "seller.postal_address.country_code")
    return normalize_space(code).upper() if code is not None else "XX"


def customer_country(inv: Any) -> str:
    """``$customerCountry``: the buyer's VAT identifier prefix, else its country code, else 'XX'."""
    prefix = _vat_prefix(get(inv, "buyer.vat_identifier"))
    if prefix is not None:
        return prefix
    code = get(inv, "buyer.postal_address.country_code")
    return normalize_space(code).upper() if code is not None else "XX"


def postal_country(inv: Any, party: str) -> Optional[str]:
    """The raw country code of ``seller``, ``buyer`` or ``tax_representative`` (the Danish,
    Icelandic and Swedish rules compare it as written)."""
    return get(inv, f"{party}.postal_address.country_code")


def country_is(inv: Any, party: str, country: str) -> bool:
    """``upper-case(normalize-space(.../cac:Country/cbc:IdentificationCode)) = country`` (the
    German and Dutch rules)."""
    return normalize_space(postal_country(inv, party)).upper() == country


def is_credit_note(inv: Any) -> bool:
    """Whether UBL puts this document under a CreditNote root: its type code (BT-3) is a credit
    note's (the model has no root; our UBL writer decides the same way)."""
    return normalize_space(get(inv, "type_code")) in CREDIT_NOTE_TYPE_CODES


def has_payment_means(inv: Any) -> bool:
    """Whether UBL has a ``cac:PaymentMeans``: BG-16 holds anything but the creditor identifier
    (BT-90), which UBL keeps in the seller's PartyIdentification."""
    pi = get(inv, "payment_instructions")
    if pi is None:
        return False
    return any(v is not None for v in (pi.means_type_code, pi.means_text, pi.remittance_information,
                                       get(pi, "direct_debit.mandate_reference"),
                                       get(pi, "direct_debit.debited_account_identifier"))) \
        or any(True for _ in items(pi.credit_transfers)) or pi.payment_card is not None


def payment_means(inv: Any) -> Iterator[tuple[str, Any, Any]]:
    """(model path, payment instructions, credit transfer or None) for each ``cac:PaymentMeans``
    UBL holds: one per credit transfer account (BG-17), else one when there are any."""
    pi = get(inv, "payment_instructions")
    if pi is None or not has_payment_means(inv):
        return
    found = False
    for k, ct in items(pi.credit_transfers):
        found = True
        yield f"payment_instructions.credit_transfers[{k}]", pi, ct
    if not found:
        yield "payment_instructions", pi, None


def party_identifiers(inv: Any) -> Iterator[tuple[str, str, Any]]:
    """(model path, kind, Identifier) for every schemed identifier UBL writes as
    ``cbc:EndpointID`` (kind ``endpoint``), ``cac:PartyIdentification/cbc:ID`` (``party``) or
    ``cac:PartyLegalEntity/cbc:CompanyID`` (``company``), in document order."""
    seller = get(inv, "seller")
    if seller is not None:
        if seller.electronic_address is not None:
            yield "seller.electronic_address", "endpoint", seller.electronic_address
        for k, ident in items(seller.identifiers):
            yield f"seller.identifiers[{k}]", "party", ident
        if seller.legal_registration_identifier is not None:
            yield "seller.legal_registration_identifier", "company", seller.legal_registration_identifier
    buyer = get(inv, "buyer")
    if buyer is not None:
        if buyer.electronic_address is not None:
            yield "buyer.electronic_address", "endpoint", buyer.electronic_address
        if buyer.identifier is not None:
            yield "buyer.identifier", "party", buyer.identifier
        if buyer.legal_registration_identifier is not None:
            yield "buyer.legal_registration_identifier", "company", buyer.legal_registration_identifier
    payee = get(inv, "payee")
    if payee is not None:
        if payee.identifier is not None:
            yield "payee.identifier", "party", payee.identifier
        if payee.legal_registration_identifier is not None:
            yield "payee.legal_registration_identifier", "company", payee.legal_registration_identifier


# --- the stylesheet's functions ---------------------------------------------------------------

def _digit(ch: str) -> float:
    """``number()`` of one character."""
    return float(ord(ch) - 48) if "0" <= ch <= "9" else math.nan


def gln(val: str) -> bool:
    """``u:gln``: the GS1 check digit (weights 3 and 1 from the right, before the check digit)."""
    length = len(val) - 1
    if length < 0:
        return False
    total = 0
    for i, ch in enumerate(reversed(val[:length])):
        total += (ord(ch) - 48) * (1 + (((i + 1) % 2) * 2))
    return (10 - total % 10) % 10 == _digit(val[length])


def mod11(val: str) -> bool:
    """``u:mod11`` (Norwegian organisation numbers): weights 2..7 from the right."""
    length = len(val) - 1
    if not xnumber(val) > 0 or length < 0:
        return False
    total = 0
    for i, ch in enumerate(reversed(val[:length])):
        total += (ord(ch) - 48) * ((i % 6) + 2)
    return (11 - total % 11) % 11 == _digit(val[length])


def mod97_0208(val: str) -> bool:
    """``u:mod97-0208`` (Belgian enterprise numbers): 97 - (first 8 digits mod 97) = digits 9-10."""
    head = substring(val, 1, 8)
    if not castable_integer(head):
        raise ValueError(f"xs:integer({head!r})")     # the stylesheet stops here too
    calculated = 97 - int(head.strip(_WS)) % 97
    return xnumber(substring(val, 9, 2)) == float(calculated)


_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ALPHA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def check_codice_ipa(arg: str) -> bool:
    """``u:checkCodiceIPA``: six letters or digits."""
    return len(arg) == 6 and all(c in _ALNUM for c in arg)


def _check_cf16(arg: str) -> bool:
    return (all(c in _ALPHA for c in substring(arg, 1, 6)) and castable_integer(substring(arg, 7, 2))
            and all(c in _ALPHA for c in substring(arg, 9, 1)) and castable_integer(substring(arg, 10, 2))
            and castable_integer(substring(arg, 15, 1)) and all(c in _ALPHA for c in substring(arg, 16, 1)))


def check_cf(arg: str) -> bool:
    """``u:checkCF`` (Italian Codice Fiscale): 16 characters in its pattern, or 11 digits."""
    if len(arg) == 16:
        return _check_cf16(arg)
    if len(arg) == 11:
        return castable_integer(arg)
    return False


def _add_piva(arg: str, pari: int) -> int:
    total = 0
    while castable_integer(arg):
        first = int(arg[0]) if arg[:1].isdigit() and arg[:1].isascii() else None
        if first is None:               # '+1...' or '-1...': castable, but the first character is no digit
            raise ValueError(f"xs:integer({arg[:1]!r})")
        total += int("0246813579"[first]) if pari == 1 else first
        arg, pari = arg[1:], (1 if pari == 0 else 0)
    return total


def check_piva_se_it(arg: str) -> bool:
    """``u:checkPIVAseIT`` (Italian VAT number): for an IT prefix, 11 digits with a valid check digit."""
    if substring(arg, 1, 2) not in ("IT", "it"):
        return True
    code = substring(arg, 3)
    if len(code) != 11:
        return False
    check = 1 if not castable_integer(code) else _add_piva(code, 0) % 10
    return check == 0


def abn(val: str) -> bool:
    """``u:abn`` (Australian Business Number): weighted sum modulo 89 (first digit minus one)."""
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    total = 0
    for i, w in enumerate(weights):
        ch = substring(val, i + 1, 1)
        if not ch:
            raise ValueError("string-to-codepoints of nothing")
        total += (ord(ch) - (49 if i == 0 else 48)) * w
    return total % 89 == 0


def tin_verification(val: str) -> bool:
    """``u:TinVerification`` (Greek tax numbers): 9 digits, the last a check digit."""
    digits = [_digit(c) for c in val[:9]]
    if len(digits) < 9:
        return False
    checksum = sum(d * 2 ** (8 - i) for i, d in enumerate(digits[:8]))
    if math.isnan(checksum):
        return False
    return (checksum % 11) % 10 == digits[8]


def check_se_orgnr(number: str) -> bool:
    """``u:checkSEOrgnr`` (Swedish organisation numbers): Luhn over the first nine digits."""
    if not re.fullmatch(r"\d+", number):
        return False
    main, check = substring(number, 1, 9), substring(number, 10, 1)
    total = 0.0
    for pos in range(1, len(main) + 1):
        d = xnumber(main[len(main) - pos])
        total += (d * 2) % 10 + (d * 2) // 10 if pos % 2 == 1 else d
    if math.isnan(total):
        raise ValueError("xs:integer(NaN)")
    return (10 - int(total) % 10) % 10 == xnumber(check)
