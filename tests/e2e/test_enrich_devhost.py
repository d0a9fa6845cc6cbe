"""Issue 8 step 3 end to end: ingest -> extract -> synchronize -> change feed -> ``enrich``.

The app runs under devhost on Azurite with the sqlite store's change log feeding the
``cosmos_db_trigger`` consumer; the SYNCHRONIZED datastream's COMPLETED change starts
``enrich``, which reads the drive's own ``weather.csv`` and ``roads.geojson`` from the RAW zone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.models import DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.store.sqlite import SqliteStore
from dataops.uploader import upload_measurement
from devhost.batch_runner import BatchRunner, batch_runner
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from devhost.sample_drive import generate_drive
from tests.e2e.conftest import AppEnv, run_host, wait_for

pytestmark = pytest.mark.azurite
FINAL = {RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED}


@pytest.fixture(scope="module")
def sample_drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("drive") / "drive"
    generate_drive(out, seed=3, size="small")
    return out


@pytest.fixture
def extract_env(app_env: AppEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchRunner]:
    """Extraction on ingest, and the local batch pool scheduling on the app's database."""
    monkeypatch.setenv("AVOPS_EXTRACT_ON_INGEST", "true")
    # The runner exports AZURE_STORAGE_CONNECTION_STRING for the workers; undo it afterwards.
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "")
    with batch_runner(Settings(), max_parallel=4) as runner:
        yield runner


async def finished(host: DevHost, instance_id: str, timeout_s: float = 150.0) -> Any:
    return await wait_for(
        lambda: (
            (i := host.engine.get_instance(instance_id)) is not None and i.status in FINAL and i
        ),
        timeout_s=timeout_s,
        what=f"instance {instance_id} to finish",
    )


def test_synchronized_datastream_is_enriched_from_the_change_feed(
    app_env: AppEnv, extract_env: BatchRunner, sample_drive: Path
) -> None:
    prefix = "fleet/enrich-1"
    feed = SqliteStore(app_env.sqlite_path)

    async def body(host: DevHost) -> dict[str, Any]:
        manifest = parse_manifest((sample_drive / "manifest.json").read_bytes())
        upload_measurement(app_env.zones, sample_drive, manifest, upload_prefix=prefix)
        ingest = await finished(host, instance_id_for("ingest", prefix))
        assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
        output = json.loads(ingest.output)
        extracted_id = output["extraction"]["datastream_id"]
        sync = await finished(host, instance_id_for("synchronize", extracted_id), timeout_s=60)
        assert sync.status is RuntimeStatus.COMPLETED, sync.error
        synchronized_id = json.loads(sync.output)["datastream_id"]
        enrich = await finished(host, instance_id_for("enrich", synchronized_id), timeout_s=60)
        return {"output": output, "synchronized_id": synchronized_id, "enrich": enrich}

    result = run_host(app_env.options(change_source=feed), body)
    feed.close()
    enrich = result["enrich"]
    assert enrich.status is RuntimeStatus.COMPLETED, enrich.error

    store = app_env.store()
    measurement_id = result["output"]["measurement_id"]
    enriched = store.list_datastreams(measurement_id, DatastreamType.ENRICHED)
    assert len(enriched) == 1
    datastream = enriched[0]
    assert datastream.state is DatastreamState.COMPLETED
    assert datastream.sources == [result["synchronized_id"]]
    assert datastream.zone is Zone.CURATED
    assert datastream.producer.step == "enrich"
    stats = datastream.stats
    synchronized = store.get_datastream(result["synchronized_id"])
    assert stats["rows"] == synchronized.stats["rows"] == 200, stats
    providers = stats["providers"]
    assert providers["weather"]["name"] == "offline-table"
    assert providers["weather"]["version"] == "1"
    assert providers["map"]["name"] == "geojson-grid" and providers["map"]["roads"] == 3
    assert providers["h3"]["resolution"] == 9
    assert providers["sun"] == {"name": "noaa-solar", "version": "1"}
    assert providers["objects"]["sensor"] == "ros2_drive/structured/perception_detections"
    assert providers["objects"]["detector"] is None

    files = store.list_files(datastream.id).items
    assert [f.path for f in files] == [f"{datastream.path}/enriched.parquet"]
    blob = app_env.zones.read_bytes(Zone.CURATED, files[0].path, max_bytes=64 << 20)
    table = pq.read_table(io.BytesIO(blob.data))
    sync_files = store.list_files(synchronized.id).items
    sync_blob = app_env.zones.read_bytes(Zone.CURATED, sync_files[0].path, max_bytes=64 << 20)
    sync_table = pq.read_table(io.BytesIO(sync_blob.data), columns=["time_ns"])
    times = table.column("time_ns").to_numpy()
    assert np.array_equal(times, sync_table.column("time_ns").to_numpy())

    truth = json.loads((sample_drive / "truth.json").read_text())
    start_ns = truth["events"][0]["start_ns"] - round(truth["events"][0]["start_s"] * 1e9)
    drive_s = (times - start_ns) / 1e9
    # Rain: the route's station reports rain in the rows at 20 s and 30 s (nearest row wins).
    raining = np.asarray(table.column("is_raining").to_pylist())
    inside = (drive_s > 15.5) & (drive_s < 34.5)
    outside = (drive_s < 14.5) | (drive_s > 35.5)
    assert raining[inside].all() and not raining[outside].any()
    assert stats["shares"]["rain"] > 0.4
    # Roads: the route is a primary road, matched on (nearly) every frame.
    assert stats["shares"]["road_match"] >= 0.95
    road_class = table.column("road_class").to_pylist()
    assert road_class.count("primary") >= 180
    assert set(table.column("country").to_pylist()) == {"SE"}
    # Daylight: a May morning in Gothenburg, the sun some 35° up.
    sun = table.column("sun_elevation_deg").to_numpy()
    assert np.all((sun > 30) & (sun < 40)) and stats["shares"]["night"] == 0.0
    assert table.column("h3_cell").null_count == 0
    # Objects: "pedestrian" in the frames inside each pedestrian window, none outside them.
    classes = table.column("object_classes").to_pylist()
    windows = [
        (e["start_ns"], e["end_ns"]) for e in truth["events"] if e["type"] == "pedestrian_in_view"
    ]
    for start, end in windows:
        inner = (times >= start + 200_000_000) & (times < end - 200_000_000)
        assert inner.sum() >= 5
        assert all("pedestrian" in (classes[i] or []) for i in np.flatnonzero(inner))
    in_any = np.zeros(times.size, bool)
    for start, end in windows:
        in_any |= (times >= start - 200_000_000) & (times < end + 200_000_000)
    assert all(not classes[i] for i in np.flatnonzero(~in_any))
    store.close()
