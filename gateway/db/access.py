"""Who may use the gateway's interface: users (operator pages) and their API tokens.

* ``User``: a person with a password (hashed by werkzeug, never stored) and a
  role: ``admin`` (everything), ``operator`` (day-to-day actions: retries,
  partner settings), ``staff`` (reads, uploads).
  ``recipient`` is a login of a recipient organisation (a partner) on the
  recipient portal and the ERP pull API: it sees that partner's documents only.
* ``ApiToken``: a bearer token for the REST API, owned by a user and acting
  with that user's role. Only the token's SHA-256 is stored, so a copy of the
  database gives no usable token; the token itself is shown once, at issue.
  Tokens can expire and be revoked; a disabled user's tokens stop working.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .base import Base, one_of, require_one_of, utcnow

ROLES = ("admin", "operator", "staff", "recipient")
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "edg_"
TOKEN_DISPLAY_CHARS = 12            # "edg_" + 8 characters: enough to tell tokens apart in a list
MAX_TOKEN_LENGTH = 200              # longer "tokens" are refused before any hashing
LAST_USED_RESOLUTION = timedelta(minutes=1)   # a token's last use is written at most once a minute


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        one_of("role", ROLES, "role"),
        # a recipient login belongs to exactly one partner; staff logins to none
        sa.CheckConstraint("(role = 'recipient') = (partner_id IS NOT NULL)", name="recipient_partner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[Optional[datetime]]
    # the IANA time zone the pages show this user's times in (None: the pages' default, Europe/Paris)
    time_zone: Mapped[Optional[str]] = mapped_column(sa.String(64))
    # the language of this user's pages, "fr" or "en" (None: the browser's Accept-Language, else French)
    language: Mapped[Optional[str]] = mapped_column(sa.String(8))

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ApiToken.id")

    @validates("role")
    def _check_role(self, key: str, value: str) -> str:
        return require_one_of(value, ROLES, "role")

    @validates("username")
    def _check_username(self, key: str, value: str) -> str:
        value = (value or "").strip()
        if not value or len(value) > 150 or any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("a username is 1 to 150 printable characters without blanks")
        return value

    @classmethod
    def create(cls, username: str, password: str, role: str = "staff", *,
               partner_id: Optional[int] = None) -> User:
        """A new, active user (not yet added to a session); a ``recipient`` needs its ``partner_id``."""
        if (role == "recipient") != (partner_id is not None):
            raise ValueError("a recipient login belongs to one partner (partner_id), other roles to none")
        user = cls(username=username, role=role, active=True, partner_id=partner_id)
        user.set_password(password)
        return user

    def set_password(self, password: str) -> None:
        if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def has_role(self, *roles: str) -> bool:
        return self.active and self.role in roles

    @property
    def session_marker(self) -> str:
        """Changes when the password does: a login session remembers it, so changing a
        password ends the sessions opened with the old one. (A hash of the hash: the signed,
        readable session cookie reveals nothing about the password hash.)"""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role}>"


def check_login(session: Session, username: str, password: str, *, at: Optional[datetime] = None) -> Optional[User]:
    """The active user with this username and password (its ``last_login_at`` updated), else None.
    An unknown username costs a password check too, so timing does not tell which usernames exist."""
    user = session.scalar(sa.select(User).where(User.username == (username or "").strip()))
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not user.check_password(password or "") or not user.active:
        return None
    user.last_login_at = at or utcnow()
    return user


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(generate_password_hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


class ApiToken(Base):
    """A bearer token of one user; the row keeps its SHA-256, never the token."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))            # the token's first characters, for lists
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[Optional[datetime]]
    expires_at: Mapped[Optional[datetime]]
    revoked_at: Mapped[Optional[datetime]]

    user: Mapped[User] = relationship(back_populates="tokens")

    def state(self, at: Optional[datetime] = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        at = at or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= at:
            return "expired"
        return "active"

    def revoke(self, *, at: Optional[datetime] = None) -> None:
        if self.revoked_at is None:
            self.revoked_at = at or utcnow()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.prefix}… of user {self.user_id}>"


def token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, name: str,
                expires_at: Optional[datetime] = None) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row (added and flushed) and the token itself, which is
    not kept anywhere: show it once."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValueError("a token needs a name of 1 to 100 characters")
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValueError("naive datetime: give expires_at a time zone (UTC)")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_sha256=token_hash(plaintext),
                     prefix=plaintext[:TOKEN_DISPLAY_CHARS], expires_at=expires_at)
    session.add(token)
    session.flush()
    return token, plaintext


def authenticate_token(session: Session, plaintext: Optional[str], *,
                       at: Optional[datetime] = None) -> Optional[User]:
    """The user a presented token acts for, or None (unknown, revoked, expired, or its user
    disabled). The lookup is by the token's SHA-256, so comparing in the database leaks
    nothing usable about stored tokens; the match is confirmed with a constant-time compare."""
    if not plaintext or not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > MAX_TOKEN_LENGTH:
        return None
    digest = token_hash(plaintext)
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_sha256 == digest))
    if token is None or not hmac.compare_digest(token.token_sha256, digest):
        return None
    at = at or utcnow()
    if token.state(at) != "active" or not token.user.active:
        return None
    if token.last_used_at is None or at - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = at
    return token.user
