"""Background jobs on huey: SQLite in the embedded default, Redis for scale-out.

The database, not the queue, is the truth about what is due: an inbound exchange
``acknowledged`` awaits processing, an outbound one ``queued``/``retrying`` with
``next_attempt_at`` awaits sending, ``awaiting_mdn`` past ``mdn_due_at`` has timed
out. A job is only a prompt to look at one row, and every job claims its row
with a compare-and-set before acting, so a job run twice (a worker restarted, the
sweep and a prompt racing) does its work once. The sweep (at start and every
minute) re-prompts whatever is due and has no job, e.g. after a crash between
a commit and an enqueue.

The sweep also asks every channel what is due for it (``Channel.due``: SFTP
polls, asynchronous MDNs owed or overdue, the day's print batch…), and lets held
documents leave once their recipient is known (``flow.reroute``: only when
partners or directories changed, or for newly held documents);
``reroute_held(partner_id=None)`` is the prompt an enrolment or a directory
refresh gives. Channels bring their own tasks (``Channel.tasks``), prompted by
name.

Workers: ``edigate serve`` runs its consumers in worker processes of its own on a
machine with more than one core (``gateway.processes.supervise``), else in-process
(threads); ``edigate worker`` runs one on its own, as many as wanted, against the
same database and queue. Each processed exchange is logged with the SQL
statements it took (``gateway.db.session.statements``).
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Optional

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.storage import SqliteStorage

from gateway import extensions
from gateway.approvals import sweep as approval_sweep
from gateway.archive import sweep as archive_sweep
from gateway.delivery import attempts
from gateway.db.session import statements
from gateway.delivery.channel import registry
from gateway.flow import lifecycle, process, receive, reroute
from gateway.networks import annuaire, directory

if TYPE_CHECKING:
    from .runtime import Gateway

log = logging.getLogger("edigate.jobs")

# An inbound exchange left acknowledged this long is prompted again by the sweep (prompting
# twice is harmless: the work is claimed by compare-and-set; the grace only saves effort).
PROCESS_GRACE = timedelta(seconds=10)
# A put-off exchange (``process.PUT_OFF``: the database was busy, a status message waits for an
# older one) is prompted again after these many seconds, one after the other, then left to the sweep.
PUT_OFF_DELAYS = (1, 1, 2, 3, 5, 8, 13, 21)
CONSUMER_MAX_DELAY = 1.0        # seconds an idle consumer thread waits before polling the queue again


class PromptStorage(SqliteStorage):
    """huey's SQLite queue without an fsync per job: a job is a prompt, the database the truth (a
    prompt lost to a power cut is the sweep's to give again), so ``synchronous=NORMAL`` (WAL: never
    corrupt, at most the last prompts lost) instead of SQLite's default FULL. Enqueuing one
    is then no disk wait in the path of an upload's acknowledgement."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


def make_huey(url: str, *, name: str = "edigate", immediate: bool = False) -> Huey:
    """``sqlite:///path/jobs.db`` → SqliteHuey (``PromptStorage``); ``redis://…`` → RedisHuey."""
    if url.startswith("sqlite:///"):
        from pathlib import Path
        path = Path(url[len("sqlite:///"):]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), immediate=immediate, utc=True, storage_class=PromptStorage)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, immediate=immediate, utc=True)
    raise ValueError(f"jobs URL {url!r}: expected sqlite:///PATH or redis://HOST:PORT/DB")


def _naive_utc(when: datetime) -> datetime:
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


class Jobs:
    """The gateway's tasks on its huey instance: ``process(id)``, ``send(id, at=None)``,
    ``reroute_held(partner_id)``, and each channel's own by name (``prompt("send_mdn", id)``)."""

    def __init__(self, gateway: "Gateway", *, immediate: bool = False):
        self.gateway = gateway
        self.huey = make_huey(gateway.settings.jobs_url, immediate=immediate)
        gw, h = gateway, self.huey

        @h.task(name="process_exchange")
        def process_exchange(exchange_id: int, put_off: int = 0) -> None:
            before = statements()
            status = process.process_exchange(gw, exchange_id)
            if status == process.PUT_OFF:   # tried again in a moment, not at the next minute's sweep
                if put_off < len(PUT_OFF_DELAYS) and not h.immediate:
                    process_exchange.schedule(args=(exchange_id, put_off + 1), delay=PUT_OFF_DELAYS[put_off])
            elif status is not None:        # None: not ours (already done by another worker)
                log.info("exchange %d %s by pid %d (%d SQL statements)", exchange_id, status, os.getpid(),
                         statements() - before)

        @h.task(name="send_exchange")
        def send_exchange(exchange_id: int) -> None:
            attempts.send_exchange(gw, exchange_id)

        @h.task(name="reroute_held")
        def reroute_held(partner_id: Optional[int] = None) -> None:
            reroute.reroute_held(gw, partner_id=partner_id)

        @h.periodic_task(crontab(minute="*"), name="sweep")
        def sweep() -> None:
            if self.first_this_minute("sweep"):     # every consumer's scheduler enqueues it
                self.sweep()

        @h.task(name="sweep_now")
        def sweep_now() -> None:
            self.sweep()

        self._process, self._send, self._sweep = process_exchange, send_exchange, sweep
        self._sweep_now = sweep_now
        self._reroute_held = reroute_held
        self._tasks: dict[str, object] = {}
        for channel in registry:
            for name, fn in channel.tasks().items():
                self._tasks[name] = h.task(name=name)(_bound(gw, fn))
        self._reroute_watch = reroute.RerouteWatch()
        # the gateway's own periodic work besides the channels': directory refreshes, status reports
        self._parts = {"directories": directory.register(self).sweep,
                       "annuaire": annuaire.register(self).sweep,
                       "status reports": lambda now: {"status_reports": lifecycle.report_pending(gw)},
                       "approvals": lambda now: approval_sweep.run(gw, now),    # reminders, escalations
                       "archive": archive_sweep.register(gw).sweep}       # last: what the others stored too
        # installed extensions (``gateway.extensions``: e.g. onboarding's mailings), by name
        self.extensions = {ext.name: register(self) for ext, register in extensions.with_hook("register_jobs")}

    # --- prompts ------------------------------------------------------------------
    def process(self, exchange_id: int) -> None:
        self._process(exchange_id)

    def send(self, exchange_id: int, *, at: Optional[datetime] = None) -> None:
        self._schedule(self._send, exchange_id, at=at)

    def prompt(self, name: str, *args, at: Optional[datetime] = None) -> None:
        """A channel's own task (``tasks()`` of a registered channel), now or ``at``."""
        self._schedule(self._tasks[name], *args, at=at)

    def _schedule(self, task, *args, at: Optional[datetime] = None) -> None:
        if at is None or self.huey.immediate:
            task(*args)
        else:
            task.schedule(args=args, eta=_naive_utc(at))

    def reroute_held(self, partner_id: Optional[int] = None) -> None:
        """Held documents whose recipient became known get their deliveries (after an enrolment,
        a directory refresh…); ``partner_id``: only those routed to that partner."""
        self._reroute_held(partner_id)

    def prompt_sweep(self) -> None:
        """A sweep by the next free consumer, whatever the minute (the periodic one runs once a
        minute among all consumers: ``first_this_minute``)."""
        self._sweep_now()

    def first_this_minute(self, name: str) -> bool:
        """Whether this is the first run of the periodic task ``name`` in this minute, among every
        consumer on the queue: each consumer's scheduler enqueues the periodic tasks (each worker
        process of ``edigate serve``, each ``edigate worker``), and the sweep done once a minute
        is enough; done once per consumer, the same held documents were routed again, the same
        reports looked for, by every one of them. The queue's own storage decides (an atomic
        put-if-empty, SQLite or Redis); the marks of the minutes before are deleted."""
        minute = int(time.time() // 60)
        if not self.huey.put_if_empty(f"{name}@{minute}", 1):
            return False
        for earlier in range(1, 4):
            self.huey.delete(f"{name}@{minute - earlier}")
        return True

    def sweep(self, now: Optional[datetime] = None, *, grace: timedelta = PROCESS_GRACE) -> dict[str, int]:
        """Prompt everything due that may have lost its job, and let each channel do what is due.
        At start-up ``grace=0``: whatever is pending was left by a process that stopped."""
        now = now or datetime.now(timezone.utc)
        gw = self.gateway
        counts = {"process": 0, "send": 0}
        counts["recovered"] = len(receive.recover_stored(gw, now=now, grace=grace))
        for ex_id in process.awaiting_processing(gw, before=now - grace + timedelta(microseconds=1)):
            self._process(ex_id)
            counts["process"] += 1
        for ex_id in attempts.due_sends(gw, now=now):
            self._send(ex_id)
            counts["send"] += 1
        for channel in registry:
            try:
                counts.update(channel.due(gw, now))
            except Exception:       # one channel's bug must not stop the others' sweep
                log.exception("sweep of channel %s failed", channel.name)
        counts["rerouted"] = self._reroute_watch.run(gw, now)
        for name, part in self._parts.items():
            try:
                counts.update(part(now))
            except Exception:       # one part's bug must not stop the rest of the sweep
                log.exception("sweep of %s failed", name)
        for name, ext in self.extensions.items():
            if hasattr(ext, "sweep"):
                try:
                    counts.update(ext.sweep(now))
                except Exception:       # one extension's bug must not stop the gateway's own sweep
                    log.exception("sweep of %s failed", name)
        if any(counts.values()):
            log.info("sweep: %s", counts)
        return counts

    # --- consumers ----------------------------------------------------------------
    def consumer(self, workers: int = 2):
        """A huey consumer on threads; ``.start()`` it in-process or ``.run()`` it as a worker.

        An idle worker thread looks at the queue again after at most ``CONSUMER_MAX_DELAY`` (huey's
        default, 10 s, is how long a document received after a quiet spell could wait on the SQLite
        queue, which is polled, and how long a stop could take)."""
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                         check_worker_health=True, scheduler_interval=1,
                                         max_delay=CONSUMER_MAX_DELAY)


def _bound(gw: "Gateway", fn):
    """A channel's task function with the gateway as its first argument (huey sends the rest)."""
    def task(*args):
        return fn(gw, *args)
    task.__name__ = getattr(fn, "__name__", "task")
    return task
