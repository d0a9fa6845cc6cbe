"""A large upload is ingested in waves of sub-orchestrations with bounded histories.

The project's app runs on devhost's engine (fake clock, activities run inline) with the ingest
activities replaced by fakes that record their inputs (activities are looked up on their module
at every call), so this checks the orchestration's structure alone, quickly: which
sub-orchestrations exist, which files each one handled, and how long each history grew.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.db import Database
from devhost.durable import engine as engine_module
from devhost.durable.clock import FakeClock
from devhost.durable.engine import DurableEngine
from devhost.durable.store import Instance, RuntimeStatus
from devhost.loader import load_app
from devhost.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "fleet/large"
# Scaled down from the production wave (500) so the default run stays quick: every activity
# call is a few engine transactions; bench/bench_ingest_waves.py runs 5,000 files.
FILES = 120
WAVE = 50


@pytest.fixture(scope="module")
def app_registry() -> Registry:
    return Registry.from_app(load_app(ROOT, apply_settings=False))


class FakeIngest:
    """The ingest activities as fakes over ``count`` listed files; records what was asked."""

    def __init__(self, count: int) -> None:
        self.files = [
            {"path": f"f/{i:05d}.bin", "etag": f"e{i}", "sha256": f"{i:064x}", "size": i + 1}
            for i in range(count)
        ]
        self.hashed: list[str] = []
        self.copied: list[str] = []

    def check_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "upload_prefix": params["upload_prefix"],
            "manifest_etag": '"0x1"',
            "files": self.files,
            "missing": [],
        }

    def hash_file(self, params: dict[str, Any]) -> dict[str, Any]:
        self.hashed.append(params["path"])
        return {"path": params["path"], "sha256": params["sha256"]}

    def register(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "measurement_id": "m-1",
            "datastream_id": params["datastream_id"],
            "raw_prefix": "r",
        }

    def copy_file(self, params: dict[str, Any]) -> dict[str, Any]:
        self.copied.append(params["path"])
        return {"source_changed": False}

    def done(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}


@pytest.fixture
def engine(tmp_path: Path, app_registry: Registry, clock: FakeClock) -> Iterator[DurableEngine]:
    db = Database(tmp_path / "devhost.sqlite")
    yield DurableEngine(db, app_registry, clock=clock)
    db.close()


def fake_activities(monkeypatch: pytest.MonkeyPatch, count: int) -> FakeIngest:
    fake = FakeIngest(count)
    module = sys.modules["activities.ingest"]
    for name in ("check_upload", "hash_file", "register", "copy_file"):
        monkeypatch.setattr(module, name, getattr(fake, name))
    for name in ("complete", "delete_landing", "fail"):
        monkeypatch.setattr(module, name, fake.done)
    return fake


def ingest(engine: DurableEngine, wave: int | None) -> Instance:
    start = {"upload_prefix": PREFIX, "extract": False, "poll_seconds": 1}
    if wave is not None:
        start["files_per_wave"] = wave
    engine.start_new("ingest", "ingest-large", json.dumps(start))
    engine.run_until_idle()
    done = engine.get_instance("ingest-large")
    assert done is not None
    return done


def test_a_large_upload_runs_in_waves_of_sub_orchestrations_with_bounded_histories(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 files in waves of 50: three hash and three copy sub-orchestrations of 50, 50 and 20
    files, every file hashed and copied exactly once, and no history (the parent's or
    a wave's) longer than a bound set by the wave size, not by the upload."""
    fake = fake_activities(monkeypatch, FILES)
    parent = ingest(engine, WAVE)
    assert parent.status is RuntimeStatus.COMPLETED, parent.error

    children = engine.children(parent.instance_id)
    assert {child.name for child in children} == {"ingest_files"}
    assert all(child.status is RuntimeStatus.COMPLETED for child in children)
    waves = sorted(
        (child.instance_id.rsplit(":", 3)[1:], len(json.loads(child.input or "{}")["files"]))
        for child in children
    )
    assert waves == [
        (["copy", "0", "0"], 50),
        (["copy", "0", "1"], 50),
        (["copy", "0", "2"], 20),
        (["hash", "0", "0"], 50),
        (["hash", "0", "1"], 50),
        (["hash", "0", "2"], 20),
    ]
    listed = [item["path"] for item in fake.files]
    assert sorted(fake.hashed) == listed
    assert sorted(fake.copied) == listed
    output = json.loads(parent.output or "{}")
    assert output["measurement_id"] == "m-1"

    # Each activity call is two events (scheduled, completed); a wave adds per-pass markers.
    wave_bound = 3 * WAVE + 20
    for child in children:
        assert len(engine.get_history(child.instance_id)) <= wave_bound, child.instance_id
    parent_history = len(engine.get_history(parent.instance_id))
    # 6 waves + 4 activities, not the 240 calls of the files themselves.
    assert parent_history <= 2 * FILES // 3, parent_history


def test_an_upload_of_one_wave_or_less_runs_inline_without_sub_orchestrations(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small uploads keep the history they always had (so instances in flight replay)."""
    fake = fake_activities(monkeypatch, 20)
    parent = ingest(engine, None)
    assert parent.status is RuntimeStatus.COMPLETED, parent.error
    assert engine.children(parent.instance_id) == []
    assert len(fake.hashed) == len(fake.copied) == 20


# SQLite calls the progress handler every this many virtual-machine instructions: a count
# of the work its statements did (rows scanned included), not of how many there were.
VM_STEPS_PER_CALL = 100


def _work_per_file(engine: DurableEngine, files: int) -> tuple[float, float, float, float]:
    """Per file, for one ingest of ``files``: SQL statements, SQLite VM instructions, history
    events replayed, and bytes of history the waves replayed (their inputs included)."""
    statements = 0
    vm_steps = 0
    replayed = 0
    wave_bytes = 0

    def count_statement(_sql: str) -> None:
        nonlocal statements
        statements += 1

    def count_vm_steps() -> int:
        nonlocal vm_steps
        vm_steps += VM_STEPS_PER_CALL
        return 0  # go on

    original = vars(engine_module)["replay"]

    def counting_replay(*args: Any, **kwargs: Any) -> Any:
        nonlocal replayed, wave_bytes
        replayed += len(kwargs["history"])
        if kwargs["parent_instance_id"] is not None:
            wave_bytes += sum(len(json.dumps(event)) for event in kwargs["history"])
        return original(*args, **kwargs)

    conn = engine.db._conn
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(vars(engine_module), "replay", counting_replay)
        fake_activities(patch, files)
        conn.set_trace_callback(count_statement)
        conn.set_progress_handler(count_vm_steps, VM_STEPS_PER_CALL)
        try:
            parent = ingest(engine, WAVE)
        finally:
            conn.set_trace_callback(None)
            conn.set_progress_handler(None, 0)
    assert parent.status is RuntimeStatus.COMPLETED, parent.error
    return statements / files, vm_steps / files, replayed / files, wave_bytes / files


def test_the_engines_work_per_file_stays_flat_when_the_upload_doubles(
    tmp_path: Path, app_registry: Registry, clock: FakeClock
) -> None:
    """Per file, the SQL statements, the work SQLite does for them, the history events
    replayed and the bytes of history the waves replay agree within 15 % for 100 and 200 files
    in waves of 50: no engine query scans what grows with the upload, and no wave is handed
    more than its own files (either would make a large ingest quadratic). The parent's
    replayed bytes are left out: its history holds the checked file list, replayed once per
    wave, a small term (docs/ingest.md, "5,000 files")."""
    measured = []
    for files in (100, 200):
        db = Database(tmp_path / f"devhost-{files}.sqlite")
        try:
            engine = DurableEngine(db, app_registry, clock=clock)
            measured.append(_work_per_file(engine, files))
        finally:
            db.close()
    for small, large in zip(*measured, strict=True):
        assert large <= 1.15 * small, measured
