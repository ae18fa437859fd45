"""Our Peppol certificates watched like the others, and the access point's rollover.

The access point's certificate, the SMP's and the trust anchors are settings (files); proven:
they appear in ``edigate cert list`` and ``cert expiring`` (which exits 1 for an access point
certificate ending in 10 days, or a trust file that cannot be read), on the operator's
certificates page and in the dashboard's expiry warnings, in English and in French. The rollover:
with a next certificate and a switch instant, our SMP publishes two endpoints per process (the
current certificate until the switch, the next from it) that a sender's discovery picks by date;
our AS4 endpoint (the real receiver on a gateway's database, over loopback) takes messages
encrypted to either certificate during the overlap, and signs its receipts with the current one
before the switch and with the next one after it.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
import requests
from click.testing import CliRunner
from werkzeug.serving import make_server

from gateway.certs import KeyPair
from gateway.db import Certificate, Partner
from gateway.networks.peppol import identifiers as ids
from gateway.transports import as4
from tests.support.peppol_pki import PeppolTestCA
from tests.support.ports import free_port
from tests.support.web_seed import PASSWORD, app, gw, people  # noqa: F401

MEMBER = ids.ParticipantId.parse("0208:0123456749")
SENDER = ids.ParticipantId.parse("0208:1928374648")
INVOICE = (b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
           b'<cbc:ID>ROLL-1</cbc:ID></Invoice>')
NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = PeppolTestCA("edigate TEST AP CA")
    out = {"ca": ca.write_anchor(d / "ca.pem")}
    out["smp"] = ca.issue("PSG000002").write(d, "smp")
    out["soon"] = ca.issue("PFR000002", ou="PEPPOL TEST AP", days=10).write(d, "ap-soon")       # ends in 10 days
    out["next"] = ca.issue("PFR000002", ou="PEPPOL TEST AP", days=730).write(d, "ap-next")
    out["them"] = ca.issue("PFR000001", ou="PEPPOL TEST AP").write(d, "them")
    return out


def configure(monkeypatch, pki, **extra: str) -> None:
    env = {"AP_KEY": str(pki["soon"][0]), "AP_CERT": str(pki["soon"][1]), "SMP_KEY": str(pki["smp"][0]),
           "SMP_CERT": str(pki["smp"][1]), "SMP_TRUST": str(pki["ca"]), "AP_TRUST": str(pki["ca"]), **extra}
    for k, v in env.items():
        monkeypatch.setenv("EDIGATE_PEPPOL_" + k, v)


# --- where certificates are watched -------------------------------------------------------------------

def test_the_cli_lists_and_warns_of_peppol_certificates(tmp_path, monkeypatch, pki):
    from gateway.cli.cert import cert_group
    from gateway.db import migrate
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    migrate(f"sqlite:///{tmp_path}/edigate.db")
    run = lambda *a: CliRunner().invoke(cert_group, list(a))        # noqa: E731
    assert run("expiring").exit_code == 0                            # no Peppol settings: nothing to watch
    configure(monkeypatch, pki)
    listed = {c["usage"]: c for c in json.loads(run("list", "--json").stdout)}
    assert set(listed) == {"ap", "smp", "ap_trust", "smp_trust"}
    assert listed["ap"]["owner"] == "peppol settings" and "PFR000002" in listed["ap"]["subject"]
    assert listed["ap"]["state"] == "valid" and listed["ap"]["days_left"] in (9, 10)
    table = run("list").stdout
    assert "Peppol access point" in table and "Peppol AP trust anchor" in table
    soon = run("expiring")
    assert soon.exit_code == 1, soon.output
    assert "Peppol access point" in soon.stdout and "expires in" in soon.stdout
    assert "trust anchor" not in soon.stdout                           # the CA has ten years left
    assert run("expiring", "--within", "5").exit_code == 0
    monkeypatch.setenv("EDIGATE_PEPPOL_AP_TRUST", str(tmp_path / "missing.pem"))
    broken = run("expiring", "--within", "5")
    assert broken.exit_code == 1 and "unreadable" in broken.stdout


def _login(app, lang: str):
    import re
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = browser.post("/login", data={"username": "olivia", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    return browser


def test_the_operator_pages_show_and_warn_of_peppol_certificates(app, people, monkeypatch, pki):  # noqa: F811
    configure(monkeypatch, pki, AP_NEXT_CERT=str(pki["next"][1]), AP_NEXT_KEY=str(pki["next"][0]))
    browser = _login(app, "en")
    page = browser.get("/certificates").get_data(as_text=True)
    assert "Peppol (settings)" in page
    rows = {role: page.split(f'data-peppol-role="{role}"', 1)[1].split("</tr>", 1)[0]
            for role in ("ap", "ap_next", "smp", "ap_trust", "smp_trust")}
    assert "expires soon" in rows["ap"] and "PFR000002" in rows["ap"]
    assert "valid" in rows["ap_next"] and "expires soon" not in rows["ap_next"]
    dashboard = browser.get("/").get_data(as_text=True)
    warned = dashboard.split("Certificates expiring within 30 days", 1)[1].split("</section>", 1)[0]
    assert 'data-peppol-role="ap"' in warned and 'data-peppol-role="ap_next"' not in warned
    assert "Peppol access point" in warned
    french = _login(app, "fr").get("/certificates").get_data(as_text=True)
    assert "Peppol (réglages)" in french and "point d&#39;accès Peppol" in french


# --- the rollover -----------------------------------------------------------------------------------

def test_our_smp_publishes_both_certificates_split_at_the_switch(app, monkeypatch, pki):  # noqa: F811
    from gateway.networks.peppol import publish, smp
    switch = NOW + timedelta(days=3)
    configure(monkeypatch, pki, AP_NEXT_CERT=str(pki["next"][1]), AP_NEXT_KEY=str(pki["next"][0]),
              AP_SWITCH_AT=switch.strftime("%Y-%m-%dT%H:%M:%SZ"))
    with app.app_context():
        from gateway.web.kit.current import gateway as current
        with current().session() as s:
            member = Partner(name="Member")
            member.add_identifier(*ids.partner_key(MEMBER))
            s.add(member)
    doctype = ids.DocumentTypeId(ids.DEFAULT_DOCTYPE_SCHEME, ids.BIS3_INVOICE)
    from urllib.parse import quote
    r = app.test_client().get(f"/smp/{quote(MEMBER.uri, safe='')}/services/{quote(doctype.uri, safe='')}")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    from gateway.xml import safe
    signer = KeyPair.load(*pki["smp"]).certificate
    metadata = smp.read_service_metadata(safe.parse(r.data), signer=signer)
    process = ids.ProcessId.parse(ids.BIS3_PROCESS)
    profile = "peppol-transport-as4-v2_0"
    soon, nxt = KeyPair.load(*pki["soon"]).certificate, KeyPair.load(*pki["next"]).certificate
    before = smp.choose(metadata, process, profile, NOW)
    after = smp.choose(metadata, process, profile, switch + timedelta(seconds=1))
    assert before.certificate == soon and after.certificate == nxt
    assert before.expiration == after.activation == switch.replace(microsecond=0)
    assert publish.Signer.load(*pki["smp"]).endpoints()[0][0].subject == signer.subject   # no rollover: one


@contextmanager
def receiving(gw):  # noqa: F811
    from gateway.channels.peppol import channel
    (path, wsgi), = channel.wsgi_mounts(gw).items()
    server = make_server("127.0.0.1", free_port(), wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{path}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _to(pki, url: str, cert: "str | bytes") -> as4.OutboundMessage:
    """A message from the other access point, encrypted to ``cert`` (a name in ``pki``, or PEM)."""
    from gateway.channels.peppol import wrap
    doctype = ids.DocumentTypeId(ids.DEFAULT_DOCTYPE_SCHEME, ids.BIS3_INVOICE)
    process = ids.ProcessId.parse(ids.BIS3_PROCESS)
    pem = pki[cert][1].read_bytes() if isinstance(cert, str) else cert
    them = as4.As4Partner("PFR000002", [pem], url=url, allow_private=True)
    return as4.build(wrap(INVOICE, SENDER.value, MEMBER.value, doctype, process, "BE"),
                     identity=as4.As4Identity(KeyPair.load(*pki["them"])), partner=them,
                     addressing=as4.Addressing(from_party="PFR000001", to_party="PFR000002",
                                               original_sender=SENDER.value, final_recipient=MEMBER.value,
                                               process=process.value, process_scheme=process.scheme,
                                               action=doctype.uri))


@pytest.mark.parametrize("switched", [False, True], ids=["before the switch", "after the switch"])
def test_inbound_takes_either_certificate_during_the_overlap(make_gateway, monkeypatch, pki, switched):
    from gateway.channels.peppol import identity
    switch = NOW + (timedelta(days=-1) if switched else timedelta(days=3))
    configure(monkeypatch, pki, AP_NEXT_CERT=str(pki["next"][1]), AP_NEXT_KEY=str(pki["next"][0]),
              AP_SWITCH_AT=switch.strftime("%Y-%m-%dT%H:%M:%SZ"))
    gw = make_gateway()
    with gw.session() as s:
        member = Partner(name="Member")
        member.add_identifier(*ids.partner_key(MEMBER))
        ap = Partner(name="Access point 1")
        s.add_all([member, ap])
        s.flush()
        s.add(Certificate.from_pem(pki["them"][1].read_bytes(), usage="signing", partner_id=ap.id))
    signing = "next" if switched else "soon"
    assert identity(gw).certificate == KeyPair.load(*pki[signing]).certificate
    with receiving(gw) as url:
        for cert_name in ("soon", "next"):
            out = _to(pki, url, cert_name)
            r = requests.post(url, data=out.body, headers=out.headers, timeout=30)
            judged = as4.check_signal(r.content, message_id=out.message_id,
                                      receiver_certs=[KeyPair.load(*pki[signing]).certificate], sent=out.sent)
            assert judged.delivered, (cert_name, judged.summary)       # taken, receipt signed by the one in use
    stranger = PeppolTestCA("another CA").issue("PFR000002", ou="PEPPOL TEST AP")
    with receiving(gw) as url:                                          # a third certificate is not ours
        out = _to(pki, url, stranger.cert_pem)
        answer = as4.read_envelope(requests.post(url, data=out.body, headers=out.headers, timeout=30).content)
    assert answer.signal.get("errorCode") == "EBMS:0102"
