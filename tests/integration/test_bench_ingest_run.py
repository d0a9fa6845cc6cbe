"""The ingest benchmark's run is the upload's run: the reconciler starts no second one.

``bench/bench_ingest_waves.py`` starts ``ingest`` itself, on a devhost whose reconciler timer
fires every 5 minutes. It once started the run under an id of its own, so an upload whose
manifest was older than ``reconcile_after_minutes`` looked like a lost event: the reconciler
started a second ingest of the same upload (and one of the direct reference's upload, left in
landing) alongside the measured one. Only runs longer than the threshold were hit, so the
5,000-file run did about three times the work of the 1,000-file one per file and looked as if
ingest did not scale. This drives the reconciler against a devhost engine holding a run the
benchmark started, on Azurite, with both uploads well past the threshold.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.bench_ingest_waves import ingest_runs, start_ingest, upload_files
from dataops.ids import instance_id_for
from dataops.ingest.reconcile import reconcile
from dataops.ingest.runs import RunInfo
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from devhost.db import Database
from devhost.durable.engine import DurableEngine
from devhost.durable.history import parse_time
from devhost.durable.store import Instance, RuntimeStatus
from devhost.loader import load_app
from devhost.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
MEASURED = "bench/waves"
LEFT_IN_LANDING = "bench/direct"


class EngineRuns:
    """``RunControl`` on a devhost engine: what the function app's Durable client answers."""

    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine

    @staticmethod
    def _info(inst: Instance) -> RunInfo:
        return RunInfo(
            instance_id=inst.instance_id,
            name=inst.name,
            runtime_status=inst.status.value,
            created_time=parse_time(inst.created_at),
            last_updated_time=parse_time(inst.updated_at),
        )

    async def status(self, instance_id: str) -> RunInfo | None:
        inst = self.engine.get_instance(instance_id)
        return None if inst is None else self._info(inst)

    async def start(self, orchestration: str, instance_id: str, start_input: Any) -> None:
        self.engine.start_new(orchestration, instance_id, json.dumps(start_input))

    async def active_created_before(self, created_before: datetime) -> list[RunInfo]:
        active = [RuntimeStatus.PENDING.value, RuntimeStatus.RUNNING.value]
        return [
            self._info(inst)
            for inst in self.engine.query(statuses=active, limit=1000)
            if parse_time(inst.created_at) < created_before
        ]

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.engine.terminate(instance_id, reason)

    async def purge(self, instance_id: str) -> int:
        return self.engine.purge(instance_id)

    async def raise_event(self, instance_id: str, event_name: str, data_json: str) -> bool:
        if self.engine.get_instance(instance_id) is None:
            return False
        return self.engine.raise_event(instance_id, event_name, data_json)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DurableEngine]:
    db = Database(tmp_path / "devhost.sqlite")
    registry = Registry.from_app(load_app(ROOT, apply_settings=False))
    yield DurableEngine(db, registry)
    db.close()


def test_the_reconciler_starts_no_second_ingest_of_the_benchmarks_upload(
    engine: DurableEngine, blob_zones: BlobZones, tmp_path: Path
) -> None:
    """An hour after both uploads, the reconciler leaves the upload the benchmark is ingesting
    alone (its run is under the upload's instance id) and starts a run only for an upload that
    has none: the benchmark's own run stays the one ingest of its upload."""
    upload_files(blob_zones, MEASURED, "WVW-BENCH-WAVES", 3)
    upload_files(blob_zones, LEFT_IN_LANDING, "WVW-BENCH-DIRECT", 3)
    measured = start_ingest(engine, MEASURED)
    assert measured == instance_id_for("ingest", MEASURED)

    store = SqliteStore(tmp_path / "metadata.sqlite3")
    try:
        report = asyncio.run(
            reconcile(
                EngineRuns(engine),
                blob_zones,
                store,
                now=datetime.now(UTC) + timedelta(hours=1),
                reconcile_after=timedelta(minutes=10),
                run_deadline=timedelta(hours=2),
                start_input=lambda prefix: {"upload_prefix": prefix, "extract": False},
            )
        )
    finally:
        store.close()

    # The control case shows the reconciler acts here: an upload with no run gets one.
    assert report.started == [LEFT_IN_LANDING]
    assert ingest_runs(engine) == sorted([measured, instance_id_for("ingest", LEFT_IN_LANDING)])
