"""Our SFTP server for partners (issue #5): a listener, SSH logins, one thread per connection.

    server = SftpServer("0.0.0.0", 2222, ensure_host_key(certs / HOST_KEY_FILENAME),
                        authenticate=accounts.check, on_upload=inbox.take)
    server.start()          # .port is the bound port (0 asks for a free one)
    ...
    server.stop()

What a partner may do once logged in, and when an upload counts, is in
``filesystem.py``; how its paths are confined to its root, in ``jail.py``.

Why it is built the way it is:

* **The caller owns accounts.** ``authenticate(username, password=None,
  public_key=None)`` returns an ``Account`` or None; the gateway binds it to its
  database. A callback that raises is a refusal, logged, never a crashed server.
* **Only SFTP.** Session channels with the ``sftp`` subsystem; no shell, exec,
  port forwarding or agent (paramiko's defaults refuse them).
* **Bounded.** At most ``max_connections`` at once (more are closed on accept,
  logged); a connection must finish key exchange and log in within
  ``auth_timeout`` seconds or it is closed; paramiko itself disconnects after 10
  failed logins. Clients that send garbage, or vanish during key exchange, only
  end their own thread.
* **TCP_NODELAY** on every accepted socket: without it, paramiko's small SFTP
  replies meet the client's delayed ACK and some transfers stall ~40 ms per
  request.
* **Keepalives** (every ``keepalive`` seconds) so a vanished partner's
  connection, and its slot, do not linger.
* ``stop()`` stops accepting, closes the listening socket and every open
  connection; uploads cut that way are not counted (no close from the client).
"""
from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

import paramiko
from paramiko.message import Message
from paramiko.sftp import (CMD_CLOSE, CMD_EXTENDED, CMD_INIT, CMD_VERSION, SFTP_BAD_MESSAGE, SFTP_OK,
                           SFTP_OP_UNSUPPORTED, SFTPError)

from .account import Account, Authenticate, ensure_areas
from .filesystem import (DEFAULT_TEMPORARY_PREFIXES, DEFAULT_TEMPORARY_SUFFIXES, FileHandle,
                         OnDownload, OnRemove, OnUpload, PartnerFilesystem, Rules)
from .hostkey import host_key_fingerprint
from .jail import Jail

log = logging.getLogger("edigate.sftp")

#: What we tell clients we are (instead of paramiko's name and version).
SERVER_VERSION = "SSH-2.0-edigate_sftp"
SUBSYSTEM_JOIN_SECONDS = 5.0    # how long a closing connection waits for its SFTP handlers to end


class SftpServer:
    """The listener. ``start()`` binds and serves in background threads; ``stop()`` ends it all.

    ``host_key``: from ``ensure_host_key``. ``authenticate``: see ``Authenticate``.
    ``on_upload(account, relative_path, absolute_path)``: a complete upload in
    ``inbound/``; raise to refuse it (the partner's close or rename fails); leave the file
    where it is (it is kept, read-only, for the client's follow-up calls: ``filesystem.py``).
    ``on_download(account, relative_path)``: a file of ``outbound/`` was read to its end
    and closed. ``on_remove(account, relative_path)``: the partner removed a file of
    ``outbound/``. The last two are notices (the partner's operation stands, a failing
    callback is logged). Relative paths are POSIX, from the account root
    (``inbound/INV-1.xml``). Callbacks run in the session's thread, several sessions at
    once.

    ``temporary_prefixes`` / ``temporary_suffixes``: names that mark a file still being
    written (compared case-insensitively for suffixes). ``max_upload_bytes``: larger
    uploads fail (None: no limit). ``banner``: shown by clients before login.
    """

    def __init__(self, host: str, port: int, host_key: paramiko.PKey, authenticate: Authenticate,
                 on_upload: OnUpload, on_download: Optional[OnDownload] = None,
                 on_remove: Optional[OnRemove] = None, *,
                 temporary_prefixes: Sequence[str] = DEFAULT_TEMPORARY_PREFIXES,
                 temporary_suffixes: Sequence[str] = DEFAULT_TEMPORARY_SUFFIXES,
                 max_connections: int = 64, auth_timeout: float = 30.0,
                 banner: Optional[str] = None, max_upload_bytes: Optional[int] = None,
                 keepalive: float = 30.0):
        if not host_key.can_sign():
            raise ValueError("the host key must include its private half")
        self.host, self.port = host, port
        self.host_key = host_key
        self.authenticate = authenticate
        self.rules = Rules(on_upload=on_upload, on_download=on_download, on_remove=on_remove,
                           temporary_prefixes=tuple(temporary_prefixes),
                           temporary_suffixes=tuple(temporary_suffixes),
                           max_upload_bytes=max_upload_bytes)
        self.max_connections, self.auth_timeout = max_connections, auth_timeout
        self.banner, self.keepalive = banner, keepalive
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._threads: set[threading.Thread] = set()
        self._listener: Optional[socket.socket] = None
        self._acceptor: Optional[threading.Thread] = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> "SftpServer":
        if self._listener is not None:
            raise RuntimeError("already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family, backlog=64)
        sock.settimeout(0.2)        # the accept loop looks at _stopping this often
        self._listener = sock
        self.port = sock.getsockname()[1]
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"sftp-accept-{self.port}")
        self._acceptor.start()
        log.info("sftp: listening on %s:%d, host key %s", self.host, self.port,
                 host_key_fingerprint(self.host_key))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close the listening socket and every connection, wait for threads."""
        self._stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)   # wakes a waiting accept() (Linux)
            except OSError:
                pass
        if self._acceptor is not None:
            self._acceptor.join(timeout)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            transports, threads = list(self._transports), list(self._threads)
        for t in transports:
            t.close()
        deadline = time.monotonic() + timeout
        for th in threads:
            th.join(max(0.0, deadline - time.monotonic()))
        self._listener = self._acceptor = None
        log.info("sftp: stopped (port %d)", self.port)

    def __enter__(self) -> "SftpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """Connections being served now."""
        with self._lock:
            return len(self._threads)

    # -- connections ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError as e:
                if self._stopping.is_set():
                    return
                log.error("sftp: accept failed: %s", e)     # e.g. out of file descriptors
                time.sleep(0.2)
                continue
            peer = f"{addr[0]}:{addr[1]}"
            if not self._slots.acquire(blocking=False):
                log.warning("sftp: connection from %s refused: %d connections already",
                            peer, self.max_connections)
                conn.close()
                continue
            th = threading.Thread(target=self._serve, args=(conn, peer), daemon=True,
                                  name=f"sftp-conn-{peer}")
            with self._lock:
                self._threads.add(th)
            th.start()

    def _serve(self, conn: socket.socket, peer: str) -> None:
        transport = session = None
        try:
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = paramiko.Transport(conn)
            transport.local_version = SERVER_VERSION
            # our own login deadline (below) comes first, and says so in our log
            transport.banner_timeout = transport.handshake_timeout = self.auth_timeout + 5
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", _Subsystem, PartnerFilesystem)
            session = _Session(self, transport, peer)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._transports.add(transport)
            transport.start_server(event=threading.Event(), server=session)
            deadline = time.monotonic() + self.auth_timeout
            while not transport.is_authenticated():
                if not transport.is_active() or self._stopping.is_set():
                    log.info("sftp: %s left before logging in", peer)
                    return
                if time.monotonic() > deadline:
                    log.warning("sftp: %s did not log in within %.0f s: disconnected",
                                peer, self.auth_timeout)
                    return
                time.sleep(0.02)
            if self.keepalive:
                transport.set_keepalive(int(max(1, self.keepalive)))
            while transport.is_active() and not self._stopping.is_set():
                transport.join(0.5)
            log.info("sftp %s: connection from %s closed", session.username, peer)
        except Exception:
            log.exception("sftp: connection from %s failed", peer)
        finally:
            if transport is not None:
                transport.close()
            conn.close()
            # A connection is served until its SFTP handlers have ended too: they close the files
            # left open (a cut upload is settled as "not counted" there), after the transport.
            for handler in session.subsystems if session is not None else ():
                handler.join(SUBSYSTEM_JOIN_SECONDS)
            with self._lock:
                self._transports.discard(transport)
                self._threads.discard(threading.current_thread())
            self._slots.release()


class _Session(paramiko.ServerInterface):
    """One SSH connection's logins and channels. After login: ``account``, ``jail``,
    ``rules`` (what ``PartnerFilesystem`` reads)."""

    def __init__(self, server: SftpServer, transport: paramiko.Transport, peer: str):
        self.server, self.transport, self.peer = server, transport, peer
        self.rules = server.rules
        self.account: Optional[Account] = None
        self.jail: Optional[Jail] = None
        self._candidate: Optional[Account] = None   # what the latest successful check returned
        self.subsystems: list[threading.Thread] = []   # its SFTP handler threads (paramiko's)

    @property
    def username(self) -> str:
        return self.account.username if self.account else (self.transport.get_username() or "?")

    def get_allowed_auths(self, username):
        return "publickey,password"

    def check_auth_password(self, username, password):
        return self._check(username, "password", password=password)

    def check_auth_publickey(self, username, key):
        return self._check(username, f"public key {key.get_name()} {key.fingerprint}", public_key=key)

    def _check(self, username: str, method: str, **credential) -> int:
        # paramiko calls this again for every attempt and has no "login succeeded" hook: the
        # account to use is the one of the last call, and only once the transport says
        # authenticated (a key's signature is verified after this returns).
        self._candidate = None
        try:
            account = self.server.authenticate(username, **credential)
        except Exception:
            log.exception("sftp %s: %s from %s refused: authenticate failed", username, method, self.peer)
            return paramiko.AUTH_FAILED
        if account is None:
            log.warning("sftp %s: %s from %s refused", username, method, self.peer)
            return paramiko.AUTH_FAILED
        try:
            ensure_areas(Path(account.root))
        except OSError as e:
            log.error("sftp %s: login refused: account root %s unusable: %s", username, account.root, e)
            return paramiko.AUTH_FAILED
        self._candidate = account
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        if kind != "session" or not self.transport.is_authenticated() or self._candidate is None:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        if self.account is None:
            self.account = self._candidate
            self.jail = Jail(self.account.root, self.account.username)
            log.info("sftp %s: logged in from %s", self.account.username, self.peer)
        return paramiko.OPEN_SUCCEEDED

    def check_channel_subsystem_request(self, channel, name):
        if name != "sftp":
            log.warning("sftp %s: subsystem %r refused", self.username, name)
            return False
        return super().check_channel_subsystem_request(channel, name)

    def get_banner(self):
        if not self.server.banner:
            return (None, None)
        banner = self.server.banner
        return (banner if banner.endswith("\n") else banner + "\n", "en-US")


class _Subsystem(paramiko.SFTPServer):
    """paramiko's SFTP subsystem with two changes:

    * a close is answered with what the handle's ``finish()`` says: paramiko always
      answers OK, which would tell a partner that an upload the gateway refused went
      through;
    * no extensions are offered but ``posix-rename@openssh.com`` (paramiko clients send it
      unasked): paramiko's ``check-file`` would read files on our side, and look like a
      download.
    """

    def __init__(self, channel, name, server, *args, **kwargs):
        super().__init__(channel, name, server, *args, **kwargs)
        server.subsystems.append(self)

    def _send_server_version(self):
        t, data = self._read_packet()
        if t != CMD_INIT:
            raise SFTPError("Incompatible sftp protocol")
        msg = Message()
        msg.add_int(3)
        self._send_packet(CMD_VERSION, msg)
        return struct.unpack(">I", data[:4])[0]

    def _process(self, t, request_number, msg):
        if t == CMD_CLOSE:
            handle = msg.get_binary()
            f = self.file_table.pop(handle, None)
            if f is not None:
                status = f.finish() if isinstance(f, FileHandle) else (f.close() or SFTP_OK)
                self._send_status(request_number, status)
            elif self.folder_table.pop(handle, None) is not None:
                self._send_status(request_number, SFTP_OK)
            else:
                self._send_status(request_number, SFTP_BAD_MESSAGE, "Invalid handle")
            return
        if t == CMD_EXTENDED:
            tag = msg.get_text()
            if tag == "posix-rename@openssh.com":
                old, new = msg.get_text(), msg.get_text()
                self._send_status(request_number, self.server.posix_rename(old, new))
            else:
                self._send_status(request_number, SFTP_OP_UNSUPPORTED)
            return
        super()._process(t, request_number, msg)
