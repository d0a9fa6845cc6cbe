"""devhost retries an event-triggered function by the function's own retry policy, as Azure does."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import pytest

from devhost.db import Database
from devhost.durable.clock import FakeClock
from devhost.errors import AppLoadError
from devhost.events.delivery import Delivery, DeliveryQueue
from devhost.events.retry_policy import NO_RETRY, RetryPolicy
from devhost.host import _retry_policies
from devhost.loader import load_app
from devhost.registry import Registry
from function_app.downstream import CHANGE_FEED_RETRIES, _last_attempt

ROOT = Path(__file__).resolve().parents[2]


def test_an_exponential_policy_doubles_from_its_minimum_up_to_its_maximum() -> None:
    """Delays 5, 10, 20 ... s capped at the maximum; attempts are the first call plus retries."""
    policy = RetryPolicy.from_setting(
        {
            "strategy": "exponential_backoff",
            "max_retry_count": "8",
            "minimum_interval": "00:00:05",
            "maximum_interval": "00:05:00",
        },
        function="f",
    )
    assert policy.attempts == 9
    assert [policy.delay_after(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_a_fixed_policy_waits_its_delay_and_minus_one_retries_forever() -> None:
    """fixed_delay waits delay_interval every time; max_retry_count -1 has no last attempt."""
    policy = RetryPolicy.from_setting(
        {"strategy": "fixed_delay", "max_retry_count": "-1", "delay_interval": "00:01:30"},
        function="f",
    )
    assert policy.attempts is None
    assert policy.delay_after(1) == policy.delay_after(7) == 90


@pytest.mark.parametrize(
    ("setting", "names"),
    [
        ({"strategy": "linear", "max_retry_count": "3"}, "retry strategy 'linear'"),
        ({"strategy": "fixed_delay", "max_retry_count": "x"}, "max_retry_count"),
        ({"strategy": "fixed_delay", "max_retry_count": "-2"}, "max_retry_count"),
        (
            {"strategy": "fixed_delay", "max_retry_count": "1", "delay_interval": "5s"},
            "retry delay '5s'",
        ),
    ],
    ids=["strategy", "count-not-int", "count-below-minus-one", "interval-not-timespan"],
)
def test_a_bad_policy_is_refused_at_load_naming_the_function_and_field(
    setting: dict[str, str], names: str
) -> None:
    """The host refuses a malformed policy when it indexes the app; so does devhost."""
    with pytest.raises(AppLoadError, match=f"consumer: .*{names}"):
        RetryPolicy.from_setting(setting, function="consumer")


def test_the_queue_retries_each_function_by_its_own_policy(tmp_path: Path) -> None:
    """A function with a policy gets its attempts and delays; a NO_RETRY function one call."""
    clock = FakeClock()
    db = Database(tmp_path / "devhost.sqlite3")
    queue = DeliveryQueue(db, clock, max_attempts=5, backoff_s=1.0)
    queue.retry_policies = {
        "patient": RetryPolicy(strategy="fixed_delay", max_retry_count=2, delay_s=7.0),
        "once": NO_RETRY,
    }
    calls: list[tuple[str, int, float]] = []

    async def failing(item: Delivery) -> None:
        calls.append((item.function, item.attempts, clock.now().timestamp()))
        raise RuntimeError("down")

    with db.transaction() as conn:
        for function in ("patient", "once", "default"):
            queue.enqueue(conn, "test", function, {"n": 1})
    for _ in range(6):
        asyncio.run(queue.deliver_due(failing))
        clock.advance(7)
    by_function = {f: [(a, t) for g, a, t in calls if g == f] for f in ("patient", "once")}
    assert [a for a, _ in by_function["patient"]] == [0, 1, 2]
    gaps = [b - a for (_, a), (_, b) in pairwise(by_function["patient"])]
    assert gaps == [7.0, 7.0]
    assert [a for a, _ in by_function["once"]] == [0]
    dead = {letter.function: letter.attempts for letter in queue.dead_letters()}
    assert dead == {"patient": 3, "once": 1, "default": 5}
    db.close()


def test_the_change_feed_consumer_declares_a_policy_and_devhost_applies_it() -> None:
    """on_datastream_changed is retried in Azure only because it declares a retry policy."""
    registry = Registry.from_app(load_app(ROOT, apply_settings=False))
    consumer = registry.get("on_datastream_changed")
    assert consumer.retry == RetryPolicy(
        strategy="exponential_backoff",
        max_retry_count=CHANGE_FEED_RETRIES,
        minimum_s=5.0,
        maximum_s=300.0,
    )
    assert _retry_policies(registry)["on_datastream_changed"] is consumer.retry


@pytest.mark.parametrize(
    ("retry_context", "last"),
    [
        (None, True),
        (SimpleNamespace(retry_count=0, max_retry_count=8), False),
        (SimpleNamespace(retry_count=7, max_retry_count=8), False),
        (SimpleNamespace(retry_count=8, max_retry_count=8), True),
        (SimpleNamespace(retry_count=50, max_retry_count=-1), False),
    ],
    ids=["no-retry-context", "first", "second-to-last", "last", "forever"],
)
def test_the_consumer_knows_its_last_attempt(retry_context: object, last: bool) -> None:
    """Only the call after which no retry comes writes the dead letter."""
    assert _last_attempt(SimpleNamespace(retry_context=retry_context)) is last  # type: ignore[arg-type]
