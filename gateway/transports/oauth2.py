"""OAuth2 client credentials for the APIs of the French State (PISTE: the PPF annuaire, Chorus Pro).

A token is fetched with our client id and secret (RFC 6749 §4.4), kept until
shortly before it expires (``margin``), and renewed **once** when the API
answers 401 all the same (revoked early, clocks apart): a second 401 is the
API's answer, not a reason to loop.

Every request, to the token endpoint and to the API, goes through
``safe_http`` (public addresses only) unless ``allow_private`` is set by a
setting (a local relay, the tests' loopback stand-in). Answers are read with a
size cap and a deadline, so a server cannot make us hold more than we agreed
to. The secret is kept out of ``repr`` and out of every message and log line.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from gateway.model.errors import EdigateError
from gateway.transports.safe_http import BodyRefused, forbidden_cause, read_body, session, url_problem

MAX_TOKEN_BYTES = 64 * 1024
MAX_TOKEN_LENGTH = 16 * 1024
DEFAULT_LIFETIME = 300                  # seconds, when the token answer gives no expires_in
TIMEOUT = 30.0                          # the longest silence from a server
TOTAL = 300.0                           # the longest whole answer


class HttpError(EdigateError):
    """A request that got no usable answer: unreachable, refused address, too large, too slow.
    ``retryable``: worth trying again later (the address itself was not refused)."""

    def __init__(self, message: str, *, retryable: bool = True, status: Optional[int] = None):
        super().__init__(message)
        self.message, self.retryable, self.status = message, retryable, status


class TokenError(HttpError):
    """The token endpoint did not give us a token; the message says what it answered."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read whole (within the cap)."""
    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str = ""

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` saying why not (malformed, nested too deeply)."""
        try:
            return json.loads(self.content.decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError("the answer is not UTF-8 text") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None

    def excerpt(self, n: int = 300) -> str:
        text = self.content[:n].decode("utf-8", "replace")
        return " ".join(text.split()) + ("…" if len(self.content) > n else "")




def fetch(method: str, url: str, *, allow_private: bool = False, max_bytes: int, timeout: float = TIMEOUT,
          total: float = TOTAL, **kwargs: Any) -> Answer:
    """One request, its answer read whole up to ``max_bytes`` within ``total`` seconds.
    Raises ``HttpError`` when there is no answer to read."""
    import requests
    problem = url_problem(url, allow_private=allow_private)
    if problem:
        raise HttpError(f"{url}: refused: {problem}", retryable=False)
    deadline = time.monotonic() + total
    try:
        with session(allow_private).request(method, url, stream=True, timeout=timeout, allow_redirects=False,
                                            **kwargs) as r:
            try:
                body = read_body(r, max_bytes, deadline)
            except BodyRefused as e:
                raise HttpError(f"{url}: HTTP {r.status_code} answer {e}", status=r.status_code) from None
            return Answer(r.status_code, dict(r.headers), body, url)
    except requests.Timeout:
        raise HttpError(f"{url}: no answer within {timeout:g} s") from None
    except requests.RequestException as e:
        refused = forbidden_cause(e)
        if refused is not None:
            raise HttpError(f"{url}: refused: {refused}", retryable=False) from None
        raise HttpError(f"{url}: {_describe(e)}") from None


def _describe(e: Exception) -> str:
    import re
    text = str(e)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return f"cannot connect: {errno.group(1).strip()}"
    return f"{type(e).__name__}: {text[:300]}"


@dataclass(frozen=True)
class ClientCredentials:
    """Where and how to get a token. ``scope``: sent when given (PISTE: ``openid``)."""
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: Optional[str] = None
    allow_private: bool = False


class OAuth2Client:
    """Bearer requests to one API with a cached client-credentials token.

    ``margin``: seconds before its expiry a token is no longer used (at most half its life);
    ``clock``: monotonic seconds (tests turn it forward instead of waiting)."""

    def __init__(self, credentials: ClientCredentials, *, margin: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.credentials, self.margin, self.clock = credentials, margin, clock
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._valid_until = 0.0
        self.fetched = 0                    # tokens fetched so far (for status and tests)

    def __repr__(self) -> str:
        return f"<OAuth2Client {self.credentials.client_id!r} at {self.credentials.token_url}>"

    def token(self) -> str:
        """A token valid for at least ``margin`` more seconds, fetched only when needed."""
        with self._lock:
            if self._token is None or self.clock() >= self._valid_until:
                self._token, lifetime = self._fetch_token()
                self._valid_until = self.clock() + lifetime - min(self.margin, lifetime / 2)
                self.fetched += 1
            return self._token

    def invalidate(self, token: Optional[str] = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        with self._lock:
            if token is None or token == self._token:
                self._token, self._valid_until = None, 0.0

    def _fetch_token(self) -> tuple[str, float]:
        c = self.credentials
        form = {"grant_type": "client_credentials", "client_id": c.client_id, "client_secret": c.client_secret}
        if c.scope:
            form["scope"] = c.scope
        try:
            answer = fetch("POST", c.token_url, allow_private=c.allow_private, max_bytes=MAX_TOKEN_BYTES,
                           data=form, headers={"Accept": "application/json"})
        except HttpError as e:
            raise TokenError(f"token endpoint: {e.message}", retryable=e.retryable) from None
        if answer.status != 200:
            raise TokenError(f"token endpoint {c.token_url}: HTTP {answer.status}{_oauth_error(answer)}",
                             retryable=answer.status >= 500 or answer.status in (408, 429), status=answer.status)
        try:
            body = answer.json()
        except ValueError as e:
            raise TokenError(f"token endpoint {c.token_url}: {e}") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise TokenError(f"token endpoint {c.token_url}: no usable access_token in its answer")
        kind = body.get("token_type", "Bearer")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise TokenError(f"token endpoint {c.token_url}: token type {kind!r}, expected Bearer", retryable=False)
        expires = body.get("expires_in", DEFAULT_LIFETIME)
        if isinstance(expires, str) and expires.isdigit():
            expires = int(expires)
        if not isinstance(expires, (int, float)) or isinstance(expires, bool) or expires <= 0:
            expires = DEFAULT_LIFETIME
        return token, float(min(expires, 86400 * 7))

    def request(self, method: str, url: str, *, max_bytes: int, timeout: float = TIMEOUT, total: float = TOTAL,
                headers: Optional[Mapping[str, str]] = None, **kwargs: Any) -> Answer:
        """``method url`` with our bearer token; a 401 renews the token once and tries again.
        Raises ``HttpError`` (``TokenError``) when no answer could be had."""
        answer = None
        for attempt in (1, 2):
            token = self.token()
            sent = {**(headers or {}), "Authorization": f"Bearer {token}"}
            answer = fetch(method, url, allow_private=self.credentials.allow_private, max_bytes=max_bytes,
                           timeout=timeout, total=total, headers=sent, **kwargs)
            if answer.status != 401:
                return answer
            self.invalidate(token)
        return answer


def _oauth_error(answer: Answer) -> str:
    """``: invalid_client (Bad client credentials)`` from an RFC 6749 error answer, else an excerpt."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"][:100]
        if isinstance(body.get("error_description"), str):
            text += f" ({body['error_description'][:300]})"
        return f": {text}"
    return f": {answer.excerpt()}" if answer.content else ""
