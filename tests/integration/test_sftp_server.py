"""Our SFTP server for partners (gateway.transports.sftp), driven by the real OpenSSH client.

Each test starts an ``SftpServer`` on a free loopback port with two accounts
(``alice``, ``bob``; Ed25519 keys and passwords) and records the callbacks. Partners
are played by OpenSSH's ``sftp -b batchfile`` (Debian ``openssh-client``; ``make test``
installs it), with the server's host key pinned in a known-hosts file
(``StrictHostKeyChecking=yes``): a session that works also proves the host key line
we publish is right.

Two things are done differently from a partner at a keyboard, and why:

* password logins: ``sshpass`` is not installed here, so OpenSSH's own
  ``SSH_ASKPASS`` (with ``SSH_ASKPASS_REQUIRE=force``) hands ``sftp`` the password: the
  real client still does the password login;
* a cut upload, a partial download and a rename under a writer use paramiko's SFTP
  client (closing the connection mid-write is exact there; killing ``sftp`` mid-transfer
  depends on timing).

A second, independent client checks what partners' sync tools do after an upload
(set the file's times, look it up again, rename server-side): rclone (Debian
``rclone``) with its default settings and an on-the-fly ``:sftp,…:`` remote.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
import shutil
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.transports.sftp import (Account, Jail, JailError, SftpServer, authorized_key_matches,
                                     ensure_host_key, host_key_fingerprint, host_key_line,
                                     is_delivered, is_taken, remove_expired_uploads, stale_partial_files)

from tests.support.waiting import wait_for

LOGGER = "edigate.sftp"
BANNER = "edigate test server: authorised partners only"


def _tool(name: str, package: str = "openssh-client") -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} "
                    "(see packaging/debian-packages.txt)")
    return path


def _key(path: Path) -> paramiko.PKey:
    """An Ed25519 key file as ssh-keygen writes it (OpenSSH format, 0600)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Gateway:
    """The server under test plus what its callbacks saw, and a way to be a partner."""

    def __init__(self, tmp: Path, **server_options):
        self.tmp = tmp
        self.local = tmp / "local"          # the partner's machine
        self.local.mkdir()
        self.keys = {name: _key(tmp / f"{name}_key") for name in ("alice", "bob", "mallory")}
        self.passwords = {"alice": "correct horse", "bob": "battery staple"}
        self.accounts = {
            "alice": Account("alice", tmp / "roots" / "alice", ref=1),
            "bob": Account("bob", tmp / "roots" / "bob", ref=2),
            "internal": Account("internal", tmp / "roots" / "internal", may_write_outbound=True),
        }
        self.authorized = {"alice": [host_key_line(self.keys["alice"], "alice@erp")],
                           "bob": ["# bob's key", host_key_line(self.keys["bob"])],
                           "internal": [host_key_line(self.keys["alice"])]}
        self.uploads: list[tuple[str, str, str, Path]] = []     # username, relative, sha256, absolute
        self.refused_uploads: list[str] = []
        self.downloads: list[tuple[str, str]] = []
        self.removes: list[tuple[str, str]] = []
        self.fail_uploads = False
        self.host_key_path = tmp / "certs" / "sftp_host_ed25519_key"
        self.host_key = ensure_host_key(self.host_key_path)
        options = dict(banner=BANNER)
        options.update(server_options)
        self.server = SftpServer("127.0.0.1", 0, self.host_key, self.authenticate, self.on_upload,
                                 on_download=lambda a, rel: self.downloads.append((a.username, rel)),
                                 on_remove=lambda a, rel: self.removes.append((a.username, rel)),
                                 **options)
        self.server.start()
        self.known_hosts = tmp / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.server.port} {host_key_line(self.host_key)}\n")

    def root(self, user: str = "alice") -> Path:
        return self.accounts[user].root

    def authenticate(self, username: str, password: Optional[str] = None,
                     public_key: Optional[paramiko.PKey] = None) -> Optional[Account]:
        if username == "boom":
            raise RuntimeError("database is down")
        account = self.accounts.get(username)
        if account is None:
            return None
        if password is not None:
            return account if password == self.passwords.get(username) else None
        if public_key is not None and authorized_key_matches(public_key, self.authorized[username]):
            return account
        return None

    def on_upload(self, account: Account, relative: str, absolute: Path) -> None:
        data = absolute.read_bytes()
        assert is_delivered(os.lstat(absolute)), "marked before on_upload, for a rescan after a crash"
        if self.fail_uploads:
            self.refused_uploads.append(relative)
            raise RuntimeError("store unavailable")
        assert absolute == account.root / relative
        self.uploads.append((account.username, relative, sha(data), absolute))

    def file(self, name: str, data: bytes) -> bytes:
        (self.local / name).write_bytes(data)
        return data

    def sftp(self, commands: str, user: str = "alice", key: Optional[str] = None,
             password: Optional[str] = None) -> subprocess.CompletedProcess:
        """``sftp -b`` as a partner runs it; the batch stops at the first failing command."""
        batch = self.tmp / "batch"
        batch.write_text(commands.strip() + "\n")
        args = [_tool("sftp"), "-F", "/dev/null", "-P", str(self.server.port),
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
                "-o", "ConnectTimeout=10"]
        env = dict(os.environ)
        if password is not None:
            askpass = self.tmp / "askpass.sh"
            askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$EDIGATE_TEST_PASSWORD"\n')
            askpass.chmod(0o700)
            env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0",
                       EDIGATE_TEST_PASSWORD=password)
            # BatchMode=no must come before -b (which adds BatchMode=yes; ssh keeps the first)
            args += ["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no",
                     "-o", "NumberOfPasswordPrompts=1"]
        else:
            args += ["-i", str(self.tmp / f"{key or user}_key"), "-o", "IdentitiesOnly=yes",
                     "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"]
        args += ["-b", str(batch), f"{user}@127.0.0.1"]
        return subprocess.run(args, cwd=self.local, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)

    def ok(self, commands: str, **kw) -> subprocess.CompletedProcess:
        r = self.sftp(commands, **kw)
        assert r.returncode == 0, f"sftp failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r

    def fails(self, commands: str, **kw) -> subprocess.CompletedProcess:
        r = self.sftp(commands, **kw)
        assert r.returncode != 0, f"sftp should have failed:\n{r.stdout}\n{r.stderr}"
        return r

    def rclone(self, *args: str, user: str = "alice") -> subprocess.CompletedProcess:
        """``rclone`` with its default transfer settings; ``REMOTE:`` in ``args`` is this server
        (host key pinned, no rclone config file of the machine's)."""
        remote = (f":sftp,host=127.0.0.1,port={self.server.port},user={user},"
                  f"key_file={self.tmp / (user + '_key')},known_hosts_file={self.known_hosts}:")
        env = dict(os.environ, RCLONE_CONFIG=str(self.tmp / "rclone.conf"))
        return subprocess.run([_tool("rclone", "rclone"), "-v", *(a.replace("REMOTE:", remote) for a in args)],
                              cwd=self.local, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)

    def paramiko(self, user: str = "alice") -> tuple[paramiko.Transport, paramiko.SFTPClient]:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = paramiko.Transport(sock)
        t.connect(hostkey=paramiko.Ed25519Key(data=self.host_key.asbytes()), username=user,
                  pkey=self.keys[user])
        return t, paramiko.SFTPClient.from_transport(t)

    def wait_idle(self, timeout: float = 30.0) -> None:
        wait_for(lambda: self.server.connections == 0, timeout, "the server to serve no connection", interval=0.02)


@pytest.fixture
def gw(tmp_path):
    g = Gateway(tmp_path)
    yield g
    g.server.stop()


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    def refused(*needles: str) -> list[str]:
        """Messages of ``edigate.sftp`` containing all ``needles``."""
        return [r.getMessage() for r in caplog.records
                if r.name == LOGGER and all(n in r.getMessage() for n in needles)]
    refused.records = caplog.records
    return refused


# ---------------------------------------------------------------- uploads


def test_put_counts_once_with_the_exact_bytes_and_get_returns_them(gw):
    data = gw.file("INV-1.xml", random.Random(1).randbytes(300_000) + b"\r\n\x00end")
    r = gw.ok("cd inbound\nput INV-1.xml\nls -l\nget INV-1.xml back.xml")
    assert gw.uploads == [("alice", "inbound/INV-1.xml", sha(data), gw.root() / "inbound/INV-1.xml")]
    assert (gw.root() / "inbound/INV-1.xml").read_bytes() == data
    assert (gw.local / "back.xml").read_bytes() == data
    assert "-r--------" in r.stdout and "INV-1.xml" in r.stdout     # taken: read-only, kept
    assert gw.downloads == []       # reading back one's own upload is no pickup
    assert BANNER in r.stderr


def test_a_taken_upload_is_replaced_only_by_a_new_upload_and_a_counted_one_never(gw, logs):
    inv = gw.root() / "inbound/INV.xml"
    gw.file("INV.xml", b"first")
    gw.ok("put INV.xml inbound/INV.xml")
    assert is_taken(inv.stat())
    t, client = gw.paramiko()
    try:
        for mode in ("a", "r+", "x"):          # append, modify in place, exclusive create
            with pytest.raises(IOError):
                client.open("/inbound/INV.xml", mode)
    finally:
        t.close()
    assert inv.read_bytes() == b"first" and len(gw.uploads) == 1
    assert logs("sftp alice:", "'/inbound/INV.xml' refused: a file of that name was already delivered")
    # a new upload of the same name (fixed-name exports) replaces the taken copy and counts on its own
    gw.file("INV.xml", b"second")
    gw.ok("put INV.xml inbound/INV.xml")
    assert [h for _, _, h, _ in gw.uploads] == [sha(b"first"), sha(b"second")]
    assert inv.read_bytes() == b"second" and is_taken(inv.stat())
    # counted but not taken (a stop during on_upload: a rescan must still find it): nothing replaces,
    # renames or removes it
    inv.chmod(0o440)
    gw.file("INV.xml", b"third")
    gw.fails("put INV.xml inbound/INV.xml")
    gw.fails("rm inbound/INV.xml")
    assert logs("sftp alice:", "remove '/inbound/INV.xml' refused: delivered, being taken")
    assert inv.read_bytes() == b"second" and len(gw.uploads) == 2
    # once taken, the partner may remove its copy
    inv.chmod(0o400)
    gw.ok("rm inbound/INV.xml")
    assert not inv.exists() and len(gw.uploads) == 2


def test_temporary_names_count_only_when_renamed_to_a_final_name(gw):
    data = gw.file("a.xml", b"<Invoice>1</Invoice>\n")
    gw.ok("cd inbound\nput a.xml a.xml.part\nput a.xml .b.xml\nput a.xml c.FILEPART\nput a.xml d.tmp")
    assert gw.uploads == []
    gw.ok("cd inbound\nrename a.xml.part a.xml\nrename .b.xml b.xml\nrename d.tmp d.part")
    assert [(u, rel, h) for u, rel, h, _ in gw.uploads] == [
        ("alice", "inbound/a.xml", sha(data)), ("alice", "inbound/b.xml", sha(data))]
    # a delivered file stays put, and a final name is not renamed onto an existing one
    gw.fails("cd inbound\nrename a.xml z.xml")
    gw.fails("cd inbound\nput a.xml c.FILEPART\nrename c.FILEPART a.xml")
    assert len(gw.uploads) == 2 and (gw.root() / "inbound/c.FILEPART").exists()
    # ... unless the client asks to replace it (posix-rename): a taken file then gives way
    new = gw.file("a2.xml", b"<Invoice>2</Invoice>\n")
    gw.ok("cd inbound\nput a2.xml a.xml.part")
    t, client = gw.paramiko()
    try:
        client.posix_rename("/inbound/a.xml.part", "/inbound/a.xml")
    finally:
        t.close()
    assert [(rel, h) for _, rel, h, _ in gw.uploads][2:] == [("inbound/a.xml", sha(new))]
    assert (gw.root() / "inbound/a.xml").read_bytes() == new


def test_an_upload_the_gateway_refuses_fails_for_the_partner_and_stays(gw, logs):
    data = gw.file("INV-2.xml", b"UNA:+.? 'UNB+UNOC:3+X+Y'\n")
    gw.fail_uploads = True
    r = gw.fails("cd inbound\nput INV-2.xml")
    assert "close" in r.stderr.lower()
    assert gw.refused_uploads == ["inbound/INV-2.xml"] and gw.uploads == []
    kept = gw.root() / "inbound/INV-2.xml"
    assert kept.read_bytes() == data and kept.stat().st_mode & 0o200    # stays, not delivered
    assert logs("alice", "/inbound/INV-2.xml", "not accepted")
    # the same through a rename: it fails and is undone, the partner can retry it
    gw.fails("cd inbound\nput INV-2.xml INV-3.part\nrename INV-3.part INV-3.xml")
    assert (gw.root() / "inbound/INV-3.part").exists() and not (gw.root() / "inbound/INV-3.xml").exists()
    gw.fail_uploads = False
    gw.ok("cd inbound\nput INV-2.xml\nrename INV-3.part INV-3.xml")
    assert [rel for _, rel, _, _ in gw.uploads] == ["inbound/INV-2.xml", "inbound/INV-3.xml"]


def test_a_cut_upload_never_counts_and_is_found_by_the_sweep(gw, logs):
    t, client = gw.paramiko()
    f = client.open("/inbound/big.xml", "wb")
    f.write(b"x" * 200_000)
    f.flush()
    t.close()                                   # the connection drops: no close of the file
    gw.wait_idle()
    partial = gw.root() / "inbound/big.xml"
    assert partial.exists() and gw.uploads == [] and not is_delivered(partial.stat())
    assert logs("alice", "/inbound/big.xml", "not counted")
    assert stale_partial_files(gw.root(), older_than=0, now=time.time() + 1) == [partial]
    assert stale_partial_files(gw.root(), older_than=3600) == []
    # a partial file is not delivered: the partner may remove it, or upload it again
    gw.file("big.xml", b"y" * 1000)
    gw.ok("cd inbound\nput big.xml")
    assert [rel for _, rel, _, _ in gw.uploads] == ["inbound/big.xml"]
    assert stale_partial_files(gw.root(), older_than=0, now=time.time() + 1) == []


def test_a_file_still_being_written_is_not_renamed(gw):
    t, client = gw.paramiko()
    try:
        f = client.open("/inbound/x.part", "wb")
        f.write(b"half")
        with pytest.raises(IOError):
            client.rename("/inbound/x.part", "/inbound/x.xml")
        f.close()
        assert gw.uploads == []
        client.rename("/inbound/x.part", "/inbound/x.xml")
        assert [rel for _, rel, _, _ in gw.uploads] == ["inbound/x.xml"]
    finally:
        t.close()


# ---------------------------------------------------------------- what clients do after an upload
# A counted upload stays (read-only, marked taken) so that a client's follow-up calls on it work.

OLD = 1_000_000_000         # a file's modification time from long ago (2001), as a client preserves it


def test_put_preserving_times_then_chmod_counts_once_and_never_makes_it_writable(gw, logs):
    """``put -p`` sets times and mode on the open handle before its close; ``chmod`` then sends
    SETSTAT on the path of the counted file, as rclone, WinSCP and FileZilla do after a close."""
    data = gw.file("P.xml", b"<Invoice>p</Invoice>\n")
    os.utime(gw.local / "P.xml", (OLD, OLD))
    r = gw.ok("cd inbound\nput -p P.xml\nchmod 444 P.xml\nls -l P.xml")
    assert "-r--------" in r.stdout and "2001" in r.stdout
    assert [(u, rel, h) for u, rel, h, _ in gw.uploads] == [("alice", "inbound/P.xml", sha(data))]
    kept = gw.root() / "inbound/P.xml"
    assert kept.read_bytes() == data and kept.stat().st_mtime == OLD and is_taken(kept.stat())
    gw.fails("chmod 644 inbound/P.xml")
    assert logs("sftp alice:", "setstat '/inbound/P.xml' refused: already delivered: it stays read-only")
    assert is_taken(kept.stat()) and len(gw.uploads) == 1


def test_rename_from_a_temporary_name_counts_once_and_the_file_answers_after(gw, logs):
    data = gw.file("R.xml", b"<Invoice>r</Invoice>\n")
    r = gw.ok("cd inbound\nput R.xml R.xml.tmp\nrename R.xml.tmp R.xml\nls -l R.xml\nchmod 440 R.xml\n"
              "get R.xml back.xml")
    assert "-r--------" in r.stdout
    assert [(rel, h) for _, rel, h, _ in gw.uploads] == [("inbound/R.xml", sha(data))]
    assert (gw.local / "back.xml").read_bytes() == data
    assert not (gw.root() / "inbound/R.xml.tmp").exists()
    gw.fails("cd inbound\nrename R.xml S.xml")          # a counted file is never renamed
    assert logs("sftp alice:", "rename '/inbound/R.xml' refused: already delivered")
    assert (gw.root() / "inbound/R.xml").read_bytes() == data and len(gw.uploads) == 1


def test_times_set_on_a_counted_upload_by_path_or_handle_are_applied(gw):
    data = gw.file("T.xml", b"<t/>")
    gw.ok("put T.xml inbound/T.xml")
    kept = gw.root() / "inbound/T.xml"
    (gw.root() / "outbound/O.xml").write_bytes(b"<o/>")
    t, client = gw.paramiko()
    try:
        client.utime("/inbound/T.xml", (OLD, OLD + 1))                  # SETSTAT
        assert client.stat("/inbound/T.xml").st_mtime == OLD + 1
        with client.open("/inbound/T.xml", "r") as f:                   # FSETSTAT on a read handle
            f.utime((OLD + 2, OLD + 2))
            f.chmod(0o444)
            with pytest.raises(IOError):
                f.chmod(0o640)
            with pytest.raises(IOError):
                f.truncate(0)
            assert f.read() == data
        with client.open("/outbound/O.xml", "r") as f:                  # what we placed is ours
            with pytest.raises(IOError):
                f.utime((OLD, OLD))
    finally:
        t.close()
    assert kept.read_bytes() == data and kept.stat().st_mtime == OLD + 2 and is_taken(kept.stat())
    assert (gw.root() / "outbound/O.xml").stat().st_mtime > OLD
    assert len(gw.uploads) == 1


def test_rclone_with_default_settings_reports_success_and_counts_each_file_once(gw):
    """rclone sets each file's modification time after its upload (SETSTAT), reads it back,
    and compares sizes and times on its next run; a server-side move is a rename, then a
    lookup of the new name."""
    batch = gw.local / "batch"
    batch.mkdir()
    files = {f"B-{i}.xml": random.Random(i).randbytes(1000 * (i + 1)) for i in range(3)}
    for name, data in files.items():
        (batch / name).write_bytes(data)
        os.utime(batch / name, (OLD, OLD))
    expected = sorted((f"inbound/{n}", sha(d)) for n, d in files.items())

    def succeeded(r: subprocess.CompletedProcess) -> None:
        assert r.returncode == 0 and "ERROR" not in r.stderr, f"rclone failed ({r.returncode}):\n{r.stderr}"

    succeeded(gw.rclone("copy", "batch", "REMOTE:inbound"))
    assert sorted((rel, h) for _, rel, h, _ in gw.uploads) == expected
    for name, data in files.items():
        kept = gw.root() / "inbound" / name
        assert kept.read_bytes() == data and kept.stat().st_mtime == OLD and is_taken(kept.stat())
    succeeded(gw.rclone("copy", "batch", "REMOTE:inbound"))        # again: nothing to send
    assert len(gw.uploads) == 3

    one = gw.file("one.xml", b"<Invoice>one</Invoice>\n")
    succeeded(gw.rclone("copyto", "one.xml", "REMOTE:inbound/ONE.xml"))
    succeeded(gw.rclone("copyto", "one.xml", "REMOTE:inbound/TWO.xml.tmp"))
    assert len(gw.uploads) == 4                                     # a temporary name does not count
    succeeded(gw.rclone("moveto", "REMOTE:inbound/TWO.xml.tmp", "REMOTE:inbound/TWO.xml"))
    assert sorted((rel, h) for _, rel, h, _ in gw.uploads) == sorted(
        expected + [("inbound/ONE.xml", sha(one)), ("inbound/TWO.xml", sha(one))])
    assert not (gw.root() / "inbound/TWO.xml.tmp").exists()


def test_taken_uploads_are_removed_after_their_grace_and_nothing_else(gw):
    inbound = gw.root() / "inbound"
    gw.file("K.xml", b"<k/>")
    gw.ok("cd inbound\nput K.xml\nput K.xml cut.part")
    counted = inbound / "C.xml"         # counted, on_upload cut short by a crash: for the rescan
    counted.write_bytes(b"<c/>")
    counted.chmod(0o440)
    assert remove_expired_uploads(gw.root(), 600) == []
    assert remove_expired_uploads(gw.root(), 600, now=time.time() + 601) == [inbound / "K.xml"]
    assert sorted(p.name for p in inbound.iterdir()) == ["C.xml", "cut.part"]
    gw.ok("cd inbound\nput K.xml")     # the name is free again; the new file has its own grace
    assert remove_expired_uploads(gw.root(), 600, now=time.time() + 1) == []
    assert [rel for _, rel, _, _ in gw.uploads] == ["inbound/K.xml", "inbound/K.xml"]


def test_uploads_over_the_size_limit_fail(tmp_path):
    g = Gateway(tmp_path, max_upload_bytes=10_000)
    try:
        g.file("small.xml", b"s" * 10_000)
        g.file("big.xml", b"b" * 10_001)
        g.ok("cd inbound\nput small.xml")
        g.fails("cd inbound\nput big.xml")
        assert [rel for _, rel, _, _ in g.uploads] == ["inbound/small.xml"]
    finally:
        g.server.stop()


# ---------------------------------------------------------------- what may be done where


def test_rm_mkdir_and_rename_only_where_allowed(gw, logs):
    gw.file("f.xml", b"<f/>")
    gw.ok("cd inbound\nmkdir sub\nput f.xml sub/f.xml\nput f.xml t.part\nrm t.part\nmkdir empty\nrmdir empty")
    assert [rel for _, rel, _, _ in gw.uploads] == ["inbound/sub/f.xml"]
    assert not (gw.root() / "inbound/t.part").exists() and not (gw.root() / "inbound/empty").exists()

    refusals = [
        ("cd inbound\nrename sub/f.xml sub/g.xml", "rename '/inbound/sub/f.xml' refused: already delivered"),
        ("mkdir /top", "mkdir '/top' refused"),
        ("mkdir outbound/x", "mkdir '/outbound/x' refused"),
        ("rmdir inbound", "rmdir '/inbound' refused"),
        ("rmdir outbound", "rmdir '/outbound' refused"),
        ("put f.xml /f.xml", "upload '/f.xml' refused"),
        ("put f.xml outbound/f.xml", "upload '/outbound/f.xml' refused"),
        ("rename inbound/sub outbound/sub", "rename '/inbound/sub -> /outbound/sub' refused"),
        ("rename inbound/sub /sub", "rename '/inbound/sub -> /sub' refused"),
        ("rm inbound", "remove '/inbound' refused"),
        ("chmod 777 outbound", "setstat '/outbound' refused"),
    ]
    for commands, message in refusals:
        gw.fails(commands)
        assert logs("sftp alice:", message), (commands, logs("alice"))
    assert sorted(p.name for p in gw.root().iterdir()) == ["inbound", "outbound"]
    assert (gw.root() / "inbound/sub/f.xml").exists()
    assert list((gw.root() / "outbound").iterdir()) == []


def test_outbound_is_picked_up_read_and_removed(gw):
    out = gw.root() / "outbound"
    (gw.root()).mkdir(parents=True, exist_ok=True)
    out.mkdir(exist_ok=True)
    data = random.Random(2).randbytes(100_000)
    (out / "INV-9.xml").write_bytes(data)
    (out / ".INV-10.xml.tmp").write_bytes(b"still being written")    # ours, in progress
    r = gw.ok("cd outbound\nls -la\nget INV-9.xml\nrm INV-9.xml")
    assert (gw.local / "INV-9.xml").read_bytes() == data
    assert gw.downloads == [("alice", "outbound/INV-9.xml")]
    assert gw.removes == [("alice", "outbound/INV-9.xml")]
    assert not (out / "INV-9.xml").exists()
    assert "INV-10" not in r.stdout                                 # not shown before it is ready
    gw.fails("get outbound/.INV-10.xml.tmp")
    assert gw.uploads == []


def test_on_download_only_after_a_complete_read(gw):
    out = gw.root() / "outbound"
    out.mkdir(parents=True, exist_ok=True)
    (out / "big.xml").write_bytes(b"z" * 100_000)
    t, client = gw.paramiko()
    try:
        with client.open("/outbound/big.xml", "rb") as f:
            assert f.read(50_000) == b"z" * 50_000
        assert gw.downloads == []
        with client.open("/outbound/big.xml", "rb") as f:
            f.prefetch()
            assert f.read() == b"z" * 100_000
        assert gw.downloads == [("alice", "outbound/big.xml")]
    finally:
        t.close()


def test_an_account_allowed_to_write_outbound_drops_files_there_without_on_upload(gw):
    gw.file("ORDERS.xml", b"<orders/>")
    gw.ok("cd outbound\nput ORDERS.xml .ORDERS.xml.part\nrename .ORDERS.xml.part ORDERS.xml",
          user="internal", key="alice")
    assert (gw.root("internal") / "outbound/ORDERS.xml").read_bytes() == b"<orders/>"
    assert gw.uploads == []


# ---------------------------------------------------------------- the jail, over the wire


@pytest.fixture
def planted(gw, tmp_path):
    """Symlinks someone on this machine left inside alice's root, pointing out of it."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwd").write_text("root:x:0:0\n")
    inbound = gw.root() / "inbound"
    inbound.mkdir(parents=True, exist_ok=True)
    (gw.root() / "outbound").mkdir(exist_ok=True)
    (inbound / "dirlink").symlink_to(secret)
    (inbound / "filelink").symlink_to(secret / "passwd")
    (gw.root() / "outbound" / "etc").symlink_to("/etc")
    gw.file("local.txt", b"evil")
    return secret


@pytest.mark.parametrize("commands, logged", [
    ("cd ..", "'/..' refused: escapes the root"),
    ("cd /inbound/../..", "refused: escapes the root"),
    ("get ../../etc/passwd", "../../etc"),
    ("get /../../../etc/passwd", "/../../../etc"),
    ("get /etc/passwd", "'/etc"),
    ("ls /etc", "'/etc' refused"),
    ("put local.txt /etc/evil", "'/etc/evil' refused"),
    ("put local.txt ../evil", "'/../evil' refused: escapes the root"),
    ("ls inbound/dirlink", "'/inbound/dirlink' refused: symlink"),
    ("cd inbound/dirlink", "'/inbound/dirlink' refused: symlink"),
    ("get inbound/dirlink/passwd", "'/inbound/dirlink"),
    ("get inbound/filelink", "'/inbound/filelink' refused: symlink"),
    ("get outbound/etc/passwd", "'/outbound/etc"),
    ("put local.txt inbound/dirlink/evil", "'/inbound/dirlink/evil' refused: symlink"),
    ("ln -s /etc/passwd inbound/mylink", "symlink '/inbound/mylink -> /etc/passwd' refused"),
    ("symlink inbound/x inbound/y", "symlink '/inbound/y -> inbound/x' refused"),
])
def test_traversal_is_refused_and_logged(gw, planted, logs, commands, logged):
    before = sorted(p.name for p in planted.iterdir())
    gw.fails(commands)
    assert logs("sftp alice:", logged, "refused"), logs("alice")
    assert sorted(p.name for p in planted.iterdir()) == before
    assert not Path("/etc/evil").exists() and not (gw.root() / "etc").exists()
    assert not (gw.local / "passwd").exists()
    assert not list((gw.root() / "inbound").glob("my*")) and not list((gw.root() / "inbound").glob("y"))


def test_listings_never_show_links(gw, planted, logs):
    r = gw.ok("ls -la inbound\nls -la outbound\nls -la /")
    assert "link" not in r.stdout and "etc" not in r.stdout.replace("/etc", "")
    assert logs("alice", "symlink /inbound/dirlink not listed")


def test_partners_never_see_each_other(gw, logs):
    data = gw.file("a.xml", b"<alice only/>")
    gw.ok("put a.xml inbound/a.xml")
    (gw.root() / "outbound/for-alice.xml").write_bytes(b"<for alice/>")
    gw.file("b.xml", b"<bob/>")
    r = gw.ok("ls -la inbound\nls -la outbound\nput b.xml inbound/b.xml", user="bob")
    assert "a.xml" not in r.stdout and "for-alice" not in r.stdout
    gw.fails("get inbound/a.xml got.xml", user="bob")
    gw.fails("get ../alice/inbound/a.xml got.xml", user="bob")
    gw.fails("get /../alice/inbound/a.xml got.xml", user="bob")
    gw.fails("get outbound/for-alice.xml got.xml", user="bob")
    assert logs("sftp bob:", "../alice/inbound/a.xml", "escapes the root")
    assert not (gw.local / "got.xml").exists() and (gw.local / "a.xml").read_bytes() == data
    assert [(u, rel) for u, rel, _, _ in gw.uploads] == [("alice", "inbound/a.xml"), ("bob", "inbound/b.xml")]
    assert not (gw.root("bob") / "inbound/a.xml").exists()


# ---------------------------------------------------------------- logins


def test_keys_and_passwords(gw, logs):
    gw.ok("ls", user="alice")
    gw.ok("ls", user="bob")
    r = gw.fails("ls", user="alice", key="mallory")
    assert "Permission denied" in r.stderr
    assert logs("sftp alice:", host_key_fingerprint(gw.keys["mallory"]), "refused")
    gw.fails("ls", user="alice", key="bob")                     # bob's key is not alice's
    gw.fails("ls", user="nobody", key="alice")

    gw.ok("ls", user="alice", password="correct horse")
    r = gw.fails("ls", user="alice", password="wrong horse")
    assert "Permission denied" in r.stderr
    assert logs("sftp alice: password from 127.0.0.1", "refused")
    gw.fails("ls", user="bob", password="correct horse")        # alice's password is not bob's
    assert not any("horse" in m for m in logs(""))              # passwords are never logged


def test_a_failing_authenticate_is_a_refusal_not_a_crash(gw, logs):
    gw.fails("ls", user="boom", key="alice")
    assert logs("sftp boom:", "authenticate failed")
    gw.ok("ls")


def test_the_server_offers_sftp_only(gw):
    r = subprocess.run([_tool("ssh"), "-F", "/dev/null", "-p", str(gw.server.port),
                        "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={gw.known_hosts}",
                        "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                        "-i", str(gw.tmp / "alice_key"), "alice@127.0.0.1", "id"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "uid=" not in r.stdout


# ---------------------------------------------------------------- host key


def test_host_key_is_made_once_and_kept_across_restarts(gw):
    path = gw.host_key_path
    key_bytes = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fingerprint = host_key_fingerprint(gw.host_key)
    # ssh-keygen agrees on the fingerprint of the public line we publish
    keygen = subprocess.run([_tool("ssh-keygen"), "-lf", str(path) + ".pub"], capture_output=True,
                            text=True, check=True)
    assert keygen.stdout.split()[1] == fingerprint
    assert (path.parent / (path.name + ".pub")).read_text().startswith(host_key_line(gw.host_key))
    assert host_key_fingerprint(ensure_host_key(path)) == fingerprint

    port = gw.server.port
    gw.server.stop()
    gw.server = SftpServer("127.0.0.1", port, ensure_host_key(path), gw.authenticate, gw.on_upload).start()
    gw.ok("ls")                     # the known-hosts line from before the restart still holds
    assert path.read_bytes() == key_bytes


# ---------------------------------------------------------------- the listener


def test_garbage_and_vanishing_clients_do_not_hurt_the_server(gw, logs):
    port = gw.server.port

    def connect() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    with connect() as s:                    # HTTP instead of SSH
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
    with connect() as s:                    # a valid banner, then noise
        s.sendall(b"SSH-2.0-junk\r\n" + random.Random(3).randbytes(40_000))
    with connect() as s:                    # leaves during key exchange
        s.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        s.recv(100)
    connect().close()                       # connects and goes
    with connect() as s:                    # a packet claiming to be 2 GB long
        s.sendall(b"SSH-2.0-x\r\n" + b"\x7f\xff\xff\xff" + b"\x00" * 64)
    gw.file("after.xml", b"<after/>")
    gw.ok("put after.xml inbound/after.xml")
    assert [rel for _, rel, _, _ in gw.uploads] == ["inbound/after.xml"]
    gw.wait_idle()
    assert not logs("failed"), "a connection broke our code, not just paramiko's parsing"


def test_connection_limit_and_login_timeout(tmp_path, logs):
    g = Gateway(tmp_path, max_connections=1, auth_timeout=0.5)
    try:
        idle = socket.create_connection(("127.0.0.1", g.server.port), timeout=5)
        assert idle.recv(100).startswith(b"SSH-2.0-edigate")
        g.fails("ls")                                   # the only slot is taken
        assert logs("connection from 127.0.0.1", "refused: 1 connections already")
        while idle.recv(4096):                          # the server gives up on it (recv: 5 s timeout, a hang guard)
            pass
        assert logs("did not log in within")            # because of the 0.5 s login timeout, nothing else
        idle.close()
        g.wait_idle()
        g.ok("ls")
    finally:
        g.server.stop()


def test_stop_closes_the_listener_and_open_sessions(gw):
    t, client = gw.paramiko()
    assert sorted(client.listdir("/")) == ["inbound", "outbound"]
    stopping = threading.Thread(target=gw.server.stop)
    stopping.start()
    stopping.join(30)                                   # a hang guard: stop() must not wait for the session
    assert not stopping.is_alive()
    wait_for(lambda: not t.is_active(), 30, "the open session to be closed", interval=0.02)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", gw.server.port), timeout=2)


# ---------------------------------------------------------------- pieces


def test_jail_resolves_inside_the_root_or_refuses(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    root = tmp_path / "root"
    (root / "inbound" / "sub").mkdir(parents=True)
    (root / "inbound" / "inner").symlink_to(root / "inbound" / "sub")     # even pointing inside
    jail = Jail(root, "carol")
    for path in ("/inbound/a.xml", "inbound/a.xml", "/outbound/../inbound/./a.xml", "//inbound//a.xml",
                 b"/inbound/a.xml"):
        p = jail.resolve(path)
        assert p.parts == ("inbound", "a.xml") and p.real == root / "inbound/a.xml"
        assert p.virtual == "/inbound/a.xml" and p.relative == "inbound/a.xml" and p.area == "inbound"
    assert jail.resolve("/").parts == () and jail.resolve("/").real == root.resolve()
    assert jail.resolve("/inbound/sub/..").parts == ("inbound",)
    refused = {
        "/..": "escapes the root", "../x": "escapes the root", "/inbound/../../x": "escapes the root",
        "/inbound/a\x00.xml": "NUL byte", "/inbound/a\n.xml": "control character",
        "/inbound/" + "a" * 256: "name longer than 255 bytes", "/inbound/" + "é" * 128: "name longer",
        "/inbound/" + "a/" * 600: "longer than 1024 characters",
        "/inbound/inner": "symlink", "/inbound/inner/x.xml": "symlink", b"/inbound/\xff": "not UTF-8",
    }
    for path, reason in refused.items():
        with pytest.raises(JailError) as e:
            jail.resolve(path)
        assert reason in e.value.reason and e.value.username == "carol" and e.value.path == path
        assert any("carol" in r.getMessage() and repr(path) in r.getMessage() for r in caplog.records)
    assert jail.resolve("/inbound/" + "a" * 255).name == "a" * 255


def test_jail_never_leaves_the_root_whatever_the_path(tmp_path):
    root = tmp_path / "root"
    (root / "inbound").mkdir(parents=True)
    jail = Jail(root, "fuzz")
    rng = random.Random(5)
    pieces = ["..", ".", "", "inbound", "a", "..a", "...", "a..", "/", "\\", "~"]
    escapes = 0
    for _ in range(3000):
        path = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        try:
            p = jail.resolve(path)
        except JailError:
            escapes += 1
            continue
        assert p.real == root.resolve() or p.real.is_relative_to(root.resolve())
        assert ".." not in p.parts and "." not in p.parts and "" not in p.parts
    assert escapes > 100                # the generator does produce escapes


def test_jail_keeps_a_root_that_is_itself_behind_a_link(tmp_path):
    (tmp_path / "data" / "inbound").mkdir(parents=True)
    (tmp_path / "srv").symlink_to(tmp_path / "data")
    p = Jail(tmp_path / "srv", "dave").resolve("/inbound/a")
    assert p.real == tmp_path / "data" / "inbound" / "a"


def test_stale_partial_files(tmp_path):
    inbound = tmp_path / "inbound"
    (inbound / "sub").mkdir(parents=True)
    old, new, delivered = inbound / "sub" / "cut.xml", inbound / "fresh.part", inbound / "done.xml"
    for p in (old, new, delivered):
        p.write_bytes(b"x")
    delivered.chmod(0o440)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(delivered, (time.time() - 7200, time.time() - 7200))
    (inbound / "link").symlink_to(old)
    assert stale_partial_files(tmp_path, older_than=3600) == [old]


def test_authorized_key_matches(tmp_path):
    a, b = _key(tmp_path / "a"), _key(tmp_path / "b")
    line = host_key_line(a, "x@y")
    assert authorized_key_matches(a, ["", "# comment", "garbage", "ssh-ed25519 !!!", line])
    assert not authorized_key_matches(a, ["ssh-rsa " + line.split()[1]])      # type must match
    assert not authorized_key_matches(a, []) and not authorized_key_matches(b, [line])


def test_accepted_connections_have_tcp_nodelay(gw):
    """Without TCP_NODELAY paramiko's small replies meet the client's delayed ACK (~40 ms stalls)."""
    t, client = gw.paramiko()
    try:
        client.listdir("/")
        transports = list(gw.server._transports)
        assert len(transports) == 1
        assert transports[0].sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        t.close()
