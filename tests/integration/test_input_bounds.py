"""Numbers no invoice holds, posted to a gateway's REST API: refused with memory bounded.
The readers, writers and messages on their own are tested in tests/unit/test_input_bounds.py,
whose sentinel invoice this test posts."""
from __future__ import annotations

import json
import tracemalloc

from tests.support.web_seed import app, client, gw, people  # noqa: F401 - fixtures
from tests.unit.test_input_bounds import MB, _with


def test_upload_through_the_api_is_refused_with_memory_bounded(gw, client, people) -> None:  # noqa: F811
    """The reported case: a 3 KB invoice posted to the API, its VAT total 1E+999999999."""
    data = _with("ubl", "BT-110", "1E+999999999")
    assert len(data) < 8000
    tracemalloc.start()
    try:
        r = client.post("/api/v1/documents?filename=huge.xml", data=data, headers=people.auth("sam"))
        assert r.status_code == 202
        ex = client.get(r.headers["Location"], headers=people.auth("sam")).get_json()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ex["status"] == "rejected" and not ex["documents"], ex
    history = json.dumps(ex)
    assert "BT-110" in history and "cbc:TaxAmount" in history and "Infinity" not in history
    assert peak < 100 * MB
