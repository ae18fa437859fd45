"""The SML lookup against a real DNS server (dnsmasq on loopback) serving a test SML zone.

The zone holds the records an SML publishes: U-NAPTR (flag U, service
Meta:SMP, regexp ``!^.*$!<url>!``) under the base32 SHA-256 name, and for the
older rule a CNAME under the ``B-`` MD5 name pointing at the SMP's host.
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from gateway.networks.peppol.identifiers import ParticipantId
from gateway.networks.peppol.refusal import DiscoveryError
from gateway.networks.peppol.settings import PeppolSettings
from gateway.networks.peppol.sml import legacy_name, locate_smp, naptr_name
from tests.peers.dnsmasq import DnsServer

ZONE = "sml.edigate.test"
MEMBER = ParticipantId.parse("iso6523-actorid-upis::0208:0123456789")
OLD = ParticipantId.parse("iso6523-actorid-upis::0088:5790000435951")
PUBLIC = ParticipantId.parse("iso6523-actorid-upis::0009:73282932000074")
OTHER_SERVICE = ParticipantId.parse("iso6523-actorid-upis::9915:other")
ODD_REGEXP = ParticipantId.parse("iso6523-actorid-upis::9915:regexp")
UNKNOWN = ParticipantId.parse("iso6523-actorid-upis::9915:nobody")


@pytest.fixture(scope="module")
def dns():
    with DnsServer(ZONE, naptr=[
        (naptr_name(MEMBER, ZONE), 20, 10, "U", "Meta:SMP", "!^.*$!http://127.0.0.1:8081/smp!"),
        (naptr_name(MEMBER, ZONE), 10, 10, "U", "Meta:SMP", "!^.*$!http://127.0.0.2:8081/first!"),   # lower order wins
        (naptr_name(MEMBER, ZONE), 5, 10, "U", "Meta:Other", "!^.*$!http://127.0.0.3/other!"),       # not ours
        (naptr_name(PUBLIC, ZONE), "https://smp.example.com/"),
        (naptr_name(OTHER_SERVICE, ZONE), 10, 10, "U", "Meta:Other", "!^.*$!https://smp.example.com!"),
        (naptr_name(ODD_REGEXP, ZONE), 10, 10, "U", "Meta:SMP", "!^(.*)$!https://\\1!"),
    ], cnames=[(legacy_name(OLD, ZONE), f"smp-old.{ZONE}"), (legacy_name(PUBLIC, ZONE), f"smp-public.{ZONE}")],
       hosts=[(f"smp-old.{ZONE}", "127.0.0.1"), (f"smp-public.{ZONE}", "192.0.2.10")]) as server:
        yield server


def _settings(dns, **changes) -> PeppolSettings:
    base = PeppolSettings(home=Path("/nonexistent"), public_url="http://127.0.0.1", certs_dir=Path("/nonexistent"),
                          sml_zone=ZONE, dns_server="127.0.0.1", dns_port=dns.port, dns_timeout=5)
    return base.with_(**changes)


def _refused(settings, participant) -> DiscoveryError:
    with pytest.raises(DiscoveryError) as e:
        locate_smp(settings, participant)
    return e.value


def test_naptr_gives_the_smp_of_the_lowest_order_meta_smp_record(dns):
    location = locate_smp(_settings(dns, allow_private=True), MEMBER)
    assert location.url == "http://127.0.0.2:8081/first"
    assert location.dns_name == naptr_name(MEMBER, ZONE) and location.address is None
    # a differently-cased spelling of the participant is the same DNS name
    assert locate_smp(_settings(dns, allow_private=True),
                      ParticipantId.parse("ISO6523-ACTORID-UPIS::0208:0123456789")).url == location.url


def test_public_smp_url_needs_no_switch(dns):
    assert locate_smp(_settings(dns), PUBLIC).url == "https://smp.example.com"


def test_loopback_smp_refused_without_the_switch(dns):
    refused = _refused(_settings(dns), MEMBER)
    assert refused.code == "forbidden_address" and "127.0.0.2" in refused.reason


@pytest.mark.parametrize("participant, code, words", [
    (UNKNOWN, "not_registered", "not registered"),
    (OTHER_SERVICE, "not_registered", "Meta:Other"),
    (ODD_REGEXP, "bad_answer", "U-NAPTR form"),
])
def test_naptr_refusals(dns, participant, code, words):
    refused = _refused(_settings(dns, allow_private=True), participant)
    assert refused.code == code and words in refused.reason
    assert refused.refusal.reason_fr


def test_legacy_cname_form(dns):
    location = locate_smp(_settings(dns, sml_legacy=True, allow_private=True), OLD)
    assert location.url == f"http://{legacy_name(OLD, ZONE)}" and location.address == "127.0.0.1"
    refused = _refused(_settings(dns, sml_legacy=True), OLD)
    assert refused.code == "forbidden_address" and "127.0.0.1" in refused.reason
    # 192.0.2.0/24 is TEST-NET (reserved): not a public address either
    assert _refused(_settings(dns, sml_legacy=True), PUBLIC).code == "forbidden_address"
    assert _refused(_settings(dns, sml_legacy=True, allow_private=True), MEMBER).code == "not_registered"


def test_a_silent_dns_server_is_a_bounded_timeout():
    """A name server that never answers: the lookup gives up within its time and says so."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        settings = PeppolSettings(home=Path("/nonexistent"), public_url="http://x", certs_dir=Path("/nonexistent"),
                                  sml_zone=ZONE, dns_server="127.0.0.1", dns_port=silent.getsockname()[1],
                                  dns_timeout=0.5)
        result: list = []
        worker = threading.Thread(target=lambda: result.append(_refused(settings, MEMBER)), daemon=True)
        worker.start()
        worker.join(30)                     # generous: the bound under test is the lookup's own
        assert not worker.is_alive(), "the DNS lookup did not give up"
    assert result[0].code == "timeout" and not result[0].refusal.final
