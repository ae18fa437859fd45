"""The one retry policy: waits after each failed attempt (the last step repeating), when to
give up, a partner's overrides; and the three schedules that use it, each unchanged."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from gateway.channels.as2 import ASYNC_MDN_RETRY
from gateway.delivery import attempts
from gateway.delivery.retry import RetryPolicy
from onboarding import mailing

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def seconds(policy: RetryPolicy, attempts_made: range) -> list[float]:
    return [policy.delay(n).total_seconds() for n in attempts_made]


def test_the_wait_after_each_attempt_follows_the_steps_then_repeats_the_last():
    policy = RetryPolicy(steps=(60, 300, 900), max_attempts=4)
    assert seconds(policy, range(1, 3 + 3)) == [60, 300, 900, 900, 900]      # attempts 1..n+2
    assert RetryPolicy(steps=(timedelta(minutes=2),), max_attempts=9).delay(7) == timedelta(minutes=2)
    assert RetryPolicy(steps=["5", 7.5], max_attempts=3).delay(2) == timedelta(seconds=7.5)


def test_it_gives_up_after_the_last_attempt_allowed():
    policy = RetryPolicy(steps=(60, 300), max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert policy.next_at(NOW, 1) == NOW + timedelta(seconds=60)
    assert policy.next_at(NOW, 2) == NOW + timedelta(seconds=300)
    assert policy.next_at(NOW, 3) is None
    assert RetryPolicy(steps=(60,), max_attempts=1).next_at(NOW, 1) is None     # one attempt, no retry


def test_a_partners_options_override_the_default_one_by_one():
    default = RetryPolicy(steps=(60, 300), max_attempts=6)
    assert RetryPolicy.from_options({}, default) == default
    assert RetryPolicy.from_options({"retry_backoff_seconds": [5, 60], "max_attempts": 3}, default) \
        == RetryPolicy(steps=[5, 60], max_attempts=3)
    only_bound = RetryPolicy.from_options({"max_attempts": "2"}, default)
    assert (only_bound.steps, only_bound.max_attempts) == ((60, 300), 2)
    only_steps = RetryPolicy.from_options({"retry_backoff_seconds": [120]}, default)
    assert (seconds(only_steps, range(1, 4)), only_steps.max_attempts) == ([120, 120, 120], 6)
    # empty or zero means "not set", as it always did
    assert RetryPolicy.from_options({"retry_backoff_seconds": [], "max_attempts": 0}, default) == default


def test_outbound_exchanges_keep_their_schedule_and_the_partners_say():
    assert seconds(attempts.RETRY, range(1, 8)) == [60, 300, 900, 3600, 14400, 14400, 14400]
    assert attempts.RETRY.max_attempts == 6
    assert attempts.retry_policy(None) == attempts.RETRY
    partner = SimpleNamespace(as2_options={"retry_backoff_seconds": [5, 60], "max_attempts": 3,
                                           "mdn_timeout_minutes": 10})
    policy = attempts.retry_policy(partner)
    assert seconds(policy, range(1, 4)) == [5, 60, 60]
    assert [policy.exhausted(n) for n in (1, 2, 3)] == [False, False, True]      # as "attempts < 3" did
    assert attempts.retry_policy(SimpleNamespace(as2_options=None)) == attempts.RETRY


def test_asynchronous_mdns_are_retried_five_times_then_given_up():
    # was: retry while attempts <= len(ASYNC_MDN_BACKOFF) (5), waiting ASYNC_MDN_BACKOFF[attempts - 1]
    assert [ASYNC_MDN_RETRY.exhausted(n) for n in range(1, 8)] == [False] * 5 + [True] * 2
    assert [ASYNC_MDN_RETRY.delay(n) for n in range(1, 6)] == [
        timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]


def test_campaign_mail_keeps_its_schedule():
    # was: retry while attempts < 6, waiting RETRY_BACKOFF[min(attempts - 1, 4)]
    assert [mailing.RETRY.delay(n) for n in range(1, 8)] == [
        timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4),
        timedelta(hours=12), timedelta(hours=12), timedelta(hours=12)]
    assert [mailing.RETRY.exhausted(n) for n in range(1, 8)] == [False] * 5 + [True] * 2
