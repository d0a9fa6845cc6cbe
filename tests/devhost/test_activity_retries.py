"""Retries decided by the error class, under devhost's engine and fake clock (no sleeping).

The app (tests/devhost/apps/contracts) serves one activity through its contract and calls it
through ``orchestrators.calls``, the helper every project orchestrator uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.db import Database
from devhost.durable.clock import FakeClock
from devhost.durable.engine import DurableEngine
from devhost.durable.history import EventType, parse_time
from devhost.durable.store import RuntimeStatus
from devhost.loader import load_app
from devhost.registry import Registry
from tests.devhost.conftest import APPS, OpenIdsCheck, failure


@pytest.fixture(scope="module")
def contracts_registry() -> Registry:
    return Registry.from_app(load_app(APPS / "contracts"))


@pytest.fixture
def engine(
    tmp_path: Path, contracts_registry: Registry, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DurableEngine]:
    monkeypatch.setenv("CONTRACTS_APP_DIR", str(tmp_path))
    db = Database(tmp_path / "devhost.sqlite")
    eng = DurableEngine(db, contracts_registry, clock=clock)
    check = OpenIdsCheck()
    eng.pass_observers.append(check)
    yield eng
    check.assert_all_equal()
    db.close()


def history(engine: DurableEngine, instance_id: str) -> list[dict[str, Any]]:
    return engine.get_history(instance_id)


def count(engine: DurableEngine, instance_id: str, event_type: EventType) -> int:
    return sum(1 for e in history(engine, instance_id) if e["EventType"] == event_type)


def counts(engine: DurableEngine, instance_id: str, *event_types: str) -> tuple[int, ...]:
    """How many events of each of ``event_types`` (names) the instance's history holds."""
    return tuple(count(engine, instance_id, EventType[name]) for name in event_types)


def timer_waits(engine: DurableEngine, instance_id: str) -> list[float]:
    """Seconds between each TimerCreated and the time it fires."""
    return [
        (parse_time(e["FireAt"]) - parse_time(e["Timestamp"])).total_seconds()
        for e in history(engine, instance_id)
        if e["EventType"] == EventType.TIMER_CREATED
    ]


def finished(engine: DurableEngine, instance_id: str) -> Any:
    inst = engine.get_instance(instance_id)
    assert inst is not None
    return inst


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param("terminal", "NotFoundError: t not found", id="terminal-error"),
        pytest.param("recursion", "RecursionError", id="recursion-error"),
    ],
)
def test_a_terminal_error_fails_at_once_with_one_task_failed(
    engine: DurableEngine, error: str, expected: str
) -> None:
    """A terminal error (a RecursionError too) is never retried: one attempt, no timer."""
    engine.start_new("call_once", "t", json.dumps({"key": "t", "fail_times": 9, "error": error}))
    engine.run_until_idle()
    assert expected in failure(engine, "t")
    assert counts(engine, "t", "TASK_SCHEDULED", "TASK_FAILED", "TIMER_CREATED") == (1, 1, 0)


def test_a_retryable_error_is_retried_with_backoff_on_durable_timers(
    engine: DurableEngine, clock: FakeClock
) -> None:
    engine.start_new("call_once", "b", json.dumps({"key": "b", "fail_times": 2}))
    engine.run_until_idle()
    assert finished(engine, "b").status is RuntimeStatus.RUNNING  # waiting 10 s
    clock.advance(9)
    engine.run_until_idle()
    assert count(engine, "b", EventType.TASK_SCHEDULED) == 1, "the timer fired early"
    clock.advance(1)
    engine.run_until_idle()
    assert count(engine, "b", EventType.TASK_SCHEDULED) == 2
    clock.advance(20)  # the second wait doubles
    engine.run_until_idle()
    inst = finished(engine, "b")
    assert inst.status is RuntimeStatus.COMPLETED, inst.error
    assert json.loads(inst.output or "null") == {"key": "b", "attempts": 3}
    assert timer_waits(engine, "b") == [10.0, 20.0]
    assert count(engine, "b", EventType.TASK_FAILED) == 2


def test_retry_after_from_the_service_stretches_the_wait(
    engine: DurableEngine, clock: FakeClock
) -> None:
    engine.start_new("call_once", "a", json.dumps({"key": "a", "fail_times": 1, "retry_after": 45}))
    engine.run_until_idle()
    clock.advance(44)
    engine.run_until_idle()
    assert count(engine, "a", EventType.TASK_SCHEDULED) == 1
    clock.advance(1)
    engine.run_until_idle()
    assert finished(engine, "a").status is RuntimeStatus.COMPLETED
    assert timer_waits(engine, "a") == [45.0]


def test_retryable_errors_stop_after_the_policy_attempts(
    engine: DurableEngine, clock: FakeClock
) -> None:
    engine.start_new("call_once", "x", json.dumps({"key": "x", "fail_times": 99}))
    for _ in range(5):
        engine.run_until_idle()
        clock.advance(timedelta(minutes=5))
    assert "RetryableError: x busy" in failure(engine, "x")
    assert count(engine, "x", EventType.TASK_FAILED) == 4
    assert timer_waits(engine, "x") == [10.0, 20.0, 40.0]


def test_fan_out_retries_only_the_calls_that_failed(
    engine: DurableEngine, clock: FakeClock
) -> None:
    specs = [{"key": "f0"}, {"key": "f1", "fail_times": 1}, {"key": "f2"}]
    engine.start_new("call_many", "fan", json.dumps(specs))
    engine.run_until_idle()
    clock.advance(10)
    engine.run_until_idle()
    inst = finished(engine, "fan")
    assert inst.status is RuntimeStatus.COMPLETED, inst.error
    assert json.loads(inst.output or "null") == [
        {"key": "f0", "attempts": 1},
        {"key": "f1", "attempts": 2},
        {"key": "f2", "attempts": 1},
    ]
    scheduled = [
        json.loads(e["Input"])["key"]
        for e in history(engine, "fan")
        if e["EventType"] == EventType.TASK_SCHEDULED
    ]
    assert scheduled == ["f0", "f1", "f2", "f1"]


def test_fan_out_with_a_terminal_failure_fails_once_after_the_others_settled(
    engine: DurableEngine,
) -> None:
    specs = [{"key": "g0", "fail_times": 1, "error": "terminal"}, {"key": "g1"}, {"key": "g2"}]
    engine.start_new("call_many", "fan-t", json.dumps(specs))
    engine.run_until_idle()
    assert "NotFoundError: g0 not found" in failure(engine, "fan-t")
    assert counts(engine, "fan-t", "TASK_FAILED", "TASK_COMPLETED", "TIMER_CREATED") == (1, 2, 0)


def test_fan_out_waits_for_calls_still_running_when_one_fails(
    engine: DurableEngine, clock: FakeClock
) -> None:
    """The failure arrives in a pass of its own while the other calls are still out: the
    orchestration awaits them (no duplicate scheduling), then retries only the failed one."""
    specs = [{"key": "h0", "fail_times": 1}, {"key": "h1"}, {"key": "h2"}]
    engine.start_new("call_many", "fan-s", json.dumps(specs))
    engine.process_ready()
    items = {json.loads(item.input or "{}")["key"]: item for item in engine.claim_work(10)}
    assert sorted(items) == ["h0", "h1", "h2"]
    for key in ("h0", "h1", "h2"):  # one result per pass, the failure first
        engine.complete_work(items[key], engine.run_work_inline(items[key]))
        engine.process_ready()
        if key == "h0":
            assert count(engine, "fan-s", EventType.TIMER_CREATED) == 0, "retried too early"
    assert count(engine, "fan-s", EventType.TIMER_CREATED) == 1
    clock.advance(10)
    engine.run_until_idle()
    inst = finished(engine, "fan-s")
    assert inst.status is RuntimeStatus.COMPLETED, inst.error
    assert [r["attempts"] for r in json.loads(inst.output or "null")] == [2, 1, 1]
    assert count(engine, "fan-s", EventType.TASK_SCHEDULED) == 4
