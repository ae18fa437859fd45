"""SFTP through a running gateway (``edigate serve``): the same pipeline and records as AS2.

* A supplier uploads with the real OpenSSH ``sftp`` client to our server; the
  invoice is processed and lands, as CII, in the ``outbound/`` of a buyer that
  picks up from our server (the buyer's ``get`` settles the delivery), and as
  UBL on a real OpenSSH sshd of a buyer we push to.
* We poll that sshd: a file left there for us is recorded and removed; the same
  file fetched again (a delete cut short) records nothing new.
* What partners' clients do right after an upload works, and each file is
  recorded once: OpenSSH ``put -p`` then ``chmod``, an upload under a temporary
  name renamed and looked up again, and rclone with its default settings (it
  sets the times after the upload, and moves server-side by rename + lookup).
* Faults: an upload cut mid-way leaves nothing processed; a server killed and
  restarted takes a counted-but-unrecorded upload once, and leaves alone the
  taken uploads kept in ``inbound/`` for their grace period (the sweep removes
  those later).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest
import sqlalchemy as sa

from gateway.config import ConfigError, load_settings
from gateway.db import Exchange, SftpAccount, SftpRemote
from gateway.syntaxes import read_document, write_document
from gateway.model.invoice import Identifier
from gateway.transports.sftp import HOST_KEY_FILENAME, ensure_host_key, host_key_line, is_taken

from tests.support.gateway_process import GatewayProcess, setup_records
from tests.support.waiting import wait_for
from tests.support.invoice_builder import build_invoice
from tests.peers.sshd import new_ed25519, skip_reason, start_sshd_peer

PICKUP_GLN = "4000001000005"
PUSH_GLN = "3012345000010"


def _ubl(number: str, gln: str) -> bytes:
    inv = build_invoice()
    inv.number = number
    inv.buyer.electronic_address = Identifier(gln, "0088")
    return write_document(inv, "ubl").data


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if shutil.which("sftp") is None:
        pytest.skip("OpenSSH sftp client not found: Debian package `openssh-client` (make test installs it)")
    work = tmp_path_factory.mktemp("gw-sftp")
    keys = work / "keys"
    keys.mkdir()
    from gateway import certs
    ours = certs.ensure_dev_keypair(keys, "edigate")
    supplier_pub, buyer_pub = new_ed25519(keys / "supplier", "supplier"), new_ed25519(keys / "buyer", "buyer")
    server = GatewayProcess(work / "gateway")
    reason = skip_reason()
    peer = None if reason else start_sshd_peer()
    gw = server.gateway()
    partners = [
        dict(name="SFTP supplier", identifiers=[("0088", "5790000435951")]),
        dict(name="Pickup buyer", identifiers=[("0088", PICKUP_GLN)], preferred_format="cii",
             preferred_channel="sftp"),
        dict(name="Push buyer", identifiers=[("0088", PUSH_GLN)], preferred_format="ubl",
             preferred_channel="sftp"),
    ]
    rec = setup_records(gw, identity="EDIGATE", our_key=ours.key_path, partners=partners)
    with gw.session() as s:
        for username, pub, partner in (("supplier", supplier_pub, "SFTP supplier"),
                                       ("buyer", buyer_pub, "Pickup buyer")):
            s.add(SftpAccount(partner_id=rec.partner_ids[partner], username=username, authorized_keys=pub))
        if peer is not None:
            s.add(SftpRemote(partner_id=rec.partner_ids["Push buyer"], host=peer.host, port=peer.port,
                             username=peer.username, private_key_ref=str(peer.client_key_path),
                             host_key=peer.host_key_line, push_dir="/inbound", poll_dir="/outbound"))
    gw.close()
    server.token = rec.token
    server.start()
    host_key = ensure_host_key(server.settings.certs_dir / HOST_KEY_FILENAME)   # made by the server
    known = work / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.sftp_port} {host_key_line(host_key)}\n")
    try:
        yield SimpleNamespace(server=server, peer=peer, peer_skip=reason, keys=keys, known=known,
                              ids=rec.partner_ids, work=work)
    finally:
        server.stop()
        if peer is not None:
            peer.stop()


def _sftp(w, user: str, commands: str, cwd: Path) -> subprocess.CompletedProcess:
    batch = w.work / f"batch-{user}"
    batch.write_text(commands.strip() + "\n")
    return subprocess.run(
        ["sftp", "-F", "/dev/null", "-P", str(w.server.sftp_port), "-i", str(w.keys / user),
         "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={w.known}",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no",
         "-b", str(batch), f"{user}@127.0.0.1"],
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def _rclone(w, user: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """rclone with its default transfer settings; ``REMOTE:`` in ``args`` is our server."""
    if shutil.which("rclone") is None:
        pytest.fail("rclone is not installed: apt-get install rclone (see packaging/debian-packages.txt)")
    remote = (f":sftp,host=127.0.0.1,port={w.server.sftp_port},user={user},key_file={w.keys / user},"
              f"known_hosts_file={w.known}:")
    return subprocess.run(["rclone", "-v", *(a.replace("REMOTE:", remote) for a in args)], cwd=cwd,
                          env=dict(os.environ, RCLONE_CONFIG=str(w.work / "rclone.conf")),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def _exchanges(w, **filters) -> list[dict]:
    return w.server.api("/exchanges", **filters)["items"]


def _recorded(w, filename: str) -> list[str]:
    """The content hashes of the inbound SFTP exchanges recorded under ``filename``."""
    return [e["content_sha256"] for e in _exchanges(w, direction="in", channel="sftp", limit=500)
            if e["filename"] == filename]


@pytest.fixture
def w(world):
    return world


def test_sftp_upload_routed_to_a_pickup_buyer(w, tmp_path):
    ubl = _ubl("SFTP-0001", PICKUP_GLN)
    (tmp_path / "SFTP-0001.xml").write_bytes(ubl)
    r = _sftp(w, "supplier", "put SFTP-0001.xml inbound/.SFTP-0001.xml.part\n"
                             "rename inbound/.SFTP-0001.xml.part inbound/SFTP-0001.xml\n"
                             "ls -l inbound/SFTP-0001.xml", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "-r--------" in r.stdout     # taken, and kept read-only for the client's follow-up calls
    ex = wait_for(lambda: [e for e in _exchanges(w, direction="in", channel="sftp") if e["filename"] == "SFTP-0001.xml"],
               30, "the upload's exchange")[0]
    assert ex["partner"]["id"] == w.ids["SFTP supplier"]
    assert ex["content_sha256"] == hashlib.sha256(ubl).hexdigest()
    full = wait_for(lambda: (lambda e: e if e["status"] == "processed" else None)(w.server.api(f"/exchanges/{ex['id']}")),
                 60, "processing")
    (doc_id,) = full["documents"]
    doc = wait_for(lambda: (lambda d: d if d["deliveries"] and d["deliveries"][0]["status"] == "delivered" else None)(
        w.server.api(f"/documents/{doc_id}")), 60, "placement for pickup")
    (delivery,) = doc["deliveries"]
    assert delivery["channel"] == "sftp" and delivery["format"] == "cii"
    out = w.server.api(f"/exchanges/{delivery['exchange_id']}")
    assert out["status"] == "sent" and "buyer/outbound/SFTP-0001.xml" in out["reason"]
    cii = w.server.api(f"/exchanges/{out['id']}/content")

    # The buyer sees only its own area, and gets exactly the CII we recorded.
    down = tmp_path / "down"
    down.mkdir()
    r = _sftp(w, "buyer", "ls outbound\nget outbound/SFTP-0001.xml\nls inbound", down)
    assert r.returncode == 0, r.stderr
    assert (down / "SFTP-0001.xml").read_bytes() == cii
    assert read_document(cii).invoice.number == "SFTP-0001"
    r = _sftp(w, "buyer", "get outbound/../../supplier/inbound/x", down)
    assert r.returncode != 0
    doc = wait_for(lambda: (lambda d: d if d["deliveries"][0]["status"] == "acknowledged" else None)(
        w.server.api(f"/documents/{doc_id}")), 30, "the pickup to settle the delivery")
    assert doc["status"] == "delivered"
    assert "downloaded by buyer over SFTP" in doc["deliveries"][0]["history"][-1]["reason"]


def test_push_to_a_partners_sshd_and_poll_from_it(w, tmp_path):
    if w.peer is None:
        pytest.skip(w.peer_skip)
    ubl = _ubl("SFTP-PUSH-1", PUSH_GLN)
    (tmp_path / "push.xml").write_bytes(ubl)
    assert _sftp(w, "supplier", "put push.xml inbound/push.xml", tmp_path).returncode == 0
    pushed = w.peer.chroot / "inbound" / "SFTP-PUSH-1.xml"
    wait_for(pushed.exists, 60, "the push to the partner's sshd")
    assert read_document(pushed.read_bytes()).invoice.number == "SFTP-PUSH-1"
    assert not [p for p in (w.peer.chroot / "inbound").iterdir() if p.name.startswith(".")]   # no temp left
    out = wait_for(lambda: [e for e in _exchanges(w, direction="out", channel="sftp", status="sent")
                         if "SFTP-PUSH-1.xml" in (e["reason"] or "")], 30, "the push record")[0]
    assert "size checked" in out["reason"] and out["content_sha256"] == hashlib.sha256(pushed.read_bytes()).hexdigest()

    # Polling: a file the partner left for us is recorded once, then removed on their side.
    from gateway.channels.sftp import poll_remote
    left = w.peer.chroot / "outbound" / "from-partner.xml"
    data = _ubl("SFTP-POLL-1", PICKUP_GLN)
    left.write_bytes(data)
    gw = w.server.gateway()
    try:
        with gw.session() as s:
            remote_id = s.scalar(sa.select(SftpRemote.id))
        counts = poll_remote(gw, remote_id, force=True, settle_seconds=0)
        assert counts["new"] == 1 and counts["error"] is None, counts
        assert not left.exists()
        # The partner's delete was "cut short": the same file is there again; nothing new is recorded.
        left.write_bytes(data)
        counts = poll_remote(gw, remote_id, force=True, settle_seconds=0)
        assert counts["again"] == 1 and counts["new"] == 0, counts
        with gw.session() as s:
            n = s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(
                Exchange.direction == "in", Exchange.content_sha256 == hashlib.sha256(data).hexdigest()))
        assert n == 1
    finally:
        gw.close()


def test_an_upload_cut_midway_is_never_processed(w, tmp_path):
    sock = socket.create_connection(("127.0.0.1", w.server.sftp_port), timeout=10)
    t = paramiko.Transport(sock)
    t.connect(username="supplier", pkey=paramiko.Ed25519Key(filename=str(w.keys / "supplier")))
    sftp = paramiko.SFTPClient.from_transport(t)
    f = sftp.open("inbound/cut.xml", "wb")
    f.write(_ubl("SFTP-CUT", PICKUP_GLN)[:700])
    f.flush()
    t.close()                                            # gone without closing the file
    sock.close()
    time.sleep(1.5)
    assert [e for e in _exchanges(w, direction="in", channel="sftp") if e["filename"] == "cut.xml"] == []
    # A day later the sweep removes what was cut (nothing was acknowledged for it); whole files stay.
    from gateway.channels.sftp import SftpInbox
    cut = w.server.home / "sftp" / "supplier" / "inbound" / "cut.xml"
    assert cut.exists()
    gw = w.server.gateway()
    try:
        assert SftpInbox(gw).sweep_partials(now=time.time() + 3600) == []
        assert SftpInbox(gw).sweep_partials(now=time.time() + 25 * 3600) == [cut]
    finally:
        gw.close()
    assert not cut.exists()


def test_clients_follow_up_calls_after_an_upload_work_and_each_file_is_recorded_once(w, tmp_path):
    preserved = _ubl("SFTP-PRESERVE", PICKUP_GLN)
    renamed = _ubl("SFTP-RENAMED", PICKUP_GLN)
    (tmp_path / "P.xml").write_bytes(preserved)
    (tmp_path / "N.xml").write_bytes(renamed)
    os.utime(tmp_path / "P.xml", (1_000_000_000, 1_000_000_000))
    r = _sftp(w, "supplier", "cd inbound\nput -p P.xml\nchmod 444 P.xml\nls -l P.xml\n"
                             "put N.xml N.xml.tmp\nrename N.xml.tmp N.xml\nls -l N.xml\nchmod 440 N.xml", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2001" in r.stdout                   # the preserved time, read back
    assert _recorded(w, "P.xml") == [hashlib.sha256(preserved).hexdigest()]
    assert _recorded(w, "N.xml") == [hashlib.sha256(renamed).hexdigest()]
    assert _recorded(w, "N.xml.tmp") == []
    r = _sftp(w, "supplier", "rename inbound/N.xml inbound/M.xml", tmp_path)
    assert r.returncode != 0                    # a counted file is never renamed
    assert _recorded(w, "M.xml") == [] and len(_recorded(w, "N.xml")) == 1


def test_rclone_with_default_settings_reports_success_and_each_file_is_recorded_once(w, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    files = {f"RC-{i}.xml": _ubl(f"SFTP-RCLONE-{i}", PICKUP_GLN) for i in range(2)}
    for name, data in files.items():
        (batch / name).write_bytes(data)
    single = _ubl("SFTP-RCLONE-MOVED", PICKUP_GLN)
    (tmp_path / "one.xml").write_bytes(single)
    for args in (("copy", "batch", "REMOTE:inbound"),
                 ("copy", "batch", "REMOTE:inbound"),                   # again: nothing new to send
                 ("copyto", "one.xml", "REMOTE:inbound/RC-MOVED.xml.tmp"),
                 ("moveto", "REMOTE:inbound/RC-MOVED.xml.tmp", "REMOTE:inbound/RC-MOVED.xml")):
        r = _rclone(w, "supplier", *args, cwd=tmp_path)
        assert r.returncode == 0 and "ERROR" not in r.stderr, f"rclone {args[0]} failed:\n{r.stderr}"
    for name, data in files.items():
        assert _recorded(w, name) == [hashlib.sha256(data).hexdigest()]
    assert _recorded(w, "RC-MOVED.xml") == [hashlib.sha256(single).hexdigest()]
    assert _recorded(w, "RC-MOVED.xml.tmp") == []


def test_a_restart_takes_a_counted_upload_once_and_leaves_taken_ones_to_the_sweep(w, tmp_path):
    ubl = _ubl("SFTP-RESTART", PICKUP_GLN)
    (tmp_path / "r.xml").write_bytes(ubl)
    assert _sftp(w, "supplier", "put r.xml inbound/r.xml", tmp_path).returncode == 0
    assert len(_recorded(w, "r.xml")) == 1      # recorded before the partner's close returned
    inbound = w.server.home / "sftp" / "supplier" / "inbound"
    assert is_taken(os.lstat(inbound / "r.xml"))
    w.server.kill()
    # Left by the stopped process: r.xml, taken and kept for its grace period; new.xml, counted
    # but killed before it was recorded; t.xml, marked taken (its bytes, never recorded here, show
    # whether a rescan reads taken files again); a cut upload, never taken.
    (inbound / "new.xml").write_bytes(_ubl("SFTP-AFTER", PICKUP_GLN))
    (inbound / "new.xml").chmod(0o440)     # how the server marks a complete upload before taking it
    (inbound / "t.xml").write_bytes(_ubl("SFTP-TAKEN", PICKUP_GLN))
    (inbound / "t.xml").chmod(0o400)
    (inbound / "cut.xml").write_bytes(b"<Invoice")
    w.server.start()
    wait_for(lambda: is_taken(os.lstat(inbound / "new.xml")), 30, "the rescan to take new.xml")
    assert len(wait_for(lambda: _recorded(w, "new.xml"), 30, "the file left in inbound/")) == 1
    assert len(_recorded(w, "r.xml")) == 1 and _recorded(w, "t.xml") == [] and _recorded(w, "cut.xml") == []
    assert (inbound / "r.xml").read_bytes() == ubl and (inbound / "cut.xml").exists()

    from gateway.channels.sftp import SftpInbox
    gw = w.server.gateway()
    try:
        inbox = SftpInbox(gw)
        assert inbox.upload_grace() == timedelta(minutes=10)
        kept = {inbound / n for n in ("r.xml", "new.xml", "t.xml")}
        assert not kept & set(inbox.sweep_taken())                          # within their grace
        assert kept <= set(inbox.sweep_taken(now=time.time() + 10 * 60 + 1))
    finally:
        gw.close()
    assert not any(p.exists() for p in kept) and (inbound / "cut.xml").exists()
    assert len(_recorded(w, "r.xml")) == 1 and len(_recorded(w, "new.xml")) == 1


def test_the_upload_grace_setting(tmp_path):
    from gateway.channels.sftp import SftpInbox
    assert load_settings({}).sftp_upload_grace_minutes == 10
    settings = load_settings({"EDIGATE_HOME": str(tmp_path), "EDIGATE_SFTP_UPLOAD_GRACE_MINUTES": "2.5"})
    assert SftpInbox(SimpleNamespace(settings=settings)).upload_grace() == timedelta(minutes=2.5)
    for bad in ("-1", "soon", "1441"):
        with pytest.raises(ConfigError, match="EDIGATE_SFTP_UPLOAD_GRACE_MINUTES"):
            load_settings({"EDIGATE_SFTP_UPLOAD_GRACE_MINUTES": bad})
