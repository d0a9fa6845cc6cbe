"""The Durable Task engine: one SQLite transaction per orchestration step.

A step takes the visible inbox messages of one instance, turns them into new history events,
replays the orchestrator through the DF SDK and turns the actions it returns into history events,
activity work, timers and sub-orchestrations. Task ids are the SDK's sequence numbers; the engine
assigns them the same way and checks after every pass that both sides agree on what is open.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devhost.db import Database
from devhost.durable.clock import Clock, SystemClock
from devhost.durable.history import ActionType, EventType, format_time, make_event, parse_time
from devhost.durable.history_cache import CachedHistory, HistoryCache
from devhost.durable.replay import ReplayResult, parse_events, replay
from devhost.durable.state import (
    ContinueAsNew,
    EngineState,
    OpenTask,
    RetryGroup,
    Scheduled,
    ScheduledAction,
)
from devhost.durable.store import (
    TERMINAL,
    DurableStore,
    InboxMessage,
    Instance,
    RuntimeStatus,
    WorkItem,
)
from devhost.errors import InstanceExistsError, InstanceNotFoundError, UnknownFunctionError
from devhost.invoke import ActivityOutcome, run_activity
from devhost.registry import Registry, TriggerType

__all__ = ["DurableEngine", "PassRecord"]

log = logging.getLogger(__name__)

# Results of a running fan-out wait this many times the instance's last replay (see _hold).
HOLD_PER_REPLAY = 4.0
_REPLAY_TIMES_KEPT = 10_000

# Runs an activity gets when its worker process keeps dying before it is reported failed.
MAX_REQUEUED_RUNS = 3

_KIND_OF_ACTION = {
    ActionType.CALL_ACTIVITY: "activity",
    ActionType.CALL_ACTIVITY_WITH_RETRY: "activity",
    ActionType.CALL_SUB_ORCHESTRATOR: "suborch",
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY: "suborch",
    ActionType.CONTINUE_AS_NEW: "continue",
    ActionType.CREATE_TIMER: "timer",
    ActionType.WAIT_FOR_EXTERNAL_EVENT: "event",
}
_KIND_OF_SCHEDULED_EVENT = {
    EventType.TASK_SCHEDULED: "activity",
    EventType.SUB_ORCHESTRATION_CREATED: "suborch",
    EventType.TIMER_CREATED: "timer",
}


@dataclass(frozen=True)
class PassOutcome:
    """How a replay pass ends: failed (reason and details), continued as new, or neither."""

    failure: str | None = None
    details: str = ""
    continue_as_new: ContinueAsNew | None = None


@dataclass(frozen=True)
class PassRecord:
    """What one replay pass left open, on the SDK's side and on the engine's."""

    instance_id: str
    sdk_open: frozenset[int | str]
    engine_open: frozenset[int | str]
    done: bool


def _action_name(action: dict[str, Any]) -> str | None:
    name = action.get("functionName") or action.get("externalEventName")
    return str(name) if name is not None else None


class DurableEngine:
    """Orchestrations of one app, persisted in a :class:`DurableStore`."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        *,
        clock: Clock | None = None,
        task_hub: str = "devhost",
    ) -> None:
        self.db = db
        self.store = DurableStore(db)
        self.registry = registry
        self.clock: Clock = clock or SystemClock()
        self.task_hub = task_hub
        self.pass_observers: list[Callable[[PassRecord], None]] = []
        # Called after every committed change so that the async driver wakes up.
        self.on_change: Callable[[], None] = lambda: None
        # Wall seconds of each instance's last replay pass (see _hold).
        self._replay_s: dict[str, float] = {}
        # Committed histories in parsed form, so that a pass parses only its own events.
        self._histories = HistoryCache()

    # ------------------------------------------------------------------ time
    def _now_epoch(self) -> float:
        return self.clock.now().timestamp()

    def _now_text(self) -> str:
        return format_time(self.clock.now())

    # ------------------------------------------------------------------ client operations
    def start_new(
        self, name: str, instance_id: str | None = None, input_json: str | None = None
    ) -> str:
        """Start ``name``; an existing finished instance is replaced, a running one refused."""
        self.registry.get(name, TriggerType.ORCHESTRATION)
        instance_id = instance_id or uuid.uuid4().hex
        with self.db.transaction() as conn:
            self._create_instance(conn, name, instance_id, input_json, parent=None)
        log.info("[%s] started orchestration %s", instance_id, name)
        self.on_change()
        return instance_id

    def _create_instance(
        self,
        conn: sqlite3.Connection,
        name: str,
        instance_id: str,
        input_json: str | None,
        parent: tuple[str, str, int] | None,
    ) -> None:
        existing = self.store.get_instance(conn, instance_id)
        if existing is not None:
            if existing.status not in TERMINAL:
                raise InstanceExistsError(
                    f"an orchestration instance with id {instance_id!r} is already "
                    f"{existing.status.value}"
                )
            # Azure replaces a finished instance; its messages and work go with it.
            self.store.delete_instance(conn, instance_id)
        now = self._now_text()
        execution_id = uuid.uuid4().hex
        inst = Instance(
            instance_id=instance_id,
            name=name,
            execution_id=execution_id,
            status=RuntimeStatus.PENDING,
            input=input_json,
            output=None,
            custom_status=None,
            error=None,
            created_at=now,
            updated_at=now,
            parent_instance_id=parent[0] if parent else None,
            parent_execution_id=parent[1] if parent else None,
            parent_task_id=parent[2] if parent else None,
            engine_state=EngineState(),
        )
        self.store.put_instance(conn, inst)
        self.store.enqueue(
            conn, instance_id, execution_id, "start", {"input": input_json}, self._now_epoch()
        )

    def raise_event(self, instance_id: str, event_name: str, data_json: str | None) -> bool:
        """Queue an external event; False when the instance has finished (HTTP 410)."""
        with self.db.transaction() as conn:
            inst = self._require(conn, instance_id)
            if inst.status in TERMINAL:
                return False
            event = make_event(
                EventType.EVENT_RAISED, self.clock.now(), Name=event_name, Input=data_json
            )
            self.store.enqueue(conn, instance_id, None, "event", event, self._now_epoch())
        log.info("[%s] raised event %s", instance_id, event_name)
        self.on_change()
        return True

    def terminate(self, instance_id: str, reason: str) -> bool:
        """Queue termination; False when the instance has already finished (HTTP 410)."""
        with self.db.transaction() as conn:
            inst = self._require(conn, instance_id)
            if inst.status in TERMINAL:
                return False
            self.store.enqueue(
                conn, instance_id, None, "terminate", {"reason": reason}, self._now_epoch()
            )
        log.info("[%s] terminate requested: %s", instance_id, reason)
        self.on_change()
        return True

    def purge(self, instance_id: str) -> int:
        """Delete a finished instance with its history; returns how many were deleted."""
        with self.db.transaction() as conn:
            inst = self.store.get_instance(conn, instance_id)
            if inst is None or inst.status not in TERMINAL:
                return 0
            deleted = self.store.delete_instance(conn, instance_id)
        # Purge is how erasure removes a run's inputs and outputs: none may stay in the file.
        if not self.db.scrub():
            log.warning("[%s] purged; WAL in use, its old pages stay a while", instance_id)
        log.info("[%s] purged", instance_id)
        return deleted

    def restart(self, instance_id: str, *, new_instance_id: bool = True) -> str:
        """Start the same orchestrator again with the same input."""
        with self.db.read() as conn:
            inst = self._require(conn, instance_id)
        target = None if new_instance_id else instance_id
        return self.start_new(inst.name, target, inst.input)

    def get_instance(self, instance_id: str) -> Instance | None:
        """The instance row or None."""
        with self.db.read() as conn:
            return self.store.get_instance(conn, instance_id)

    def get_history(self, instance_id: str) -> list[dict[str, Any]]:
        """History of the current execution."""
        with self.db.read() as conn:
            return self.store.load_history(conn, instance_id)

    def children(self, instance_id: str) -> list[Instance]:
        """Sub-orchestrations started by an instance."""
        with self.db.read() as conn:
            return self.store.children_of(conn, instance_id)

    def query(self, **filters: Any) -> list[Instance]:
        """Instances newest first; see :meth:`DurableStore.query_instances`."""
        with self.db.read() as conn:
            return self.store.query_instances(conn, **filters)

    def _require(self, conn: sqlite3.Connection, instance_id: str) -> Instance:
        inst = self.store.get_instance(conn, instance_id)
        if inst is None:
            raise InstanceNotFoundError(f"no orchestration instance with id {instance_id!r}")
        return inst

    # ------------------------------------------------------------------ activity work
    def recover(self) -> int:
        """At start-up, put activities that were in flight back in the queue."""
        with self.db.transaction() as conn:
            items = self.store.requeue_running(conn)
        for item in items:
            log.warning(
                "[%s] activity %s (task %d) was in flight at shutdown; it runs again",
                item.instance_id,
                item.name,
                item.task_id,
            )
        return len(items)

    def claim_work(self, limit: int) -> list[WorkItem]:
        """Take up to ``limit`` queued activity invocations."""
        with self.db.transaction() as conn:
            return self.store.claim_work(conn, limit)

    def complete_work(self, item: WorkItem, outcome: ActivityOutcome) -> None:
        """Record an activity result as TaskCompleted/TaskFailed for its instance."""
        self.complete_work_batch([(item, outcome)])

    def complete_work_batch(self, results: list[tuple[WorkItem, ActivityOutcome]]) -> None:
        """Record several activity results in one transaction (one commit, not one per result)."""
        self.settle_work(results, 0)

    def settle_work(
        self, results: list[tuple[WorkItem, ActivityOutcome]], claim: int
    ) -> list[WorkItem]:
        """Record activity results and take up to ``claim`` queued ones, in one transaction."""
        if not results and claim <= 0:
            return []
        with self.db.transaction() as conn:
            for item, outcome in results:
                self._complete_one(conn, item, outcome)
            claimed = self.store.claim_work(conn, claim) if claim > 0 else []
        if results:
            self.on_change()
        return claimed

    def _complete_one(
        self, conn: sqlite3.Connection, item: WorkItem, outcome: ActivityOutcome
    ) -> None:
        if outcome.requeue and item.runs < MAX_REQUEUED_RUNS:
            # Its process died, maybe because of a neighbour: at least once means run it again.
            log.warning(
                "[%s] activity %s (task %d) lost its worker; queued again (run %d)",
                item.instance_id,
                item.name,
                item.task_id,
                item.runs,
            )
            self.store.release_work(conn, item.work_id)
            return
        if not self.store.take_work(conn, item.work_id):
            log.info("[%s] result of task %d dropped: work gone", item.instance_id, item.task_id)
            return
        current = self.store.execution_of(conn, item.instance_id)
        if current is None or current[0] != item.execution_id or current[1] in TERMINAL:
            log.info("[%s] late result of task %d dropped", item.instance_id, item.task_id)
            return
        if outcome.ok:
            event = make_event(
                EventType.TASK_COMPLETED,
                self.clock.now(),
                TaskScheduledId=item.task_id,
                Result=outcome.result,
            )
        else:
            log.warning(
                "[%s] activity %s (task %d) failed: %s",
                item.instance_id,
                item.name,
                item.task_id,
                outcome.reason,
            )
            event = make_event(
                EventType.TASK_FAILED,
                self.clock.now(),
                TaskScheduledId=item.task_id,
                Reason=outcome.reason,
                Details=outcome.details,
            )
        self.store.enqueue(
            conn, item.instance_id, item.execution_id, "event", event, self._now_epoch()
        )

    def run_work_inline(self, item: WorkItem) -> ActivityOutcome:
        """Run one activity in this thread (tests and the ``inline`` runner)."""
        try:
            spec = self.registry.get(item.name, TriggerType.ACTIVITY)
        except UnknownFunctionError as err:
            return ActivityOutcome(ok=False, reason=str(err), details="UnknownFunctionError")
        return run_activity(spec, item.input)

    def run_until_idle(self, max_rounds: int = 100_000) -> int:
        """Process messages and run activities inline until nothing is visible; returns steps."""
        steps = 0
        for _ in range(max_rounds):
            progressed = self.process_ready()
            items = self.claim_work(1000)
            self.complete_work_batch([(item, self.run_work_inline(item)) for item in items])
            steps += progressed
            if not progressed and not items:
                return steps
        raise RuntimeError("run_until_idle: no quiescence after max_rounds")

    # ------------------------------------------------------------------ orchestration steps
    def process_ready(self, hold_s: float = 0.0) -> int:
        """Step every instance that has visible messages, until none has; returns steps.

        With ``hold_s``, an instance whose only news is activity results while more of its
        activities are still out waits up to ``hold_s`` so that results replay in batches: each
        replay parses the whole history, so one pass per result would be quadratic in fan-out.
        """
        steps = 0
        stuck: set[str] = set()
        while True:
            with self.db.read() as conn:
                ready = [
                    i for i in self.store.ready_instances(conn, self._now_epoch()) if i not in stuck
                ]
            if not ready:
                return steps
            for instance_id in ready:
                if hold_s > 0 and self._hold(instance_id, hold_s):
                    stuck.add(instance_id)
                    continue
                if self.step(instance_id):
                    steps += 1
                else:
                    # Messages that cannot be taken yet (events before the start message) wait.
                    stuck.add(instance_id)

    def _hold(self, instance_id: str, hold_s: float) -> bool:
        now = self._now_epoch()
        results = (int(EventType.TASK_COMPLETED), int(EventType.TASK_FAILED))
        with self.db.read() as conn:
            visible, visible_results, oldest = self.store.visible_summary(
                conn, instance_id, now, results
            )
            if visible == 0 or visible_results < visible or oldest is None:
                return False
            if self.store.count_work_of(conn, instance_id) == 0:
                return False
        # A replay holds the database for as long as it runs (results and claims wait; slots
        # live on work claimed ahead), and it grows with the history: hold results for a
        # multiple of the last replay's length, so a big fan-out spends at most a fifth of its
        # time replaying.
        hold = max(hold_s, HOLD_PER_REPLAY * self._replay_s.get(instance_id, 0.0))
        return now - oldest < hold

    def next_timer_at(self) -> float | None:
        """Epoch time of the earliest pending message (a timer), if any."""
        with self.db.read() as conn:
            return self.store.next_visible_at(conn)

    def step(self, instance_id: str) -> bool:
        """One replay pass of ``instance_id`` in one transaction; False if nothing was taken."""
        started = time.perf_counter()
        try:
            return self._step_once(instance_id)
        finally:
            if len(self._replay_s) >= _REPLAY_TIMES_KEPT:
                self._replay_s.clear()  # only recent instances matter; keep memory bounded
            self._replay_s[instance_id] = time.perf_counter() - started

    @contextmanager
    def _step_transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction whose history-cache changes apply only if it commits."""
        # Holding the database's lock across the commit keeps cache and database in step.
        with self.db.read():
            try:
                with self.db.transaction() as conn:
                    yield conn
            except BaseException:
                self._histories.rollback()
                raise
            self._histories.commit()

    def _step_once(self, instance_id: str) -> bool:
        progressed = True
        try:
            with self._step_transaction() as conn:
                progressed = self._step(conn, instance_id)
        except Exception:
            log.exception("[%s] step failed; the instance is marked Failed", instance_id)
            with self._step_transaction() as conn:
                inst = self.store.get_instance(conn, instance_id)
                if inst is not None and inst.status not in TERMINAL:
                    self._fail(conn, inst, "devhost internal error while replaying", "", [])
                else:
                    self.store.delete_inbox_of(conn, instance_id)
        if progressed:
            self.on_change()
        return progressed

    def _step(self, conn: sqlite3.Connection, instance_id: str) -> bool:
        msgs = self.store.visible_messages(conn, instance_id, self._now_epoch())
        if not msgs:
            return False
        inst = self.store.get_instance(conn, instance_id)
        if inst is None:
            self.store.delete_messages(conn, [m.msg_id for m in msgs])
            log.warning("[%s] %d messages for an unknown instance dropped", instance_id, len(msgs))
            return True
        if inst.status in TERMINAL:
            # At-least-once delivery: late duplicates must never re-run finished work.
            self.store.delete_messages(conn, [m.msg_id for m in msgs])
            log.info(
                "[%s] %d late messages for a finished instance dropped", instance_id, len(msgs)
            )
            return True
        stale = [m for m in msgs if m.execution_id not in (None, inst.execution_id)]
        if stale:
            self.store.delete_messages(conn, [m.msg_id for m in stale])
            msgs = [m for m in msgs if m not in stale]
        terminate = next((m for m in msgs if m.kind == "terminate"), None)
        if terminate is not None:
            self._terminate(conn, inst, str(terminate.body.get("reason", "")))
            return True
        if inst.status is RuntimeStatus.PENDING and (not msgs or msgs[0].kind != "start"):
            return bool(stale)  # events raised before the start message stay queued
        self._replay_pass(conn, inst, msgs)
        return True

    def _is_retry_related(self, state: EngineState, msg: InboxMessage) -> bool:
        if msg.kind != "event":
            return False
        etype = msg.body["EventType"]
        if etype in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
            entry = state.open.get(str(msg.body["TaskScheduledId"]))
            return entry is not None and entry.group is not None
        if etype == EventType.TIMER_FIRED:
            entry = state.open.get(str(msg.body["TimerId"]))
            return entry is not None and entry.kind == "retry_timer"
        return False

    def _take_batch(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        msgs: list[InboxMessage],
        engine_events: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Consume the messages of this pass and return their history events."""
        new_events: list[dict[str, Any]] = []
        consumed: list[int] = []
        for msg in msgs:
            related = self._is_retry_related(inst.state, msg)
            if related and new_events:
                break  # a retry event goes first in a pass of its own, to keep ids in step
            consumed.append(msg.msg_id)
            event = self._accept(conn, inst, msg, engine_events)
            if event is not None:
                new_events.append(event)
            if related:
                break
        self.store.delete_messages(conn, consumed)
        return new_events

    def _committed_history(self, conn: sqlite3.Connection, inst: Instance) -> CachedHistory:
        """The stored history, played, from the cache when it matches the database."""
        length = self.store.history_length(conn, inst.instance_id)
        cached = self._histories.get(inst.instance_id, inst.execution_id, length)
        if cached is not None:
            return cached
        return CachedHistory.of(inst.execution_id, self.store.load_history(conn, inst.instance_id))

    def _replay_pass(
        self, conn: sqlite3.Connection, inst: Instance, msgs: list[InboxMessage]
    ) -> None:
        history = self._committed_history(conn, inst)
        old_history = history.events
        engine_events: list[dict[str, Any]] = []
        new_events = self._take_batch(conn, inst, msgs, engine_events)
        if not new_events:
            return
        if inst.status is RuntimeStatus.PENDING:
            inst.status = RuntimeStatus.RUNNING
        started = make_event(EventType.ORCHESTRATOR_STARTED, self.clock.now())
        spec = self.registry.get(inst.name, TriggerType.ORCHESTRATION)
        this_pass = [started, *new_events]
        result = replay(
            spec.user_function,
            instance_id=inst.instance_id,
            history=[*old_history, *this_pass],
            input_json=inst.input,
            parent_instance_id=inst.parent_instance_id,
            parsed=[*history.parsed, *parse_events(this_pass)],
        )
        pass_events = [started, *new_events, *engine_events]
        outcome = self._apply_result(conn, inst, old_history, result, pass_events)
        if outcome.failure is not None:
            self._fail(conn, inst, outcome.failure, outcome.details, pass_events, len(old_history))
        elif result.done and outcome.continue_as_new is not None:
            self._continue_as_new(
                conn, inst, outcome.continue_as_new.input, pass_events, len(old_history)
            )
        elif result.done:
            self._complete(conn, inst, result.output, pass_events, len(old_history))
        else:
            pass_events.append(make_event(EventType.ORCHESTRATOR_COMPLETED, self.clock.now()))
            self.store.append_history(conn, inst.instance_id, len(old_history), pass_events)
            self._histories.stage(inst.instance_id, history.extended(pass_events))
            inst.updated_at = self._now_text()
            self.store.put_instance(conn, inst)

    def _apply_result(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        old_history: list[dict[str, Any]],
        result: ReplayResult,
        pass_events: list[dict[str, Any]],
    ) -> PassOutcome:
        """Check and schedule the actions: a failure, or a continue-as-new, or neither."""
        mismatch = self._check_determinism(inst.state, old_history, result)
        if mismatch is not None:
            log.error("[%s] %s", inst.instance_id, mismatch)
            return PassOutcome(mismatch, "NonDeterministicOrchestrationException")
        continue_as_new: ContinueAsNew | None = None
        for action in result.actions[len(inst.state.actions) :]:
            scheduled = self._schedule(conn, inst, action, pass_events)
            if scheduled.failure is not None:
                return PassOutcome(scheduled.failure)
            if scheduled.continue_as_new is not None:
                continue_as_new = scheduled.continue_as_new
        inst.custom_status = (
            json.dumps(result.custom_status) if result.custom_status is not None else None
        )
        if not result.done:
            problem = self._check_open_ids(inst, result)
            if problem is not None:
                return PassOutcome(problem)
        else:
            self._notify_pass(inst, result)
        if result.error is not None:
            log.error("[%s] orchestrator %s failed: %s", inst.instance_id, inst.name, result.error)
            return PassOutcome(result.error)
        return PassOutcome(continue_as_new=continue_as_new)

    # -- events in --------------------------------------------------------------------------
    def _accept(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        msg: InboxMessage,
        engine_events: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        """Update bookkeeping for one message; None for a duplicate that must not be replayed."""
        state = inst.state
        if msg.kind == "start":
            return make_event(
                EventType.EXECUTION_STARTED,
                self.clock.now(),
                Name=inst.name,
                Input=inst.input,
                Version="",
                OrchestrationInstance={
                    "InstanceId": inst.instance_id,
                    "ExecutionId": inst.execution_id,
                },
            )
        event = dict(msg.body)
        etype = EventType(event["EventType"])
        if etype == EventType.EVENT_RAISED:
            name = str(event["Name"])
            state.raised[name] = state.raised.get(name, 0) + 1
            return event
        key = str(
            event.get("TimerId") if etype == EventType.TIMER_FIRED else event["TaskScheduledId"]
        )
        entry = state.open.pop(key, None)
        if entry is None:
            log.info("[%s] duplicate completion of task %s dropped", inst.instance_id, key)
            return None
        group_id = entry.group
        if group_id is None:
            return event
        group = state.groups[group_id]
        failed = etype in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED)
        if failed:
            # The extension answers every failed attempt (the last one too) with a timer that
            # the SDK numbers itself; the retry decision is taken when it fires.
            timer_id = state.take_id()
            fire_at = self.clock.now() + timedelta(milliseconds=group.first_ms)
            state.open[str(timer_id)] = OpenTask("retry_timer", None, group_id)
            self._create_timer(conn, inst, timer_id, fire_at, engine_events)
        elif etype == EventType.TIMER_FIRED and group.attempts < group.max:
            task_id = state.take_id()
            group.attempts += 1
            state.open[str(task_id)] = OpenTask(group.kind, group.name, group_id)
            log.info("[%s] retrying %s, attempt %d", inst.instance_id, group.name, group.attempts)
            self._dispatch(
                conn,
                inst,
                group.kind,
                str(group.name),
                group.input,
                task_id,
                group.instance_id,
                engine_events,
            )
        return event

    # -- actions out ------------------------------------------------------------------------
    def _check_determinism(
        self, state: EngineState, old_history: list[dict[str, Any]], result: ReplayResult
    ) -> str | None:
        scheduled = {
            int(e["EventId"]): e for e in old_history if e["EventType"] in _KIND_OF_SCHEDULED_EVENT
        }
        for index, (known, action) in enumerate(zip(state.actions, result.actions, strict=False)):
            kind, name, task_id = known.kind, known.name, known.task_id
            try:
                new_kind = _KIND_OF_ACTION[ActionType(action["actionType"])]
            except (KeyError, ValueError):
                new_kind = f"action type {action.get('actionType')}"
            new_name = _action_name(action)
            if new_kind != kind or (kind != "timer" and new_name != name):
                return (
                    "Non-deterministic workflow detected: action #"
                    f"{index} was {kind} {name!r} in the history but replay scheduled "
                    f"{new_kind} {new_name!r}"
                )
            if task_id is not None:
                event = scheduled.get(int(task_id))
                if event is None:
                    continue
                hist_kind = _KIND_OF_SCHEDULED_EVENT[EventType(event["EventType"])]
                hist_name = event.get("Name")
                if hist_kind != new_kind or (new_kind != "timer" and hist_name != new_name):
                    return (
                        f"Non-deterministic workflow detected: task {task_id} is {hist_kind} "
                        f"{hist_name!r} in the history but replay scheduled {new_kind} {new_name!r}"
                    )
        return None

    def _schedule(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        action: dict[str, Any],
        events: list[dict[str, Any]],
    ) -> Scheduled:
        """Turn one new action into history and work."""
        state = inst.state
        try:
            atype = ActionType(action["actionType"])
        except ValueError:
            return Scheduled(
                failure=f"action type {action.get('actionType')!r} is not supported by devhost"
            )
        if atype not in _KIND_OF_ACTION:
            return Scheduled(
                failure=(
                    f"action {atype.name} is not supported by devhost "
                    "(entities and call_http are not)"
                )
            )
        kind = _KIND_OF_ACTION[atype]
        name = _action_name(action)
        if kind == "event":
            state.actions.append(ScheduledAction(kind, name, None))
            event_name = str(name)
            state.waits[event_name] = state.waits.get(event_name, 0) + 1
            return Scheduled()
        task_id = state.take_id()
        state.actions.append(ScheduledAction(kind, name, task_id))
        if kind == "continue":
            return Scheduled(continue_as_new=ContinueAsNew(action.get("input")))
        if kind == "timer":
            fire_at = parse_time(str(action["fireAt"]))
            state.open[str(task_id)] = OpenTask("timer", None, None)
            self._create_timer(conn, inst, task_id, fire_at, events)
            return Scheduled()
        group_id = None
        if atype in (
            ActionType.CALL_ACTIVITY_WITH_RETRY,
            ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ):
            options = action.get("retryOptions") or {}
            group_id = str(task_id)
            state.groups[group_id] = RetryGroup(
                kind=kind,
                name=name,
                input=action.get("input"),
                instance_id=action.get("instanceId"),
                first_ms=int(options.get("firstRetryIntervalInMilliseconds", 1000)),
                max=int(options.get("maxNumberOfAttempts", 1)),
                attempts=1,
            )
        state.open[str(task_id)] = OpenTask(kind, name, group_id)
        self._dispatch(
            conn,
            inst,
            kind,
            str(name),
            action.get("input"),
            task_id,
            action.get("instanceId"),
            events,
        )
        return Scheduled()

    def _create_timer(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        timer_id: int,
        fire_at: datetime,
        events: list[dict[str, Any]],
    ) -> None:
        """TimerCreated into this pass's events, and its TimerFired queued for ``fire_at``."""
        events.append(
            make_event(
                EventType.TIMER_CREATED, self.clock.now(), timer_id, FireAt=format_time(fire_at)
            )
        )
        fired = make_event(
            EventType.TIMER_FIRED, fire_at, TimerId=timer_id, FireAt=format_time(fire_at)
        )
        self.store.enqueue(
            conn, inst.instance_id, inst.execution_id, "event", fired, fire_at.timestamp()
        )

    def _dispatch(  # noqa: PLR0917 - one argument per field of the scheduled event
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        kind: str,
        name: str,
        input_json: str | None,
        task_id: int,
        child_id: str | None,
        events: list[dict[str, Any]],
    ) -> None:
        now = self.clock.now()
        if kind == "activity":
            events.append(
                make_event(EventType.TASK_SCHEDULED, now, task_id, Name=name, Input=input_json)
            )
            self.store.add_work(
                conn, inst.instance_id, inst.execution_id, task_id, name, input_json
            )
            return
        child = child_id or f"{inst.instance_id}:{task_id}"
        events.append(
            make_event(
                EventType.SUB_ORCHESTRATION_CREATED,
                now,
                task_id,
                Name=name,
                InstanceId=child,
                Input=input_json,
            )
        )
        failure: str | None = None
        try:
            self.registry.get(name, TriggerType.ORCHESTRATION)
            self._create_instance(
                conn, name, child, input_json, parent=(inst.instance_id, inst.execution_id, task_id)
            )
            log.info("[%s] started sub-orchestration %s as %s", inst.instance_id, name, child)
        except (UnknownFunctionError, InstanceExistsError) as err:
            failure = str(err)
        if failure is not None:
            log.error("[%s] sub-orchestration %s not started: %s", inst.instance_id, name, failure)
            failed = make_event(
                EventType.SUB_ORCHESTRATION_FAILED,
                now,
                TaskScheduledId=task_id,
                Reason=failure,
                Details=failure,
            )
            self.store.enqueue(
                conn, inst.instance_id, inst.execution_id, "event", failed, now.timestamp()
            )

    # -- checks -----------------------------------------------------------------------------
    def _notify_pass(self, inst: Instance, result: ReplayResult) -> PassRecord:
        record = PassRecord(
            instance_id=inst.instance_id,
            sdk_open=frozenset(result.open_ids),
            engine_open=inst.state.open_ids(),
            done=result.done,
        )
        for observer in self.pass_observers:
            observer(record)
        return record

    def _check_open_ids(self, inst: Instance, result: ReplayResult) -> str | None:
        record = self._notify_pass(inst, result)
        if record.sdk_open == record.engine_open:
            return None
        problem = (
            "devhost engine out of step with the SDK: SDK has open "
            f"{sorted(map(str, record.sdk_open))}, "
            f"engine has {sorted(map(str, record.engine_open))}"
        )
        log.error("[%s] %s", inst.instance_id, problem)
        return problem

    # -- endings ----------------------------------------------------------------------------
    def _finish(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        status: RuntimeStatus,
        events: list[dict[str, Any]],
        history_len: int | None,
    ) -> None:
        if history_len is None:
            history_len = len(self.store.load_history(conn, inst.instance_id))
        events.append(make_event(EventType.ORCHESTRATOR_COMPLETED, self.clock.now()))
        self.store.append_history(conn, inst.instance_id, history_len, events)
        self.store.delete_work_of(conn, inst.instance_id)
        self.store.delete_inbox_of(conn, inst.instance_id)
        self._histories.stage(inst.instance_id, None)  # a finished instance is not replayed
        inst.status = status
        inst.updated_at = self._now_text()
        self.store.put_instance(conn, inst)

    def _notify_parent(
        self, conn: sqlite3.Connection, inst: Instance, event: dict[str, Any]
    ) -> None:
        if inst.parent_instance_id is None:
            return
        event["TaskScheduledId"] = inst.parent_task_id
        self.store.enqueue(
            conn,
            inst.parent_instance_id,
            inst.parent_execution_id,
            "event",
            event,
            self._now_epoch(),
        )

    def _notify_parent_failed(
        self, conn: sqlite3.Connection, inst: Instance, *, reason: str, details: str
    ) -> None:
        """A failed or terminated sub-orchestration fails its parent's task with ``reason``."""
        self._notify_parent(
            conn,
            inst,
            make_event(
                EventType.SUB_ORCHESTRATION_FAILED, self.clock.now(), Reason=reason, Details=details
            ),
        )

    def _complete(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        output: Any,
        events: list[dict[str, Any]],
        history_len: int,
    ) -> None:
        result = json.dumps(output)
        events.append(
            make_event(
                EventType.EXECUTION_COMPLETED,
                self.clock.now(),
                Result=result,
                OrchestrationStatus=1,
            )
        )
        inst.output = result
        self._finish(conn, inst, RuntimeStatus.COMPLETED, events, history_len)
        log.info("[%s] orchestration %s completed", inst.instance_id, inst.name)
        self._notify_parent(
            conn,
            inst,
            make_event(EventType.SUB_ORCHESTRATION_COMPLETED, self.clock.now(), Result=result),
        )

    def _fail(  # noqa: PLR0917 - same order as the events it writes
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        reason: str,
        details: str,
        events: list[dict[str, Any]],
        history_len: int | None = None,
    ) -> None:
        message = f"Orchestrator function '{inst.name}' failed: {reason}"
        events.append(
            make_event(
                EventType.EXECUTION_FAILED, self.clock.now(), Reason=message, Details=details
            )
        )
        inst.output = json.dumps(message)
        inst.error = reason
        self._finish(conn, inst, RuntimeStatus.FAILED, events, history_len)
        log.error("[%s] orchestration %s failed: %s", inst.instance_id, inst.name, reason)
        self._notify_parent_failed(conn, inst, reason=message, details=details)

    def _terminate(self, conn: sqlite3.Connection, inst: Instance, reason: str) -> None:
        events = [make_event(EventType.EXECUTION_TERMINATED, self.clock.now(), Input=reason)]
        inst.output = json.dumps(reason)
        self._finish(conn, inst, RuntimeStatus.TERMINATED, events, None)
        log.info("[%s] orchestration %s terminated: %s", inst.instance_id, inst.name, reason)
        self._notify_parent_failed(conn, inst, reason=f"terminated: {reason}", details="")

    def _continue_as_new(
        self,
        conn: sqlite3.Connection,
        inst: Instance,
        input_json: str | None,
        events: list[dict[str, Any]],
        history_len: int,
    ) -> None:
        # Unprocessed events and pending timers belong to the old execution and are dropped,
        # as the extension does unless asked to preserve them.
        self.store.delete_work_of(conn, inst.instance_id)
        self.store.delete_inbox_of(conn, inst.instance_id)
        self.store.clear_history(conn, inst.instance_id)
        self._histories.stage(inst.instance_id, None)
        inst.execution_id = uuid.uuid4().hex
        inst.input = input_json
        inst.state = EngineState()
        inst.status = RuntimeStatus.RUNNING
        inst.updated_at = self._now_text()
        self.store.put_instance(conn, inst)
        self.store.enqueue(
            conn,
            inst.instance_id,
            inst.execution_id,
            "start",
            {"input": input_json},
            self._now_epoch(),
        )
        log.info("[%s] continued as new", inst.instance_id)
