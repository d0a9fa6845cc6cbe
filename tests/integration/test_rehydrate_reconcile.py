"""Rehydrate, rerun and reconciler logic against real Azurite and the SQLite store.

The Durable client is replaced by :class:`MemoryRuns`, an in-memory ``RunControl`` with
start-new semantics like Azure's (finished instances replaced, active ones refused); the
devhost end-to-end tests in tests/e2e/test_ingest_operations.py use the real client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from dataops import ingest, telemetry
from dataops.errors import ConflictError, NotFoundError
from dataops.ids import instance_id_for
from dataops.ingest.reconcile import reconcile
from dataops.ingest.rehydrate import (
    RegisteredUpload,
    RestoreResult,
    lineage_sources,
    manifest_from_measurement,
    restore_upload,
)
from dataops.ingest.runs import RunActiveError, RunInfo, rerun_measurement, rerun_upload
from dataops.ingest.stranded import find_stranded
from dataops.manifest import measurement_id_of, parse_manifest
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
    Producer,
    content_hash,
)
from dataops.paths import Zone
from dataops.settings import UnlistedFilePolicy
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.integration.test_ingest_steps import (
    FILES,
    MAX_MANIFEST,
    manifest_for,
    names,
    put_upload,
    run_happy_path,
)
from tests.telemetry_capture import metric_points, metrics_in_memory

pytestmark = pytest.mark.azurite
PREFIX = "fleet/run-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "metadata.sqlite3")
    yield opened
    opened.close()


class MemoryRuns:
    """RunControl in memory, with Azure's start-new rules; records what was asked of it."""

    def __init__(self, zones: BlobZones | None = None) -> None:
        self.instances: dict[str, RunInfo] = {}
        self.started: list[tuple[str, str, Any]] = []
        self.terminated: list[tuple[str, str]] = []
        self.manifest_in_landing_at_start: list[bool] = []
        self._zones = zones

    async def status(self, instance_id: str) -> RunInfo | None:
        return self.instances.get(instance_id)

    async def start(self, orchestration: str, instance_id: str, start_input: Any) -> None:
        existing = self.instances.get(instance_id)
        if existing is not None and existing.active:
            raise RuntimeError(f"409: instance {instance_id} is {existing.runtime_status}")
        if self._zones is not None:
            prefix = start_input["upload_prefix"]
            landing = names(self._zones, Zone.LANDING, prefix)
            self.manifest_in_landing_at_start.append(f"{prefix}/manifest.json" in landing)
        self.started.append((orchestration, instance_id, start_input))
        self.instances[instance_id] = RunInfo(
            instance_id, orchestration, "Running", created_time=datetime.now(UTC)
        )

    def add_running(
        self,
        instance_id: str,
        created: datetime,
        custom_status: Any = None,
        orchestration: str = "ingest",
    ) -> str:
        """A run that was started at ``created`` and is running still; its id."""
        self.instances[instance_id] = RunInfo(
            instance_id,
            orchestration,
            "Running",
            created_time=created,
            custom_status=custom_status,
        )
        return instance_id

    async def active_created_before(self, created_before: datetime) -> list[RunInfo]:
        return [
            run
            for run in self.instances.values()
            if run.active and run.created_time is not None and run.created_time < created_before
        ]

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.terminated.append((instance_id, reason))
        self.instances[instance_id] = replace(
            self.instances[instance_id], runtime_status="Terminated", output=reason
        )

    async def purge(self, instance_id: str) -> int:
        return 0 if self.instances.pop(instance_id, None) is None else 1


def start_input(prefix: str, sources: list[str] | None = None) -> dict[str, Any]:
    return {"upload_prefix": prefix, "sources": sources or []}


def rerun_by_prefix(
    runs: MemoryRuns, zones: BlobZones, store: SqliteStore, prefix: str = PREFIX
) -> Any:
    """``rerun_upload`` as the HTTP route calls it, run to completion."""
    return asyncio.run(
        rerun_upload(
            runs,
            zones,
            store,
            upload_prefix=prefix,
            start_input=start_input,
            max_manifest_bytes=MAX_MANIFEST,
        )
    )


def rerun_by_measurement(
    runs: MemoryRuns, zones: BlobZones, store: SqliteStore, measurement_id: str
) -> Any:
    """``rerun_measurement`` as the HTTP route calls it, run to completion."""
    return asyncio.run(
        rerun_measurement(
            runs,
            zones,
            store,
            measurement_id=measurement_id,
            start_input=start_input,
            max_manifest_bytes=MAX_MANIFEST,
        )
    )


def runs_after(zones: BlobZones, done: dict[str, Any]) -> tuple[MemoryRuns, str]:
    """Runs in which the ingest of ``PREFIX`` completed with ``done``'s measurement."""
    runs = MemoryRuns(zones)
    instance_id = instance_id_for("ingest", PREFIX)
    runs.instances[instance_id] = RunInfo(
        instance_id, "ingest", "Completed", output={"measurement_id": done["measurement_id"]}
    )
    return runs, instance_id


def ingested(zones: BlobZones, store: SqliteStore, prefix: str = PREFIX) -> dict[str, Any]:
    put_upload(zones, prefix, FILES)
    return run_happy_path(zones, store, prefix, "ds-first")


def failed_upload(zones: BlobZones, store: SqliteStore, prefix: str = PREFIX) -> dict[str, bytes]:
    """An upload whose bytes do not match its manifest, moved to the error zone."""
    wrong = {**FILES, "drive.bag": FILES["drive.bag"][:-1] + b"X"}
    put_upload(zones, prefix, wrong, manifest_for(FILES))
    fail_to_error_zone(
        zones, store, prefix, step="checksum", reason="SHA-256 mismatch", instance_id="ingest-old"
    )
    return wrong


def fail_to_error_zone(
    zones: BlobZones,
    store: SqliteStore,
    prefix: str,
    *,
    step: str,
    reason: str,
    instance_id: str | None,
) -> None:
    """Move the upload to the error zone the way the ingest run's failure path does."""
    ingest.fail_upload(
        zones,
        store,
        upload_prefix=prefix,
        step=step,
        reason=reason,
        details=None,
        instance_id=instance_id,
        datastream_id=None,
    )


# --- restore_upload -------------------------------------------------------------------------


def test_completed_upload_is_restored_from_archive_with_a_manifest_for_the_same_measurement(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    done = ingested(blob_zones, store)
    archived = names(blob_zones, Zone.ARCHIVE)
    assert names(blob_zones, Zone.LANDING) == set()
    measurement = store.get_measurement(done["measurement_id"])
    registered = RegisteredUpload.read(store, measurement)

    result = restore_upload(
        blob_zones,
        PREFIX,
        max_manifest_bytes=MAX_MANIFEST,
        registered=registered,
    )

    assert (result.restored_from, result.files, result.copied) == ("archive", len(FILES), 4)
    assert result.manifest_rebuilt
    assert names(blob_zones, Zone.LANDING) == {f"{PREFIX}/{p}" for p in [*FILES, "manifest.json"]}
    assert names(blob_zones, Zone.ARCHIVE) == archived  # read only
    for path, data in FILES.items():
        blob = blob_zones.read_bytes(Zone.LANDING, f"{PREFIX}/{path}", max_bytes=1 << 20)
        assert blob.data == data
    manifest_blob = blob_zones.read_bytes(
        Zone.LANDING, f"{PREFIX}/manifest.json", max_bytes=MAX_MANIFEST
    )
    manifest = parse_manifest(manifest_blob.data)
    assert measurement_id_of(manifest) == measurement.id
    assert content_hash(manifest) == measurement.content_sha256
    check = ingest.check_upload(
        blob_zones,
        PREFIX,
        max_manifest_bytes=MAX_MANIFEST,
        unlisted=UnlistedFilePolicy.FAIL,
    )
    assert check.missing == []


def test_restore_is_idempotent_and_converges_after_a_partial_restore(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    done = ingested(blob_zones, store)
    measurement = store.get_measurement(done["measurement_id"])
    registered = RegisteredUpload.read(store, measurement)

    def restore() -> RestoreResult:
        return restore_upload(
            blob_zones,
            PREFIX,
            max_manifest_bytes=MAX_MANIFEST,
            registered=registered,
        )

    restore()

    again = restore()
    assert (again.restored_from, again.copied) == ("landing", 0)

    # A crash before the manifest (written last) and after some files: only the rest is copied.
    for path in ("manifest.json", "drive.bag"):
        info = blob_zones.get_info(Zone.LANDING, f"{PREFIX}/{path}")
        blob_zones.delete(Zone.LANDING, info.path, etag=info.etag)
    resumed = restore()
    assert (resumed.restored_from, resumed.copied) == ("archive", 1)
    assert f"{PREFIX}/manifest.json" in names(blob_zones, Zone.LANDING)


def test_failed_upload_is_restored_from_error_with_its_bytes_and_the_error_copy_kept(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    wrong = failed_upload(blob_zones, store)
    in_error = names(blob_zones, Zone.ERROR)
    assert f"{PREFIX}/_error.json" in in_error

    result = restore_upload(blob_zones, PREFIX, max_manifest_bytes=MAX_MANIFEST)

    assert (result.restored_from, result.files, result.manifest_rebuilt) == ("error", 4, False)
    landing = names(blob_zones, Zone.LANDING)
    assert landing == {f"{PREFIX}/{p}" for p in [*FILES, "manifest.json"]}
    assert f"{PREFIX}/_error.json" not in landing
    bag = blob_zones.read_bytes(Zone.LANDING, f"{PREFIX}/drive.bag", max_bytes=1 << 20)
    assert bag.data == wrong["drive.bag"]  # the rerun must see the bytes it failed on
    assert names(blob_zones, Zone.ERROR) == in_error  # never deleted from error


def test_an_upload_file_named_like_the_error_marker_comes_back_under_its_own_name(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    files = {**FILES, "_error.json": b'{"logger": "own file"}'}
    put_upload(blob_zones, PREFIX, files, manifest_for(FILES))
    fail_to_error_zone(
        blob_zones, store, PREFIX, step="validate", reason="unlisted file", instance_id=None
    )
    restore_upload(blob_zones, PREFIX, max_manifest_bytes=MAX_MANIFEST)
    own = blob_zones.read_bytes(Zone.LANDING, f"{PREFIX}/_error.json", max_bytes=1024)
    assert own.data == files["_error.json"]
    assert f"{PREFIX}/_error.json.source" not in names(blob_zones, Zone.LANDING)


def test_nothing_to_restore_is_not_found_and_an_incomplete_archive_is_not_used(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    with pytest.raises(NotFoundError, match="rerun it by measurement id"):
        restore_upload(blob_zones, "never/uploaded", max_manifest_bytes=MAX_MANIFEST)
    done = ingested(blob_zones, store)
    info = blob_zones.get_info(Zone.ARCHIVE, f"{PREFIX}/drive.bag")
    blob_zones.delete(Zone.ARCHIVE, info.path, etag=info.etag)
    measurement = store.get_measurement(done["measurement_id"])
    registered = RegisteredUpload.read(store, measurement)
    with pytest.raises(NotFoundError):
        restore_upload(
            blob_zones,
            PREFIX,
            max_manifest_bytes=MAX_MANIFEST,
            registered=registered,
        )
    assert names(blob_zones, Zone.LANDING) == set()


def test_other_bytes_in_landing_are_never_overwritten(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    failed_upload(blob_zones, store)
    blob_zones.write_bytes(Zone.LANDING, f"{PREFIX}/drive.bag", b"a new upload in progress")
    with pytest.raises(ConflictError, match="holds other bytes"):
        restore_upload(blob_zones, PREFIX, max_manifest_bytes=MAX_MANIFEST)
    assert names(blob_zones, Zone.LANDING) == {f"{PREFIX}/drive.bag"}


def test_manifest_from_measurement_round_trips_every_manifest_field(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    document = manifest_for(FILES, tags=["rain"], project="l2", driver="d-1")
    document["logger_synchronized"] = True
    put_upload(blob_zones, PREFIX, FILES, document)
    done = run_happy_path(blob_zones, store, PREFIX, "ds-1")
    registered = RegisteredUpload.read(store, store.get_measurement(done["measurement_id"]))
    rebuilt = manifest_from_measurement(registered.measurement, registered.files)
    original = parse_manifest(json.dumps(document).encode())
    # The store lists a measurement's files in path order; the order is no part of its content.
    expected = original.model_copy(
        update={"files": sorted(original.files, key=lambda item: item.path)}
    )
    assert rebuilt.model_dump(exclude={"measurement_id"}) == expected.model_dump(
        exclude={"measurement_id"}
    )
    assert content_hash(rebuilt) == content_hash(original)


# --- lineage and rerun ----------------------------------------------------------------------


def raw_stream(stream_id: str, measurement_id: str, sources: list[str], prefix: str) -> Datastream:
    return Datastream(
        id=stream_id,
        measurement_id=measurement_id,
        type=DatastreamType.RAW,
        zone=Zone.RAW,
        path=f"raw/{stream_id}",
        producer=Producer(step="ingest", code_version="test", instance_id="ingest-x"),
        sources=sources,
        stats={"upload_prefix": prefix},
    )


def test_lineage_sources_are_the_latest_raw_datastreams_of_the_upload(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    done = ingested(blob_zones, store)
    measurement_id = done["measurement_id"]
    assert lineage_sources(store, measurement_id, PREFIX) == ["ds-first"]
    store.create_datastream(raw_stream("ds-second", measurement_id, ["ds-first"], PREFIX))
    store.create_datastream(raw_stream("ds-elsewhere", measurement_id, [], "other/prefix"))
    assert lineage_sources(store, measurement_id, PREFIX) == ["ds-second"]


def test_rerun_restores_first_then_starts_with_the_old_datastream_as_source(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    done = ingested(blob_zones, store)
    runs, instance_id = runs_after(blob_zones, done)

    result = rerun_by_measurement(runs, blob_zones, store, done["measurement_id"])

    assert result.instance_id == instance_id
    assert result.restore.restored_from == "archive"
    assert runs.started == [("ingest", instance_id, start_input(PREFIX, ["ds-first"]))]
    assert runs.manifest_in_landing_at_start == [True]


def test_rehydrate_by_prefix_finds_the_measurement_through_the_previous_run(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    runs, _ = runs_after(blob_zones, ingested(blob_zones, store))
    result = rerun_by_prefix(runs, blob_zones, store)
    assert (result.restore.restored_from, result.sources) == ("archive", ["ds-first"])


def test_rerun_is_refused_while_a_run_is_active_and_restores_nothing(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    failed_upload(blob_zones, store)
    runs = MemoryRuns()
    instance_id = instance_id_for("ingest", PREFIX)
    runs.instances[instance_id] = RunInfo(instance_id, "ingest", "Running")
    with pytest.raises(RunActiveError, match="Running"):
        rerun_by_prefix(runs, blob_zones, store)
    assert names(blob_zones, Zone.LANDING) == set()
    assert runs.started == []


def test_unknown_upload_is_not_found_but_a_known_one_without_files_is_a_conflict(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    runs = MemoryRuns()
    with pytest.raises(NotFoundError, match="unknown upload"):
        rerun_by_prefix(runs, blob_zones, store, "no/such/upload")
    known = instance_id_for("ingest", "gone/upload")
    runs.instances[known] = RunInfo(known, "ingest", "Failed")
    with pytest.raises(ConflictError, match="neither the archive nor the error zone"):
        rerun_by_prefix(runs, blob_zones, store, "gone/upload")
    with pytest.raises(NotFoundError):
        rerun_by_measurement(runs, blob_zones, store, "no-such-measurement")
    assert runs.started == []


# --- reconcile ------------------------------------------------------------------------------


@pytest.fixture
def run_metrics() -> Iterator[InMemoryMetricReader]:
    with metrics_in_memory() as reader:
        yield reader


def run_events(reader: InMemoryMetricReader) -> dict[str, int]:
    return {
        str(point.attributes["avops.event"]): int(point.value)
        for point in metric_points(reader, telemetry.RUN_EVENTS_METRIC)
    }


def reconcile_at(runs: MemoryRuns, zones: BlobZones, store: SqliteStore, now: datetime) -> Any:
    return asyncio.run(
        reconcile(
            runs,
            zones,
            store,
            now=now,
            reconcile_after=timedelta(minutes=10),
            run_deadline=timedelta(minutes=120),
            start_input=start_input,
        )
    )


def test_old_orphaned_manifests_are_started_young_and_owned_ones_are_not(
    blob_zones: BlobZones, store: SqliteStore, run_metrics: InMemoryMetricReader
) -> None:
    """A lost event is made up for once the manifest is older than the threshold; an upload
    whose run finished without reporting a manifest generation is reported, not restarted."""
    put_upload(blob_zones, "lost/event", FILES)
    put_upload(blob_zones, "has/run", FILES)
    runs = MemoryRuns()
    owned = instance_id_for("ingest", "has/run")
    runs.instances[owned] = RunInfo(owned, "ingest", "Failed")

    young = reconcile_at(runs, blob_zones, store, datetime.now(UTC))
    assert (young.started, young.waiting, young.stranded) == ([], 1, [])
    assert runs.started == []

    later = reconcile_at(runs, blob_zones, store, datetime.now(UTC) + timedelta(minutes=11))
    assert later.started == ["lost/event"]
    assert runs.started == [
        ("ingest", instance_id_for("ingest", "lost/event"), start_input("lost/event"))
    ]
    assert [(s.upload_prefix, s.reason) for s in later.stranded] == [("has/run", "run_failed")]
    assert run_events(run_metrics) == {"reconciler_started": 1, "stranded": 1}

    # The next pass finds the run it started and leaves it alone.
    again = reconcile_at(runs, blob_zones, store, datetime.now(UTC) + timedelta(minutes=16))
    assert again.started == []
    assert len(runs.started) == 1


def test_a_pass_lists_landing_once_for_orphans_and_stranded_alike(
    blob_zones: BlobZones, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Landing can hold thousands of files: one listing per pass serves both the orphan starts
    and the stranded report (it was listed twice)."""
    put_upload(blob_zones, "lost/event", FILES)
    blob_zones.write_bytes(Zone.LANDING, "loose/file.bin", b"no manifest above me")
    listed: list[Zone] = []
    list_blobs = blob_zones.list_blobs

    def counting(zone: Zone, *args: Any, **kwargs: Any) -> Any:
        listed.append(zone)
        return list_blobs(zone, *args, **kwargs)

    monkeypatch.setattr(blob_zones, "list_blobs", counting)
    runs = MemoryRuns()
    report = reconcile_at(runs, blob_zones, store, datetime.now(UTC) + timedelta(minutes=11))
    assert listed == [Zone.LANDING]
    assert report.started == ["lost/event"]
    assert [(s.upload_prefix, s.reason) for s in report.stranded] == [("loose", "no_manifest")]


def test_a_zero_byte_manifest_is_refused_to_the_error_zone_once_old_enough(
    blob_zones: BlobZones, store: SqliteStore, run_metrics: InMemoryMetricReader
) -> None:
    """An empty manifest.json (the trigger ignores it) ends in the error zone with
    ``_error.json`` naming the file, never in silence; a young one may still be written."""
    blob_zones.write_bytes(Zone.LANDING, "empty/up/drive.bag", FILES["drive.bag"])
    blob_zones.write_bytes(Zone.LANDING, "empty/up/manifest.json", b"")
    runs = MemoryRuns()

    young = reconcile_at(runs, blob_zones, store, datetime.now(UTC))
    assert (young.refused, young.waiting) == ([], 1)
    assert names(blob_zones, Zone.LANDING, "empty/up") == {
        "empty/up/drive.bag",
        "empty/up/manifest.json",
    }

    later = reconcile_at(runs, blob_zones, store, datetime.now(UTC) + timedelta(minutes=11))
    assert later.refused == ["empty/up"]
    assert later.started == [] and runs.started == []
    assert later.stranded == []  # nothing left behind in landing
    assert names(blob_zones, Zone.LANDING, "empty/up") == set()
    assert names(blob_zones, Zone.ERROR, "empty/up") == {
        "empty/up/drive.bag",
        "empty/up/manifest.json",
        "empty/up/_error.json",
    }
    marker = json.loads(
        blob_zones.read_bytes(Zone.ERROR, "empty/up/_error.json", max_bytes=10**6).data
    )
    assert marker["step"] == "validate"
    assert "manifest.json is empty (0 bytes)" in marker["reason"]
    assert run_events(run_metrics) == {"manifest_refused": 1}


def test_a_reupload_after_a_finished_run_gets_a_new_run_but_the_same_generation_does_not(
    blob_zones: BlobZones, store: SqliteStore, run_metrics: InMemoryMetricReader
) -> None:
    """The upload generation is the manifest's etag: a finished run that reported another etag
    than the one in landing means a re-upload, started as a new run under the same id."""
    put_upload(blob_zones, PREFIX, FILES)
    current = next(
        b for b in blob_zones.list_blobs(Zone.LANDING, PREFIX) if b.path.endswith("manifest.json")
    )
    runs = MemoryRuns()
    instance_id = instance_id_for("ingest", PREFIX)
    later = datetime.now(UTC) + timedelta(minutes=11)

    # The finished run worked on exactly this manifest (it failed to clean up): reported only.
    runs.instances[instance_id] = RunInfo(
        instance_id, "ingest", "Completed", output={"manifest_etag": current.etag}
    )
    same = reconcile_at(runs, blob_zones, store, later)
    assert same.started == []
    assert [(s.upload_prefix, s.reason, s.instance_id) for s in same.stranded] == [
        (PREFIX, "run_completed", instance_id)
    ]

    # The finished run worked on an earlier generation: this manifest is a re-upload.
    runs.instances[instance_id] = RunInfo(
        instance_id,
        "ingest",
        "Failed",
        output="ingest failed at step register: ...",
        custom_status={"manifest_etag": '"0x8DEARLIER"'},
    )
    new = reconcile_at(runs, blob_zones, store, later)
    assert new.started == [PREFIX]
    assert runs.started == [("ingest", instance_id, start_input(PREFIX))]
    assert new.stranded == []  # the new run is active
    assert run_events(run_metrics) == {"stranded": 1, "reupload_started": 1}


def test_stranded_lists_every_old_landing_prefix_without_an_active_run_by_reason(
    blob_zones: BlobZones, store: SqliteStore
) -> None:
    """Files without a manifest, a manifest without a run, and a run that left blobs behind
    are all listed with counts; active runs and young uploads are not."""
    blob_zones.write_bytes(Zone.LANDING, "orphan/files/a.bag", b"12345")
    blob_zones.write_bytes(Zone.LANDING, "orphan/files/deeper/b.bag", b"678")
    put_upload(blob_zones, "with/manifest", FILES)
    blob_zones.write_bytes(Zone.LANDING, "with/manifest/extra/unlisted.txt", b"x")
    put_upload(blob_zones, "running/now", FILES)
    runs = MemoryRuns()
    active = instance_id_for("ingest", "running/now")
    runs.add_running(active, datetime.now(UTC))

    rows = asyncio.run(
        find_stranded(runs, blob_zones, older_than=datetime.now(UTC) + timedelta(minutes=1))
    )
    listed = {row.upload_prefix: row for row in rows}
    assert set(listed) == {"orphan/files", "orphan/files/deeper", "with/manifest"}
    assert (listed["orphan/files"].reason, listed["orphan/files"].files) == ("no_manifest", 1)
    assert listed["orphan/files/deeper"].bytes == 3
    manifest_row = listed["with/manifest"]
    assert manifest_row.reason == "no_run"
    assert manifest_row.files == len(FILES) + 2  # listed files, manifest.json, the extra file
    assert manifest_row.manifest_etag is not None
    assert manifest_row.to_dict()["detail"].startswith("manifest without any ingest run")

    none_old = asyncio.run(
        find_stranded(runs, blob_zones, older_than=datetime.now(UTC) - timedelta(minutes=10))
    )
    assert none_old == []


def test_runs_past_their_deadline_are_terminated_reported_and_their_datastream_failed(
    blob_zones: BlobZones,
    store: SqliteStore,
    run_metrics: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    done = ingested(blob_zones, store)
    measurement_id = done["measurement_id"]
    stuck_stream = store.create_datastream(raw_stream("ds-stuck", measurement_id, [], PREFIX))
    assert stuck_stream.etag is not None
    store.transition_datastream(
        "ds-stuck", DatastreamState.COPYING, expected_etag=stuck_stream.etag
    )
    now = datetime.now(UTC)
    runs = MemoryRuns()
    stuck = instance_id_for("ingest", PREFIX)
    status = {
        "upload_prefix": PREFIX,
        "measurement_id": measurement_id,
        "datastream_id": "ds-stuck",
    }
    long_ago = now - timedelta(hours=3)
    runs.add_running(stuck, long_ago, status)
    # Its datastream is already COMPLETED: left as it is.
    finished_late = runs.add_running(
        instance_id_for("ingest", "other"), long_ago, {"datastream_id": "ds-first"}
    )
    young = runs.add_running(instance_id_for("ingest", "young"), now)
    # Raw verified long ago, now waiting on its extraction, which has its own deadline.
    extracting = runs.add_running(
        instance_id_for("ingest", "extracting"),
        long_ago,
        {"stage": "extracting", "datastream_id": "ds-first"},
    )
    sub = runs.add_running("ingest-sub:3", long_ago, orchestration="extract")

    with caplog.at_level(logging.WARNING, logger="avops.reconcile"):
        report = reconcile_at(runs, blob_zones, store, now)

    assert sorted(report.overdue) == sorted([stuck, finished_late])
    assert {iid for iid, _ in runs.terminated} == {stuck, finished_late}
    assert all("deadline exceeded" in reason for _, reason in runs.terminated)
    assert runs.instances[young].runtime_status == "Running"
    assert runs.instances[extracting].runtime_status == "Running"
    assert runs.instances[sub].runtime_status == "Running"
    failed = store.get_datastream("ds-stuck")
    assert failed.state is DatastreamState.FAILED
    assert failed.state_reason is not None and "deadline exceeded" in failed.state_reason
    assert store.get_datastream("ds-first").state is DatastreamState.COMPLETED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(stuck in w and PREFIX in w and measurement_id in w for w in warnings)
    assert run_events(run_metrics) == {"deadline_exceeded": 2}

    # Terminated runs are not Running any more: the next pass reports nothing again.
    assert reconcile_at(runs, blob_zones, store, now).overdue == []
