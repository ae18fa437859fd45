"""The links in campaign mails: registration (signed, expiring, single-use), opt-out, open pixel.

Why signed tokens and not random ids looked up in a table: a token names its
invitation *and* proves we made it, so a forged or mangled link is told apart
from an unknown one without touching the database, and nothing secret is kept
in clear in the database (a stolen backup gives no working link).

* Registration: ``{public_url}/register/<token>``, the token an HMAC
  (itsdangerous, the gateway's secret key) over ``[invitation id, nonce]``.
  The expiry is ``Invitation.expires_at`` (pushed forward each time a mail
  carrying the link is sent), single use is ``Invitation.used_at``; a new nonce
  (``revoke``) makes every earlier link ``revoked``. ``read_registration_token``
  says which of ``forged``, ``unknown``, ``revoked``, ``used``, ``expired`` went
  wrong, so the page can say it plainly.
* Opt-out: ``{public_url}/optout/<token>`` over ``[invitation id]`` with its own
  salt: it never expires (an old mail's opt-out link must still work) and is
  not single-use (opting out twice is harmless).
* Open pixel: ``{public_url}/t/<token>.gif`` over ``[mail id]``, a third salt.

Salts keep the kinds apart: an opt-out token is not a registration token.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from functools import lru_cache
from typing import Any, Optional, Union

from itsdangerous import BadData, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy.orm import Session

from gateway.db import utcnow
from gateway.model.errors import EdigateError

from .models import Invitation

REGISTER_SALT = "edigate.onboarding.register"
OPTOUT_SALT = "edigate.onboarding.optout"
OPEN_SALT = "edigate.onboarding.open"
MAX_TOKEN_LENGTH = 512          # ours are ~80 characters; anything much longer is not ours

LINK_ERROR_KINDS = ("forged", "expired", "used", "revoked", "unknown")

Secret = Union[str, bytes]


class LinkError(EdigateError):
    """A link that cannot be honoured; ``kind`` is one of ``LINK_ERROR_KINDS``:

    * ``forged``: not signed by us (mangled when copied, or made up);
    * ``unknown``: signed by us, but its invitation no longer exists;
    * ``revoked``: a newer link replaced it, or the invitation was stopped;
    * ``used``: the registration was already submitted with it;
    * ``expired``: past ``expires_at``.
    """

    def __init__(self, kind: str, message: str):
        if kind not in LINK_ERROR_KINDS:
            raise ValueError(f"link error kind {kind!r} is not one of {', '.join(LINK_ERROR_KINDS)}")
        super().__init__(message)
        self.kind = kind


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


@lru_cache(maxsize=32)
def _serializer(secret: Secret, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=salt)


class _Dumps:
    """``URLSafeSerializer(secret, salt=salt).dumps`` with its signing key derived once (a campaign
    signs three links a mail). It checks itself against ``dumps`` when made and stands aside if
    they ever differ (another itsdangerous), so the tokens are always the library's."""

    def __init__(self, secret: Secret, salt: str):
        self._serializer = _serializer(secret, salt)
        signer = self._serializer.make_signer()
        self._key: Optional[bytes] = signer.derive_key()
        self._digest = signer.digest_method().name
        self._sep = signer.sep
        if self([0, "check"]) != self._serializer.dumps([0, "check"]):
            self._key = None

    def __call__(self, payload: list[Any]) -> str:
        if self._key is None:
            return self._serializer.dumps(payload)
        value = self._serializer.dump_payload(payload)
        return (value + self._sep + base64_encode(hmac.digest(self._key, value, self._digest))).decode("ascii")


@lru_cache(maxsize=32)
def _dumper(secret: Secret, salt: str) -> _Dumps:
    return _Dumps(secret, salt)


def _dumps(secret: Secret, salt: str, payload: list[Any]) -> str:
    return _dumper(secret, salt)(payload)


def _load(secret: Secret, salt: str, token: str, what: str) -> list[Any]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkError("forged", f"this {what} link is not one of ours (malformed)")
    try:
        payload = _serializer(secret, salt).loads(token)
    except BadData:
        raise LinkError("forged", f"this {what} link is not one of ours: it was changed or cut "
                                  "when copied (copy the whole link from the mail)") from None
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], int):
        raise LinkError("forged", f"this {what} link is not one of ours (unexpected content)")
    return payload


# --- registration ------------------------------------------------------------------------------

def registration_token(secret: Secret, invitation: Invitation) -> str:
    if invitation.id is None:
        raise ValueError("the invitation has no id yet: flush the session first")
    return _dumps(secret, REGISTER_SALT, [invitation.id, invitation.token_nonce])


def registration_url(public_url: str, secret: Secret, invitation: Invitation) -> str:
    return f"{public_url.rstrip('/')}/register/{registration_token(secret, invitation)}"


def read_registration_token(session: Session, secret: Secret, token: str,
                            now: Optional[datetime] = None) -> Invitation:
    """The invitation a registration link is for, if it may still be used at ``now``;
    raises ``LinkError`` (``.kind``) otherwise. Reading does not spend the link: the
    registration's submit does (``Invitation.used_at``, set by ``onboarding.enrol``)."""
    now = now or utcnow()
    payload = _load(secret, REGISTER_SALT, token, "registration")
    if len(payload) != 2 or not isinstance(payload[1], str):
        raise LinkError("forged", "this registration link is not one of ours (unexpected content)")
    invitation = session.get(Invitation, payload[0])
    if invitation is None:
        raise LinkError("unknown", "this registration link belongs to an invitation that no longer exists")
    if not secrets.compare_digest(invitation.token_nonce, payload[1]):
        raise LinkError("revoked", "this registration link was replaced by a newer one: use the link "
                                   "in the most recent mail")
    if invitation.used_at is not None or invitation.status == "enrolled" \
            or invitation.counterparty.status == "enrolled":
        raise LinkError("used", "this registration link has already been used: the registration was "
                                "submitted")
    if invitation.status == "stopped":
        raise LinkError("revoked", "this invitation was withdrawn")
    if now >= invitation.expires_at or invitation.status == "expired":
        raise LinkError("expired", f"this registration link expired on {invitation.expires_at:%Y-%m-%d}: "
                                   "ask us for a new one")
    return invitation


def revoke(invitation: Invitation) -> str:
    """Give the invitation a new nonce: every link sent so far is ``revoked``. Returns the nonce."""
    invitation.token_nonce = new_nonce()
    return invitation.token_nonce


# --- opt-out -----------------------------------------------------------------------------------

def optout_token(secret: Secret, invitation: Invitation) -> str:
    return _dumps(secret, OPTOUT_SALT, [invitation.id])


def optout_url(public_url: str, secret: Secret, invitation: Invitation) -> str:
    return f"{public_url.rstrip('/')}/optout/{optout_token(secret, invitation)}"


def read_optout_token(session: Session, secret: Secret, token: str) -> Invitation:
    """The invitation an opt-out link is for; ``LinkError`` ``forged`` or ``unknown``. Never expires."""
    payload = _load(secret, OPTOUT_SALT, token, "opt-out")
    invitation = session.get(Invitation, payload[0])
    if invitation is None:
        raise LinkError("unknown", "this opt-out link belongs to an invitation that no longer exists")
    return invitation


# --- open tracking -----------------------------------------------------------------------------

def open_token(secret: Secret, mail_id: int) -> str:
    return _dumps(secret, OPEN_SALT, [mail_id])


def open_pixel_url(public_url: str, secret: Secret, mail_id: int) -> str:
    return f"{public_url.rstrip('/')}/t/{open_token(secret, mail_id)}.gif"


def read_open_token(secret: Secret, token: str) -> int:
    """The mail id of an open pixel's token (``LinkError`` ``forged`` if it is not ours).
    A trailing ``.gif`` is accepted, whichever way the route splits it."""
    if isinstance(token, str) and token.endswith(".gif"):
        token = token[:-4]
    return _load(secret, OPEN_SALT, token, "tracking")[0]
