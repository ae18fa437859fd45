"""A burst of inbound messages with a SIGKILL in the middle: what the crash tests of every inbound
transport share (AS2, AS4).

``RetryingSender`` is a partner that sends each message it built once (one message id) again,
byte for byte, until it holds a verified proof of receipt (an AS2 MDN proving our MIC, an AS4
Receipt proving our digests), as a real sender retries what got no receipt. ``kill_mid_burst``
runs it from a few threads against an ``edigate serve``, kills the server (no shutdown,
requests in flight) once ``kill_after`` messages are acknowledged, and starts it again.
What is stored afterwards is the test's to judge, from the server's database.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from queue import Empty, Queue
from typing import Any, Callable, Iterable, Optional


@dataclass(frozen=True)
class Outcome:
    """What one attempt brought back: a verified proof of receipt (``delivered``), possibly for a
    message the receiver had already (``duplicate``), or a judged answer that is not one (``problem``)."""
    delivered: bool
    duplicate: bool = False
    problem: str = ""


@dataclass(frozen=True)
class Message:
    message_id: str
    payload: bytes          # the business content, as the receiver should store it
    built: Any              # what ``send`` posts, byte for byte at every attempt


class RetryingSender:
    """Sends every message until it is acknowledged; ``send(built)`` returns an ``Outcome`` or
    raises one of ``retry_on`` (no answer: sent again after ``pause`` seconds, at most ``tries``)."""

    def __init__(self, messages: Iterable[Message], send: Callable[[Any], Outcome],
                 retry_on: tuple[type[BaseException], ...], *, tries: int = 400, pause: float = 0.1):
        self.send, self.retry_on, self.tries, self.pause = send, retry_on, tries, pause
        self.todo: Queue = Queue()
        for m in messages:
            self.todo.put(m)
        self.acked: dict[str, bytes] = {}             # message id → payload, once the receipt proves it
        self.duplicates = 0                            # receipts for what the receiver held already
        self.connection_errors = 0
        self.bad: list[str] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        while True:
            try:
                m: Message = self.todo.get_nowait()
            except Empty:
                return
            for _ in range(self.tries):
                try:
                    outcome = self.send(m.built)
                except self.retry_on:
                    with self.lock:
                        self.connection_errors += 1
                    time.sleep(self.pause)
                    continue
                except Exception as e:      # what the sender should have turned into retry_on: on record
                    with self.lock:
                        self.bad.append(f"{m.message_id}: {type(e).__name__}: {e}")
                    break
                with self.lock:
                    if outcome.delivered:
                        self.acked[m.message_id] = m.payload
                        self.duplicates += outcome.duplicate
                    else:
                        self.bad.append(f"{m.message_id}: {outcome.problem}")
                break
            else:
                with self.lock:
                    self.bad.append(f"{m.message_id}: never acknowledged")


def kill_mid_burst(server: Any, sender: RetryingSender, *, threads: int, kill_after: int,
                   timeout: float = 300, started: Optional[Callable[[], None]] = None) -> int:
    """Run ``sender`` from ``threads`` threads against the running ``server``; SIGKILL it once
    ``kill_after`` messages are acknowledged, start it again, wait for the senders to be done.
    Returns how many were acknowledged when the kill landed."""
    workers = [threading.Thread(target=sender.run, name=f"burst-sender-{i}") for i in range(threads)]
    for t in workers:
        t.start()
    deadline = time.monotonic() + timeout
    while len(sender.acked) < kill_after and time.monotonic() < deadline and any(t.is_alive() for t in workers):
        time.sleep(0.01)
    server.kill()
    acked_at_kill = len(sender.acked)
    time.sleep(0.2)                     # requests in flight see the connection drop, new ones are refused
    server.start()
    if started is not None:
        started()
    for t in workers:
        t.join(timeout)
    return acked_at_kill
