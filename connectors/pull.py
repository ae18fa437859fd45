"""The ERP side of ERP pull: fetch a recipient's new invoices from edigate, write them for the
ERP to import, and acknowledge them only once they are safely on disk.

    client = Client("https://edigate.example", token)
    result = pull(client, Path("/srv/erp/inbox"), "csv")

Every invoice becomes one file in the folder, named from its stable id and its
number (``42-INV-2025-001.csv``): written to a temporary name in the same folder
(hidden, ``.….edigate-tmp``), flushed to disk, renamed into place, and the
folder flushed too. Only then is it acknowledged. A crash (or a kill) before the
acknowledgement leaves the invoice available on the gateway: the next pull
fetches it again and writes the same name with the same bytes (a file already
there with those bytes is left alone), so the ERP finds each invoice exactly
once in the folder; nothing is lost and nothing is doubled. The ERP may still
see an invoice twice if it moved the file away before the acknowledgement
reached the gateway: the id in the name is there to de-duplicate by.

A lock file keeps two connectors out of the same folder. Temporary files left
by a crash are removed at the start of the next pull. Correctness depends on
nothing else kept locally (the optional state file is for people reading it).

This module needs only ``requests``: it runs beside the ERP, not the gateway.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional
from contextlib import contextmanager

import requests

log = logging.getLogger("edigate.connector")

USER_AGENT = "edigate-connector/1"
TEMP_SUFFIX = ".edigate-tmp"
LOCK_NAME = ".edigate-connector.lock"
# A format is a flavour name the gateway knows (``edigate formats``) or ``json``: the gateway is
# the one list, and refuses a name it does not know on the first invoice; each file's extension
# is the one the gateway gives its download (Content-Disposition), so a new flavour needs
# nothing here.
FORMAT_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}")
_MEDIA_EXTENSIONS = {"application/json": ".json", "application/xml": ".xml", "text/xml": ".xml",
                     "application/pdf": ".pdf", "text/csv": ".csv", "application/edifact": ".edi"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


# --- what can go wrong, and the exit code each means -----------------------------------------

class PullError(Exception):
    """A pull that cannot go on; ``exit_code`` is what the command exits with."""
    exit_code = 1


class AuthRefused(PullError):
    """The gateway refused the token (401) or its role (403): retrying will not help."""
    exit_code = 3


class GatewayUnavailable(PullError):
    """The gateway cannot be reached, timed out, or answered 5xx: worth retrying later."""
    exit_code = 4


class FolderError(PullError):
    """The folder cannot be written (missing, read-only, full, locked by another connector)."""
    exit_code = 5


class ProtocolError(PullError):
    """The gateway answered something this connector does not understand (a 4xx on the list)."""
    exit_code = 6


class FormatRefused(PullError):
    """The gateway does not offer the format asked for (as a wrong option would be: exit 2)."""
    exit_code = 2


class ItemFailed(Exception):
    """One invoice could not be fetched (e.g. not writable in this format): skipped this time."""


# --- the HTTP client -----------------------------------------------------------------------

def api_base(url: str) -> str:
    """``https://host`` or ``https://host/api/v1`` → ``https://host/api/v1/erp``."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r}: give the gateway's http:// or https:// address")
    if not url.endswith("/api/v1"):
        url += "/api/v1"
    return url + "/erp"


class Client:
    """The ERP pull API of one gateway, for one token (and, for an operator's token, one partner)."""

    def __init__(self, url: str, token: str, *, partner: Optional[int] = None, timeout: float = 60,
                 session: Optional[requests.Session] = None):
        self.base = api_base(url)
        self.partner = partner
        self.timeout = timeout
        self.http = session or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT})

    def _request(self, method: str, path: str, *, params: Optional[dict] = None, **kwargs: Any) -> requests.Response:
        params = dict(params or {})
        if self.partner is not None:
            params["partner"] = self.partner
        url = self.base + path
        try:
            r = self.http.request(method, url, params=params, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise GatewayUnavailable(f"cannot reach the gateway at {self.base}: {type(e).__name__}: {e}") from None
        if r.status_code in (401, 403):
            raise AuthRefused(f"the gateway refused the token ({r.status_code}): {_error(r)}")
        if r.status_code >= 500:
            raise GatewayUnavailable(f"the gateway answered {r.status_code} on {method} {path}: {_error(r)}")
        return r

    def invoices(self, cursor: Optional[str] = None, limit: Optional[int] = None) -> dict[str, Any]:
        """One page of available invoices: ``{"items": […], "next_cursor": …}``."""
        params: dict[str, Any] = {}
        if cursor:
            params["cursor"] = cursor
        if limit:
            params["limit"] = limit
        r = self._request("GET", "/invoices", params=params)
        if r.status_code != 200:
            raise ProtocolError(f"listing invoices: the gateway answered {r.status_code}: {_error(r)}")
        page = _json(r, "the invoice list")
        if not isinstance(page.get("items"), list):
            raise ProtocolError("the invoice list has no items")
        return page

    def content(self, invoice_id: int, fmt: str) -> tuple[bytes, str]:
        """The invoice in ``fmt`` and the file extension the gateway gives it. A format the
        gateway does not know stops the pull (``FormatRefused``): every invoice would fail."""
        r = self._request("GET", f"/invoices/{int(invoice_id)}/content", params={"format": fmt})
        if r.status_code in (400, 422) and _refuses_format(r):
            raise FormatRefused(f"the gateway does not offer the format {fmt!r}: {_error(r)}")
        if r.status_code != 200:
            raise ItemFailed(f"{r.status_code}: {_error(r)}")
        return r.content, extension_of(r)

    def acknowledge(self, ids: list[int]) -> dict[str, Any]:
        r = self._request("POST", "/invoices/ack", json={"ids": list(ids)})
        if r.status_code != 200:
            raise ProtocolError(f"acknowledging: the gateway answered {r.status_code}: {_error(r)}")
        return _json(r, "the acknowledgement")


def _refuses_format(r: requests.Response) -> bool:
    """A 400 or 422 naming the ``format`` parameter (the API's refusal, field by field)."""
    try:
        details = r.json().get("details")
    except (ValueError, AttributeError):
        return False
    return isinstance(details, dict) and "format" in details


def extension_of(r: requests.Response) -> str:
    """The extension of the file name the gateway gave (``Content-Disposition``), else of its media
    type, else ``.bin``; only letters and digits, never a path."""
    disposition = r.headers.get("Content-Disposition", "")
    found = re.search(r'filename="?([^";]+)"?', disposition)
    if found:
        suffix = Path(found.group(1)).suffix
        if _EXTENSION.fullmatch(suffix):
            return suffix.lower()
    media = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return _MEDIA_EXTENSIONS.get(media, ".bin")


def _error(r: requests.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return (r.text or r.reason or "").strip()[:300]
    if isinstance(body, dict) and body.get("error"):
        details = body.get("details")
        return str(body["error"]) + (f" {json.dumps(details)}" if details else "")
    return str(body)[:300]


def _json(r: requests.Response, what: str) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        raise ProtocolError(f"{what} is not JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"{what} is not a JSON object")
    return body


# --- the folder ----------------------------------------------------------------------------

def file_name(item: dict[str, Any], extension: str) -> str:
    """The invoice's file name: its id, then its number, both reduced to safe characters.
    The same invoice always gets the same name; two invoices never share one (ids differ)."""
    invoice_id = int(item["id"])
    number = _UNSAFE.sub("_", str(item.get("number") or "")).strip("._-")[:80].strip("._-")
    return f"{invoice_id}-{number}{extension}" if number else f"{invoice_id}{extension}"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(directory: Path, name: str, data: bytes) -> bool:
    """``data`` as ``directory/name``, all or nothing, durable before returning. False when the
    file was already there with exactly these bytes (left untouched)."""
    target = directory / name
    try:
        if target.read_bytes() == data:
            return False
        log.warning("%s exists with other bytes: replaced by the gateway's current ones", name)
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)           # as any file the ERP's user would create (umask)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
    return True


def remove_temporaries(directory: Path) -> list[str]:
    """Temporary files a crashed pull left behind (never renamed, so never seen as invoices)."""
    removed = []
    for p in directory.iterdir():
        if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX) and p.is_file():
            p.unlink()
            removed.append(p.name)
    if removed:
        _fsync_dir(directory)
    return removed


@contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """One connector per folder at a time (a second one would race on the same files)."""
    try:
        f = open(directory / LOCK_NAME, "a")
    except OSError as e:
        raise FolderError(f"cannot use {directory}: {e.strerror or e}") from None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise FolderError(f"another connector is pulling into {directory}") from None
            raise
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- one pull ------------------------------------------------------------------------------

@dataclass
class PullResult:
    written: list[str] = field(default_factory=list)          # new files (or replaced)
    unchanged: list[str] = field(default_factory=list)        # already there with the same bytes
    acknowledged: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)   # (id, why): stays for the next pull

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = (f"{len(self.written)} file(s) written, {len(self.unchanged)} already there, "
                f"{len(self.acknowledged)} invoice(s) acknowledged")
        return text + (f", {len(self.failed)} left for the next pull" if self.failed else "")


def pull(client: Client, directory: Path, fmt: str, *, page_size: Optional[int] = None) -> PullResult:
    """Everything available now: each page's invoices written, then acknowledged; then the next
    page. Raises ``PullError`` when the pull cannot go on (what was acknowledged stays so)."""
    if not FORMAT_NAME.fullmatch(fmt):
        raise ValueError(f"format {fmt!r}: a format name as `edigate formats` lists them, or json")
    directory = Path(directory)
    if not directory.is_dir():
        raise FolderError(f"{directory} is not a folder")
    result = PullResult()
    with folder_lock(directory):
        try:
            for name in remove_temporaries(directory):
                log.info("removed %s, left by an interrupted pull", name)
        except OSError as e:
            raise FolderError(f"cannot clean {directory}: {e.strerror or e}") from None
        cursor: Optional[str] = None
        while True:
            page = client.invoices(cursor, page_size)
            safe: list[int] = []
            for item in page["items"]:
                invoice_id = int(item["id"])
                try:
                    data, extension = client.content(invoice_id, fmt)
                except ItemFailed as e:
                    log.warning("invoice %s (%s): not fetched as %s: %s", invoice_id, item.get("number"), fmt, e)
                    result.failed.append((invoice_id, str(e)))
                    continue
                name = file_name(item, extension)
                try:
                    changed = write_atomically(directory, name, data)
                except OSError as e:
                    raise FolderError(f"cannot write {directory / name}: {e.strerror or e}") from None
                (result.written if changed else result.unchanged).append(name)
                log.info("%s %s", "wrote" if changed else "already there:", name)
                safe.append(invoice_id)
            if safe:                    # only what is on disk, and only now
                answer = client.acknowledge(safe)
                done = set(answer.get("acknowledged", [])) | set(answer.get("already_acknowledged", []))
                result.acknowledged.extend(i for i in safe if i in done)
                for i in safe:
                    if i not in done:
                        why = next((r.get("reason") for r in answer.get("refused", []) if r.get("id") == i),
                                   "unknown to the gateway for this recipient")
                        log.warning("invoice %s: written but not acknowledged: %s", i, why)
                        result.failed.append((i, f"not acknowledged: {why}"))
                log.info("acknowledged %d invoice(s)", len(done & set(safe)))
            cursor = page.get("next_cursor")
            if not cursor:
                return result


def save_state(path: Path, result: Optional[PullResult], error: Optional[str] = None) -> None:
    """What the last pull did, for whoever looks (written atomically; nothing reads it back
    to decide anything)."""
    state = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "error": error}
    if result is not None:
        state.update(written=result.written, unchanged=result.unchanged, acknowledged=result.acknowledged,
                     failed=[{"id": i, "reason": r} for i, r in result.failed])
    data = (json.dumps(state, indent=2) + "\n").encode()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
