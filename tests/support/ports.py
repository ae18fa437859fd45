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


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def steady_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on, outside the kernel's ephemeral range: for a test
    that stops a server and starts another on the same port. A port of that range may be taken in
    between as the source port of any connection on the machine, or by another test's
    ``free_port`` (bind to port 0), and the second start then fails with EADDRINUSE."""
    import random
    lo, _hi = _ephemeral_range()
    first = 20000 if lo > 21000 else 1025
    for port in random.sample(range(first, lo), min(200, lo - first)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()

