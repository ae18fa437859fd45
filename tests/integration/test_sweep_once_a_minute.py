"""The periodic sweep runs once a minute among all consumers of a queue, not once per consumer.

Each consumer's scheduler enqueues the periodic tasks, so with two worker processes (or
``edigate worker`` beside ``edigate serve``) the minute's sweep arrived twice and was done
twice. Here two gateways share one SQLite queue, as two worker processes do, and run the
task each one's scheduler enqueued: the first sweeps, the second stands aside; the next
minute sweeps again; a sweep asked for by name runs whatever the minute.
"""
from __future__ import annotations

import pytest

from gateway.config import load_settings
from gateway.runtime import Gateway


@pytest.fixture
def two(tmp_path):
    env = {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_JOBS_URL": f"sqlite:///{tmp_path / 'jobs.db'}"}
    a, b = Gateway(load_settings(env)), Gateway(load_settings(env))
    yield a, b
    a.close()
    b.close()


def _swept(gw, monkeypatch) -> list[int]:
    runs: list[int] = []
    monkeypatch.setattr(gw.jobs, "sweep", lambda *a, **k: runs.append(1) or {})
    return runs


def test_two_consumers_sweep_once_a_minute(two, monkeypatch):
    a, b = two
    clock = [1_000_000 * 60 + 5.0]
    monkeypatch.setattr("gateway.jobs.time.time", lambda: clock[0])
    runs_a, runs_b = _swept(a, monkeypatch), _swept(b, monkeypatch)
    a.jobs._sweep.call_local()
    b.jobs._sweep.call_local()
    assert (len(runs_a), len(runs_b)) == (1, 0)
    clock[0] += 60                                  # the next minute: whoever comes first
    b.jobs._sweep.call_local()
    a.jobs._sweep.call_local()
    assert (len(runs_a), len(runs_b)) == (1, 1)
    b.jobs._sweep_now.call_local()                  # asked for: runs in the same minute
    assert len(runs_b) == 2
    # the marks of past minutes do not pile up in the queue's storage
    assert a.jobs.huey.get("sweep@1000000", peek=True) is None
    assert a.jobs.huey.get("sweep@1000001", peek=True) == 1
