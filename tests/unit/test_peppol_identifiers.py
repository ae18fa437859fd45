"""Peppol identifiers: their canonical forms and case rules (Peppol Policy for use of Identifiers 4.x)."""
from __future__ import annotations

import pytest

from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol.identifiers import DocumentTypeId, IdentifierError, ParticipantId, ProcessId


def test_participant_forms_and_case_insensitivity():
    p = ParticipantId.parse("iso6523-actorid-upis::0208:0123456789")
    assert (p.scheme, p.value, p.icd) == ("iso6523-actorid-upis", "0208:0123456789", "0208")
    assert p.uri == "iso6523-actorid-upis::0208:0123456789"
    assert p.url_encoded == "iso6523-actorid-upis%3A%3A0208%3A0123456789"
    upper, lower = ParticipantId.parse("ISO6523-ACTORID-UPIS::9915:ABC"), ParticipantId.parse("9915:abc")
    assert upper == lower and hash(upper) == hash(lower) and upper.key == "iso6523-actorid-upis::9915:abc"
    assert upper.value == "9915:ABC"                    # kept as written, compared lower-cased
    assert ParticipantId.parse("  0088:5790000435951 ").value == "0088:5790000435951"


@pytest.mark.parametrize("text, words", [
    ("iso6523-actorid-upis::5790000435951", "ICD:identifier"),
    ("iso6523-actorid-upis::", "no value"),
    ("a-scheme-that-is-much-too-long-for-peppol::x", "at most 25"),
    ("iso6523-actorid-upis::0088:" + "1" * 131, "longer than 135"),
    ("iso6523-actorid-upis::0088:12\x0034", "control characters"),
])
def test_participant_refusals(text, words):
    with pytest.raises(IdentifierError, match=words):
        ParticipantId.parse(text)


def test_no_default_scheme_wants_one():
    with pytest.raises(IdentifierError, match="scheme::value"):
        ParticipantId.parse("0208:0123456789", default_scheme=None)


def test_document_types_and_processes_are_case_sensitive_and_encoded_whole():
    d = DocumentTypeId.parse("busdox-docid-qns::" + ids.BIS3_INVOICE)
    assert d.value == ids.BIS3_INVOICE and d != DocumentTypeId.parse("busdox-docid-qns::" + ids.BIS3_INVOICE.upper())
    assert "%23%23" in d.url_encoded and "/" not in d.url_encoded and "::" not in d.url_encoded
    assert ProcessId.parse(ids.BIS3_PROCESS).scheme == "cenbii-procid-ubl"
    assert ProcessId.parse("cenbii-procid-ubl::" + ids.BIS3_PROCESS) != ProcessId.parse(
        "cenbii-procid-ubl::" + ids.BIS3_PROCESS.upper())
    with pytest.raises(IdentifierError, match="longer than 500"):
        DocumentTypeId.parse("busdox-docid-qns::" + "x" * 501)
    with pytest.raises(IdentifierError, match="longer than 200"):
        ProcessId.parse("cenbii-procid-ubl::" + "x" * 201)


def test_our_partner_identifiers_map_both_ways():
    p = ids.from_partner("0009", "732 829 320 00074")
    assert p == ParticipantId.parse("0009:73282932000074")
    assert ids.partner_key(ParticipantId.parse("iso6523-actorid-upis::0225:123456789_abc")) == \
        ("0225", "123456789_ABC")
    assert ids.from_partner("EM", "a@b.example") is None and ids.from_partner("VAT", "FR1") is None
    assert ids.partner_key(ParticipantId.parse("other-scheme::0208:1")) is None
