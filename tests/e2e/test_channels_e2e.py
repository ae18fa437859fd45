"""One sender, five recipients, five channels, through a running gateway (``edigate serve``).

The sender is django-pyas2 (organisation STRANGER, see as2peer.py). It sends five UBL invoices
over AS2 to our gateway, each to another buyer, and each buyer receives the way it chose:

* **AS2**: django-pyas2 again (organisation PEER), in CII, acknowledged by its signed MDN;
* **SFTP pickup**: EDIFACT D96A left in the buyer's ``outbound/`` on our SFTP server, fetched
  with OpenSSH's ``sftp`` (the download acknowledges the delivery);
* **e-mail**: a Factur-X PDF attached to a mail through a real SMTP server (aiosmtpd);
* **portal**: the buyer logs in to the recipient portal over HTTP and downloads its CSV;
* **interconnected network**: the buyer is no member of ours but is listed in the directory of
  network NET-2, a **second edigate instance** reached over AS2 (its directory imported with
  ``edigate network add/refresh``): we forward CII to it, it acknowledges with its MDN, routes the
  invoice to its own member and makes it available on its portal, where that member downloads it.

Every delivery is followed through the REST API to its final state, and what each recipient got
is compared, byte for byte, with what the gateway recorded. A last test sends an invoice for a
buyer no directory lists yet: it is held, and goes out through the network as soon as a
directory refresh (``edigate network refresh``) lists the buyer.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from lxml import etree

from gateway import certs
from gateway.db import SftpAccount, User
from gateway.syntaxes import read_document, write_document
from gateway.model.invoice import Identifier
from gateway.transports.sftp import HOST_KEY_FILENAME, ensure_host_key, host_key_line

from tests.peers.pyas2 import DjangoPyas2Peer
from tests.support.ports import free_port
from tests.support.gateway_process import REPO, GatewayProcess, setup_records
from tests.support.waiting import wait_for
from tests.support.invoice_builder import build_invoice
from tests.peers.smtp import SmtpServer
from tests.peers.sshd import new_ed25519

SUPPLIER_GLN = "3012345000010"
AS2_GLN, SFTP_GLN, MAIL_GLN, PORTAL_GLN = "4000001000005", "5790000435951", "4012345000009", "7612345000008"
NET_GLN, LATE_GLN = "8712345000004", "5412345000013"
MAIL_TO = "ap@mail-buyer.example"
PORTAL_LOGIN, PORTAL_PASSWORD = "portal-buyer", "portal buyer password"
NET_LOGIN, NET_PASSWORD = "net-buyer", "network buyer password"
NS_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"


def _ubl(number: str, buyer_gln: str) -> bytes:
    inv = build_invoice()
    inv.number = number
    inv.buyer.electronic_address = Identifier(buyer_gln, "0088")
    return write_document(inv, "ubl", validate=True).data


def _edigate(server: GatewayProcess, *args: str) -> subprocess.CompletedProcess:
    """The ``edigate`` command line against ``server``'s database, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=REPO, env=server.env,
                          capture_output=True, text=True, timeout=120)


def _portal(server: GatewayProcess, username: str, password: str) -> requests.Session:
    """A recipient's browser session on ``server``'s portal: the login form with its CSRF token."""
    http = requests.Session()
    form = http.get(server.base + "/portal/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    r = http.post(server.base + "/portal/login", timeout=30,
                  data={"username": username, "password": password, "csrf_token": token})
    assert r.status_code == 200 and r.url.rstrip("/").endswith("/portal"), (r.status_code, r.url)
    return http


@pytest.fixture(scope="module")
def world(tmp_path_factory, pyas2_python):
    if shutil.which("sftp") is None:
        pytest.skip("OpenSSH sftp client not found: Debian package `openssh-client` (make test installs it)")
    python = pyas2_python
    work = tmp_path_factory.mktemp("channels-e2e")
    keydir = work / "keys"
    keys = SimpleNamespace(ours=certs.ensure_dev_keypair(keydir, "edigate"),
                           net=certs.ensure_dev_keypair(keydir, "edigate2"),
                           peer=certs.ensure_dev_keypair(keydir, "peer", password="peer-pass"),
                           rogue=certs.ensure_dev_keypair(keydir, "rogue", password="rogue-pass"))
    for name in ("peer", "rogue"):
        path = work / f"{name}.pem"
        path.write_bytes(getattr(keys, name).bundle_pem)
        os.chmod(path, 0o600)
    sftp_pub = new_ed25519(keydir / "sftp-buyer", "sftp-buyer")

    with ExitStack() as stack:
        smtp = stack.enter_context(SmtpServer())
        ours = GatewayProcess(work / "gateway", extra_env={"EDIGATE_SMTP_URL": smtp.url,
                                                           "EDIGATE_MAIL_FROM": "invoices@edigate.example"})
        other = GatewayProcess(work / "network")
        peer = DjangoPyas2Peer(work / "peer", python=python, port=free_port(), our_cert=keys.ours.cert_path,
                               peer_bundle=work / "peer.pem", peer_pass="peer-pass",
                               rogue_bundle=work / "rogue.pem", rogue_pass="rogue-pass",
                               our_url=ours.as2_url, tamper_url=ours.base + "/nowhere")

        # --- our gateway: the sender, four member recipients, the network's access point
        gw = ours.gateway()
        rec = setup_records(gw, identity="EDIGATE", our_key=keys.ours.key_path, partners=[
            dict(name="Supplier", as2_id="STRANGER", cert_pem=keys.peer.cert_pem,
                 identifiers=[("0088", SUPPLIER_GLN)]),
            dict(name="AS2 buyer", as2_id="PEER", as2_url=peer.url, cert_pem=keys.peer.cert_pem,
                 identifiers=[("0088", AS2_GLN)], preferred_format="cii", preferred_channel="as2"),
            dict(name="SFTP buyer", identifiers=[("0088", SFTP_GLN)], preferred_format="edifact-d96a",
                 preferred_channel="sftp"),
            dict(name="Mail buyer", identifiers=[("0088", MAIL_GLN)], preferred_format="facturx",
                 preferred_channel="email", channel_settings={"email": {"to": [MAIL_TO], "attach": "facturx"}}),
            dict(name="Portal buyer", identifiers=[("0088", PORTAL_GLN)], preferred_format="csv-lines",
                 preferred_channel="portal"),
            dict(name="NET-2 access point", as2_id="EDIGATE-2", as2_url=other.as2_url, cert_pem=keys.net.cert_pem),
        ])
        with gw.session() as s:
            s.add(SftpAccount(partner_id=rec.partner_ids["SFTP buyer"], username="sftp-buyer",
                              authorized_keys=sftp_pub))
            s.add(User.create(PORTAL_LOGIN, PORTAL_PASSWORD, "recipient", partner_id=rec.partner_ids["Portal buyer"]))
        gw.close()
        ours.token = rec.token

        # --- the other edigate: we are its sender; its member is the network's participant
        gw2 = other.gateway()
        rec2 = setup_records(gw2, identity="EDIGATE-2", our_key=keys.net.key_path, partners=[
            dict(name="First edigate", as2_id="EDIGATE", as2_url=ours.as2_url, cert_pem=keys.ours.cert_pem),
            dict(name="Network buyer", identifiers=[("0088", NET_GLN)], preferred_format="ubl",
                 preferred_channel="portal"),
            dict(name="Late buyer", identifiers=[("0088", LATE_GLN)], preferred_format="ubl",
                 preferred_channel="portal"),
        ])
        with gw2.session() as s:
            s.add(User.create(NET_LOGIN, NET_PASSWORD, "recipient", partner_id=rec2.partner_ids["Network buyer"]))
        gw2.close()
        other.token = rec2.token

        # --- the interconnection, set up as an operator would: the network and its directory
        directory = work / "net2-directory.csv"
        directory.write_text(f"scheme,value,name\nGLN,{NET_GLN},Network buyer\n0088,4000001000012,Someone else\n")
        added = _edigate(ours, "network", "add", "NET-2", "--name", "Second edigate", "--partner",
                         "NET-2 access point", "--formats", "cii", "--directory", str(directory),
                         "--refresh-every", "1d")
        assert added.returncode == 0, added.stderr
        refreshed = _edigate(ours, "network", "refresh", "NET-2")
        assert refreshed.returncode == 0, refreshed.stderr
        assert refreshed.stdout == "NET-2: 2 participant(s) listed (2 new, 0 no longer listed, 0 renamed)\n"

        stack.callback(peer.stop)
        stack.callback(ours.stop)
        stack.callback(other.stop)
        peer.setup()
        peer.start()
        other.start()
        ours.start()
        host_key = ensure_host_key(ours.settings.certs_dir / HOST_KEY_FILENAME)
        known = work / "known_hosts"
        known.write_text(f"[127.0.0.1]:{ours.sftp_port} {host_key_line(host_key)}\n")
        yield SimpleNamespace(ours=ours, other=other, peer=peer, smtp=smtp, ids=rec.partner_ids,
                              ids2=rec2.partner_ids, work=work, keys=keydir, known=known, directory=directory)


def _sftp(w, commands: str, cwd: Path) -> subprocess.CompletedProcess:
    batch = w.work / "sftp-batch"
    batch.write_text(commands.strip() + "\n")
    return subprocess.run(
        ["sftp", "-F", "/dev/null", "-P", str(w.ours.sftp_port), "-i", str(w.keys / "sftp-buyer"),
         "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={w.known}",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no",
         "-b", str(batch), "sftp-buyer@127.0.0.1"],
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def _document_of(server: GatewayProcess, message_id: str) -> dict:
    """The one document of the inbound exchange with this AS2 Message-ID, once processed."""
    inbound = wait_for(lambda: server.api("/exchanges", direction="in", message_id=message_id)["items"],
                       60, f"the inbound exchange {message_id}")[0]
    ex = wait_for(lambda: (lambda e: e if e["status"] == "processed" else None)(
        server.api(f"/exchanges/{inbound['id']}")), 90, f"processing of exchange {inbound['id']}")
    (doc_id,) = ex["documents"]
    return server.api(f"/documents/{doc_id}")


def _delivery_reaches(server: GatewayProcess, doc_id: int, status: str, what: str) -> tuple[dict, dict]:
    """Wait until the document's one delivery is ``status``; (document, delivery)."""
    def reached():
        doc = server.api(f"/documents/{doc_id}")
        if not doc["deliveries"]:           # not planned yet (a held document waits for its reroute)
            return None
        (d,) = doc["deliveries"]
        assert d["status"] != "failed", d
        return (doc, d) if d["status"] == status else None
    return wait_for(reached, 120, f"{what}: delivery {status}")


def _rendering(server: GatewayProcess, doc: dict, delivery: dict) -> bytes:
    return server.api(f"/documents/{doc['id']}/renderings/{delivery['rendering_id']}")


def test_one_sender_five_recipients_five_channels(world, tmp_path):
    w = world
    ours, other = w.ours, w.other
    sent = {}
    for number, gln in (("CH-AS2", AS2_GLN), ("CH-SFTP", SFTP_GLN), ("CH-MAIL", MAIL_GLN),
                        ("CH-PORTAL", PORTAL_GLN), ("CH-NET", NET_GLN)):
        s = w.peer.send("STRANGER", "EDIGATE", _ubl(number, gln), f"{number}.xml")
        assert s["status"] == "S" and s["mdn"]["signed"], s
        sent[number] = s["message_id"]
    docs = {number: _document_of(ours, mid) for number, mid in sent.items()}
    for number, doc in docs.items():
        assert doc["number"] == number and doc["valid"] and doc["sender_partner_id"] == w.ids["Supplier"]

    # 1. AS2: CII, acknowledged by django-pyas2's signed MDN, the same bytes on its side
    doc, d = _delivery_reaches(ours, docs["CH-AS2"]["id"], "acknowledged", "AS2")
    assert (d["channel"], d["format"], d["recipient"]["id"]) == ("as2", "cii", w.ids["AS2 buyer"])
    cii = _rendering(ours, doc, d)
    assert etree.QName(etree.fromstring(cii)).namespace == NS_CII
    out = ours.api(f"/exchanges/{d['exchange_id']}")
    assert out["status"] == "acknowledged" and "MIC verified" in out["reason"]
    got = w.peer.message(out["message_id"], "IN")
    assert got["status"] == "S" and got["payload_sha256"] == hashlib.sha256(cii).hexdigest()

    # 2. SFTP pickup: EDIFACT D96A waiting in outbound/, fetched by OpenSSH sftp, then acknowledged
    doc, d = _delivery_reaches(ours, docs["CH-SFTP"]["id"], "delivered", "SFTP placement")
    assert (d["channel"], d["format"]) == ("sftp", "edifact-d96a")
    edi = _rendering(ours, doc, d)
    name = ours.api(f"/exchanges/{d['exchange_id']}")["filename"]
    r = _sftp(w, f"get outbound/{name}", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / name).read_bytes() == edi and edi.startswith((b"UNA", b"UNB"))
    assert read_document(edi).invoice.number == "CH-SFTP"
    _delivery_reaches(ours, doc["id"], "acknowledged", "SFTP pickup")

    # 3. e-mail: the Factur-X PDF attached, through the SMTP server
    doc, d = _delivery_reaches(ours, docs["CH-MAIL"]["id"], "delivered", "e-mail")
    assert (d["channel"], d["format"]) == ("email", "facturx")
    (mail,) = w.smtp.wait_for(lambda m: MAIL_TO in m.rcpt_tos)
    (pdf,) = [p.get_content() for p in mail.message.iter_attachments()]
    assert pdf == _rendering(ours, doc, d) and pdf.startswith(b"%PDF")
    assert read_document(pdf).invoice.number == "CH-MAIL"
    assert mail.message["From"] == "invoices@edigate.example"

    # 4. portal: available at once; the buyer's download over HTTP acknowledges it
    doc, d = _delivery_reaches(ours, docs["CH-PORTAL"]["id"], "delivered", "portal")
    assert (d["channel"], d["format"]) == ("portal", "csv-lines")
    http = _portal(ours, PORTAL_LOGIN, PORTAL_PASSWORD)
    r = http.get(f"{ours.base}/portal/documents/{doc['id']}/download/csv", timeout=30)
    assert r.status_code == 200, r.text[:500]
    assert r.content == _rendering(ours, doc, d)
    assert read_document(r.content).invoice.number == "CH-PORTAL"
    assert http.get(f"{ours.base}/portal/documents/{docs['CH-AS2']['id']}/download/csv", timeout=30).status_code == 404
    _delivery_reaches(ours, doc["id"], "acknowledged", "portal download")

    # 5. the network: CII forwarded to the second edigate over AS2, acknowledged by its MDN...
    doc, d = _delivery_reaches(ours, docs["CH-NET"]["id"], "acknowledged", "network forward")
    assert (d["channel"], d["format"], d["recipient"]["id"]) == \
        ("network", "cii", w.ids["NET-2 access point"])
    network = json.loads(_edigate(ours, "network", "show", "NET-2", "--json").stdout)
    assert d["network_id"] == network["id"] and network["participant_count"] == 2
    assert any(f"reachable through network NET-2 as 0088:{NET_GLN} (by BT-49 0088:{NET_GLN})" in (h["reason"] or "")
               for h in d["history"]), d["history"]
    forwarded = _rendering(ours, doc, d)
    out = ours.api(f"/exchanges/{d['exchange_id']}")
    assert out["status"] == "acknowledged" and out["channel"] == "as2"
    # ... received there as an AS2 message from us, routed to its own member, on its portal
    theirs = _document_of(other, out["message_id"])
    inbound = other.api(f"/exchanges/{theirs['exchange_id']}")
    assert inbound["partner"]["id"] == w.ids2["First edigate"]
    assert other.api(f"/exchanges/{inbound['id']}/content").replace(b"\r\n", b"\n") == \
        forwarded.replace(b"\r\n", b"\n")
    assert theirs["number"] == "CH-NET" and theirs["recipient_partner_id"] == w.ids2["Network buyer"]
    doc2, d2 = _delivery_reaches(other, theirs["id"], "delivered", "the network's own delivery")
    assert (d2["channel"], d2["format"]) == ("portal", "ubl")
    http2 = _portal(other, NET_LOGIN, NET_PASSWORD)
    r = http2.get(f"{other.base}/portal/documents/{doc2['id']}/download/ubl", timeout=30)
    assert r.status_code == 200 and r.content == _rendering(other, doc2, d2)
    final = read_document(r.content).invoice
    assert (final.number, final.buyer.electronic_address.value, str(final.totals.amount_due)) == \
        ("CH-NET", NET_GLN, "119.00")
    _delivery_reaches(other, doc2["id"], "acknowledged", "the network member's download")

    # every delivery of ours at its final state, each document delivered
    finals = {n: ours.api(f"/documents/{doc['id']}") for n, doc in docs.items()}
    assert {n: (f["status"], f["deliveries"][0]["channel"], f["deliveries"][0]["status"])
            for n, f in finals.items()} == {
        "CH-AS2": ("delivered", "as2", "acknowledged"), "CH-SFTP": ("delivered", "sftp", "acknowledged"),
        "CH-MAIL": ("delivered", "email", "delivered"), "CH-PORTAL": ("delivered", "portal", "acknowledged"),
        "CH-NET": ("delivered", "network", "acknowledged")}
    assert len(w.smtp.to(MAIL_TO)) == 1


def test_a_held_invoice_leaves_through_the_network_once_its_directory_lists_the_buyer(world):
    w = world
    ours, other = w.ours, w.other
    s = w.peer.send("STRANGER", "EDIGATE", _ubl("CH-LATE", LATE_GLN), "CH-LATE.xml")
    assert s["status"] == "S", s
    doc = _document_of(ours, s["message_id"])
    assert (doc["status"], doc["deliveries"]) == ("held", [])
    route = [f for f in doc["findings"] if f["rule"] == "ROUTE"]
    assert route[0]["message"] == (f"no partner known by BT-49 0088:{LATE_GLN}, BT-48 VAT:FR12345678901; not "
                                   "listed in the directory of any of the 1 interconnected network(s)")

    # the network publishes its new member; an operator refreshes the directory now
    w.directory.write_text(w.directory.read_text() + f"0088,{LATE_GLN},Late buyer\n")
    r = _edigate(ours, "network", "refresh", "NET-2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "NET-2: 3 participant(s) listed (1 new, 0 no longer listed, 0 renamed)\n"

    doc, d = _delivery_reaches(ours, doc["id"], "acknowledged", "the held invoice forwarded")
    assert (doc["status"], d["channel"], d["format"]) == ("delivered", "network", "cii")
    out = ours.api(f"/exchanges/{d['exchange_id']}")
    theirs = _document_of(other, out["message_id"])
    assert (theirs["number"], theirs["recipient_partner_id"]) == ("CH-LATE", w.ids2["Late buyer"])
    _delivery_reaches(other, theirs["id"], "delivered", "the late buyer's portal delivery")
