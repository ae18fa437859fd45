"""Many concurrent SFTP uploads into ``edigate serve``, the server killed (SIGKILL) mid-way.

Three paramiko sessions and one OpenSSH ``sftp -b`` session upload distinct files
at the same time while the server's worker processes process what is already in,
so closes are recorded together (group commit) and compete with the jobs for the
database's writer lock. Once enough closes have been answered OK, the server is
killed outright, then started again. Every file whose close was answered OK is
then recorded exactly once, with the bytes the client sent, and its payload is
in the store; nothing is recorded twice; a file counted but not yet recorded when
the server died is taken by the restart's rescan, once.

What counts as answered OK: paramiko's own ``SFTPFile.close`` swallows a failed
close, so the paramiko sessions send the close request themselves and read its
status; ``sftp -b`` echoes each command before running it and stops at the first
failure, so every ``put`` echoed before the last one was answered OK.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import paramiko
import pytest
import sqlalchemy as sa
from paramiko.sftp import CMD_CLOSE

from gateway.db import Exchange, SftpAccount
from gateway.transports.sftp import HOST_KEY_FILENAME, ensure_host_key, host_key_line, is_delivered, is_taken

from tests.peers.sshd import new_ed25519
from tests.support.gateway_process import GatewayProcess, setup_records
from tests.support.waiting import wait_for

PARAMIKO_SESSIONS = 3
FILES_PER_SESSION = 150
KILL_AFTER = 40                 # closes answered OK, all sessions together


def _content(name: str) -> bytes:
    """20 KB of bytes of its own for each file (not an invoice: its exchange ends rejected)."""
    seed = hashlib.sha256(name.encode()).digest()
    return (name.encode() + b"\n" + seed.hex().encode() * 320)[:20_000]


def _paramiko_uploads(port: int, host_key: paramiko.PKey, key: paramiko.PKey, names: list[str],
                      answered: list[str]) -> None:
    """Upload ``names`` one after another; append each whose close was answered OK."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        t = paramiko.Transport(sock)
        t.connect(hostkey=host_key, username="supplier", pkey=key)
        sftp = paramiko.SFTPClient.from_transport(t)
        for name in names:
            f = sftp.open(f"inbound/{name}", "wb")
            f.write(_content(name))
            f.flush()
            sftp._request(CMD_CLOSE, f.handle)      # raises unless the status is OK
            f._closed = True
            answered.append(name)
    except (OSError, EOFError, paramiko.SSHException):
        return                                      # the server was killed


@pytest.fixture
def world(tmp_path):
    if shutil.which("sftp") is None:
        pytest.skip("OpenSSH sftp client not found: Debian package `openssh-client` (make test installs it)")
    from gateway import certs
    keys = tmp_path / "keys"
    keys.mkdir()
    ours = certs.ensure_dev_keypair(keys, "edigate")
    pub = new_ed25519(keys / "supplier", "supplier")
    server = GatewayProcess(tmp_path / "gateway", processes=None)      # worker processes, as serve runs
    gw = server.gateway()
    rec = setup_records(gw, identity="EDIGATE", our_key=ours.key_path, partners=[dict(name="SFTP supplier")])
    with gw.session() as s:
        s.add(SftpAccount(partner_id=rec.partner_ids["SFTP supplier"], username="supplier", authorized_keys=pub))
    server.start()
    try:
        yield server, gw, keys
    finally:
        gw.close()
        server.stop()


def test_every_close_answered_ok_is_recorded_once_after_a_sigkill_mid_uploads(world, tmp_path):
    server, gw, keys = world
    host_key = ensure_host_key(server.settings.certs_dir / HOST_KEY_FILENAME)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.sftp_port} {host_key_line(host_key)}\n")
    local = tmp_path / "local"
    local.mkdir()
    openssh_names = [f"o-{i:03d}.xml" for i in range(FILES_PER_SESSION)]
    for name in openssh_names:
        (local / name).write_bytes(_content(name))
    batch = tmp_path / "batch"
    batch.write_text("".join(f"put {n} inbound/{n}\n" for n in openssh_names))
    openssh = subprocess.Popen(
        ["sftp", "-F", "/dev/null", "-P", str(server.sftp_port), "-i", str(keys / "supplier"),
         "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no",
         "-b", str(batch), "supplier@127.0.0.1"],
        cwd=local, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    key = paramiko.Ed25519Key.from_private_key_file(str(keys / "supplier"))
    answered: list[list[str]] = [[] for _ in range(PARAMIKO_SESSIONS)]
    threads = [threading.Thread(target=_paramiko_uploads, daemon=True,
                                args=(server.sftp_port, host_key, key,
                                      [f"p{k}-{i:03d}.xml" for i in range(FILES_PER_SESSION)], answered[k]))
               for k in range(PARAMIKO_SESSIONS)]
    for t in threads:
        t.start()
    inbound = server.home / "sftp" / "supplier" / "inbound"
    wait_for(lambda: sum(map(len, answered)) >= KILL_AFTER, 60, f"{KILL_AFTER} closes answered")
    server.kill()
    for t in threads:
        t.join(30)
    out, _ = openssh.communicate(timeout=30)
    puts = [line.split()[2] for line in out.splitlines() if line.startswith("sftp> put ")]
    ok = set(puts if openssh.returncode == 0 else puts[:-1])
    for names in answered:
        ok.update(names)
    assert sum(map(len, answered)) >= KILL_AFTER and any(n.startswith("o-") for n in ok), (puts, answered)
    assert all(len(names) < FILES_PER_SESSION for names in answered)     # killed mid-way, not after

    server.start()
    # the rescan takes what was counted but not recorded: nothing delivered is left untaken
    wait_for(lambda: not [p for p in inbound.iterdir() if is_delivered(os.lstat(p)) and not is_taken(os.lstat(p))],
             30, "the restart to take every counted upload")
    with gw.session() as s:
        rows = s.execute(sa.select(Exchange.filename, Exchange.content_sha256)
                         .where(Exchange.direction == "in", Exchange.channel == "sftp")).all()
    recorded: dict[str, list[str]] = {}
    for filename, digest in rows:
        recorded.setdefault(filename, []).append(digest)
    twice = {n: d for n, d in recorded.items() if len(d) > 1}
    assert not twice, f"recorded more than once: {twice}"
    missing = sorted(ok - recorded.keys())
    assert not missing, f"answered OK but not recorded: {missing}"
    for name, (digest,) in recorded.items():
        assert digest == hashlib.sha256(_content(name)).hexdigest(), name
        assert gw.payloads.get(digest) == _content(name)
