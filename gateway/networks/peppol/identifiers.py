"""Peppol identifiers: participants, document types and processes, in their canonical forms.

A Peppol identifier is a scheme and a value, written ``scheme::value``
(``iso6523-actorid-upis::0208:0123456789``). The Peppol Policy for use of
Identifiers (PFUOI 4.x) says how each kind compares:

* **participants** (scheme ``iso6523-actorid-upis``, value ``ICD:identifier``)
  are case-insensitive: ``key`` is the lower-cased form every comparison and
  every hash (the SML's DNS name) uses; the value is kept as written;
* **document types** and **processes** are case-sensitive: kept exactly;
* schemes are at most 25 characters, participant values at most 135 (ICD,
  colon, 130), document type values 500, process values 200 (PFUOI POLICY 1,
  as peppol-commons' PeppolIdentifierHelper has them).

One parser reads the three (``parse_parts``); what sets each kind apart is data
(``Kind``: ``PARTICIPANT``, ``DOCUMENT_TYPE``, ``PROCESS``), and ``PeppolId`` the one
class their identifiers share.

In URLs (the SMP's REST paths) an identifier is its ``scheme::value`` form,
percent-encoded whole (``quote(..., safe="")``): ``#`` and ``:`` of document
types must survive the trip.

Our partners' identifiers (``PartnerIdentifier``: ICD scheme ``0208`` + value)
map to participants with ``from_partner`` and back with ``partner_key``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Self
from urllib.parse import quote

from gateway.model.errors import InputError

PARTICIPANT_SCHEME = "iso6523-actorid-upis"
DOCTYPE_SCHEMES = ("busdox-docid-qns", "peppol-doctype-wildcard")
PROCESS_SCHEMES = ("cenbii-procid-ubl", "urn:fdc:peppol.eu:2017:identifiers:proc-id")
DEFAULT_DOCTYPE_SCHEME = "busdox-docid-qns"
DEFAULT_PROCESS_SCHEME = "cenbii-procid-ubl"
SEPARATOR = "::"

MAX_SCHEME = 25
MAX_PARTICIPANT_VALUE = 4 + 1 + 130
MAX_DOCTYPE_VALUE = 500
MAX_PROCESS_VALUE = 200

# Peppol BIS Billing 3.0: the document types and the process most invoices travel under.
BIS3_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
BIS3_INVOICE = ("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##"
                "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1")
BIS3_CREDIT_NOTE = ("urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##"
                    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1")
# Peppol BIS Invoice Response 3.0 (T111): the status messages a buyer sends back.
INVOICE_RESPONSE_PROCESS = "urn:fdc:peppol.eu:poacc:bis:invoice_response:3"
INVOICE_RESPONSE = ("urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##"
                    "urn:fdc:peppol.eu:poacc:trns:invoice_response:3::2.1")
# The ISO 6523 schemes of one country only: the country C1 of a message whose sender is known
# only by its participant id (an Invoice Response names no address).
ICD_COUNTRIES = {"0002": "FR", "0009": "FR", "0225": "FR", "9957": "FR", "0208": "BE", "0106": "NL",
                 "0190": "NL", "0007": "SE", "0192": "NO", "0096": "DK", "0184": "DK", "0216": "FI",
                 "0037": "FI", "0211": "IT", "0210": "IT", "9930": "DE", "0204": "DE", "0151": "AU"}

_SCHEME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")
_ICD_VALUE = re.compile(r"^(\d{4}):(\S.*)$")


class IdentifierError(InputError):
    """An identifier that is not a Peppol identifier of its kind; the message says why."""


def _printable(value: str, what: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise IdentifierError(f"{what} has control characters")


def _split(text: str, what: str, default_scheme: Optional[str]) -> tuple[str, str]:
    text = (text or "").strip()
    if SEPARATOR in text:
        scheme, value = text.split(SEPARATOR, 1)
    elif default_scheme is not None:
        scheme, value = default_scheme, text
    else:
        raise IdentifierError(f"{what} {text[:80]!r}: expected scheme::value")
    scheme = scheme.strip()
    if not scheme or len(scheme) > MAX_SCHEME or not _SCHEME.match(scheme):
        raise IdentifierError(f"{what} scheme {scheme[:40]!r}: at most {MAX_SCHEME} letters, digits, "
                              "dots, colons, plus or dashes")
    if not value:
        raise IdentifierError(f"{what} {text[:80]!r} has no value")
    _printable(value, what)
    return scheme, value


@dataclass(frozen=True)
class Kind:
    """What sets one kind of Peppol identifier apart (PFUOI), as data for the one parser: its
    name in messages, the scheme a bare value gets, the longest value, whether it compares
    case-insensitively (participants: the scheme lower-cased, the value stripped), and the form
    a value must have under one scheme (participants: ICD:identifier under iso6523-actorid-upis)."""
    what: str
    default_scheme: str
    max_value: int
    case_insensitive: bool = False
    value_rule: Optional[tuple[str, "re.Pattern[str]", str]] = None      # (scheme, pattern, what it wants)


PARTICIPANT = Kind("participant identifier", PARTICIPANT_SCHEME, MAX_PARTICIPANT_VALUE, case_insensitive=True,
                   value_rule=(PARTICIPANT_SCHEME, _ICD_VALUE, "ICD:identifier, e.g. 0208:0123456789"))
DOCUMENT_TYPE = Kind("document type identifier", DEFAULT_DOCTYPE_SCHEME, MAX_DOCTYPE_VALUE)
PROCESS = Kind("process identifier", DEFAULT_PROCESS_SCHEME, MAX_PROCESS_VALUE)
_KINDS_OWN = object()                   # parse's default_scheme: the kind's


def parse_parts(kind: Kind, text: str, default_scheme: Optional[str]) -> tuple[str, str]:
    """(scheme, value) of ``text`` as an identifier of ``kind``, checked; ``IdentifierError`` saying why not."""
    scheme, value = _split(text, kind.what, default_scheme)
    if kind.case_insensitive:
        scheme, value = scheme.lower(), value.strip()
    if len(value) > kind.max_value:
        raise IdentifierError(f"{kind.what} value longer than {kind.max_value} characters")
    if kind.value_rule is not None:
        rule_scheme, pattern, wants = kind.value_rule
        if scheme.lower() == rule_scheme and not pattern.match(value):
            raise IdentifierError(f"{kind.what} {value[:80]!r}: the {rule_scheme} scheme wants {wants}")
    return scheme, value


@dataclass(frozen=True)
class PeppolId:
    """A Peppol identifier of the kind its class names (``KIND``): scheme and value."""
    scheme: str
    value: str
    KIND: ClassVar[Kind]

    @classmethod
    def parse(cls, text: str, *, default_scheme: Any = _KINDS_OWN) -> Self:
        """``scheme::value``, or a bare value under ``default_scheme`` (by default the kind's;
        None: a scheme is required)."""
        own = cls.KIND.default_scheme if default_scheme is _KINDS_OWN else default_scheme
        return cls(*parse_parts(cls.KIND, text, own))

    @property
    def uri(self) -> str:
        return f"{self.scheme}{SEPARATOR}{self.value}"

    @property
    def url_encoded(self) -> str:
        return quote(self.uri, safe="")

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True)
class ParticipantId(PeppolId):
    """A participant (``iso6523-actorid-upis::0208:0123456789``, or ``0208:0123456789`` under the
    default scheme), case-insensitive: equal and hashed by ``key``."""
    KIND: ClassVar[Kind] = PARTICIPANT

    @property
    def key(self) -> str:
        """The form participants are compared and hashed by (PFUOI: case-insensitive)."""
        return f"{self.scheme.lower()}{SEPARATOR}{self.value.lower()}"

    @property
    def icd(self) -> Optional[str]:
        m = _ICD_VALUE.match(self.value)
        return m.group(1) if m else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParticipantId) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


@dataclass(frozen=True)
class DocumentTypeId(PeppolId):
    """A document type, case-sensitive."""
    KIND: ClassVar[Kind] = DOCUMENT_TYPE


@dataclass(frozen=True)
class ProcessId(PeppolId):
    """A process, case-sensitive."""
    KIND: ClassVar[Kind] = PROCESS


def from_partner(scheme: str, value: str) -> Optional[ParticipantId]:
    """The participant of one of our identifiers (ICD scheme ``0208`` + value), or None when the
    scheme is no ISO 6523 ICD code (our ``EM``, a label): Peppol addresses only ICD schemes."""
    scheme = scheme.strip()
    if not re.fullmatch(r"\d{4}", scheme) or not value.strip():
        return None
    try:
        return ParticipantId.parse(f"{PARTICIPANT_SCHEME}{SEPARATOR}{scheme}:{''.join(value.split())}")
    except IdentifierError:
        return None


def partner_key(participant: ParticipantId) -> Optional[tuple[str, str]]:
    """The (scheme, value) our ``PartnerIdentifier`` rows hold for this participant (upper-cased
    like ``normalise_identifier``), or None for a participant outside ``iso6523-actorid-upis``."""
    if participant.scheme.lower() != PARTICIPANT_SCHEME:
        return None
    m = _ICD_VALUE.match(participant.value)
    if not m:
        return None
    return m.group(1), "".join(m.group(2).split()).upper()
