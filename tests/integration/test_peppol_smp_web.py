"""Our SMP in the web app, on a gateway's home without any Peppol setting: the development key.

With no ``EDIGATE_PEPPOL_SMP_KEY`` the SMP signs with a development key pair made once under the
certificates folder (like AS2's); its answers verify against that certificate, name our public
URL's AS4 endpoint, and only members (active partners with an ICD identifier) are answered for.
"""
from __future__ import annotations

import sqlalchemy as sa

from gateway.db import Partner
from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol import smp
from gateway.web import create_app

MEMBER = ids.ParticipantId.parse("iso6523-actorid-upis::0009:73282932000074")
INVOICE = ids.DocumentTypeId.parse("busdox-docid-qns::" + ids.BIS3_INVOICE)
PROCESS = ids.ProcessId.parse("cenbii-procid-ubl::" + ids.BIS3_PROCESS)


def test_dev_key_signs_and_only_active_members_are_served(make_gateway, tmp_path, monkeypatch):
    for name in ("SMP_KEY", "SMP_CERT", "AP_CERT", "AS4_PATH"):
        monkeypatch.delenv(f"EDIGATE_PEPPOL_{name}", raising=False)
    certs = tmp_path / "certs"
    gw = make_gateway(EDIGATE_CERTS_DIR=str(certs), EDIGATE_PUBLIC_URL="https://gw.example.org")
    with gw.session() as s:
        p = Partner(name="Member SAS")
        p.add_identifier("0009", "732 829 320 00074")
        p.add_identifier("EM", "ap@member.example")
        s.add(p)
    client = create_app(gw, testing=True).test_client()
    url = f"/smp/{MEMBER.url_encoded}/services/{INVOICE.url_encoded}"

    answer = client.get(url)
    assert answer.status_code == 200, answer.data
    dev_cert = certs / "dev" / "peppol-smp.cert.pem"
    assert dev_cert.is_file() and (certs / "dev" / "peppol-smp.key.pem").stat().st_mode & 0o077 == 0
    signed, signer = smp.verify(answer.data, dev_cert)
    endpoint = smp.choose(smp.read_service_metadata(signed, signer=signer), PROCESS, "peppol-transport-as4-v2_0")
    assert endpoint.url == "https://gw.example.org/as4" and endpoint.participant == MEMBER

    assert client.post(url).status_code == 405                      # read-only
    assert client.get(url + "?x=1").status_code == 404
    with gw.session() as s:
        s.scalar(sa.select(Partner)).active = False
    assert client.get(url).status_code == 404                       # not an active member any more
    assert client.get(f"/smp/{MEMBER.url_encoded}").status_code == 404
