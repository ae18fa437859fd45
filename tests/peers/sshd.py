"""A real OpenSSH sshd as a partner's SFTP server, on a free loopback port.

The recipe of ../shared/peers/sshd_sftp_peer.sh: a second sshd (not the
system's) with its own config, host key and log, for one system user
(``edigate-sftp-peer``, created if missing) that may only do SFTP, with key
authentication only, chrooted in ``/run/edigate-sftp-peer-PORT/<user>`` with
``inbound/`` and ``outbound/`` owned by the user. The chroot cannot be under
/tmp: sshd wants every component root-owned and not group/world-writable.

Needs root (the chroot, the user) and ``/usr/sbin/sshd`` (Debian package
``openssh-server``); without them the tests that use it are skipped, saying
why. Keys are made with ``cryptography`` (Ed25519, OpenSSH format), so
``ssh-keygen`` is not needed.

    peer = start_sshd_peer()             # in a module-scoped fixture
    peer.host, peer.port, peer.username, peer.client_key_path, peer.host_key_line
    peer.chroot / "outbound" / "x.xml"   # files as the server sees them
    peer.log_text()                      # sshd's log (LogLevel DEBUG1: auth steps are visible)
    peer.wait_log(PREAUTH_END, offset)   # until a connection that never logged in has been closed
    peer.rotate_host_key(); peer.stop()
"""
from __future__ import annotations

import fcntl
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import pytest

from tests.support.ports import free_port

SSHD = Path(os.environ.get("EDIGATE_SSHD", "/usr/sbin/sshd"))
INSTALL_HINT = "Debian package `openssh-server` (make test installs it)"
PEER_USER = "edigate-sftp-peer"
# how sshd logs the end of a connection that did not log in (closed, or reset when the client
# closes with data unread)
PREAUTH_END = r"Connection (closed|reset) by .*\[preauth\]"


def skip_reason() -> Optional[str]:
    """Why a real sshd peer cannot be started here, or None."""
    if os.geteuid() != 0:
        return "the OpenSSH SFTP peer needs root (a chroot and a system user)"
    if not SSHD.is_file():
        return f"{SSHD} not found: {INSTALL_HINT}"
    if not Path("/run").is_dir():
        return "/run is missing: the peer's chroot lives there"
    return None



def new_ed25519(path: Path, comment: str) -> str:
    """Write an unencrypted OpenSSH Ed25519 private key to ``path`` (0600); its public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()
    Path(f"{path}.pub").write_text(f"{line} {comment}\n")
    return line


def ensure_user(name: str) -> pwd.struct_passwd:
    """A system user without a shell; '*' as password, since a locked ('!') one is refused even for keys.
    Under a lock: test processes running side by side may all start a peer at once."""
    with open(f"/run/edigate-sftp-peer-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/",
                            "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    return pwd.getpwnam(name)


class SshdPeer:
    def __init__(self, workdir: Path, username: str = PEER_USER):
        # sshd reads authorized_keys as the user: the directory must be reachable by it
        # (pytest's tmp_path, under a 0700 root directory, is not)
        self.workdir = Path(workdir)
        self.username = username
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.client_key_path = self.workdir / "client_ed25519"
        self.host_key_path = self.workdir / "host_ed25519"
        self.log_path = self.workdir / "sshd.log"
        self.client_key_line = ""
        self.host_key_line = ""
        self.run_dir: Optional[Path] = None      # /run/edigate-sftp-peer-PORT
        self.chroot: Optional[Path] = None       # run_dir/<user>: "/" for the SFTP user

    # --- setup ---
    def _prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        user = ensure_user(self.username)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)       # privilege separation dir (systemd makes it normally)
        self.client_key_line = new_ed25519(self.client_key_path, "edigate-test-client")
        self.host_key_line = new_ed25519(self.host_key_path, "edigate-test-host")
        keys = self.workdir / "authorized_keys"
        keys.mkdir(exist_ok=True)
        (keys / self.username).write_text(self.client_key_line + "\n")
        os.chmod(keys / self.username, 0o644)
        self._uid, self._gid = user.pw_uid, user.pw_gid

    def _make_chroot(self) -> None:
        self.run_dir = Path(f"/run/edigate-sftp-peer-{self.port}")
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.chroot = self.run_dir / self.username
        for d in (self.run_dir, self.chroot):
            d.mkdir(mode=0o755)
            os.chown(d, 0, 0)
            os.chmod(d, 0o755)
        for name in ("inbound", "outbound"):
            d = self.chroot / name
            d.mkdir(mode=0o755)
            os.chown(d, self._uid, self._gid)

    def _write_config(self) -> Path:
        config = self.workdir / "sshd_config"
        config.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key_path}
PidFile {self.workdir}/sshd.pid
AuthorizedKeysFile {self.workdir}/authorized_keys/%u
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {self.username}
LogLevel DEBUG1
MaxStartups 100
Subsystem sftp internal-sftp
Match User {self.username}
    ChrootDirectory {self.run_dir}/%u
    ForceCommand internal-sftp
    AllowTcpForwarding no
    X11Forwarding no
    PermitTTY no
""")
        return config

    def _wait_listening(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def _launch(self) -> bool:
        config = self._write_config()
        check = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"sshd -t rejected the config:\n{check.stderr}")
        log = open(self.log_path, "ab")
        try:
            # -D: stay in the foreground (our child); -e: log to stderr (the log file);
            # an absolute -f path, as sshd re-executes itself. Its own session: stop() kills the group.
            self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        return self._wait_listening()

    def start(self) -> "SshdPeer":
        self._prepare()
        for _ in range(5):                       # a free port may be taken before sshd binds it
            self.port = free_port()
            self._make_chroot()
            if self._launch():
                return self
            self._kill()
            shutil.rmtree(self.run_dir, ignore_errors=True)
        raise RuntimeError(f"sshd did not start:\n{self.log_text()[-3000:]}")

    # --- use ---
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def wait_log(self, pattern: str, offset: int = 0, timeout: float = 5.0, count: int = 1) -> str:
        """The log from ``offset`` once the regex ``pattern`` matches ``count`` times (sshd's children
        write asynchronously); what there is after ``timeout`` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_since(offset)
            if len(re.findall(pattern, text)) >= count or time.monotonic() > deadline:
                return text
            time.sleep(0.02)

    def rotate_host_key(self) -> str:
        """A new host key, then sshd restarted on the same port (as a partner re-installing its server)."""
        self._kill()
        self.host_key_line = new_ed25519(self.host_key_path, "edigate-test-host-rotated")
        if not self._launch():
            raise RuntimeError(f"sshd did not restart:\n{self.log_text()[-3000:]}")
        return self.host_key_line

    # --- teardown ---
    def _kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)   # sshd and its connection children: our session
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    def stop(self) -> None:
        self._kill()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_sshd_peer(username: str = PEER_USER) -> SshdPeer:
    """A running peer; ``pytest.skip`` when this machine cannot run one."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    peer = SshdPeer(Path(tempfile.mkdtemp(prefix="edigate-sshd-")), username)
    try:
        return peer.start()
    except Exception:
        peer.stop()
        raise


@pytest.fixture(scope="session")
def sshd_peer():
    """One running peer for the session (per test process); skipped, saying why, where it cannot run.
    Tests empty its ``inbound/`` and ``outbound/`` before use and read ``host_key_line`` when they
    need it (a test may rotate the host key)."""
    peer = start_sshd_peer()
    try:
        yield peer
    finally:
        peer.stop()
