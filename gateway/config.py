"""Run-time settings: environment variables over embedded defaults.

The embedded default needs nothing set: a SQLite database and the payload
store live under ``EDIGATE_HOME`` (``./var``). Scale-out changes only
configuration (``EDIGATE_DATABASE_URL=postgresql://…``, a shared payload
volume). Nothing here runs at import: call ``load_settings()``.

| variable | default | meaning |
|---|---|---|
| EDIGATE_HOME | ./var | where run-time state lives |
| EDIGATE_DATABASE_URL | sqlite:///<home>/edigate.db | SQLAlchemy URL (``postgresql://`` uses psycopg 3) |
| EDIGATE_PAYLOAD_DIR | <home>/payloads | the content-addressed payload store |
| EDIGATE_CERTS_DIR | ./certs | AS2 certificates and keys, SFTP host keys |
| EDIGATE_MAX_INBOUND_SIZE | 100M | largest inbound message accepted (bytes; K/M/G suffixes) |
| EDIGATE_JOBS_URL | sqlite:///<home>/jobs.db | the job queue (``redis://`` for scale-out) |
| EDIGATE_HOST | 127.0.0.1 | address the web app (AS2, API, pages) listens on |
| EDIGATE_HTTP_PORT | 8080 | its port |
| EDIGATE_SFTP_PORT | 2222 | the SFTP server's port |
| EDIGATE_SFTP_UPLOAD_GRACE_MINUTES | 10 | how long a taken upload stays (read-only) in the partner's ``inbound/`` for its client's follow-up calls before the sweep removes it |
| EDIGATE_PUBLIC_URL | http://<host>:<port> | the base URL partners reach us at (async MDN URL…) |
| EDIGATE_SMTP_URL | smtp://127.0.0.1:25 | outgoing mail: ``smtp://[user:password@]host[:port][?starttls=…]`` (required, optional or off), ``smtps://`` for implicit TLS |
| EDIGATE_MAIL_FROM | edigate@localhost | the sender address of the mail we send |
| EDIGATE_MAIL_RATE | 600 | most mails sent per minute by one process (throttling) |
| EDIGATE_LANGUAGE | fr | the pages' language when neither the user's preference nor the browser's Accept-Language says (``fr`` or ``en``) |
| EDIGATE_DEFAULT_CHANNEL | paper | where an invoice goes when its recipient chose no channel (``paper`` or ``email``) |
| EDIGATE_PAPER_BATCH_HOURS | 24 | the sweep gathers pending paper deliveries into a print batch at most this often (0: only by hand, ``edigate paper batch``) |
| EDIGATE_HTTP_THREADS | 8 | threads running the web app's requests (``edigate serve --threads`` wins) |
| EDIGATE_HTTP_CONNECTION_LIMIT | 1000 | most open HTTP connections; beyond it new ones wait in the kernel's backlog |
| EDIGATE_HTTP_IDLE_TIMEOUT | 60 | seconds an HTTP connection may stay silent (no request running) before it is closed |
| EDIGATE_HTTP_HEADER_TIMEOUT | 30 | seconds a client has to send a request's line and headers from its first byte (0: no limit) |
| EDIGATE_HTTP_MAX_HEADER_SIZE | 64K | largest request line + headers accepted (bytes; K/M suffixes) |
| EDIGATE_ANNUAIRE_URL | (none: off) | the PPF directory (annuaire) API, e.g. https://aife.economie.gouv.fr/ppf/annuaire-public/v1; unset, nothing of the annuaire runs |
| EDIGATE_ANNUAIRE_TOKEN_URL | (required with the URL) | its OAuth2 token endpoint (client credentials, PISTE) |
| EDIGATE_ANNUAIRE_CLIENT_ID | (required with the URL) | our OAuth2 client id |
| EDIGATE_ANNUAIRE_CLIENT_SECRET | (required with the URL) | our OAuth2 client secret (never shown) |
| EDIGATE_ANNUAIRE_REFRESH | 1d | how often the local mirror of the directory is refreshed (90s, 30m, 12h, 1d…; at least a minute) |
| EDIGATE_ANNUAIRE_PAGE_SIZE | 1000 | directory lines asked for per page |
| EDIGATE_ANNUAIRE_MAX_PAGES | 20000 | most pages read by one refresh (more: the refresh fails, the mirror is kept) |
| EDIGATE_ANNUAIRE_MAX_LINES | 10000000 | most lines read by one refresh (likewise) |
| EDIGATE_ANNUAIRE_ALLOW_PRIVATE | false | let the annuaire URLs be on loopback or private addresses (tests, a local relay) |
| EDIGATE_PLATFORM_ID | (none) | our own platform's matricule in the directory (4 digits): the lines we publish name it |
| EDIGATE_ARCHIVE_TSA_URL | (none: no seals) | the RFC 3161 time-stamping authority that seals the archive's chain |
| EDIGATE_ARCHIVE_TSA_CA | (required with the URL) | PEM file of the trust anchor(s) the TSA's certificate must chain to |
| EDIGATE_ARCHIVE_TSA_ALLOW_PRIVATE | false | let the TSA URL be on loopback or private addresses (tests, an in-house TSA) |
| EDIGATE_ARCHIVE_SEAL_INTERVAL | 1h | the sweep seals the chain's head at most this often (and only when it moved) |
| EDIGATE_ARCHIVE_RETENTION | (the shipped gateway/archive/retention.yaml) | a YAML file of retention per document type |
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from gateway.model.errors import EdigateError

PREFIX = "EDIGATE_"


class ConfigError(EdigateError):
    """A setting has a value we cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    payload_dir: Path
    certs_dir: Path
    max_inbound_size: int
    jobs_url: str
    host: str
    http_port: int
    sftp_port: int
    public_url: str
    smtp_url: str = field(default="smtp://127.0.0.1:25", repr=False)     # may hold a password
    mail_from: str = "edigate@localhost"
    mail_rate_per_minute: int = 600
    default_channel: str = "paper"
    language: str = "fr"
    paper_batch_hours: float = 24.0
    http_threads: int = 8
    http_connection_limit: int = 1000
    http_idle_timeout: int = 60
    http_header_timeout: int = 30
    http_max_header_size: int = 64 * 1024
    sftp_upload_grace_minutes: float = 10.0
    # The PPF directory (gateway.networks.annuaire); no URL: off.
    annuaire_url: Optional[str] = None
    annuaire_token_url: Optional[str] = None
    annuaire_client_id: Optional[str] = None
    annuaire_client_secret: Optional[str] = field(default=None, repr=False)
    annuaire_refresh_seconds: int = 86400
    annuaire_page_size: int = 1000
    annuaire_max_pages: int = 20000
    annuaire_max_lines: int = 10_000_000
    annuaire_allow_private: bool = False
    platform_id: Optional[str] = None
    # The archive (gateway.archive): its seals' time-stamping authority, their rhythm, retention.
    archive_tsa_url: Optional[str] = None
    archive_tsa_ca: Optional[Path] = None
    archive_tsa_allow_private: bool = False
    archive_seal_seconds: int = 3600
    archive_retention: Optional[Path] = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(text: str, *, name: str = "size") -> int:
    """``"100M"`` → 104857600; plain digits are bytes; K/M/G/T are powers of 1024."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"{name}={text!r}: expected a size such as 1048576, 512K, 100M or 2G")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _port(text: str, name: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={text!r}: expected a TCP port number (1-65535)")
    return port


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Settings from ``env`` (default ``os.environ``); empty values count as unset."""
    if env is None:
        env = os.environ

    def get(name: str) -> Optional[str]:
        value = env.get(PREFIX + name)
        return value if value not in (None, "") else None

    home = Path(get("HOME") or "./var").expanduser()
    database_url = get("DATABASE_URL") or sqlite_url(home / "edigate.db")
    if "://" not in database_url:
        raise ConfigError(f"{PREFIX}DATABASE_URL={database_url!r}: expected a URL such as "
                          "sqlite:///var/edigate.db or postgresql://user@host/db")
    max_size = get("MAX_INBOUND_SIZE")
    host = get("HOST") or "127.0.0.1"
    http_port = _port(get("HTTP_PORT") or "8080", PREFIX + "HTTP_PORT")
    return Settings(
        home=home,
        database_url=database_url,
        payload_dir=Path(get("PAYLOAD_DIR") or home / "payloads").expanduser(),
        certs_dir=Path(get("CERTS_DIR") or "./certs").expanduser(),
        max_inbound_size=parse_size(max_size, name=PREFIX + "MAX_INBOUND_SIZE") if max_size else 100 * 1024 ** 2,
        jobs_url=get("JOBS_URL") or sqlite_url(home / "jobs.db"),
        host=host,
        http_port=http_port,
        sftp_port=_port(get("SFTP_PORT") or "2222", PREFIX + "SFTP_PORT"),
        public_url=(get("PUBLIC_URL") or f"http://{host}:{http_port}").rstrip("/"),
        smtp_url=_smtp_url(get("SMTP_URL") or "smtp://127.0.0.1:25"),
        mail_from=get("MAIL_FROM") or "edigate@localhost",
        mail_rate_per_minute=_positive(get("MAIL_RATE") or "600", PREFIX + "MAIL_RATE"),
        default_channel=_one_of(get("DEFAULT_CHANNEL") or "paper", ("paper", "email"), PREFIX + "DEFAULT_CHANNEL"),
        language=_one_of(get("LANGUAGE") or "fr", ("fr", "en"), PREFIX + "LANGUAGE"),
        paper_batch_hours=_hours(get("PAPER_BATCH_HOURS") or "24", PREFIX + "PAPER_BATCH_HOURS"),
        http_threads=_positive(get("HTTP_THREADS") or "8", PREFIX + "HTTP_THREADS"),
        http_connection_limit=_positive(get("HTTP_CONNECTION_LIMIT") or "1000", PREFIX + "HTTP_CONNECTION_LIMIT"),
        http_idle_timeout=_positive(get("HTTP_IDLE_TIMEOUT") or "60", PREFIX + "HTTP_IDLE_TIMEOUT"),
        http_header_timeout=_seconds(get("HTTP_HEADER_TIMEOUT") or "30", PREFIX + "HTTP_HEADER_TIMEOUT"),
        http_max_header_size=_header_size(get("HTTP_MAX_HEADER_SIZE") or "64K", PREFIX + "HTTP_MAX_HEADER_SIZE"),
        sftp_upload_grace_minutes=_minutes(get("SFTP_UPLOAD_GRACE_MINUTES") or "10",
                                           PREFIX + "SFTP_UPLOAD_GRACE_MINUTES"),
        **_annuaire(get),
        **_archive(get),
    )


def _archive(get) -> dict:
    """The archive's seals need a trust anchor with their TSA: a token nobody can check proves nothing."""
    url, ca, retention = get("ARCHIVE_TSA_URL"), get("ARCHIVE_TSA_CA"), get("ARCHIVE_RETENTION")
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{PREFIX}ARCHIVE_TSA_URL={url!r}: expected an http(s) URL")
    if url is not None and ca is None:
        raise ConfigError(f"{PREFIX}ARCHIVE_TSA_URL is set but {PREFIX}ARCHIVE_TSA_CA not: the TSA's tokens are "
                          "checked against a trust anchor (a PEM file)")
    return {"archive_tsa_url": url, "archive_tsa_ca": Path(ca).expanduser() if ca else None,
            "archive_tsa_allow_private": parse_flag(get("ARCHIVE_TSA_ALLOW_PRIVATE") or "false",
                                                    PREFIX + "ARCHIVE_TSA_ALLOW_PRIVATE"),
            "archive_seal_seconds": parse_duration(get("ARCHIVE_SEAL_INTERVAL") or "1h",
                                                   PREFIX + "ARCHIVE_SEAL_INTERVAL", minimum=60),
            "archive_retention": Path(retention).expanduser() if retention else None}


def _annuaire(get) -> dict:
    """The PPF directory's settings: all or nothing (a URL without credentials cannot be used)."""
    url = get("ANNUAIRE_URL")
    out: dict = {
        "annuaire_refresh_seconds": parse_duration(get("ANNUAIRE_REFRESH") or "1d", PREFIX + "ANNUAIRE_REFRESH",
                                                   minimum=60),
        "annuaire_page_size": _positive(get("ANNUAIRE_PAGE_SIZE") or "1000", PREFIX + "ANNUAIRE_PAGE_SIZE"),
        "annuaire_max_pages": _positive(get("ANNUAIRE_MAX_PAGES") or "20000", PREFIX + "ANNUAIRE_MAX_PAGES"),
        "annuaire_max_lines": _positive(get("ANNUAIRE_MAX_LINES") or "10000000", PREFIX + "ANNUAIRE_MAX_LINES"),
        "annuaire_allow_private": parse_flag(get("ANNUAIRE_ALLOW_PRIVATE") or "false",
                                             PREFIX + "ANNUAIRE_ALLOW_PRIVATE"),
    }
    platform = get("PLATFORM_ID")
    if platform is not None:
        platform = platform.strip()
        if not re.fullmatch(r"\d{4}", platform):
            raise ConfigError(f"{PREFIX}PLATFORM_ID={platform!r}: expected our platform's matricule, 4 digits")
        out["platform_id"] = platform
    if url is None:
        return out
    for name in ("ANNUAIRE_URL", "ANNUAIRE_TOKEN_URL"):
        value = get(name)
        if value is None or not re.match(r"^https?://[^/\s]+", value):
            raise ConfigError(f"{PREFIX}{name}={value!r}: expected an http(s) URL"
                              + (" (the annuaire needs its OAuth2 token endpoint too)" if value is None else ""))
    missing = [PREFIX + n for n in ("ANNUAIRE_CLIENT_ID", "ANNUAIRE_CLIENT_SECRET") if get(n) is None]
    if missing:
        raise ConfigError(f"{PREFIX}ANNUAIRE_URL is set but {' and '.join(missing)} not: the annuaire is "
                          "reached with OAuth2 client credentials")
    out.update(annuaire_url=url.rstrip("/"), annuaire_token_url=get("ANNUAIRE_TOKEN_URL"),
               annuaire_client_id=get("ANNUAIRE_CLIENT_ID"), annuaire_client_secret=get("ANNUAIRE_CLIENT_SECRET"))
    return out


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, name: str, *, minimum: int = 0) -> int:
    """Seconds of ``90s``, ``30m``, ``12h``, ``1d``, ``1w`` or plain seconds, at least ``minimum``."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text.lower())
    seconds = int(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"] if m else -1
    if seconds < minimum:
        raise ConfigError(f"{name}={text!r}: expected a duration such as 90s, 30m, 12h, 1d"
                          + (f" (at least {'a minute' if minimum == 60 else f'{minimum} s'})" if minimum else ""))
    return seconds


def parse_flag(text: str, name: str) -> bool:
    """``true`` / ``false`` (or 1/0, yes/no, on/off)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={text!r}: expected true or false")


def _positive(text: str, name: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise ConfigError(f"{name}={text!r}: expected a positive whole number")
    return n


def _seconds(text: str, name: str) -> int:
    """Whole seconds, 0 allowed (no limit)."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise ConfigError(f"{name}={text!r}: expected whole seconds (0: no limit)")
    return n


def _header_size(text: str, name: str) -> int:
    """A header limit: at least 4K (a browser's cookies and an AS2 message's headers fit),
    at most 1M (each slow client may hold that much memory)."""
    n = parse_size(text, name=name)
    if not 4096 <= n <= 1024 ** 2:
        raise ConfigError(f"{name}={text!r}: expected a size from 4K to 1M")
    return n


def _hours(text: str, name: str) -> float:
    try:
        n = float(text)
    except ValueError:
        n = -1.0
    if not 0 <= n < 24 * 366:
        raise ConfigError(f"{name}={text!r}: expected a number of hours (0: never)")
    return n


def _minutes(text: str, name: str) -> float:
    try:
        n = float(text)
    except ValueError:
        n = -1.0
    if not 0 <= n <= 24 * 60:
        raise ConfigError(f"{name}={text!r}: expected a number of minutes (0 to 1440)")
    return n


def _one_of(text: str, allowed: tuple[str, ...], name: str) -> str:
    if text not in allowed:
        raise ConfigError(f"{name}={text!r}: expected one of {', '.join(allowed)}")
    return text


def _smtp_url(text: str) -> str:
    from urllib.parse import parse_qs, urlsplit
    u = urlsplit(text)
    starttls = parse_qs(u.query).get("starttls", ["optional"])[0]
    try:
        u.port
    except ValueError:
        raise ConfigError(f"{PREFIX}SMTP_URL={text!r}: bad port") from None
    if u.scheme not in ("smtp", "smtps") or not u.hostname or starttls not in ("required", "optional", "off"):
        raise ConfigError(f"{PREFIX}SMTP_URL={text!r}: expected smtp://[user:password@]host[:port]"
                          "[?starttls=required|optional|off] or smtps://…")
    return text
