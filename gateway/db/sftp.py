"""SFTP settings of a partner: its account on our server, and our account on its server.

* ``SftpAccount``: the partner logs in to our SFTP server with a password
  (stored hashed by werkzeug) and/or public keys (OpenSSH ``authorized_keys``
  lines); it is jailed in its own root with ``inbound/`` and ``outbound/``.
* ``SftpRemote``: we log in to the partner's server with our key, pinning its
  host key; we push to ``push_dir`` and poll ``poll_dir`` on a schedule,
  deleting what we fetched or moving it to ``archive_dir``.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .base import Base, utcnow

if TYPE_CHECKING:
    from .partners import Partner

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 12


def key_lines(text: Optional[str]) -> list[str]:
    """The public key lines of an ``authorized_keys`` text (comments and blanks dropped)."""
    return [ln.strip() for ln in (text or "").splitlines() if ln.strip() and not ln.strip().startswith("#")]


class SftpAccount(Base):
    __tablename__ = "sftp_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[Optional[str]] = mapped_column(sa.String(255))
    authorized_keys: Mapped[Optional[str]] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[Optional[datetime]]

    partner: Mapped[Partner] = relationship()

    @validates("username")
    def _check_username(self, key: str, value: str) -> str:
        if not _USERNAME.match(value or ""):
            raise ValueError("an SFTP username is 1 to 64 lower-case letters, digits, '.', '_' or '-', "
                             "starting with a letter or digit")
        return value

    def set_password(self, password: Optional[str]) -> None:
        if password is None:
            self.password_hash = None
            return
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"an SFTP password has at least {MIN_PASSWORD_LENGTH} characters")
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<SftpAccount {self.username!r} of partner {self.partner_id}>"


class SftpRemote(Base):
    __tablename__ = "sftp_remotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"), unique=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    port: Mapped[int] = mapped_column(default=22, server_default=sa.text("22"))
    username: Mapped[str] = mapped_column(sa.String(128))
    private_key_ref: Mapped[str] = mapped_column(sa.String(500))        # our key, a path under certs/
    host_key: Mapped[str] = mapped_column(sa.Text)                       # pinned: OpenSSH line or SHA256:…
    push_dir: Mapped[Optional[str]] = mapped_column(sa.String(500), default="inbound")
    poll_dir: Mapped[Optional[str]] = mapped_column(sa.String(500))      # None: nothing to fetch there
    archive_dir: Mapped[Optional[str]] = mapped_column(sa.String(500))   # None: delete what was fetched
    poll_interval_seconds: Mapped[int] = mapped_column(default=300, server_default=sa.text("300"))
    last_poll_at: Mapped[Optional[datetime]]
    last_poll_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    partner: Mapped[Partner] = relationship()

    def __repr__(self) -> str:
        return f"<SftpRemote {self.username}@{self.host}:{self.port} of partner {self.partner_id}>"
