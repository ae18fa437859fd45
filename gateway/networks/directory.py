"""Interconnected networks' participant directories, kept current.

A network publishes who can be reached through it (``gateway.networks.listing``
reads the file); routing looks recipients up in what we imported
(``gateway.flow.route``). A refresh replaces a network's participant set in one
transaction: identifiers still listed are kept (their ``seen_at`` moves on),
new ones are inserted, those no longer listed are deleted, all in bulk
statements (a directory of 100,000 participants is a handful of statements,
not 100,000 ORM objects). Readers see the old set or the new one, never a mix.

A refresh that fails (source unreachable, file malformed, nothing valid in it)
keeps the old set and says why in ``refresh_error``, with the line of the
problem; it is tried again after ``RETRY_FAILED`` rather than a whole
interval. Rows that are wrong on their own are skipped, and ``refresh_error``
lists them by line while the refresh stands.

``refreshed_at`` is the last refresh tried (failed or not; ``refresh_error``
says which), ``participant_count`` what the last good one listed.

Scheduling follows the SFTP polls: ``due_directories`` lists what is due, and
``refresh_network`` first claims its turn by compare-and-set on
``refreshed_at``, so two workers prompted together refresh once. The job
sweep prompts due refreshes through ``register`` (a ``gateway.jobs``
extension). A refresh that lists someone new prompts ``jobs.reroute_held``
(when the jobs have it), so documents held for an unknown recipient leave as
soon as a directory lists it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import Network, NetworkParticipant, compare_and_set, utcnow
from gateway.networks.listing import DirectoryError, Listing, Problem, fetch, read

log = logging.getLogger("edigate.networks")

FAILED = "refresh failed: "              # refresh_error of a failed refresh starts so (a skip note does not)
RETRY_FAILED = timedelta(hours=1)        # a failed refresh is tried again this soon (or at its interval)
CHUNK = 5000                             # rows per bulk statement
REPORTED_PROBLEMS = 20                   # skipped rows named in refresh_error (then "and N more")
ERROR_LENGTH = 4000


@dataclass
class RefreshResult:
    """What a refresh or an import did. ``ok`` False: nothing changed, ``error`` says why."""
    network: str
    ok: bool
    count: int = 0                      # participants listed now
    added: int = 0
    removed: int = 0
    renamed: int = 0
    rows: int = 0
    repeated: int = 0
    problems: list[Problem] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def summary(self) -> str:
        if not self.ok:
            return f"{self.network}: {self.error}"
        text = (f"{self.network}: {self.count} participant(s) listed ({self.added} new, {self.removed} "
                f"no longer listed, {self.renamed} renamed)")
        if self.problems:
            text += f"; {len(self.problems)} invalid row(s) skipped"
        return text


def is_failed(network: Network) -> bool:
    return bool(network.refresh_error and network.refresh_error.startswith(FAILED))


def next_refresh(network: Network) -> Optional[datetime]:
    """When the network's directory is due again (None: now, or never for no source)."""
    if not network.directory_source or network.refreshed_at is None:
        return None
    wait = timedelta(seconds=network.refresh_interval_seconds)
    if is_failed(network):
        wait = min(wait, RETRY_FAILED)
    return network.refreshed_at + wait


def due_directories(gw, now: Optional[datetime] = None) -> list[int]:
    """Active networks with a directory source whose refresh is due at ``now``."""
    now = now or utcnow()
    with gw.session() as s:
        rows = s.scalars(sa.select(Network).where(Network.active.is_(True), Network.directory_source.is_not(None))
                         .order_by(Network.id)).all()
        return [n.id for n in rows if (nxt := next_refresh(n)) is None or nxt <= now]


def claim_refresh(gw, network_id: int, now: datetime) -> bool:
    """Compare-and-set ``refreshed_at``: one refresh of a directory at a time, none before it is due."""
    with gw.session() as s:
        network = s.get(Network, network_id)
        if network is None or not network.active or not network.directory_source:
            return False
        due = next_refresh(network)
        if due is not None and due > now:
            return False
        earlier = network.refreshed_at
        done = compare_and_set(s, Network,
                               Network.id == network_id,
                               (Network.refreshed_at.is_(None) if earlier is None
                                else Network.refreshed_at == earlier),
                               refreshed_at=now)
        return done == 1


def refresh_network(gw, network_id: int, now: Optional[datetime] = None, *,
                    force: bool = False) -> Optional[RefreshResult]:
    """Fetch the network's directory from its source and replace its participants.

    None: not this caller's turn (not due, or another worker claimed it); ``force``
    (an operator's ``network refresh``) skips the schedule but not the rest."""
    now = now or utcnow()
    if not force and not claim_refresh(gw, network_id, now):
        return None
    with gw.session() as s:
        network = s.get(Network, network_id)
        if network is None:
            return None
        code, source, fmt = network.code, network.directory_source, network.directory_format
    if not source:
        return RefreshResult(code, ok=False, error="no directory source to refresh from "
                                                   "(set one, or import a file with `edigate network import`)")
    try:
        listing = read(fetch(source), fmt)
    except DirectoryError as e:
        return _failed(gw, network_id, code, f"{source}: {e}" if not str(e).startswith(source) else str(e), now)
    result = replace_participants(gw, network_id, listing, now, source=source)
    if not result.ok:
        return _failed(gw, network_id, code, result.error or "", now, result)
    log.info("directory refreshed: %s", result.summary)
    _prompt_reroute(gw, result)
    return result


def import_directory(gw, network_id: int, data: bytes, fmt: str, *, source: str = "file",
                     now: Optional[datetime] = None, allow_empty: bool = False) -> RefreshResult:
    """A one-off import of a directory file (an operator's ``network import``). A file that cannot
    be used changes nothing, not even ``refresh_error``: the operator is told directly."""
    now = now or utcnow()
    with gw.session() as s:
        network = s.get(Network, network_id)
        if network is None:
            raise LookupError(f"no network {network_id}")
        code = network.code
    try:
        listing = read(data, fmt)
    except DirectoryError as e:
        return RefreshResult(code, ok=False, error=f"{source}: {e}")
    result = replace_participants(gw, network_id, listing, now, source=source, allow_empty=allow_empty)
    if result.ok:
        _prompt_reroute(gw, result)
    return result


def replace_participants(gw, network_id: int, listing: Listing, now: datetime, *, source: str = "",
                         allow_empty: bool = False) -> RefreshResult:
    """Make the network's participants exactly ``listing.entries``, in one transaction."""
    with gw.session() as s:
        # Write first: the network row is then ours (PostgreSQL row lock, SQLite write lock) until
        # commit, so two imports of one network cannot interleave their reads and writes.
        compare_and_set(s, Network, Network.id == network_id, updated_at=now)
        network = s.get(Network, network_id)
        if network is None:
            return RefreshResult(str(network_id), ok=False, error=f"no network {network_id} (deleted meanwhile?)")
        result = RefreshResult(network.code, ok=True, rows=listing.rows, repeated=listing.repeated,
                               problems=listing.problems)
        if not listing.entries and not (allow_empty and not listing.problems):
            result.ok = False
            if listing.problems:
                result.error = (f"{source}: no valid row in {listing.rows}; first problem "
                                f"{listing.problems[0]}").lstrip(": ")
            else:
                result.error = (f"{source}: the directory lists nobody (an empty or cut-short publication?); "
                                f"the {network.participant_count} participant(s) listed before are kept").lstrip(": ")
            s.rollback()
            return result
        counts = _replace(s, network_id, listing, now)
        result.added, result.removed, result.renamed = counts
        result.count = len(listing.entries)
        network = s.get(Network, network_id)
        network.participant_count = result.count
        network.refreshed_at = now
        network.refresh_error = _skip_note(listing.problems) if listing.problems else None
    return result


def _replace(s: Session, network_id: int, listing: Listing, now: datetime) -> tuple[int, int, int]:
    P = NetworkParticipant
    existing = {(sc, v): (pid, name) for pid, sc, v, name in s.execute(
        sa.select(P.id, P.scheme, P.value, P.name).where(P.network_id == network_id))}
    wanted = {(e.scheme, e.value): e for e in listing.entries}
    gone = [pid for key, (pid, _) in existing.items() if key not in wanted]
    renamed = [{"id": existing[key][0], "name": e.name} for key, e in wanted.items()
               if key in existing and existing[key][1] != e.name]
    new = [{"network_id": network_id, "scheme": e.scheme, "value": e.value, "name": e.name, "seen_at": now}
           for key, e in wanted.items() if key not in existing]
    for chunk in _chunks(gone):
        s.execute(sa.delete(P).where(P.id.in_(chunk)).execution_options(synchronize_session=False))
    compare_and_set(s, P, P.network_id == network_id, seen_at=now)
    for chunk in _chunks(renamed):
        s.execute(sa.update(P), chunk)                  # bulk UPDATE by primary key
    for chunk in _chunks(new):
        s.execute(sa.insert(P), chunk)
    return len(new), len(gone), len(renamed)


def _chunks(items: list[Any]):
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _skip_note(problems: list[Problem]) -> str:
    shown = "; ".join(str(p) for p in problems[:REPORTED_PROBLEMS])
    more = f"; and {len(problems) - REPORTED_PROBLEMS} more" if len(problems) > REPORTED_PROBLEMS else ""
    return f"{len(problems)} invalid row(s) skipped: {shown}{more}"[:ERROR_LENGTH]


def _failed(gw, network_id: int, code: str, error: str, now: datetime,
            result: Optional[RefreshResult] = None) -> RefreshResult:
    with gw.session() as s:
        network = s.get(Network, network_id)
        kept = network.participant_count if network is not None else 0
        message = f"{FAILED}{error}; kept the {kept} participant(s) listed before"
        if network is not None:
            network.refresh_error = message[:ERROR_LENGTH]
            network.refreshed_at = now
    result = result or RefreshResult(code, ok=False)
    result.ok, result.error, result.count = False, message, kept
    return result


def _prompt_reroute(gw, result: RefreshResult) -> None:
    """Newly listed participants may be the recipients of held documents: let them go out."""
    reroute = getattr(gw.jobs, "reroute_held", None)
    if result.added and reroute is not None:
        reroute()


# --- its part of the jobs: the refresh task, and due refreshes in every sweep ------------------------

class _DirectoryJobs:
    def __init__(self, jobs):
        gw = jobs.gateway

        @jobs.huey.task(name="refresh_directory")
        def refresh_directory(network_id: int, due_at: Optional[datetime] = None) -> None:
            # Claimed for the sweep's time: the schedule is judged on one clock reading.
            result = refresh_network(gw, network_id, due_at)
            if result is not None and not result.ok:
                log.warning("%s", result.summary)

        self.gateway, self.refresh = gw, refresh_directory

    def sweep(self, now: datetime) -> dict[str, int]:
        due = due_directories(self.gateway, now)
        for network_id in due:                  # the refresh itself claims its turn
            self.refresh(network_id, now)
        return {"directory_refreshes": len(due)}


def register(jobs) -> _DirectoryJobs:
    """For ``gateway.jobs``: the refresh task, and due refreshes prompted by every sweep."""
    return _DirectoryJobs(jobs)
