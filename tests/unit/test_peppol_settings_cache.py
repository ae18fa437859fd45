"""Peppol settings from the environment, and the discovery cache's rules (what is kept, how long)."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from gateway.networks.peppol import cache
from gateway.networks.peppol.identifiers import DocumentTypeId, ParticipantId, ProcessId
from gateway.networks.peppol.refusal import Refusal
from gateway.networks.peppol.settings import PRODUCTION_ZONE, load
from gateway.networks.peppol.smp import Endpoint
from tests.support.peppol_pki import PeppolTestCA

BASE = load_settings({"EDIGATE_HOME": "/srv/edigate", "EDIGATE_PUBLIC_URL": "https://gw.example.org/"})


def test_defaults_and_values():
    s = load(BASE, {})
    assert (s.sml_zone, s.sml_legacy, s.dns_server, s.allow_private, s.smp_trust) == \
        (PRODUCTION_ZONE, False, None, False, None)
    assert s.smp_url == "https://gw.example.org/smp" and s.endpoint_url == "https://gw.example.org/as4"
    assert s.cache_dir == Path("/srv/edigate/peppol/discovery-cache")
    s = load(BASE, {"EDIGATE_PEPPOL_SML_ZONE": "ACC.edelivery.tech.ec.europa.eu.", "EDIGATE_PEPPOL_DNS_SERVER": "127.0.0.1",
                    "EDIGATE_PEPPOL_DNS_PORT": "5353", "EDIGATE_PEPPOL_CACHE_TTL": "30m",
                    "EDIGATE_PEPPOL_SMP_KEY": "/k/smp.key.pem", "EDIGATE_PEPPOL_SML_LEGACY": "yes"})
    assert (s.sml_zone, s.dns_port, s.cache_ttl, s.sml_legacy) == ("acc.edelivery.tech.ec.europa.eu", 5353, 1800, True)
    assert s.smp_cert == Path("/k/smp.cert.pem")


@pytest.mark.parametrize("name, value", [("DNS_SERVER", "dns.example"), ("DNS_PORT", "70000"),
                                         ("SML_ZONE", "no zone"), ("CACHE_TTL", "soon"), ("ALLOW_PRIVATE", "maybe"),
                                         ("LOOKUP_TIMEOUT", "0"), ("AS4_PATH", "as4")])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=f"EDIGATE_PEPPOL_{name}"):
        load(BASE, {f"EDIGATE_PEPPOL_{name}": value})


def _endpoint(expiration):
    cert = PeppolTestCA().cert
    from cryptography.hazmat.primitives import serialization
    return Endpoint(ParticipantId.parse("0208:0123456789"), DocumentTypeId.parse("busdox-docid-qns::urn:x::y"),
                    ProcessId.parse("urn:p"), "peppol-transport-as4-v2_0", "https://ap.example/as4",
                    cert.public_bytes(serialization.Encoding.DER), None, expiration)


def test_cache_keeps_endpoints_until_ttl_or_their_expiration(tmp_path):
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    ep = _endpoint(now + timedelta(minutes=10))
    cache.store(tmp_path, "k", ep, now, ttl=3600, negative_ttl=300)
    assert cache.load(tmp_path, "k", now + timedelta(minutes=9)) == ep
    assert cache.load(tmp_path, "k", now + timedelta(minutes=10)) is None      # the endpoint's own expiry first
    assert base64.b64decode(ep.to_json()["certificate"]) == ep.certificate_der


def test_cache_keeps_final_refusals_only(tmp_path):
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    cache.store(tmp_path, "final", Refusal("not_registered", "nobody"), now, ttl=3600, negative_ttl=300)
    cache.store(tmp_path, "passing", Refusal("timeout", "slow"), now, ttl=3600, negative_ttl=300)
    assert cache.load(tmp_path, "final", now + timedelta(seconds=299)) == Refusal("not_registered", "nobody")
    assert cache.load(tmp_path, "final", now + timedelta(seconds=300)) is None
    assert cache.load(tmp_path, "passing", now) is None


def test_unreadable_cache_file_is_a_miss(tmp_path):
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    cache.store(tmp_path, "k", Refusal("not_found", "no"), now, ttl=3600, negative_ttl=300)
    path = next(tmp_path.rglob("k.json"))
    path.write_text("{not json")
    assert cache.load(tmp_path, "k", now) is None
    path.write_text("x" * (cache.MAX_FILE + 1))
    assert cache.load(tmp_path, "k", now) is None
