"""Engine tests on a fake clock: every durable feature, with the open-ids check on every pass."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from devhost.durable.clock import FakeClock
from devhost.durable.engine import DurableEngine
from devhost.durable.history import EventType
from devhost.durable.store import RuntimeStatus
from devhost.errors import InstanceExistsError, InstanceNotFoundError, UnknownFunctionError
from tests.devhost.conftest import failure, read_records


def output(engine: DurableEngine, instance_id: str) -> object:
    inst = engine.get_instance(instance_id)
    assert inst is not None
    assert inst.output is not None
    return json.loads(inst.output)


def status(engine: DurableEngine, instance_id: str) -> RuntimeStatus:
    inst = engine.get_instance(instance_id)
    assert inst is not None
    return inst.status


def event_types(engine: DurableEngine, instance_id: str) -> list[int]:
    return [e["EventType"] for e in engine.get_history(instance_id)]


def test_activity_sequence(engine: DurableEngine) -> None:
    engine.start_new("hello_seq", "seq", json.dumps(["a", "b"]))
    engine.run_until_idle()
    assert status(engine, "seq") is RuntimeStatus.COMPLETED
    assert output(engine, "seq") == ["Hello a", "Hello b"]
    types = event_types(engine, "seq")
    assert types.count(EventType.TASK_SCHEDULED) == 2
    assert types.count(EventType.TASK_COMPLETED) == 2
    assert types[-2:] == [EventType.EXECUTION_COMPLETED, EventType.ORCHESTRATOR_COMPLETED]


def test_fan_out_fan_in(engine: DurableEngine) -> None:
    engine.start_new("fan_out", "fan", json.dumps({"n": 50}))
    engine.run_until_idle()
    assert output(engine, "fan") == sum(i * i for i in range(50))
    # Completions are drained in one batch: one pass to schedule, one to finish.
    passes = [
        e for e in engine.get_history("fan") if e["EventType"] == EventType.ORCHESTRATOR_STARTED
    ]
    assert len(passes) == 2


def test_activity_retry_succeeds_after_failures(
    engine: DurableEngine, clock: FakeClock, tmp_path: Path
) -> None:
    spec = {"counter": str(tmp_path / "c"), "fail_times": 2}
    engine.start_new("with_retry", "retry", json.dumps(spec))
    engine.run_until_idle()
    assert status(engine, "retry") is RuntimeStatus.RUNNING  # waiting on the retry timer
    clock.advance(5)
    engine.run_until_idle()
    clock.advance(5)
    engine.run_until_idle()
    assert output(engine, "retry") == ["Hello before", "ok after 3", "Hello after"]
    types = event_types(engine, "retry")
    assert types.count(EventType.TASK_FAILED) == 2
    assert types.count(EventType.TIMER_FIRED) == 2


def test_activity_retry_exhausted_fails_instance(
    engine: DurableEngine, clock: FakeClock, tmp_path: Path
) -> None:
    spec = {"counter": str(tmp_path / "c"), "fail_times": 10}
    engine.start_new("with_retry", "retry-x", json.dumps(spec))
    for _ in range(4):
        engine.run_until_idle()
        clock.advance(5)
    engine.run_until_idle()
    error = failure(engine, "retry-x")
    assert "flaky failure 3" in error
    assert (tmp_path / "c").read_text() == "3"


def test_sub_orchestrations_with_and_without_retry(
    engine: DurableEngine, clock: FakeClock, tmp_path: Path
) -> None:
    spec = {"flaky": {"counter": str(tmp_path / "c"), "fail_times": 1}}
    engine.start_new("parent", "p", json.dumps(spec))
    engine.run_until_idle()
    clock.advance(1)
    engine.run_until_idle()
    assert output(engine, "p") == {"a": ["Hello A"], "b": ["Hello B"], "c": "ok after 2"}
    children = {c.instance_id: c for c in engine.children("p")}
    assert "child-b" in children
    assert "p:0" in children  # default id {parent}:{taskId}
    assert all(
        c.status is RuntimeStatus.COMPLETED or c.name == "flaky_orch" for c in children.values()
    )
    failed = [c for c in children.values() if c.status is RuntimeStatus.FAILED]
    assert [c.name for c in failed] == ["flaky_orch"]


def test_durable_timer_fires_on_fake_clock(engine: DurableEngine, clock: FakeClock) -> None:
    engine.start_new("sleeper", "sleep")
    engine.run_until_idle()
    assert status(engine, "sleep") is RuntimeStatus.RUNNING
    clock.advance(timedelta(minutes=59))
    engine.run_until_idle()
    assert status(engine, "sleep") is RuntimeStatus.RUNNING
    clock.advance(timedelta(minutes=1))
    engine.run_until_idle()
    result = output(engine, "sleep")
    assert isinstance(result, dict)
    assert result["woke_at"] > result["slept_from"]


def test_external_event_wins_task_any(engine: DurableEngine) -> None:
    engine.start_new("approval", "ap")
    engine.run_until_idle()
    inst = engine.get_instance("ap")
    assert inst is not None
    assert json.loads(inst.custom_status or "null") == "waiting for approval"
    assert engine.raise_event("ap", "approve", json.dumps({"by": "lead"}))
    engine.run_until_idle()
    assert output(engine, "ap") == {"approved": {"by": "lead"}}
    inst = engine.get_instance("ap")
    assert inst is not None
    assert json.loads(inst.custom_status or "null") == "approved"


def test_timer_wins_task_any(engine: DurableEngine, clock: FakeClock) -> None:
    engine.start_new("approval", "ap2")
    engine.run_until_idle()
    clock.advance(timedelta(days=1, seconds=1))
    engine.run_until_idle()
    assert output(engine, "ap2") == {"approved": None}
    # A late event for a finished instance is refused (HTTP 410), nothing re-runs.
    assert engine.raise_event("ap2", "approve", "1") is False


def test_events_raised_before_wait_and_task_all(engine: DurableEngine) -> None:
    engine.start_new("two_events", "ev")
    engine.raise_event("ev", "b", json.dumps("B"))
    engine.run_until_idle()
    engine.raise_event("ev", "a", json.dumps("A"))
    engine.run_until_idle()
    assert output(engine, "ev") == ["A", "B"]


def test_continue_as_new(engine: DurableEngine) -> None:
    engine.start_new("counter", "cnt", "0")
    engine.run_until_idle()
    assert output(engine, "cnt") == 3
    inst = engine.get_instance("cnt")
    assert inst is not None
    assert inst.input == "3"
    # History holds the last execution only.
    assert event_types(engine, "cnt").count(EventType.EXECUTION_STARTED) == 1


def test_custom_status_uuid_and_time_are_replay_stable(
    engine: DurableEngine, clock: FakeClock
) -> None:
    start = clock.now()
    engine.start_new("stamps", "st")
    engine.run_until_idle()
    result = output(engine, "st")
    assert isinstance(result, dict)
    first, second = result["uuids"]
    assert first != second
    assert result["started"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    inst = engine.get_instance("st")
    assert inst is not None
    assert json.loads(inst.custom_status or "null") == {"step": 2}


def test_terminate_and_purge(engine: DurableEngine) -> None:
    engine.start_new("sleeper", "t")
    engine.run_until_idle()
    assert engine.terminate("t", "enough")
    engine.run_until_idle()
    assert status(engine, "t") is RuntimeStatus.TERMINATED
    assert output(engine, "t") == "enough"
    assert engine.terminate("t", "again") is False
    assert engine.purge("t") == 1
    assert engine.get_instance("t") is None
    with pytest.raises(InstanceNotFoundError):
        engine.raise_event("t", "x", None)


def test_purge_refuses_running_instance(engine: DurableEngine) -> None:
    engine.start_new("sleeper", "run")
    engine.run_until_idle()
    assert engine.purge("run") == 0
    assert status(engine, "run") is RuntimeStatus.RUNNING


def test_start_new_semantics_for_existing_id(engine: DurableEngine) -> None:
    engine.start_new("sleeper", "same")
    engine.run_until_idle()
    with pytest.raises(InstanceExistsError):
        engine.start_new("hello_seq", "same")
    engine.terminate("same", "replace me")
    engine.run_until_idle()
    engine.start_new("hello_seq", "same", json.dumps(["again"]))
    engine.run_until_idle()
    assert output(engine, "same") == ["Hello again"]
    # The old execution's timer was dropped with it; nothing of it remains queued.
    assert engine.next_timer_at() is None


def test_unknown_orchestrator_is_refused(engine: DurableEngine) -> None:
    with pytest.raises(UnknownFunctionError):
        engine.start_new("nope")


def test_non_determinism_is_detected(engine: DurableEngine, clock: FakeClock) -> None:
    engine.start_new("hello_seq", "nd", json.dumps(["a", "b"]))
    # First pass schedules say_hello; flip the code before the completion is replayed.
    engine.process_ready()
    # The module the host loaded (not a second import of the file) holds the switch.
    variant = engine.registry.get("hello_seq").orchestrator_function.__globals__["REPLAY_VARIANT"]
    variant["activity"] = "square"
    try:
        engine.run_until_idle()
    finally:
        variant["activity"] = "say_hello"
    error = failure(engine, "nd")
    assert "Non-deterministic workflow detected" in error
    assert "'say_hello'" in error
    assert "'square'" in error


def test_orchestrator_that_raises_fails_with_reason(engine: DurableEngine) -> None:
    engine.start_new("explodes", "ex")
    engine.run_until_idle()
    error = failure(engine, "ex")
    assert "orchestrator exploded on purpose" in error
    assert "$OutOfProcData$" not in error


def test_failing_activity_fails_orchestration(engine: DurableEngine, tmp_path: Path) -> None:
    engine.start_new(
        "calls_failing_activity",
        "fa",
        json.dumps({"counter": str(tmp_path / "c"), "fail_times": 5}),
    )
    engine.run_until_idle()
    error = failure(engine, "fa")
    assert "flaky failure 1" in error


def test_activity_input_that_does_not_decode(engine: DurableEngine) -> None:
    bad = {"__class__": "Missing", "__module__": "no_such_module_anywhere", "__data__": "{}"}
    engine.start_new("bad_activity_input", "bad", json.dumps(json.dumps(bad)))
    engine.run_until_idle()
    error = failure(engine, "bad")
    assert "does not decode" in error
    # The host keeps serving: another instance still completes.
    engine.start_new("hello_seq", "after-bad", json.dumps(["ok"]))
    engine.run_until_idle()
    assert output(engine, "after-bad") == ["Hello ok"]


def test_unknown_activity_fails_clearly(engine: DurableEngine) -> None:
    engine.start_new("unknown_activity", "ua")
    engine.run_until_idle()
    error = failure(engine, "ua")
    assert "no_such_activity" in error


def test_duplicate_activity_completion_is_ignored(engine: DurableEngine) -> None:
    engine.start_new("hello_seq", "dup", json.dumps(["x"]))
    engine.process_ready()
    items = engine.claim_work(10)
    assert len(items) == 1
    outcome = engine.run_work_inline(items[0])
    engine.complete_work(items[0], outcome)
    engine.complete_work(items[0], outcome)  # at-least-once: the same result twice
    engine.run_until_idle()
    assert output(engine, "dup") == ["Hello x"]
    assert event_types(engine, "dup").count(EventType.TASK_COMPLETED) == 1


def test_state_survives_a_new_engine_on_the_same_file(
    engine: DurableEngine, clock: FakeClock, sample_registry: object, out_file: Path
) -> None:
    engine.start_new("sleeper", "persist")
    engine.run_until_idle()
    fresh = DurableEngine(engine.db, engine.registry, clock=clock)
    clock.advance(timedelta(hours=2))
    fresh.run_until_idle()
    assert status(fresh, "persist") is RuntimeStatus.COMPLETED
    assert read_records(out_file) == []
