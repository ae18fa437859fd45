"""Requests to addresses a stranger chose: only to the public Internet, unless allowed.

An AS2 sender names the URL its asynchronous MDN goes to; a counterparty
registering itself names its AS2 URL. Posting there blindly lets anyone make the
gateway reach what only the gateway can reach (loopback services, the private
network, cloud metadata at 169.254.169.254): server-side request forgery.

Two checks, both needed:

* ``url_problem(url)`` at the door: scheme, host, and an address literal that is
  not public. Host names are not resolved there (a stranger's DNS could stall us).
* ``guarded_session()`` at connection time: the address the socket actually
  connected to must be public, so a name that resolves (or re-resolves: DNS
  rebinding) to a private address is refused before a byte of HTTP is written.
  Proxies from the environment are not used (the proxy would be the peer checked).
"""
from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Iterable, Optional
from urllib.parse import urlsplit

DEFAULT_SCHEMES = ("https", "http")


class ForbiddenAddress(OSError):
    """The connection would go to an address that is not public (and that was not allowed)."""


def is_public(address: str) -> bool:
    """A global unicast address (IPv4-mapped IPv6 judged as the IPv4 it carries)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problem(url: Optional[str], *, allow_private: bool = False,
                schemes: Iterable[str] = DEFAULT_SCHEMES) -> Optional[str]:
    """Why ``url`` may not be requested (None: it may, subject to the connection check)."""
    if not url:
        return "no URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port                                  # noqa: B018 - raises on a bad port
    except ValueError as e:
        return f"unreadable URL: {e}"
    schemes = tuple(s.lower() for s in schemes)
    if parts.scheme.lower() not in schemes:
        return f"scheme {parts.scheme or '(none)'!r} is not allowed (allowed: {', '.join(schemes)})"
    if not host:
        return "URL without a host"
    if parts.username or parts.password:
        return "URL with credentials"
    if allow_private:
        return None
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return f"host {host} is not a public address"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None                                 # a name: judged when the socket connects
    if not is_public(host):
        return f"address {host} is loopback, private, link-local or reserved"
    return None


def forbidden_cause(exc: BaseException) -> Optional[ForbiddenAddress]:
    """The ``ForbiddenAddress`` behind an exception requests raised (it wraps urllib3's, which
    wraps ours), or None: a refused address is final, not worth a retry."""
    cause: Optional[BaseException] = exc
    for _ in range(10):
        if cause is None or isinstance(cause, ForbiddenAddress):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _check_peer(sock: socket.socket, host: str) -> None:
    peer = sock.getpeername()[0]
    if not is_public(peer):
        sock.close()
        raise ForbiddenAddress(f"{host} is at {peer}, which is not a public address")


class _Pools(threading.local):
    guarded = None
    plain = None


_pools = _Pools()


def guarded_session():
    """A requests session (one per thread) that connects only to public addresses, ignores
    proxy settings from the environment, follows no redirects by itself and retries nothing."""
    if _pools.guarded is None:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

        class _Conn(HTTPConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                _check_peer(sock, self.host)
                return sock

        class _TlsConn(HTTPSConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                _check_peer(sock, self.host)
                return sock

        class _Pool(HTTPConnectionPool):
            ConnectionCls = _Conn

        class _TlsPool(HTTPSConnectionPool):
            ConnectionCls = _TlsConn

        class _Adapter(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                super().init_poolmanager(*args, **kwargs)
                self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}

        s = requests.Session()
        s.trust_env = False
        adapter = _Adapter(pool_connections=4, pool_maxsize=4, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        _pools.guarded = s
    return _pools.guarded


def session(allow_private: bool = False):
    """``guarded_session()``; or, when a setting allows private addresses (a partner's own switch,
    the tests on loopback), a plain session that likewise ignores proxies from the environment,
    follows no redirects by itself and retries nothing (one per thread)."""
    if not allow_private:
        return guarded_session()
    if _pools.plain is None:
        import requests
        from requests.adapters import HTTPAdapter
        s = requests.Session()
        s.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=4, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        _pools.plain = s
    return _pools.plain


class BodyRefused(Exception):
    """An answer not read whole: larger than allowed (``too_large``), or not whole in time."""

    def __init__(self, message: str, *, size: int, too_large: bool):
        super().__init__(message)
        self.size, self.too_large = size, too_large


def read_body(resp, limit: int, deadline: float) -> bytes:
    """A streamed response's body (``stream=True``), refused past ``limit`` bytes (announced or
    read: never more in memory) or when it is not whole by ``deadline`` (``time.monotonic()``: a
    server trickling bytes). The response is closed when refused."""
    import time
    declared = resp.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        resp.close()
        raise BodyRefused(f"{int(declared):,} bytes announced, more than the {limit:,} accepted",
                          size=int(declared), too_large=True)
    chunks, size = [], 0
    for chunk in resp.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            resp.close()
            raise BodyRefused(f"larger than the {limit:,} bytes accepted", size=size, too_large=True)
        if time.monotonic() > deadline:
            resp.close()
            raise BodyRefused(f"not read in time ({size:,} bytes so far)", size=size, too_large=False)
        chunks.append(chunk)
    return b"".join(chunks)
