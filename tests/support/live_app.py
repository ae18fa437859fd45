"""A gateway's web app served over HTTP on loopback for the browser tests (werkzeug's threaded
server in a thread of the test process), stopped and the gateway closed afterwards."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from werkzeug.serving import make_server

from gateway.web import create_app
from tests.support.ports import free_port


@contextmanager
def served(gw: Any, app: Any = None) -> Iterator[str]:
    """``gw``'s app (or ``app``) at the base URL yielded; the gateway is closed at the end."""
    app = app if app is not None else create_app(gw)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        gw.close()
