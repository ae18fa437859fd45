"""Campaign mail through the onboarding pipeline vs the same messages through bare smtplib.

    .venv/bin/python bench/campaign.py [--count 10000] [--workers 2] [--inline]

One local SMTP server, aiosmtpd with its ``Sink`` handler (accepts and
discards) in its own process, receives:

* **pipeline**: ``--count`` counterparties imported from a CSV, a running
  campaign (no rate limit) with one wave due now, and the job consumer of
  ``edigate serve`` (``--workers`` threads, huey on SQLite, the embedded
  default) in this process. Timed from the sweep that starts the wave
  (invitations and mail rows created, one job queued per ``PROMPT_BATCH`` due
  mails) to the last row recorded ``sent``: a job sends its rows in claims of
  up to ``CLAIM_MAX`` over the thread's kept SMTP connection (claim committed
  before SMTP; render, sign links, write the MIME bytes, SMTP for each; the
  claim's records in bulk, committed with the next claim). SQLite runs with
  ``synchronous=FULL``. The end is seen by counting the records as they are
  made (then checked in the database), not by polling the database. The SQL
  statements and commits are counted per mail, for the wave start and for the
  sending.
* **bare smtplib**: the very bytes the pipeline sent, written again beforehand
  (not timed), sent one after the other over one ``smtplib.SMTP`` connection
  with ``sendmail``: the floor for any sender in Python.
* with ``--inline``: the pipeline without the queue, as ``edigate onboarding
  run`` does it (one process, one thread, each mail sent inside the sweep),
  for another ``--count`` counterparties.

The import is timed on its own. Progress goes to stderr, the table to stdout.
"""
from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from machine import describe  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from gateway.config import load_settings  # noqa: E402
from gateway.db import utcnow  # noqa: E402
from gateway.runtime import Gateway  # noqa: E402
from onboarding.campaigns import add_wave, create_campaign, start_campaign  # noqa: E402
from onboarding.importer import import_csv  # noqa: E402
from onboarding.compose import parts, return_path, to_bytes  # noqa: E402
from onboarding.models import CampaignMail, Invitation  # noqa: E402
from onboarding.sending import CLAIM_MAX  # noqa: E402
from onboarding.tasks import PROMPT_BATCH, extension  # noqa: E402
from onboarding.templating import resolve  # noqa: E402
from tests.support.onboarding_fixtures import counterparty_csv  # noqa: E402


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                             "-l", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("aiosmtpd did not start")


def sent_count(gw, campaign_id: int) -> int:
    with gw.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(CampaignMail).join(Invitation)
                        .where(Invitation.campaign_id == campaign_id, CampaignMail.status == "sent")) or 0


class StatementCount:
    """SQL statements and commits on ``engine``, per thread kind: the main thread (the sweep) and
    the others (the job consumer's threads)."""

    def __init__(self, engine):
        self.statements: Counter = Counter()
        self.commits: Counter = Counter()
        self.main_on = True
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._commit)

    def _kind(self):
        main = threading.current_thread() is threading.main_thread()
        return ("sweep" if self.main_on else None) if main else "sending"

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        kind = self._kind()
        if kind:
            self.statements[kind] += 1

    def _commit(self, conn):
        kind = self._kind()
        if kind:
            self.commits[kind] += 1


def new_campaign(gw, name: str, start: int, count: int) -> tuple[int, float]:
    """Import ``count`` counterparties and make a running campaign with a wave due now.
    Returns (campaign id, import seconds)."""
    data = counterparty_csv(count, start=start, domain=f"{name.lower()}.test")
    t = time.perf_counter()
    with gw.session() as s:
        batch = import_csv(s, data, filename=f"{name}.csv")
        assert batch.rows_accepted == count, batch.report[:3]
    import_s = time.perf_counter() - t
    with gw.session() as s:
        c = create_campaign(s, name, mail_rate_per_minute=1_000_000, reminder_count=0)
        start_campaign(s, c)
        add_wave(s, c, "all", utcnow())
        return c.id, import_s


def count_sent(sender) -> tuple[list[int], threading.Event, int]:
    """Count, in memory, the mails the sender records ``sent`` (no polling query competing with the
    pipeline for the CPU); returns (the count, an event set once ``target[0]`` is reached, …)."""
    lock, total, reached = threading.Lock(), [0], threading.Event()
    target = [0]
    record = sender._record_sent

    def counted(s, accepted, now):
        out = record(s, accepted, now)
        with lock:
            total[0] += sum(1 for v in out.values() if v == "sent")
            if target[0] and total[0] >= target[0]:
                reached.set()
        return out
    sender._record_sent = counted
    return total, reached, target


def pipeline_run(gw, campaign_id: int, count: int, workers: int, sql: StatementCount) -> dict[str, float]:
    total, reached, target = count_sent(extension(gw).sender)
    target[0] = count
    consumer = gw.jobs.consumer(workers=workers)
    consumer.start()
    try:
        t0 = time.perf_counter()
        counts = extension(gw).sweep(utcnow())
        t_queued = time.perf_counter()
        sql.main_on = False                 # from here the main thread only waits
        assert counts.get("mails_prompted") == count, counts
        last, last_t = 0, time.perf_counter()
        while not reached.wait(1):
            n = total[0]
            if n != last:
                last, last_t = n, time.perf_counter()
            elif time.perf_counter() - last_t > 120:
                raise SystemExit(f"stuck at {n} of {count} sent")
            log(f"  pipeline: {n}/{count} sent")
        t_end = time.perf_counter()
    finally:
        consumer.stop(graceful=True)
    assert sent_count(gw, campaign_id) == count
    return {"total": t_end - t0, "start_and_queue": t_queued - t0, "sending": t_end - t_queued}


def inline_run(gw_inline, campaign_id: int, count: int) -> dict[str, float]:
    t0 = time.perf_counter()
    counts = extension(gw_inline).sweep(utcnow())
    total = time.perf_counter() - t0
    assert counts.get("mails_prompted") == count and sent_count(gw_inline, campaign_id) == count, counts
    return {"total": total}


def prerender(gw, campaign_id: int) -> list[tuple[str, str, bytes]]:
    """(envelope sender, recipient, bytes) of every mail the pipeline sent, written again as the
    sender writes them (``compose.to_bytes``), dated when each was sent."""
    ext = extension(gw)
    out = []
    with gw.session() as s:
        mails = s.scalars(sa.select(CampaignMail).join(Invitation).where(Invitation.campaign_id == campaign_id)
                          .order_by(CampaignMail.id)).all()
        for m in mails:
            inv = m.invitation
            cp, campaign = inv.counterparty, inv.campaign
            source = resolve(s, campaign.id, m.step, cp.language, cp.segment)
            data = to_bytes(parts(source, campaign, cp, inv, m, public_url=gw.settings.public_url,
                                  secret=ext.secret, mail_from=gw.settings.mail_from, now=m.sent_at))
            assert isinstance(data, bytes)
            out.append((return_path(ext.config, ext.secret, m.id), cp.email, data))
    return out


def bare_smtplib(port: int, messages: list[tuple[str, str, bytes]]) -> float:
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for sender, rcpt, data in messages:
            smtp.sendmail(sender, [rcpt], data)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2, help="job consumer threads (edigate serve's default: 2)")
    ap.add_argument("--inline", action="store_true", help="also time the pipeline without the queue")
    args = ap.parse_args(argv)
    port = free_port()
    sink = start_sink(port)
    tmp = tempfile.TemporaryDirectory(prefix="bench-campaign-")
    try:
        env = {"EDIGATE_HOME": str(Path(tmp.name) / "home"), "EDIGATE_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=off",
               "EDIGATE_MAIL_FROM": "onboarding@edigate.test", "EDIGATE_PUBLIC_URL": "https://edigate.test",
               "EDIGATE_MAIL_RATE": "1000000"}
        settings = load_settings(env)
        gw = Gateway(settings)
        load_before = os.getloadavg()

        log(f"importing {args.count} counterparties …")
        campaign_id, import_s = new_campaign(gw, "Bench", 0, args.count)
        log(f"pipeline: {args.count} invitations, {args.workers} worker threads …")
        sql = StatementCount(gw.engine)
        pipe = pipeline_run(gw, campaign_id, args.count, args.workers, sql)
        log("pre-rendering the same messages for bare smtplib …")
        messages = prerender(gw, campaign_id)
        avg = sum(len(m[2]) for m in messages) / len(messages)
        log("bare smtplib …")
        bare_s = bare_smtplib(port, messages)
        inline = None
        if args.inline:
            gw_inline = Gateway(settings, immediate_jobs=True)
            cid2, _ = new_campaign(gw_inline, "Inline", args.count, args.count)
            log("pipeline without the queue (edigate onboarding run) …")
            inline = inline_run(gw_inline, cid2, args.count)
        load_after = os.getloadavg()
    finally:
        sink.kill()
        sink.wait()
        tmp.cleanup()

    n = args.count
    print(f"edigate campaign bench: {n} invitations to a local aiosmtpd (Sink handler, own process)")
    print(describe("SQLAlchemy", "huey", "Jinja2", "aiosmtpd"))
    print(f"load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} / "
          f"{' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"messages: {avg / 1024:.1f} KB on average (text + HTML alternative)\n")
    print(f"{'measure':<58}{'seconds':>9}{'msgs/s':>9}")
    print(f"{'import ' + str(n) + ' counterparties (CSV, checks, de-duplication)':<58}{import_s:>9.2f}"
          f"{n / import_s:>9.0f}")
    print(f"{'pipeline: wave start + queue, then sending (' + str(args.workers) + ' threads)':<58}"
          f"{pipe['total']:>9.2f}{n / pipe['total']:>9.0f}")
    print(f"{'  of which: wave start (invitations, rows) + ' + str(-(-n // PROMPT_BATCH)) + ' jobs queued':<58}"
          f"{pipe['start_and_queue']:>9.2f}")
    print(f"{'  of which: sending (claim, render, SMTP, record)':<58}{pipe['sending']:>9.2f}"
          f"{n / pipe['sending']:>9.0f}")
    print(f"{'  SQL per mail, wave start + queue: statements / commits':<58}"
          f"{sql.statements['sweep'] / n:>9.3f}{sql.commits['sweep'] / n:>9.3f}")
    print(f"{'  SQL per mail, sending (claims of ' + str(CLAIM_MAX) + '): statements / commits':<58}"
          f"{sql.statements['sending'] / n:>9.3f}{sql.commits['sending'] / n:>9.3f}")
    if inline:
        print(f"{'pipeline without the queue (onboarding run, 1 thread)':<58}{inline['total']:>9.2f}"
              f"{n / inline['total']:>9.0f}")
    print(f"{'bare smtplib, pre-rendered, one connection':<58}{bare_s:>9.2f}{n / bare_s:>9.0f}")
    print(f"\nratio pipeline / bare smtplib: {pipe['total'] / bare_s:.1f}x the time "
          f"({(n / pipe['total']) / (n / bare_s):.2f} of its throughput)")
    if inline:
        print(f"ratio pipeline without the queue / bare smtplib: {inline['total'] / bare_s:.1f}x the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
