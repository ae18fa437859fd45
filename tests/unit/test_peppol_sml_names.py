"""The SML's DNS names for a participant, against published test vectors.

The vectors are peppol-commons' (phax/peppol-commons @ b460bac7d8,
``PeppolNaptrURLProviderTest`` and ``PeppolURLProviderTest``), which include
the Peppol Policy for use of Identifiers' POLICY 7 example (``0088:123abc``)
and the SML specification's example (``0010:5798000000001``).
"""
from __future__ import annotations

import pytest

from gateway.networks.peppol.identifiers import ParticipantId
from gateway.networks.peppol.sml import legacy_name, naptr_name, url_from_regexp

TEST_ZONE = "participant.sml.test.tech.peppol.org"          # peppol-commons' ESML.PEPPOL_TEST zone
PROD_ZONE = "participant.sml.prod.tech.peppol.org"
S = "iso6523-actorid-upis"


@pytest.mark.parametrize("value, label", [
    ("9915:test", "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a"),
    ("0088:1234567890123", "sjsyvccmqyjxk3weuapffq4x3umcrf4qryherj4vovhmonh7gccq"),
    ("0088:123abc", "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq"),      # PFUOI POLICY 7
    ("0088:123ABC", "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq"),      # case-insensitive
    ("0010:5798000000001", "xukhfqabqziki3ykvr2fhr4snfa3pf5vpq6k4tonv3lmvsy5arvq"),  # SML spec example
])
def test_naptr_names(value, label):
    assert naptr_name(ParticipantId.parse(value), TEST_ZONE) == f"{label}.{S}.{TEST_ZONE}"
    assert naptr_name(ParticipantId.parse(f"ISO6523-ACTORID-UPIS::{value}"), TEST_ZONE + ".") == \
        f"{label}.{S}.{TEST_ZONE}"


@pytest.mark.parametrize("value, zone, label", [
    ("0088:123abc", PROD_ZONE, "B-f5e78500450d37de5aabe6648ac3bb70"),
    ("0088:123ABC", PROD_ZONE, "B-f5e78500450d37de5aabe6648ac3bb70"),
    ("9915:test", TEST_ZONE, "B-85008b8279e07ab0392da75fa55856a2"),
])
def test_legacy_names(value, zone, label):
    assert legacy_name(ParticipantId.parse(value), zone) == f"{label}.{S}.{zone}"


@pytest.mark.parametrize("regexp, url", [
    ("!^.*$!https://smp.example.com/!", "https://smp.example.com/"),
    ("|^.*$|http://127.0.0.1:8080/smp|", "http://127.0.0.1:8080/smp"),
    ("!^.*$!https://smp.example.com!i", "https://smp.example.com"),
    ("!^(.*)$!https://\\1.example.com!", None),         # not U-NAPTR's whole-name form: not run
    ("!^.*$!!", None),
    ("!^.*$!a!b!", None),
    ("", None),
])
def test_naptr_regexp(regexp, url):
    assert url_from_regexp(regexp) == url
