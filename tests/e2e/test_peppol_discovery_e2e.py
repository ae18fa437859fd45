"""Peppol discovery end to end: our SMP served by a real ``edigate serve``, found by our own client.

DNS (dnsmasq serving a test SML zone: U-NAPTR records pointing at the gateway's
``/smp``) → SMP (the running gateway answers for its members, signing with an
SMP certificate of a test CA) → signature checked against that CA → the endpoint
(our AS4 URL, our access point certificate). Beside it:

* a tampered answer: a stand-in HTTP proxy between client and SMP changes the
  endpoint URL of the signed answer, and the client refuses it;
* an untrusted signer: the client trusts another CA, and refuses our SMP;
* a member removed: the cached answer is served until it expires, then the
  refreshed answer says the participant is no longer served;
* an SMP that accepts the connection but never answers: discovery gives up
  within its own time bound.
"""
from __future__ import annotations

import http.server
import socket
import threading
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests
from lxml import etree

from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol.discovery import find_endpoint
from gateway.networks.peppol.refusal import Refusal
from gateway.networks.peppol.settings import PeppolSettings
from gateway.networks.peppol.smp import Endpoint
from gateway.networks.peppol.sml import naptr_name
from tests.peers.dnsmasq import DnsServer, require_dnsmasq
from tests.support.gateway_process import GatewayProcess
from tests.support.peppol_pki import PeppolTestCA
from tests.support.ports import free_port

ZONE = "sml.edigate.test"
MEMBER = ids.ParticipantId.parse("iso6523-actorid-upis::0208:0123456789")
TAMPERED = ids.ParticipantId.parse("iso6523-actorid-upis::0088:5790000435951")
LEAVING = ids.ParticipantId.parse("iso6523-actorid-upis::0225:732829320")
STRANGER = ids.ParticipantId.parse("iso6523-actorid-upis::0009:73282932000074")
STALLED = ids.ParticipantId.parse("iso6523-actorid-upis::9915:stalled")
INVOICE = ids.DocumentTypeId.parse("busdox-docid-qns::" + ids.BIS3_INVOICE)
PROCESS = ids.ProcessId.parse("cenbii-procid-ubl::" + ids.BIS3_PROCESS)


class _Tamperer(http.server.ThreadingHTTPServer):
    """A stand-in for a network attacker between us and the SMP: forwards GETs to the real SMP
    and rewrites the endpoint URL in its answer."""
    daemon_threads = True

    def __init__(self, upstream: str):
        self.upstream = upstream

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                r = requests.get(upstream + self.path[len("/smp"):], timeout=30)
                body = r.content.replace(b"/as4</wsa:Address>", b"/evil</wsa:Address>")
                self.send_response(r.status_code)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/smp"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_dnsmasq()
    root = tmp_path_factory.mktemp("peppol")
    ca = PeppolTestCA()
    smp_key, smp_cert = ca.issue("PSG000001").write(root / "pki", "smp")
    _, ap_cert = ca.issue("PFR000001", ou="PEPPOL TEST AP").write(root / "pki", "ap")
    anchor = ca.write_anchor(root / "pki" / "peppol-smp-ca.pem")
    untrusted = PeppolTestCA("another CA").write_anchor(root / "pki" / "other-ca.pem")

    port = free_port()
    smp_url = f"http://127.0.0.1:{port}/smp"
    tamperer = _Tamperer(smp_url)
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(8)                       # accepts connections (the kernel does), never answers
    records = [(naptr_name(p, ZONE), smp_url) for p in (MEMBER, LEAVING, STRANGER)]
    records += [(naptr_name(TAMPERED, ZONE), tamperer.url),
                (naptr_name(STALLED, ZONE), f"http://127.0.0.1:{stalled.getsockname()[1]}/smp")]
    server = GatewayProcess(root / "gateway", port=port, extra_env={
        "EDIGATE_PEPPOL_SMP_KEY": str(smp_key), "EDIGATE_PEPPOL_SMP_CERT": str(smp_cert),
        "EDIGATE_PEPPOL_AP_CERT": str(ap_cert)})
    from gateway.db import Partner
    gw = server.gateway()
    with gw.session() as s:
        for name, participant in (("Member", MEMBER), ("Tampered", TAMPERED), ("Leaving", LEAVING)):
            partner = Partner(name=name)
            scheme, value = ids.partner_key(participant)
            partner.add_identifier(scheme, value)
            s.add(partner)
    with DnsServer(ZONE, naptr=records) as dns:
        server.start()
        try:
            client = PeppolSettings(home=root / "client", public_url="http://127.0.0.1", certs_dir=root / "client",
                                    sml_zone=ZONE, dns_server="127.0.0.1", dns_port=dns.port, smp_trust=anchor,
                                    allow_private=True, lookup_timeout=20)
            yield SimpleNamespace(server=server, gw=gw, client=client, smp_url=smp_url, untrusted=untrusted,
                                  ap_cert=ap_cert, base=server.base)
        finally:
            server.stop()
            gw.close()
            tamperer.shutdown()
            stalled.close()


def test_member_found_end_to_end(world):
    endpoint = find_endpoint(world.client, MEMBER, INVOICE, PROCESS, use_cache=False)
    assert isinstance(endpoint, Endpoint), endpoint
    assert endpoint.url == world.base + "/as4"
    assert endpoint.transport_profile == "peppol-transport-as4-v2_0"
    assert endpoint.certificate_pem == Path(world.ap_cert).read_bytes()
    assert endpoint.participant == MEMBER and endpoint.process == PROCESS


def test_served_documents_over_http(world):
    group = requests.get(f"{world.smp_url}/{MEMBER.url_encoded}", timeout=30)
    assert group.status_code == 200 and group.headers["Content-Type"].startswith("application/xml")
    hrefs = [e.get("href") for e in etree.fromstring(group.content).iter("{*}ServiceMetadataReference")]
    assert hrefs == [f"{world.smp_url}/{MEMBER.url_encoded}/services/{quote('busdox-docid-qns::' + d, safe='')}"
                     for d in (ids.BIS3_INVOICE, ids.BIS3_CREDIT_NOTE, ids.INVOICE_RESPONSE)]
    # participant ids are case-insensitive; unknown participants and document types are 404s
    upper = quote("ISO6523-ACTORID-UPIS::0208:0123456789", safe="")
    assert requests.get(f"{world.smp_url}/{upper}", timeout=30).status_code == 200
    assert requests.get(f"{world.smp_url}/{STRANGER.url_encoded}", timeout=30).status_code == 404
    other_doc = quote("busdox-docid-qns::urn:example:doc", safe="")
    assert requests.get(f"{world.smp_url}/{MEMBER.url_encoded}/services/{other_doc}", timeout=30).status_code == 404
    assert requests.get(f"{world.smp_url}/not-an-identifier", timeout=30).status_code == 400
    assert requests.get(f"{world.smp_url}/{'x' * 5000}", timeout=30).status_code == 404


def test_stranger_not_served(world):
    refusal = find_endpoint(world.client, STRANGER, INVOICE, PROCESS, use_cache=False)
    assert isinstance(refusal, Refusal) and refusal.code == "not_found" and refusal.final


def test_tampered_answer_refused(world):
    refusal = find_endpoint(world.client, TAMPERED, INVOICE, PROCESS, use_cache=False)
    assert isinstance(refusal, Refusal) and refusal.code == "bad_signature", refusal
    assert "does not match its signature" in refusal.reason


def test_untrusted_signer_refused(world):
    refusal = find_endpoint(world.client.with_(smp_trust=world.untrusted), MEMBER, INVOICE, PROCESS,
                            use_cache=False)
    assert isinstance(refusal, Refusal) and refusal.code == "untrusted_signer", refusal


def test_cached_answer_kept_until_it_expires_then_refreshed(world):
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from gateway.db import Partner
    now = datetime.now(timezone.utc)
    first = find_endpoint(world.client, LEAVING, INVOICE, PROCESS, now=now)
    assert isinstance(first, Endpoint), first
    with world.gw.session() as s:
        s.scalar(sa.select(Partner).where(Partner.name == "Leaving")).active = False
    assert requests.get(f"{world.smp_url}/{LEAVING.url_encoded}", timeout=30).status_code == 404
    kept = find_endpoint(world.client, LEAVING, INVOICE, PROCESS, now=now + timedelta(minutes=30))
    assert kept == first                            # from the cache: the SMP was not asked
    later = now + timedelta(seconds=world.client.cache_ttl + 1)
    refreshed = find_endpoint(world.client, LEAVING, INVOICE, PROCESS, now=later)
    assert isinstance(refreshed, Refusal) and refreshed.code == "not_found"
    # the "no" is kept too, for the negative time
    with world.gw.session() as s:
        s.scalar(sa.select(Partner).where(Partner.name == "Leaving")).active = True
    assert find_endpoint(world.client, LEAVING, INVOICE, PROCESS, now=later + timedelta(seconds=10)) == refreshed
    again = find_endpoint(world.client, LEAVING, INVOICE, PROCESS,
                          now=later + timedelta(seconds=world.client.negative_ttl + 1))
    assert isinstance(again, Endpoint)


def test_silent_smp_is_given_up_within_the_bound(world):
    result: list = []
    worker = threading.Thread(target=lambda: result.append(
        find_endpoint(world.client, STALLED, INVOICE, PROCESS, use_cache=False, timeout=1)), daemon=True)
    worker.start()
    worker.join(60)                                 # generous: the bound under test is discovery's own
    assert not worker.is_alive(), "discovery did not give up"
    assert isinstance(result[0], Refusal) and result[0].code == "timeout" and not result[0].final
