"""A status message put off because the move it asks may only be waiting for an earlier message
(``cdar_status.ORDER_WAIT``): age it past the wait and judge it again, as the sweep would then."""
from __future__ import annotations

from gateway.db import Exchange
from gateway.flow import cdar_status
from gateway.flow.process import process_exchange


def judged_when_old(gw, exchange_id: int) -> Exchange:
    """The exchange, still ``acknowledged`` (put off), made older than the wait, processed again."""
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        assert ex.status == "acknowledged", (ex.status, ex.reason)
        ex.created_at = ex.created_at - cdar_status.ORDER_WAIT
    process_exchange(gw, exchange_id)
    with gw.session() as s:
        got = s.get(Exchange, exchange_id)
        s.expunge(got)
        return got
