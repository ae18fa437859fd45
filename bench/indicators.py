"""The indicators page, its CSV tables and /metrics on a large record (run on demand, not a test).

    .venv/bin/python bench/indicators.py [--documents 200000] [--days 90] [--repeat 5]

A SQLite database migrated for real gets ``--documents`` received documents over ``--days``
days (tests/support/indicator_bulk.py: exchanges, deliveries with their events, life-cycle
events, a few held, refused, disputed, unreadable), then each measure runs ``--repeat``
times after one warm-up, and the table shows the median in ms with the best in brackets:
every indicator table for the last 30 days and for the whole period (``indicators.table``,
what one CSV costs), the whole page's numbers (``indicators.compute``), and one /metrics
scrape (its collector, without HTTP; a new history reading its first batch, then one that has
caught up with every event on record, as a server's is between two scrapes). The baseline, timed side by side in the same run, is a
bare ``SELECT count(*) FROM documents``: each ratio says how many such counts a measure costs.
See bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import sqlalchemy as sa  # noqa: E402

from machine import describe  # noqa: E402

from gateway.config import load_settings  # noqa: E402
from gateway.db import indicators  # noqa: E402
from gateway.runtime import Gateway  # noqa: E402
from gateway.web.metrics import Collector, History  # noqa: E402
from tests.support.indicator_bulk import fill  # noqa: E402


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    run()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(describe("SQLAlchemy"))
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}")
    home = tempfile.mkdtemp(prefix="edigate-bench-indicators-")
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": home}), immediate_jobs=True)
    today = datetime.now(timezone.utc).date()
    t = time.perf_counter()
    filled = fill(gw, args.documents, today=today, days=args.days, partners=50)
    print(f"filled {filled.documents} documents (+{filled.unreadable} unreadable files) in "
          f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
    month = indicators.Period(today - timedelta(days=29), today)
    whole = indicators.Period(today - timedelta(days=args.days - 1), today, "week")
    with gw.session() as s:
        base, base_best = timed(lambda: s.execute(sa.text("SELECT count(*) FROM documents")).scalar(), args.repeat)
        rows = [("baseline: SELECT count(*) FROM documents", base, base_best)]
        for name in indicators.NAMES:
            for label, period in (("30 days", month), (f"{args.days} days by week", whole)):
                median, best = timed(lambda: indicators.table(s, period, name), args.repeat)
                rows.append((f"{name} ({label})", median, best))
        for label, period in (("30 days", month), (f"{args.days} days by week", whole)):
            median, best = timed(lambda: indicators.compute(s, period), args.repeat)
            rows.append((f"the whole page ({label})", median, best))
    median, best = timed(lambda: list(Collector(gw, History()).collect()), args.repeat)
    rows.append(("/metrics scrape (a new history: reads up to its batch)", median, best))
    history, upto = History(), -1
    while history.exchange_upto != upto:          # a history that has read everything there is
        upto = history.exchange_upto
        list(Collector(gw, history).collect())
    median, best = timed(lambda: list(Collector(gw, history).collect()), args.repeat)
    rows.append(("/metrics scrape (steady: caught up, nothing new since the last)", median, best))
    gw.close()
    print(f"\n{filled.documents} documents over {args.days} days; median of {args.repeat} [best], "
          f"ratio to the baseline's median")
    width = max(len(r[0]) for r in rows)
    for name, median, best in rows:
        print(f"{name:<{width}}  {median * 1000:9.1f} ms [{best * 1000:8.1f}]  x{median / base:8.1f}")
    print(f"load average at end: {open('/proc/loadavg').read().split()[:3]}")
    if not os.environ.get("KEEP"):
        import shutil
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
