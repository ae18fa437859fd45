"""Background jobs on huey: SQLite in the embedded default, Redis for scale-out.

The database, not the queue, is the truth about what is due: an inbound exchange
``acknowledged`` awaits processing, an outbound one ``queued``/``retrying`` with
``next_attempt_at`` awaits sending, ``awaiting_mdn`` past ``mdn_due_at`` has timed
out. A job is only a prompt to look at one row, and every job claims its row
with a compare-and-set before acting, so a job run twice (a worker restarted, the
sweep and a prompt racing) does its work once. The sweep (at start and every
minute) re-prompts whatever is due and has no job, e.g. after a crash between
a commit and an enqueue.

The sweep also lets held documents leave once their recipient is known
(``channels.reroute``: only when partners or directories changed, or for newly
held documents) and builds the day's print batch (``channels.paper``);
``reroute_held(partner_id=None)`` is the prompt an enrolment or a directory
refresh gives.

Workers: ``edigate serve`` runs a consumer in-process (threads); ``edigate worker``
runs one on its own, as many as wanted, against the same database and queue.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Optional

from huey import Huey, RedisHuey, SqliteHuey, crontab

if TYPE_CHECKING:
    from .runtime import Gateway

log = logging.getLogger("edigate.jobs")

# Packages beside the gateway that bring their own tasks (e.g. onboarding's mailings): each
# module has ``register(jobs) -> extension``; an extension may have ``sweep(now) -> dict``.
EXTENSIONS: tuple[str, ...] = ("gateway.networks.directory", "onboarding.tasks", "gateway.flow.lifecycle")

# An inbound exchange left acknowledged this long is prompted again by the sweep (prompting
# twice is harmless: the work is claimed by compare-and-set; the grace only saves effort).
PROCESS_GRACE = timedelta(seconds=10)


def make_huey(url: str, *, name: str = "edigate", immediate: bool = False) -> Huey:
    """``sqlite:///path/jobs.db`` → SqliteHuey; ``redis://…`` → RedisHuey."""
    if url.startswith("sqlite:///"):
        from pathlib import Path
        path = Path(url[len("sqlite:///"):]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), immediate=immediate, utc=True)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, immediate=immediate, utc=True)
    raise ValueError(f"jobs URL {url!r}: expected sqlite:///PATH or redis://HOST:PORT/DB")


def _naive_utc(when: datetime) -> datetime:
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


class Jobs:
    """The gateway's tasks on its huey instance. ``process(id)``, ``send(id, at=None)``."""

    def __init__(self, gateway: "Gateway", *, immediate: bool = False):
        self.gateway = gateway
        self.huey = make_huey(gateway.settings.jobs_url, immediate=immediate)
        gw, h = gateway, self.huey

        @h.task(name="process_exchange")
        def process_exchange(exchange_id: int) -> None:
            from gateway.flow.process import process_exchange as run
            status = run(gw, exchange_id)
            if status is not None:          # None: not ours (already done by another worker)
                log.info("exchange %d %s by pid %d", exchange_id, status, os.getpid())

        @h.task(name="send_exchange")
        def send_exchange(exchange_id: int) -> None:
            from gateway.delivery.attempts import send_exchange as run
            run(gw, exchange_id)

        @h.task(name="send_mdn")
        def send_mdn(exchange_id: int) -> None:
            from gateway.flow.receive import send_owed_mdn as run
            run(gw, exchange_id)

        @h.task(name="poll_sftp")
        def poll_sftp(remote_id: int) -> None:
            from gateway.channels.sftp_out import poll_remote
            counts = poll_remote(gw, remote_id)
            if counts.get("files"):
                log.info("SFTP remote %d polled: %s", remote_id, counts)

        @h.task(name="reroute_held")
        def reroute_held(partner_id: Optional[int] = None) -> None:
            from gateway.flow.reroute import reroute_held as run
            run(gw, partner_id=partner_id)

        @h.periodic_task(crontab(minute="*"), name="sweep")
        def sweep() -> None:
            self.sweep()

        self._process, self._send, self._send_mdn, self._sweep = process_exchange, send_exchange, send_mdn, sweep
        self._poll_sftp = poll_sftp
        self._reroute_held = reroute_held
        from gateway.flow.reroute import RerouteWatch
        self._reroute_watch = RerouteWatch()
        import importlib
        self.extensions = {name: importlib.import_module(name).register(self) for name in EXTENSIONS}

    # --- prompts ------------------------------------------------------------------
    def process(self, exchange_id: int) -> None:
        self._process(exchange_id)

    def send(self, exchange_id: int, *, at: Optional[datetime] = None) -> None:
        if at is None or self.huey.immediate:
            self._send(exchange_id)
        else:
            self._send.schedule(args=(exchange_id,), eta=_naive_utc(at))

    def send_mdn(self, exchange_id: int, *, at: Optional[datetime] = None) -> None:
        if at is None or self.huey.immediate:
            self._send_mdn(exchange_id)
        else:
            self._send_mdn.schedule(args=(exchange_id,), eta=_naive_utc(at))

    def poll_sftp(self, remote_id: int) -> None:
        self._poll_sftp(remote_id)

    def reroute_held(self, partner_id: Optional[int] = None) -> None:
        """Held documents whose recipient became known get their deliveries (after an enrolment,
        a directory refresh…); ``partner_id``: only those routed to that partner."""
        self._reroute_held(partner_id)

    def sweep(self, now: Optional[datetime] = None, *, grace: timedelta = PROCESS_GRACE) -> dict[str, int]:
        """Prompt everything due that may have lost its job; time out overdue async MDNs.
        At start-up ``grace=0``: whatever is pending was left by a process that stopped."""
        from gateway.delivery.attempts import due_sends, expire_async_mdns
        from gateway.flow.process import awaiting_processing
        from gateway.flow.receive import owed_mdns, recover_stored
        now = now or datetime.now(timezone.utc)
        from gateway.channels.sftp_out import due_polls
        counts = {"process": 0, "send": 0, "mdn_timeouts": 0, "mdn": 0, "recovered": 0, "sftp_polls": 0}
        counts["mdn_timeouts"] = expire_async_mdns(self.gateway, now=now)
        counts["recovered"] = len(recover_stored(self.gateway, now=now, grace=grace))
        for ex_id in awaiting_processing(self.gateway, before=now - grace + timedelta(microseconds=1)):
            self._process(ex_id)
            counts["process"] += 1
        for ex_id in due_sends(self.gateway, now=now):
            self._send(ex_id)
            counts["send"] += 1
        for ex_id in owed_mdns(self.gateway, now=now):
            self._send_mdn(ex_id)
            counts["mdn"] += 1
        for remote_id in due_polls(self.gateway, now=now):       # the poll itself claims its turn
            self._poll_sftp(remote_id)
            counts["sftp_polls"] += 1
        from gateway.channels.sftp_in import SftpInbox
        sftp_inbox = SftpInbox(self.gateway)
        counts["sftp_partials_removed"] = len(sftp_inbox.sweep_partials())
        counts["sftp_taken_removed"] = len(sftp_inbox.sweep_taken())
        counts["rerouted"] = self._reroute_watch.run(self.gateway, now)
        from .channels import paper
        counts.update(paper.sweep(self.gateway, now))
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
        """A huey consumer on threads; ``.start()`` it in-process or ``.run()`` it as a worker."""
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                         check_worker_health=True, scheduler_interval=1)
