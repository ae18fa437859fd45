"""``gateway.db.compare_and_set``: of two workers claiming one row, one wins (1) and the other
learns it lost (0); the row keeps the winner's values; loaded objects are left as they were."""
from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.db import Exchange, compare_and_set, utcnow


@pytest.fixture
def gw(make_gateway):
    return make_gateway()


def _queued(gw, n: int = 1) -> list[int]:
    with gw.session() as s:
        rows = [Exchange.outbound("api", message_id=f"m{i}") for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [ex.id for ex in rows]


def test_of_two_sessions_claiming_one_row_the_second_gets_0_and_the_row_keeps_the_firsts_values(gw):
    (ex_id,) = _queued(gw)
    t0 = utcnow()
    first, second = gw.sessions(), gw.sessions()
    try:
        a, b = first.get(Exchange, ex_id), second.get(Exchange, ex_id)
        assert a.status == b.status == "queued"                         # both saw it free

        def claim(s, worker: str, at):
            return compare_and_set(s, Exchange, Exchange.id == ex_id, Exchange.status == "queued",
                                   status="sending", status_at=at, attempts=Exchange.attempts + 1,
                                   reason=worker)

        won = claim(first, "worker A", t0)
        first.commit()
        lost = claim(second, "worker B", t0 + timedelta(seconds=1))
        second.commit()
        assert (won, lost) == (1, 0)
        # the identity maps are not synchronised: each loaded object is as it was read
        assert a.status == b.status == "queued"
    finally:
        first.close()
        second.close()
    with gw.session() as s:
        row = s.get(Exchange, ex_id)
        assert (row.status, row.reason, row.attempts, row.status_at) == ("sending", "worker A", 1, t0)


def test_it_counts_every_row_it_changed(gw):
    ids = _queued(gw, 3)
    with gw.session() as s:
        assert compare_and_set(s, Exchange, Exchange.id == ids[0], reason="taken") == 1
    with gw.session() as s:
        assert compare_and_set(s, Exchange, Exchange.id.in_(ids), Exchange.reason.is_(None), reason="batch") == 2
        assert compare_and_set(s, Exchange, Exchange.id.in_(ids), Exchange.status == "failed", reason="x") == 0
    with gw.session() as s:
        assert [s.get(Exchange, i).reason for i in ids] == ["taken", "batch", "batch"]
