"""The one rate limiter (``gateway.transports.throttle``): slots per key on a fake clock, keys
independent, the first call free; the SMTP ``Mailer`` and campaign mail both use it."""
from __future__ import annotations

import threading
from email.message import EmailMessage

from gateway.transports.smtp import Mailer, SmtpConfig
from gateway.transports.throttle import Throttle


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


def test_each_caller_takes_the_next_free_slot_of_its_key():
    clock = Clock(1000.0)
    t = Throttle(clock=clock, sleep=clock.sleep)
    assert [t.reserve("a", 60) for _ in range(3)] == [0.0, 1.0, 2.0]      # one a second
    assert t.reserve("b", 120) == 0.0                                    # another key: its own pace
    assert t.reserve("b", 120) == 0.5
    clock.now += 0.75
    assert t.reserve("a", 60) == 2.25                                    # still queued behind a's slots
    clock.now += 100                                                     # idle: no burst owed
    assert t.reserve("a", 60) == 0.0
    assert t.reserve("a", 60) == 1.0


def test_the_first_call_does_not_wait_whatever_the_clock_says():
    for start in (0.0, 5.0, -30.0, 1e9):
        clock = Clock(start)
        t = Throttle(clock=clock, sleep=clock.sleep)
        t.wait("k", 1)
        assert clock.slept == []


def test_wait_sleeps_only_when_there_is_something_to_wait_for():
    clock = Clock(10.0)
    t = Throttle(clock=clock, sleep=clock.sleep)
    for _ in range(3):
        t.wait("a", 120)
    t.wait("b", 60)
    assert clock.slept == [0.5, 1.0]


def test_threads_sharing_it_never_get_the_same_slot():
    clock = Clock(50.0)
    t = Throttle(clock=clock, sleep=clock.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def take():
        w = t.reserve("campaign", 600)                                  # 0.1 s apart
        with lock:
            waits.append(w)
    threads = [threading.Thread(target=take) for _ in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.1, 6) for i in range(20)]


class _FakeSmtp:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_message(self, message, from_addr=None, to_addrs=None):
        self.sent.append(str(message["Message-ID"]))
        return {}


def _message(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "a@example.com", "b@example.com", f"{n}", f"<{n}@x>"
    m.set_content("hello")
    return m


def test_the_mailer_paces_its_sends_with_it_and_its_first_send_does_not_wait():
    clock = Clock(0.0)
    mailer = Mailer(SmtpConfig(host="localhost", port=25), rate_per_minute=30)       # one every 2 s
    mailer._throttle = Throttle(clock=clock, sleep=clock.sleep)          # the same limiter, on a fake clock
    mailer._smtp = smtp = _FakeSmtp()
    for n in range(3):
        mailer.send(_message(n), recipients=["b@example.com"])
    assert clock.slept == [2.0, 4.0]
    assert smtp.sent == ["<0@x>", "<1@x>", "<2@x>"]


def test_a_mailer_without_a_rate_never_waits():
    clock = Clock(0.0)
    mailer = Mailer(SmtpConfig(host="localhost", port=25))
    mailer._throttle = Throttle(clock=clock, sleep=clock.sleep)
    mailer._smtp = _FakeSmtp()
    for n in range(3):
        mailer.send(_message(n), recipients=["b@example.com"])
    assert clock.slept == []


def test_campaign_mail_uses_the_same_throttle():
    from onboarding import mailing
    assert mailing.Throttle is Throttle
