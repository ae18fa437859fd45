"""Discovery answers kept for a while, one small JSON file each under the gateway's home.

Every document to a Peppol participant would otherwise cost a DNS lookup,
two HTTP requests and a signature check. An answer is kept ``cache_ttl``
(never past the endpoint's own expiration date), a final "no" (not
registered, no such service) ``negative_ttl``; a passing failure (time-out,
SMP down) is not kept, so the next try asks again.

One file per question (named by the SHA-256 of the question), written to a
temporary name and renamed into place: readers in other processes (web,
workers) see a whole answer or none, and nothing needs a database migration.
A file that cannot be read is a miss.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Union

from gateway.networks.peppol.refusal import CODES, Refusal
from gateway.networks.peppol.smp import Endpoint

MAX_FILE = 64 * 1024
Answer = Union[Endpoint, Refusal]


def key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _path(directory: Path, k: str) -> Path:
    return directory / k[:2] / f"{k}.json"


def load(directory: Path, k: str, now: datetime) -> Optional[Answer]:
    """The kept answer, or None (none kept, expired, or unreadable)."""
    try:
        with _path(directory, k).open("rb") as f:
            raw = f.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            return None
        data = json.loads(raw)
        if datetime.fromisoformat(data["expires"]) <= now:
            return None
        if "endpoint" in data:
            return Endpoint.from_json(data["endpoint"])
        refusal = data["refusal"]
        return Refusal(refusal["code"], refusal["reason"]) if refusal["code"] in CODES else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(directory: Path, k: str, answer: Answer, now: datetime, *, ttl: int, negative_ttl: int) -> None:
    """Keep ``answer`` (a final refusal for ``negative_ttl``, an endpoint for ``ttl``, not past its
    expiration); a refusal that is not final is not kept."""
    if isinstance(answer, Refusal):
        if not answer.final:
            return
        expires = now + timedelta(seconds=negative_ttl)
        body = {"refusal": {"code": answer.code, "reason": answer.reason}}
    else:
        expires = now + timedelta(seconds=ttl)
        if answer.expiration is not None:
            expires = min(expires, answer.expiration)
        body = {"endpoint": answer.to_json()}
    body["expires"] = expires.astimezone(timezone.utc).isoformat()
    body["stored"] = now.astimezone(timezone.utc).isoformat()
    path = _path(directory, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(body, f)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def forget(directory: Path, k: str) -> None:
    _path(directory, k).unlink(missing_ok=True)
