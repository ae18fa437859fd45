"""Seals: the chain's head hash time-stamped by an RFC 3161 authority (``EDIGATE_ARCHIVE_TSA_URL``).

The time-stamped digest is the head entry's hash itself, which is the SHA-256 of that entry's
canonical text: an auditor checks a seal with ``openssl ts -verify -digest <head hash>``, or
with ``-data`` over the head line. The request goes through ``gateway.transports.oauth2.fetch``
(``safe_http``: public addresses only unless ``EDIGATE_ARCHIVE_TSA_ALLOW_PRIVATE``), bounded
in size and time; the answer is checked in full (``tsp.check_response``) before it is kept.
A seal is only taken when the head moved since the last one.
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta, timezone
from typing import Optional

import sqlalchemy as sa

from gateway.db.archive import ArchiveSeal
from gateway.model.errors import EdigateError
from gateway.transports.oauth2 import HttpError, fetch
from . import tsp
from .chain import head

log = logging.getLogger("edigate.archive")
TIMEOUT = 30.0


class SealError(EdigateError):
    """No seal could be taken (no TSA configured, the TSA unreachable, or its answer refused)."""


def last_seal(s) -> Optional[ArchiveSeal]:
    return s.scalar(sa.select(ArchiveSeal).order_by(ArchiveSeal.id.desc()).limit(1))


def anchors(settings):
    if settings.archive_tsa_ca is None:
        raise SealError("EDIGATE_ARCHIVE_TSA_CA is not set: seals cannot be checked without a trust anchor")
    try:
        return tsp.load_anchors(settings.archive_tsa_ca)
    except tsp.TimestampError as e:
        raise SealError(str(e)) from None


def due(gw, now: datetime) -> bool:
    """A TSA is configured, the head moved since the last seal, and the last is old enough."""
    settings = gw.settings
    if not settings.archive_tsa_url:
        return False
    with gw.session() as s:
        top, last = head(s), last_seal(s)
        if top is None or (last is not None and last.head_seq == top.seq):
            return False
        return last is None or last.at <= now - timedelta(seconds=settings.archive_seal_seconds)


def seal(gw, *, now: Optional[datetime] = None) -> Optional[ArchiveSeal]:
    """Time-stamp the head now; the seal kept, or None when the head is sealed already."""
    settings = gw.settings
    if not settings.archive_tsa_url:
        raise SealError("EDIGATE_ARCHIVE_TSA_URL is not set: there is no time-stamping authority to seal with")
    trusted = anchors(settings)
    now = now or datetime.now(timezone.utc)
    with gw.session() as s:
        top, last = head(s), last_seal(s)
        if top is None or (last is not None and last.head_seq == top.seq):
            return None
        head_seq, head_hash = top.seq, top.entry_hash
    nonce = secrets.randbits(62)
    digest = bytes.fromhex(head_hash)
    try:
        answer = fetch("POST", settings.archive_tsa_url, allow_private=settings.archive_tsa_allow_private,
                       max_bytes=tsp.MAX_RESPONSE, timeout=TIMEOUT, total=2 * TIMEOUT,
                       data=tsp.request(digest, nonce=nonce),
                       headers={"Content-Type": tsp.MEDIA_QUERY, "Accept": tsp.MEDIA_REPLY})
    except HttpError as e:
        raise SealError(f"time-stamping authority: {e.message}") from None
    if answer.status != 200:
        raise SealError(f"time-stamping authority {settings.archive_tsa_url} answered HTTP {answer.status}")
    try:
        token = tsp.check_response(answer.content, digest, trusted, nonce=nonce)
    except tsp.TimestampError as e:
        raise SealError(f"time-stamp refused: {e}") from None
    with gw.session() as s:
        row = ArchiveSeal(at=now, head_seq=head_seq, head_hash=head_hash, tsa_url=settings.archive_tsa_url,
                          gen_time=token.gen_time, serial=token.serial, response=answer.content)
        s.add(row)
    log.info("archive sealed at entry #%d (%s) by %s, TSA time %s", head_seq, head_hash, token.signer,
             token.gen_time.isoformat())
    return row
