"""Depositing bytes on someone else's HTTP API: authentication, one request, and whether it got there.

A deposit channel (Chorus Pro, a buyer's procurement portal) must never deposit the same
invoice twice. What makes that possible is knowing, after a failed attempt, whether the
request may have reached the platform:

* ``reached=False``: it certainly did not (the URL was refused, no connection could be
  made, no token could be had): sending again is safe;
* ``reached=True``: the platform answered (an HTTP status): what it said decides;
* ``reached=None``: we cannot tell (the connection broke or went silent after the
  request was written): the platform may have it. Only a lookup, or an operator, may
  decide to send again.

Authentication is none, an API key header, HTTP basic or OAuth2 client credentials.
OAuth2 tokens come from ``gateway.transports.oauth2`` (a client per set of credentials,
kept here in a bounded cache so a token is reused until it expires, across attempts and
polls), renewed **once** when the API answers 401. Requests go through
``oauth2.fetch``: ``safe_http``'s rules (public addresses only unless the partner's own
``allow_private`` switch), no redirects, answers read within a size cap and a deadline.
Secrets are kept out of ``repr`` and out of every message.

Bytes and partners only: nothing here reads an invoice.
"""
from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from gateway.transports.oauth2 import Answer, ClientCredentials, HttpError, OAuth2Client, TokenError, fetch

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_CLIENTS = 64                 # OAuth2 clients (token caches) kept at once
MAX_ANSWER = 4 * 1024 * 1024     # a deposit's or a status's JSON answer


class DepositHttpError(Exception):
    """A request without a usable answer. ``reached``: False (certainly not received), True
    (answered: ``status``), None (cannot tell); ``retryable``: worth trying later."""

    def __init__(self, message: str, *, reached: Optional[bool], retryable: bool, status: Optional[int] = None):
        super().__init__(message)
        self.message, self.reached, self.retryable, self.status = message, reached, retryable, status


# --- authentication ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NoAuth:
    def headers(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class ApiKey:
    """A key sent in a header of the portal's choosing (``X-API-Key: …``)."""
    header: str
    key: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        return {self.header: self.key}


@dataclass(frozen=True)
class Basic:
    username: str
    password: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode("utf-8")).decode("ascii")
        return {"Authorization": f"Basic {token}"}


class OAuth2:
    """OAuth2 client credentials: a cached client of ``gateway.transports.oauth2``."""

    def __init__(self, client: OAuth2Client):
        self.client = client

    def __repr__(self) -> str:
        return f"<OAuth2 {self.client!r}>"


Auth = Union[NoAuth, ApiKey, Basic, OAuth2]

_clients: "OrderedDict[tuple, OAuth2Client]" = OrderedDict()
_clients_lock = threading.Lock()


def oauth2(token_url: str, client_id: str, client_secret: str, *, scope: Optional[str] = None,
           allow_private: bool = False) -> OAuth2:
    """The OAuth2 client for these credentials, the same one (and its token) each time they are
    the same; the least recently used is forgotten past ``MAX_CLIENTS``."""
    digest = hashlib.sha256(client_secret.encode("utf-8")).hexdigest()
    key = (token_url, client_id, digest, scope, allow_private)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = OAuth2Client(ClientCredentials(token_url, client_id, client_secret, scope=scope,
                                                    allow_private=allow_private))
            _clients[key] = client
            while len(_clients) > MAX_CLIENTS:
                _clients.popitem(last=False)
        else:
            _clients.move_to_end(key)
        return OAuth2(client)


# --- one request ---------------------------------------------------------------------------------

def _reached(e: HttpError) -> Optional[bool]:
    """Whether the request behind ``e`` may have reached the server (see the module docstring)."""
    import requests
    if e.status is not None:
        return True
    cause = e.__context__
    if cause is None:
        return False                              # refused before any connection
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(cause, requests.exceptions.ConnectionError):
        from urllib3.exceptions import NameResolutionError, NewConnectionError
        inner = cause.args[0] if cause.args else None
        reason = getattr(inner, "reason", inner)
        if isinstance(reason, (NewConnectionError, NameResolutionError, ConnectionRefusedError)):
            return False
        return None
    return None


def request(method: str, url: str, *, auth: Auth, allow_private: bool, timeout: float = 60.0,
            max_bytes: int = MAX_ANSWER, headers: Optional[Mapping[str, str]] = None, **kwargs: Any) -> Answer:
    """One request with ``auth`` (OAuth2: a 401 renews the token once and tries again); the answer,
    whatever its status. Raises ``DepositHttpError`` when there is no answer to read."""
    for attempt in (1, 2):
        sent = dict(headers or {})
        token = None
        if isinstance(auth, OAuth2):
            try:
                token = auth.client.token()
            except TokenError as e:
                raise DepositHttpError(f"OAuth2 token: {e.message}", reached=False, retryable=e.retryable,
                                       status=e.status) from None
            sent["Authorization"] = f"Bearer {token}"
        else:
            sent.update(auth.headers())
        try:
            answer = fetch(method, url, allow_private=allow_private, max_bytes=max_bytes, timeout=timeout,
                           total=max(timeout * 5, 30.0), headers=sent, **kwargs)
        except HttpError as e:
            reached = _reached(e)
            raise DepositHttpError(e.message, reached=reached, retryable=e.retryable,
                                   status=e.status) from None
        if answer.status == 401 and token is not None and attempt == 1:
            auth.client.invalidate(token)
            continue
        return answer
    return answer


def failure(answer: Answer, what: str, said: Optional[str] = None) -> DepositHttpError:
    """A non-2xx answer as an error (retryable for 408, 429, 5xx…), ``said``: the platform's own text."""
    text = said or answer.excerpt(300) or "no details"
    return DepositHttpError(f"{what}: HTTP {answer.status} from {answer.url}: {text}", reached=True,
                            retryable=answer.status in RETRYABLE, status=answer.status)
