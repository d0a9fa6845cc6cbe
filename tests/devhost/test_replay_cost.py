"""What a replay pass costs: old events are not parsed again, status reads skip the engine's
bookkeeping, and activity slots keep running while a replay holds the database."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent

from devhost.db import Database
from devhost.durable.clock import FakeClock
from devhost.durable.engine import DurableEngine
from devhost.durable.history import EventType, make_event
from devhost.durable.history_cache import CachedHistory, HistoryCache
from devhost.durable.replay import parse_events, replay
from devhost.durable.state import EngineState
from devhost.durable.store import RuntimeStatus, WorkItem
from devhost.durable.worker import DurableWorker
from devhost.invoke import ActivityOutcome
from devhost.registry import Registry, TriggerType

CITIES = [f"city-{i}" for i in range(30)]


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counter = [0]
    original = HistoryEvent.__init__

    def counting(self: HistoryEvent, *args: Any, **kwargs: Any) -> None:
        counter[0] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(HistoryEvent, "__init__", counting)
    return counter


def test_a_pass_parses_only_its_own_events(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 activities in sequence are 31 passes; parsing the whole history in every pass would
    parse ~10x the final history, the cache parses each event about twice."""
    parses = _count_parses(monkeypatch)
    engine.start_new("hello_seq", "seq", json.dumps(CITIES))
    engine.run_until_idle()
    inst = engine.get_instance("seq")
    assert inst is not None
    assert inst.status is RuntimeStatus.COMPLETED, inst.error
    assert json.loads(inst.output or "null") == [f"Hello {c}" for c in CITIES]
    history = engine.get_history("seq")
    assert parses[0] <= 3 * len(history), (parses[0], len(history))


def test_a_fresh_engine_replays_a_stored_history_the_same(
    tmp_path: Path, sample_registry: Registry, clock: FakeClock
) -> None:
    """A restart has an empty cache: it reads the history from SQLite and finishes the run."""
    db = Database(tmp_path / "restart.sqlite")
    first = DurableEngine(db, sample_registry, clock=clock)
    first.start_new("hello_seq", "seq", json.dumps(CITIES[:4]))
    for _ in range(3):  # start, then two results: the run is half way
        first.process_ready()
        items = first.claim_work(1)
        first.complete_work_batch([(item, first.run_work_inline(item)) for item in items])
    second = DurableEngine(db, sample_registry, clock=clock)
    second.run_until_idle()
    inst = second.get_instance("seq")
    assert inst is not None
    assert inst.status is RuntimeStatus.COMPLETED, inst.error
    assert json.loads(inst.output or "null") == [f"Hello {c}" for c in CITIES[:4]]


def test_replay_of_parsed_events_decides_as_replay_of_the_stored_ones(
    engine: DurableEngine, sample_registry: Registry
) -> None:
    """The pre-parsed path hands the SDK the same history: same actions, ids and state."""
    engine.start_new("hello_seq", "seq", json.dumps(CITIES[:3]))
    engine.process_ready()
    items = engine.claim_work(1)
    engine.complete_work_batch([(item, engine.run_work_inline(item)) for item in items])
    engine.process_ready()  # the first result is history, the second city is scheduled
    stored = engine.get_history("seq")
    for event in stored:
        event["IsPlayed"] = True
    history = [*stored, make_event(EventType.ORCHESTRATOR_STARTED, engine.clock.now())]
    spec = sample_registry.get("hello_seq", TriggerType.ORCHESTRATION)
    kwargs: dict[str, Any] = {
        "instance_id": "seq",
        "history": history,
        "input_json": json.dumps(CITIES[:3]),
        "parent_instance_id": None,
    }
    plain = replay(spec.user_function, **kwargs)
    parsed = replay(spec.user_function, **kwargs, parsed=parse_events(history))
    assert parsed == plain
    assert [a["input"] for a in parsed.actions] == ['"city-0"', '"city-1"']
    with pytest.raises(ValueError, match="parsed events for a history"):
        replay(spec.user_function, **kwargs, parsed=parse_events(history[:-1]))


def _history(execution_id: str, n: int) -> CachedHistory:
    events = [make_event(EventType.ORCHESTRATOR_STARTED, FakeClock().now()) for _ in range(n)]
    return CachedHistory.of(execution_id, events)


def test_history_cache_keeps_only_committed_matching_histories() -> None:
    """Staged entries count after commit only; a length or execution mismatch is a miss."""
    cache = HistoryCache(max_events=10)
    cache.stage("a", _history("e1", 3))
    assert cache.get("a", "e1", 3) is None  # not committed yet
    cache.rollback()
    cache.commit()
    assert cache.get("a", "e1", 3) is None
    cache.stage("a", _history("e1", 3))
    cache.commit()
    entry = cache.get("a", "e1", 3)
    assert entry is not None
    assert all(event["IsPlayed"] for event in entry.events)
    assert all(event.is_played for event in entry.parsed)
    assert cache.get("a", "e1", 4) is None  # the database has more: stale, dropped
    assert cache.get("a", "e1", 3) is None
    cache.stage("a", _history("e1", 3))
    cache.commit()
    assert cache.get("a", "e2", 3) is None  # continued as new or replaced


def test_history_cache_stays_within_its_event_budget() -> None:
    """The least recently used instances go first; a history over the budget is not kept."""
    cache = HistoryCache(max_events=10)
    for name in ("a", "b", "c"):
        cache.stage(name, _history("e", 4))
        cache.commit()
    assert len(cache) == 2
    assert cache.get("a", "e", 4) is None
    assert cache.get("c", "e", 4) is not None
    cache.stage("big", _history("e", 11))
    cache.commit()
    assert cache.get("big", "e", 11) is None
    cache.stage("c", None)
    cache.commit()
    assert cache.get("c", "e", 4) is None


def test_status_reads_leave_the_engine_state_unparsed(engine: DurableEngine) -> None:
    """get_instance of a big fan-out does not parse its bookkeeping; writing it back keeps it."""
    engine.start_new("fan_out", "fan", json.dumps({"n": 50}))
    engine.process_ready()
    inst = engine.get_instance("fan")
    assert inst is not None
    assert isinstance(inst.engine_state, str)
    stored = inst.engine_state
    assert inst.state_json() == stored
    assert len(inst.state.open) == 50
    assert isinstance(inst.engine_state, EngineState)
    assert json.loads(inst.state_json()) == json.loads(stored)


class _GatedRunner:
    """The first ``gated`` activities wait for ``go``; the others return their input."""

    def __init__(self, gated: int) -> None:
        self.gated = gated
        self.started: list[int] = []
        self.go = asyncio.Event()

    async def run(self, item: WorkItem) -> ActivityOutcome:
        self.started.append(item.task_id)
        if len(self.started) <= self.gated:
            await self.go.wait()
        return ActivityOutcome(ok=True, result=item.input)

    def close(self) -> None:
        """Nothing to release."""


async def _wait_for(condition: Any, what: str, timeout_s: float = 20.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_slots_start_claimed_activities_while_the_database_is_held(
    tmp_path: Path, sample_registry: Registry
) -> None:
    """Two slots, two items claimed ahead: when the running pair ends while another thread
    holds the database (as a long replay does), the claimed pair starts without waiting."""
    engine = DurableEngine(Database(tmp_path / "slots.sqlite"), sample_registry)
    runner = _GatedRunner(gated=2)
    worker = DurableWorker(engine, runner, concurrency=2, prefetch=2, idle_poll_s=0.05)
    locked, unlock = threading.Event(), threading.Event()

    def hold_database() -> None:
        with engine.db.transaction():
            locked.set()
            unlock.wait(30)

    async def scenario() -> None:
        task = asyncio.create_task(worker.run())
        holder = threading.Thread(target=hold_database)
        try:
            engine.start_new("fan_out", "fan", json.dumps({"n": 12, "activity": "noop"}))
            await _wait_for(lambda: len(runner.started) == 2, "the first two activities")
            await _wait_for(lambda: _running(engine) == 4, "two more claimed ahead")
            holder.start()
            await asyncio.to_thread(locked.wait, 10)
            runner.go.set()
            await _wait_for(lambda: len(runner.started) == 4, "the claimed pair to start")
            assert not unlock.is_set()  # still held: the pair started from memory
            unlock.set()
            await _wait_for(lambda: _status(engine) is RuntimeStatus.COMPLETED, "completion")
        finally:
            unlock.set()
            await worker.stop()
            task.cancel()
            if holder.is_alive():
                await asyncio.to_thread(holder.join, 10)

    asyncio.run(scenario())
    inst = engine.get_instance("fan")
    assert inst is not None
    assert json.loads(inst.output or "null") == sum(range(12))
    assert sorted(runner.started) == list(range(12))


def _running(engine: DurableEngine) -> int:
    with engine.db.read() as conn:
        return engine.store.count_work(conn, "running")


def _status(engine: DurableEngine) -> RuntimeStatus | None:
    inst = engine.get_instance("fan")
    return None if inst is None else inst.status
