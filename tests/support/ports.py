"""A free loopback TCP port, for every server a test starts (ours, a peer's, a stub's).

The port is free when asked; a server that loses the race to another process fails to bind
and says so. Every test process (pytest-xdist workers included) picks its own ports this way,
so tests that start servers can run side by side.
"""
from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
