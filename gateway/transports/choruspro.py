"""A client of the PISTE gateway in front of Chorus Pro: OAuth2 at PISTE, the technical account, JSON POSTs.

Every Chorus Pro service is a ``POST`` of a JSON body to a path under the API's base URL,
with a PISTE bearer token (OAuth2 client credentials, cached until it expires, renewed
once on a 401: ``gateway.transports.http_deposit``) and a header carrying the technical
account, ``base64(login:password)``. Which paths, which header name: the caller says
(``gateway/channels/choruspro.yaml`` holds every name of the API, as far as open sources
tell them); this module knows the mechanics only, bytes and partners, no invoice.

The account's password and the client secret never appear in ``repr`` or in a message.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from gateway.transports.http_deposit import (MAX_ANSWER, DepositHttpError, OAuth2, failure, oauth2, request)


@dataclass(frozen=True)
class TechnicalAccount:
    """The Chorus Pro technical account the deposits are made with."""
    login: str
    password: str = field(repr=False)

    def header_value(self) -> str:
        return base64.b64encode(f"{self.login}:{self.password}".encode("utf-8")).decode("ascii")


class PisteClient:
    """POSTs to one Chorus Pro API (``base_url``) for one technical account."""

    def __init__(self, base_url: str, *, token_url: str, client_id: str, client_secret: str,
                 account: TechnicalAccount, account_header: str, scope: Optional[str] = None,
                 allow_private: bool = False, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.auth: OAuth2 = oauth2(token_url, client_id, client_secret, scope=scope, allow_private=allow_private)
        self.account, self.account_header = account, account_header
        self.allow_private, self.timeout = allow_private, timeout

    def __repr__(self) -> str:
        return f"<PisteClient {self.base_url} account {self.account.login!r}>"

    @property
    def tokens_fetched(self) -> int:
        return self.auth.client.fetched

    def post(self, path: str, body: dict[str, Any], *, what: str, max_bytes: int = MAX_ANSWER) -> dict[str, Any]:
        """``POST base_url + path`` with ``body``; the JSON answer of a 2xx. Raises
        ``DepositHttpError`` (``reached`` says whether the platform may have it)."""
        url = self.base_url + "/" + path.lstrip("/")
        answer = request("POST", url, auth=self.auth, allow_private=self.allow_private, timeout=self.timeout,
                         max_bytes=max_bytes, data=json.dumps(body).encode("utf-8"),
                         headers={"Content-Type": "application/json;charset=utf-8", "Accept": "application/json",
                                  self.account_header: self.account.header_value()})
        if not 200 <= answer.status < 300:
            raise failure(answer, what, _said(answer))
        try:
            value = answer.json()
        except ValueError as e:
            raise DepositHttpError(f"{what}: {url} answered {e}", reached=True, retryable=False,
                                   status=answer.status) from None
        if not isinstance(value, dict):
            raise DepositHttpError(f"{what}: {url} answered JSON that is not an object", reached=True,
                                   retryable=False, status=answer.status)
        return value


def _said(answer: Any) -> Optional[str]:
    """The platform's own words in an error answer (its JSON's first text field), else None."""
    try:
        value = answer.json()
    except ValueError:
        return None
    if isinstance(value, dict):
        texts = [v for v in value.values() if isinstance(v, str) and v.strip()]
        if texts:
            return " ".join(texts)[:500]
    return None
