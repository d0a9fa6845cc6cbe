"""The extract orchestration hears of a job's end at once (external event) and still
finishes by polling when no event comes. Fake clock: only an advance fires a timer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dataops.batch.notify import JOB_DONE_EVENT, job_done_payload
from devhost.db import Database
from devhost.durable.clock import FakeClock
from devhost.durable.engine import DurableEngine
from devhost.durable.store import RuntimeStatus
from devhost.loader import load_app
from devhost.registry import Registry
from tests.devhost.conftest import APPS

INPUT = json.dumps({"measurement_id": "m1", "raw_datastream_id": "r1", "datastream_id": "d1"})


@pytest.fixture
def engine(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DurableEngine]:
    monkeypatch.setenv("EXTRACT_WAIT_DIR", str(tmp_path))
    registry = Registry.from_app(load_app(APPS / "extract_wait"))
    db = Database(tmp_path / "durable.sqlite3")
    yield DurableEngine(db, registry, clock=clock)
    db.close()


def _status(engine: DurableEngine, instance_id: str) -> RuntimeStatus:
    inst = engine.get_instance(instance_id)
    assert inst is not None
    return inst.status


def _polls(tmp_path: Path) -> int:
    return int((tmp_path / "polls").read_text())


def test_the_job_done_event_ends_the_wait_without_any_timer(
    engine: DurableEngine, tmp_path: Path
) -> None:
    """The event wakes the orchestration: it polls again and completes while the fake clock
    stands still (no timer could have fired)."""
    engine.start_new("extract", "x1", INPUT)
    engine.run_until_idle()
    assert _status(engine, "x1") is RuntimeStatus.RUNNING
    assert _polls(tmp_path) == 1
    (tmp_path / "done").touch()
    assert engine.raise_event("x1", JOB_DONE_EVENT, job_done_payload("job-1"))
    engine.run_until_idle()
    assert _status(engine, "x1") is RuntimeStatus.COMPLETED
    assert _polls(tmp_path) == 2


def test_an_early_event_only_causes_another_poll(engine: DurableEngine, tmp_path: Path) -> None:
    """An event while the job still runs (another job ended) polls once more and waits again;
    the job's end is still seen."""
    engine.start_new("extract", "x2", INPUT)
    engine.run_until_idle()
    engine.raise_event("x2", JOB_DONE_EVENT, job_done_payload("job-0"))
    engine.run_until_idle()
    assert _status(engine, "x2") is RuntimeStatus.RUNNING
    assert _polls(tmp_path) == 2
    (tmp_path / "done").touch()
    engine.raise_event("x2", JOB_DONE_EVENT, job_done_payload("job-1"))
    engine.run_until_idle()
    assert _status(engine, "x2") is RuntimeStatus.COMPLETED


def test_polling_still_completes_when_no_event_comes(
    engine: DurableEngine, clock: FakeClock, tmp_path: Path
) -> None:
    """Without the event, the 5 s timer fires and the poll finds the job done."""
    engine.start_new("extract", "x3", INPUT)
    engine.run_until_idle()
    (tmp_path / "done").touch()
    engine.run_until_idle()
    assert _status(engine, "x3") is RuntimeStatus.RUNNING
    clock.advance(timedelta(seconds=5))
    engine.run_until_idle()
    assert _status(engine, "x3") is RuntimeStatus.COMPLETED
    assert _polls(tmp_path) == 2


def test_event_and_timer_in_the_same_batch(
    engine: DurableEngine, clock: FakeClock, tmp_path: Path
) -> None:
    """The event and the due timer replay in one pass (the timer, older, wins): one poll sees
    the job done and the orchestration completes; the left-over event is ignored."""
    engine.start_new("extract", "x4", INPUT)
    engine.run_until_idle()
    (tmp_path / "done").touch()
    clock.advance(timedelta(seconds=5))
    engine.raise_event("x4", JOB_DONE_EVENT, job_done_payload("job-1"))
    engine.run_until_idle()
    assert _status(engine, "x4") is RuntimeStatus.COMPLETED
