"""SFTP client: our side of a partner's SFTP server (push to it, poll from it).

A transport knows bytes and remote endpoints, never invoices:

    with connect(remote) as session:
        push(session, data, "inbound", "INV-1.xml")            # -> PushResult
        poll(session, "outbound", store=keep)                   # -> [PolledFile]

Why it is built the way it is:

* **Host key pinned, checked before authentication.** The key exchange runs,
  the server's host key is compared with the pin in ``SftpRemote.host_key``
  (an OpenSSH public key line or a ``SHA256:`` fingerprint), and only then is
  our key offered. No pin, or another key, is refused with ``HostKeyMismatch``
  naming both fingerprints; nothing is ever added to a known-hosts list on its
  own (a man in the middle would otherwise get our signature and the files).
* **Key authentication only.** Passwords in configuration leak; partners get
  our public key.
* **TCP_NODELAY.** paramiko does not set it, and some file sizes then stall
  ~40 ms per request (delayed ACK against Nagle). We open the socket ourselves.
* **Push is all-or-nothing for the partner.** The file is written as
  ``.<name>.part`` in the target directory (a name pollers skip), its size is
  checked with ``stat`` (SFTP has no portable fsync), then renamed to its final
  name, which appears atomically. An existing final file is refused unless
  ``overwrite=True``. On failure the temporary file is removed when possible.
* **Poll is at-least-once.** Each file is downloaded, its size checked, handed
  to ``store(name, data)`` — which must have made it durable when it returns —
  and only then deleted or moved to ``archive_dir``. A crash (or a dropped
  connection) after ``store`` and before the delete means the next poll
  downloads the same file again: the caller de-duplicates, with
  ``(name, sha256)`` as idempotency key (``PolledFile.sha256``). Files still
  being written are left alone: two listings ``settle_seconds`` apart must
  agree on size and mtime.

Errors: ``SftpError`` (``retryable`` tells whether trying again later may
help: network trouble yes, permission denied no), ``HostKeyMismatch`` and
``AuthenticationFailed`` (never retryable: an operator must act). Durable
jobs, retries and back-off belong to the caller.
"""
from __future__ import annotations

import base64
import binascii
import errno
import fnmatch
import hashlib
import hmac
import logging
import os
import posixpath
import socket
import stat as stat_mod
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

import paramiko

log = logging.getLogger(__name__)

DEFAULT_PORT = 22
DEFAULT_SETTLE_SECONDS = 2.0          # SFTP v3 mtimes have 1 s resolution: a bit more than that
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # the same ceiling as an inbound AS2 message
TEMPORARY_SUFFIXES = (".part", ".tmp", ".partial", ".filepart")   # names uploaders use while writing
_CHUNK = 32 * 1024                    # paramiko's SFTP request size; pipelined writes

# The host key algorithms paramiko negotiates for a pinned key type: restricting the
# negotiation to the pinned type keeps a server with several host keys (RSA, ECDSA,
# Ed25519) from showing us another, unpinned one and failing the check for nothing.
_KEY_TYPES = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


# --- errors ---------------------------------------------------------------------------

class SftpError(Exception):
    """An SFTP exchange failed: ``retryable`` tells whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class HostKeyMismatch(SftpError):
    """The server's host key is not the pinned one (or none is pinned): we did not authenticate.

    ``expected`` lists the pinned fingerprints (empty: nothing pinned); ``offered`` is the
    server's fingerprint and ``offered_key`` its public key line, to pin once an operator
    has checked it with the partner out of band.
    """

    def __init__(self, message: str, *, expected: Sequence[str], offered: str, offered_key: str):
        super().__init__(message, retryable=False)
        self.expected = tuple(expected)
        self.offered = offered
        self.offered_key = offered_key


class AuthenticationFailed(SftpError):
    """The server refused our key (or wants more than a key): the partner must install it."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class RemoteFileExists(SftpError):
    """The final name is already taken on the server and overwriting was not asked for."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


# --- configuration --------------------------------------------------------------------

KeySource = Union[paramiko.PKey, str, "os.PathLike[str]"]


@dataclass
class SftpRemote:
    """One partner's SFTP server, as we log in to it."""

    host: str
    username: str
    private_key: KeySource = field(repr=False)   # a paramiko key, or the path of an OpenSSH/PEM key file
    host_key: Union[str, Sequence[str], None]    # "ssh-ed25519 AAAA…" or "SHA256:…"; several while a key rotates
    port: int = DEFAULT_PORT
    passphrase: Optional[str] = field(default=None, repr=False)
    connect_timeout: float = 15.0     # TCP connect
    handshake_timeout: float = 15.0   # SSH banner + key exchange
    auth_timeout: float = 15.0        # the server's answer to our key
    op_timeout: float = 60.0          # any one SFTP request (open, write, stat, rename…)
    keepalive_seconds: int = 30       # SSH keepalives: NAT and firewalls forget idle connections

    @property
    def endpoint(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"

    def pins(self) -> tuple[str, ...]:
        if self.host_key is None:
            return ()
        if isinstance(self.host_key, str):
            return (self.host_key,) if self.host_key.strip() else ()
        return tuple(p for p in self.host_key if p and p.strip())


# --- host keys ------------------------------------------------------------------------

def fingerprint(key_blob: bytes) -> str:
    """OpenSSH's ``SHA256:`` fingerprint of a public key blob (unpadded base64, as ``ssh-keygen -l``)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class _Pin:
    fingerprint: str
    key_type: Optional[str] = None    # known when pinned as a public key line
    blob: Optional[bytes] = None


def _parse_pin(text: str) -> _Pin:
    """A pin as configured: ``SHA256:…`` or an OpenSSH public key line (options and comment allowed)."""
    text = text.strip()
    if text.startswith("SHA256:"):
        return _Pin(fingerprint=text.rstrip("="))
    parts = text.split()
    for i, part in enumerate(parts[:-1]):   # known_hosts/authorized_keys lines may have fields before the type
        if part in _KEY_TYPES or part.startswith(("ssh-", "ecdsa-", "sk-")):
            try:
                blob = base64.b64decode(parts[i + 1], validate=True)
            except (binascii.Error, ValueError):
                break
            # the blob starts with its own type string: a pasted line whose halves disagree is an error
            if len(blob) < 4 or blob[4:4 + int.from_bytes(blob[:4], "big")] != part.encode():
                break
            return _Pin(fingerprint=fingerprint(blob), key_type=part, blob=blob)
    raise SftpError(f"host key pin {text[:60]!r} is neither 'SHA256:…' nor an OpenSSH public key line",
                    retryable=False)


def _check_host_key(remote: SftpRemote, pins: Sequence[_Pin], key: paramiko.PKey) -> tuple[str, str]:
    """Raise ``HostKeyMismatch`` unless the offered key matches a pin; (fingerprint, key line) of the key."""
    blob = key.asbytes()
    offered = fingerprint(blob)
    offered_line = f"{key.get_name()} {key.get_base64()}"
    for pin in pins:
        if pin.blob is not None and hmac.compare_digest(pin.blob, blob):
            return offered, offered_line
        if pin.blob is None and hmac.compare_digest(pin.fingerprint, offered):
            return offered, offered_line
    where = f"{remote.host}:{remote.port}"
    if not pins:
        message = (f"no host key pinned for {where}: refusing to log in; the server offered "
                   f"{key.get_name()} {offered} — pin it once the partner has confirmed it")
    else:
        message = (f"host key of {where} does not match the pin: expected "
                   f"{', '.join(p.fingerprint for p in pins)}, offered {key.get_name()} {offered}; "
                   f"refusing to log in (a changed key must be confirmed with the partner)")
    raise HostKeyMismatch(message, expected=[p.fingerprint for p in pins], offered=offered,
                          offered_key=offered_line)


def load_private_key(source: KeySource, passphrase: Optional[str] = None) -> paramiko.PKey:
    """Our key: a paramiko key as is, or a key file (OpenSSH or PEM; Ed25519, ECDSA, RSA)."""
    if isinstance(source, paramiko.PKey):
        return source
    path = os.fspath(source)
    try:
        # positional (paramiko renamed the keyword) and bytes (what cryptography wants underneath)
        return paramiko.PKey.from_path(path, passphrase.encode() if passphrase is not None else None)
    except paramiko.PasswordRequiredException as exc:
        raise SftpError(f"private key {path} is encrypted: a passphrase is needed ({exc})", retryable=False) from exc
    except (OSError, paramiko.SSHException, ValueError, TypeError) as exc:
        # cryptography says "password" (TypeError when missing, ValueError when wrong)
        hint = "; is the passphrase right?" if "password" in str(exc).lower() else ""
        raise SftpError(f"cannot load private key {path}: {exc}{hint}", retryable=False) from exc


# --- sessions -------------------------------------------------------------------------

class SftpSession:
    """A logged-in SFTP session; a context manager that closes the connection.

    ``host_key_fingerprint`` is what was checked against the pin, for the record.
    """

    def __init__(self, remote: SftpRemote, sock: socket.socket, transport: paramiko.Transport,
                 sftp: paramiko.SFTPClient, host_key_fingerprint: str, host_key_line: str):
        self.remote = remote
        self.sock = sock
        self.transport = transport
        self.sftp = sftp
        self.host_key_fingerprint = host_key_fingerprint
        self.host_key_line = host_key_line
        self.posix_rename: Optional[bool] = None   # learnt on first use: paramiko hides the server's extensions

    @property
    def active(self) -> bool:
        return self.transport.is_active()

    def close(self) -> None:
        for closer in (self.sftp.close, self.transport.close, self.sock.close):
            try:
                closer()
            except Exception:   # closing a dead connection: nothing left to save
                pass

    def __enter__(self) -> "SftpSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _open_socket(remote: SftpRemote) -> socket.socket:
    try:
        sock = socket.create_connection((remote.host, remote.port), timeout=remote.connect_timeout)
    except OSError as exc:
        raise SftpError(f"cannot connect to {remote.host}:{remote.port}: {exc}", retryable=True) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def connect(remote: SftpRemote) -> SftpSession:
    """Connect, check the host key against the pin, log in with our key, open SFTP.

    The host key check happens after the key exchange and before our key is
    offered: a wrong server never sees a signature of ours. Use the returned
    session as a context manager.
    """
    pins = [_parse_pin(p) for p in remote.pins()]
    pkey = load_private_key(remote.private_key, remote.passphrase)
    key_types: list[str] = []
    if pins and all(p.key_type for p in pins):
        for p in pins:
            types = _KEY_TYPES.get(p.key_type or "")
            if types is None:
                raise SftpError(f"pinned host key type {p.key_type} is not supported", retryable=False)
            key_types.extend(t for t in types if t not in key_types)

    sock = _open_socket(remote)
    transport: Optional[paramiko.Transport] = None
    try:
        transport = paramiko.Transport(sock)
        transport.banner_timeout = remote.handshake_timeout
        transport.handshake_timeout = remote.handshake_timeout
        transport.auth_timeout = remote.auth_timeout
        if key_types:
            transport.get_security_options().key_types = key_types
        try:
            transport.start_client(timeout=remote.handshake_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SftpError(f"SSH handshake with {remote.host}:{remote.port} failed: {exc}",
                            retryable=True) from exc
        fp, line = _check_host_key(remote, pins, transport.get_remote_server_key())

        try:
            remaining = transport.auth_publickey(remote.username, pkey)
        except paramiko.AuthenticationException as exc:
            raise AuthenticationFailed(
                f"{remote.endpoint} refused our {pkey.get_name()} key {pkey.fingerprint}: {exc}") from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SftpError(f"authentication with {remote.endpoint} broke off: {exc}", retryable=True) from exc
        if remaining or not transport.is_authenticated():
            raise AuthenticationFailed(f"{remote.endpoint} wants more than our key: {', '.join(remaining)}")

        if remote.keepalive_seconds:
            transport.set_keepalive(remote.keepalive_seconds)
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SftpError(f"{remote.endpoint} did not open the SFTP subsystem: {exc}", retryable=True) from exc
        if sftp is None:
            raise SftpError(f"{remote.endpoint} did not open the SFTP subsystem", retryable=True)
        sftp.get_channel().settimeout(remote.op_timeout)
        return SftpSession(remote, sock, transport, sftp, fp, line)
    except BaseException:
        if transport is not None:
            transport.close()
        sock.close()
        raise


# --- error classification -------------------------------------------------------------

def _retryable(exc: BaseException) -> bool:
    """Network trouble may pass; what the server refuses on purpose will not."""
    if isinstance(exc, SftpError):
        return exc.retryable
    if isinstance(exc, (socket.timeout, ConnectionError, EOFError, paramiko.SSHException)):
        return True
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM, errno.ENOENT, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
            return False
        if "unsupported" in str(exc).lower():
            return False
        return True           # SSH_FX_FAILURE and the like: disk full, server trouble
    return False


def _error(session: SftpSession, what: str, exc: BaseException) -> SftpError:
    if isinstance(exc, SftpError):
        return exc
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
    return SftpError(f"{what} on {session.remote.endpoint} failed: {detail}", retryable=_retryable(exc))


def _is_missing(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOENT


def _check_filename(filename: str) -> None:
    if (not filename or filename in (".", "..") or "/" in filename or "\x00" in filename
            or filename.startswith(".")):
        raise ValueError(f"not a plain file name for a remote server: {filename!r}")


# --- push -----------------------------------------------------------------------------

@dataclass
class PushResult:
    remote_path: str
    size: int
    sha256: str
    seconds: float


def _rename(session: SftpSession, src: str, dst: str, *, overwrite: bool) -> None:
    """Move ``src`` to ``dst``.

    Without ``overwrite``: plain SFTP rename, which by the protocol fails when
    ``dst`` exists (OpenSSH makes it a hard link + unlink: atomic, no clobber).
    With it: posix-rename@openssh.com (atomic replace) when the server has it,
    else remove + rename (a short window with no file).
    """
    sftp = session.sftp
    if not overwrite:
        sftp.rename(src, dst)
        return
    if session.posix_rename is not False:
        try:
            sftp.posix_rename(src, dst)
            session.posix_rename = True
            return
        except OSError as exc:
            if exc.errno is not None or "unsupported" not in str(exc).lower():
                raise
            session.posix_rename = False
    try:
        sftp.remove(dst)
    except OSError as exc:
        if not _is_missing(exc):
            raise
    sftp.rename(src, dst)


def push(session: SftpSession, data: bytes, remote_dir: str, filename: str, *,
         overwrite: bool = False) -> PushResult:
    """Deliver ``data`` as ``remote_dir/filename``: written under a temporary name, checked, renamed.

    The partner never sees a partial file under the final name. Raises
    ``RemoteFileExists`` if the final name is taken (unless ``overwrite``),
    ``SftpError`` otherwise; the temporary file is removed on failure when the
    connection still allows it.
    """
    _check_filename(filename)
    t0 = time.perf_counter()
    final = posixpath.join(remote_dir, filename)
    temp = posixpath.join(remote_dir, f".{filename}.part")
    sftp = session.sftp
    if not overwrite:
        try:
            sftp.stat(final)
        except OSError as exc:
            if not _is_missing(exc):
                raise _error(session, f"stat {final}", exc) from exc
        except Exception as exc:
            raise _error(session, f"stat {final}", exc) from exc
        else:
            raise RemoteFileExists(f"{final} already exists on {session.remote.endpoint}: not overwritten")

    step = f"upload {temp}"
    try:
        with sftp.open(temp, "wb") as f:
            f.set_pipelined(True)
            view = memoryview(data)
            for offset in range(0, len(data), _CHUNK):
                f.write(view[offset:offset + _CHUNK])
        step = f"stat {temp}"
        size = sftp.stat(temp).st_size
        if size != len(data):
            raise SftpError(f"{temp} on {session.remote.endpoint} has {size} bytes after upload, "
                            f"{len(data)} sent", retryable=True)
        step = f"rename {temp} to {final}"
        try:
            _rename(session, temp, final, overwrite=overwrite)
        except OSError as exc:
            if not overwrite and exc.errno is None:
                # a plain rename fails when the target exists: someone created it meanwhile
                try:
                    sftp.stat(final)
                except Exception:
                    raise exc
                raise RemoteFileExists(f"{final} appeared on {session.remote.endpoint} during the upload: "
                                       "not overwritten") from exc
            raise
    except BaseException as exc:
        try:
            sftp.remove(temp)
        except Exception:   # connection gone or file never created: a stale .part is skipped by pollers
            pass
        if isinstance(exc, Exception):
            raise _error(session, step, exc) from exc
        raise
    return PushResult(remote_path=final, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                      seconds=time.perf_counter() - t0)


# --- poll -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteEntry:
    """A file as a directory listing shows it."""

    name: str
    size: int
    mtime: int


@dataclass
class PolledFile:
    name: str
    remote_path: str
    size: int
    mtime: int
    sha256: str                       # with name: the caller's idempotency key (a poll may repeat a file)
    archived_to: Optional[str] = None  # None: deleted from the server


def is_candidate(name: str, pattern: Optional[str] = None) -> bool:
    """Whether a listed name may be a finished file for us: no dotfiles, no uploaders' temporary names."""
    if not name or name.startswith(".") or name.endswith("~"):
        return False
    if name.lower().endswith(TEMPORARY_SUFFIXES):
        return False
    return pattern is None or fnmatch.fnmatchcase(name, pattern)


def list_files(session: SftpSession, remote_dir: str, pattern: Optional[str] = None) -> dict[str, RemoteEntry]:
    """Regular files in ``remote_dir`` that may be finished (see ``is_candidate``); symlinks are skipped."""
    try:
        attrs = session.sftp.listdir_attr(remote_dir)
    except Exception as exc:
        raise _error(session, f"list {remote_dir}", exc) from exc
    entries = {}
    for a in attrs:
        if a.st_mode is None or not stat_mod.S_ISREG(a.st_mode) or not is_candidate(a.filename, pattern):
            continue
        entries[a.filename] = RemoteEntry(a.filename, int(a.st_size or 0), int(a.st_mtime or 0))
    return entries


def stable_files(first: Mapping[str, RemoteEntry], second: Mapping[str, RemoteEntry]) -> list[RemoteEntry]:
    """Files that two listings agree on (same size and mtime), oldest first: the others are still being written."""
    same = [e for name, e in second.items() if first.get(name) == e]
    return sorted(same, key=lambda e: (e.mtime, e.name))


def _ensure_dir(session: SftpSession, path: str) -> None:
    """Create ``path`` and missing parents on the server (like ``mkdir -p``)."""
    sftp = session.sftp
    try:
        if stat_mod.S_ISDIR(sftp.stat(path).st_mode or 0):
            return
        raise SftpError(f"{path} on {session.remote.endpoint} is not a directory", retryable=False)
    except OSError as exc:
        if not _is_missing(exc):
            raise
    parent = posixpath.dirname(path.rstrip("/"))
    if parent and parent not in ("/", ".") and parent != path:
        _ensure_dir(session, parent)
    try:
        sftp.mkdir(path)
    except OSError:
        if not stat_mod.S_ISDIR(sftp.stat(path).st_mode or 0):   # made by someone else meanwhile is fine
            raise


def _archive(session: SftpSession, path: str, archive_dir: str, entry: RemoteEntry, sha256: str) -> Optional[str]:
    """Move a stored file to the archive; a name already there gets the content's hash appended."""
    sftp = session.sftp
    for target in (posixpath.join(archive_dir, entry.name),
                   posixpath.join(archive_dir, f"{entry.name}.{sha256[:12]}")):
        try:
            sftp.stat(target)
        except OSError as exc:
            if not _is_missing(exc):
                raise
            sftp.rename(path, target)
            return target
    # the same name and content were archived before: this is a repeat delivery
    sftp.remove(path)
    return posixpath.join(archive_dir, f"{entry.name}.{sha256[:12]}")


def poll(session: SftpSession, remote_dir: str, *, store: Callable[[str, bytes], None],
         archive_dir: Optional[str] = None, pattern: Optional[str] = None, max_files: Optional[int] = None,
         settle_seconds: float = DEFAULT_SETTLE_SECONDS, max_bytes: Optional[int] = DEFAULT_MAX_BYTES,
         on_skip: Optional[Callable[[str, str], None]] = None,
         between_listings: Optional[Callable[[], None]] = None) -> list[PolledFile]:
    """Fetch the finished files of ``remote_dir``, hand each to ``store``, then delete or archive it.

    At-least-once: ``store(name, data)`` must have made the bytes durable when
    it returns; only then is the remote file removed (or renamed into
    ``archive_dir``, created if missing; paths are the server's, absolute or
    relative to the login directory). If ``store`` raises, the remote file stays
    and the exception propagates unchanged. If the connection fails after
    ``store`` and before the removal, ``SftpError`` is raised and the next poll
    delivers the same file again: de-duplicate on ``(name, sha256)``.

    A file is taken only when two listings ``settle_seconds`` apart agree on its
    size and mtime (``between_listings`` runs between them: a hook for tests
    and metrics). Files larger than ``max_bytes``, or that change while being
    downloaded, are left on the server and reported to ``on_skip(name, reason)``
    (default: a log warning). At most ``max_files`` files, oldest first.
    """
    first = list_files(session, remote_dir, pattern)
    if settle_seconds > 0:
        time.sleep(settle_seconds)
    if between_listings is not None:
        between_listings()
    second = list_files(session, remote_dir, pattern)
    ready = stable_files(first, second)
    if max_files is not None:
        ready = ready[:max_files]

    def skip(name: str, reason: str) -> None:
        if on_skip is not None:
            on_skip(name, reason)
        else:
            log.warning("sftp poll %s %s/%s: %s", session.remote.endpoint, remote_dir, name, reason)

    sftp = session.sftp
    polled: list[PolledFile] = []
    archive_ready = False
    for entry in ready:
        path = posixpath.join(remote_dir, entry.name)
        if max_bytes is not None and entry.size > max_bytes:
            skip(entry.name, f"{entry.size} bytes, more than the {max_bytes} allowed: left on the server")
            continue
        try:
            with sftp.open(path, "rb") as f:
                f.prefetch(entry.size)
                data = f.read()
        except Exception as exc:
            if _is_missing(exc):        # taken away by someone else between listing and download
                continue
            raise _error(session, f"download {path}", exc) from exc
        if len(data) != entry.size:
            skip(entry.name, f"changed during download ({len(data)} bytes read, {entry.size} listed): "
                             "left for the next poll")
            continue
        digest = hashlib.sha256(data).hexdigest()

        store(entry.name, data)         # raises: the file stays on the server

        try:
            if archive_dir is not None:
                if not archive_ready:
                    _ensure_dir(session, archive_dir)
                    archive_ready = True
                archived_to = _archive(session, path, archive_dir, entry, digest)
            else:
                sftp.remove(path)
                archived_to = None
        except Exception as exc:
            what = f"{'archive' if archive_dir is not None else 'delete'} {path} after storing it"
            err = _error(session, what, exc)
            err.args = (f"{err.args[0]} (stored: the next poll fetches it again, de-duplicate on name + sha256)",)
            raise err from exc
        polled.append(PolledFile(entry.name, path, entry.size, entry.mtime, digest, archived_to))
    return polled
