"""The pipeline's processing rate: received files read, checked, routed, written and recorded.

    .venv/bin/python bench/process.py [--files 1000] [--size 50000] [--inline 200] [--profile]

The files are the SFTP bench's: valid UBL invoices of about 50 KB (74 lines),
each with its own number, sent by a known partner and addressed to nobody we
know (each document ends ``held``, each exchange ``processed``). Two measures:

* **inline**: in this process, one thread, no queue. ``receive_file`` (the
  payload store and the exchange record, as an SFTP upload or an API upload
  does) for ``--inline`` files, then ``process_exchange`` on each. Gives the
  milliseconds (wall, and CPU of this process: the figure load moves least) and the SQL statements (counted by the engine,
  ``gateway.db.session.statements``) per received file and per processed
  document. ``--profile`` runs the processing under cProfile and prints where
  the time went.
* **serve**: ``--files`` files received while no server runs (their exchanges
  ``acknowledged``, as a stopped server leaves them), then ``edigate serve``
  starts with its defaults (what ``make serve`` runs) and its start-up sweep
  prompts them all. The rate is that of the processing itself: from the first
  exchange marked ``processed`` to the last (``status_at``), not counting the
  start. The SQL statements per document come from the workers' log lines.

Progress goes to stderr, the report to stdout.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from as2 import invoice_of_size  # noqa: E402
from machine import describe  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from gateway import certs  # noqa: E402
from gateway.db import DocumentRecord, Exchange  # noqa: E402
from gateway.db.session import statements  # noqa: E402
from gateway.flow.process import process_exchange  # noqa: E402
from gateway.flow.receive import receive_file  # noqa: E402
from tests.support.gateway_process import GatewayProcess, setup_records  # noqa: E402

PROCESSED = re.compile(r"exchange \d+ (\w+) by pid (\d+) \((\d+) SQL statements\)")


def payloads(n: int, size: int, first: int = 0) -> list[bytes]:
    base = invoice_of_size(size, 0)
    return [base.replace(b"BENCH-00000", f"BENCH-{i:05d}".encode()) for i in range(first, first + n)]


def prepare(home: Path):
    """A gateway home with our organisation and the sending partner; (server, gateway, partner id)."""
    server = GatewayProcess(home, processes=None)          # what make serve runs: its own default
    gw = server.gateway()
    ours = certs.ensure_dev_keypair(home.parent / "keys", "edigate")
    rec = setup_records(gw, identity="EDIGATE", our_key=ours.key_path, partners=[dict(name="Bench supplier")])
    return server, gw, rec.partner_ids["Bench supplier"]


def receive_all(gw, partner_id: int, datas: list[bytes], prefix: str) -> tuple[list[int], float, int]:
    """Receive each file as the SFTP inbox does; (exchange ids, seconds, SQL statements)."""
    ids = []
    s0, t0 = statements(), time.perf_counter()
    for i, data in enumerate(datas):
        ids.append(receive_file(gw, data, channel="sftp", partner_id=partner_id, filename=f"{prefix}-{i:05d}.xml",
                                message_id=f"bench:{prefix}/{i}").id)
    return ids, time.perf_counter() - t0, statements() - s0


def inline(work: Path, n: int, size: int, profile: bool) -> dict:
    _server, gw, partner_id = prepare(work / "inline")
    gw.jobs.process = lambda exchange_id: None          # processed below, by hand
    warm, _, _ = receive_all(gw, partner_id, payloads(5, size, 90_000), "warm")
    for ex_id in warm:
        process_exchange(gw, ex_id)
    ids, recv_s, recv_sql = receive_all(gw, partner_id, payloads(n, size), "inline")
    prof = cProfile.Profile() if profile else None
    per_doc, sql = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    for ex_id in ids:
        s0, t = statements(), time.perf_counter()
        status = process_exchange(gw, ex_id)
        per_doc.append(time.perf_counter() - t)
        sql.append(statements() - s0)
        if status != "processed":
            raise SystemExit(f"inline: exchange {ex_id} ended {status}")
    if prof:
        prof.disable()
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    gw.close()
    out = dict(n=n, recv_ms=1000 * recv_s / n, recv_sql=recv_sql / n, proc_ms=1000 * secs / n, proc_cpu_ms=1000 * cpu / n,
               proc_median_ms=1000 * statistics.median(per_doc), proc_sql=statistics.mean(sql),
               proc_sql_range=(min(sql), max(sql)))
    if prof:
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(45)
        out["profile"] = text.getvalue()
    return out


def serve(work: Path, n: int, size: int, timeout: float) -> dict:
    server, gw, partner_id = prepare(work / "serve")
    gw.jobs.process = lambda exchange_id: None          # the server's start-up sweep prompts them
    print(f"serve: receiving {n} files (no server running) …", file=sys.stderr)
    receive_all(gw, partner_id, payloads(n, size), "serve")
    print("serve: starting edigate serve …", file=sys.stderr)
    t0 = time.monotonic()
    server.start()
    try:
        mine = sa.and_(Exchange.direction == "in", Exchange.filename.like("serve-%"))
        while True:
            with gw.session() as s:
                by_status = dict(s.execute(sa.select(Exchange.status, sa.func.count()).where(mine)
                                           .group_by(Exchange.status)).all())
            if by_status.get("processed", 0) >= n:
                break
            if sum(v for k, v in by_status.items() if k != "acknowledged") >= n:
                raise SystemExit(f"serve: not every file was processed: {by_status}")
            if time.monotonic() - t0 > timeout:
                raise SystemExit(f"serve: still not processed after {timeout:.0f} s: {by_status}")
            time.sleep(0.1)
        wall = time.monotonic() - t0
        with gw.session() as s:
            first, last = s.execute(sa.select(sa.func.min(Exchange.status_at), sa.func.max(Exchange.status_at))
                                    .where(mine)).one()
            docs = dict(s.execute(sa.select(DocumentRecord.status, sa.func.count())
                                  .join(Exchange, DocumentRecord.exchange_id == Exchange.id).where(mine)
                                  .group_by(DocumentRecord.status)).all())
    finally:
        server.stop()
        gw.close()
    logs = "".join(p.read_text(errors="replace") for p in sorted((work).glob("serve-*.log")))
    lines = PROCESSED.findall(logs)
    sql = [int(k) for status, _pid, k in lines if status == "processed"]
    span = (last - first) / timedelta(seconds=1)
    return dict(n=n, wall=wall, span=span, rate=(n - 1) / span if span > 0 else float("nan"), docs=docs,
                pids=len({pid for _, pid, _ in lines}), sql=statistics.mean(sql) if sql else float("nan"),
                sql_range=(min(sql), max(sql)) if sql else None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000, help="files processed by edigate serve (default 1000)")
    ap.add_argument("--size", type=int, default=50_000, help="about this many bytes per file")
    ap.add_argument("--inline", type=int, default=200, help="files processed inline, one thread (default 200; 0: none)")
    ap.add_argument("--profile", action="store_true", help="profile the inline processing (cProfile)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="edigate-bench-process-"))
    load0 = os.getloadavg()
    try:
        one = inline(work, args.inline, args.size, args.profile) if args.inline else None
        many = serve(work, args.files, args.size, max(300.0, args.files * 1.0)) if args.files else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(describe("SQLAlchemy", "huey", "lxml"))
    print(f"load average before / after: {' '.join(f'{x:.2f}' for x in load0)} / "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes skew the numbers)")
    print(f"\nprocessing UBL invoices of about {args.size} bytes, sent by a known partner, addressed to nobody")
    if one:
        print(f"\ninline, one thread, {one['n']} files:")
        print(f"  receive_file      {one['recv_ms']:7.2f} ms/file   {one['recv_sql']:5.1f} SQL statements/file")
        print(f"  process_exchange  {one['proc_ms']:7.2f} ms/doc    {one['proc_sql']:5.1f} SQL statements/doc "
              f"(min {one['proc_sql_range'][0]}, max {one['proc_sql_range'][1]}); median {one['proc_median_ms']:.2f} ms"
              f"  ({1000 / one['proc_ms']:.1f} docs/s)")
        print(f"                    {one['proc_cpu_ms']:7.2f} ms/doc of CPU (this process; the load moves it less than the wall time)")
    if many:
        print(f"\nedigate serve (defaults), {many['n']} files queued before it started:")
        print(f"  processed: first to last {many['span']:.2f} s = {many['rate']:.1f} files/s "
              f"(start to all processed: {many['wall']:.2f} s); worker processes seen: {many['pids']}")
        print(f"  SQL statements per processed document (workers' logs): {many['sql']:.1f}"
              + (f" (min {many['sql_range'][0]}, max {many['sql_range'][1]})" if many["sql_range"] else ""))
        print(f"  documents by status: {many['docs']}")
    if one and "profile" in one:
        print("\nprofile of the inline processing (cProfile, cumulative):")
        print(one["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
