"""Erasure end to end: two vehicles through ingest -> extract -> ... -> scenes, erase one.

Afterwards no container, no Delta table file (every version), no store table, no durable
state and no batch pool file holds the erased vehicle's id or its measurement or datastream
ids; the other vehicle's blobs are byte-identical and its searches answer the same; the
record holds no vehicle id; a second request is a no-op; a dry run deletes nothing; the
write role cannot erase.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from avops.sample_drive.generate import vehicle_id_for
from dataops.ids import instance_id_for
from dataops.manifest import parse_manifest
from dataops.models import DatastreamType
from dataops.store.sqlite import SqliteStore
from dataops.uploader import upload_measurement
from devhost.batch_runner import BatchRunner
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.e2e.conftest import WRITE_KEY, AppEnv, finished, run_host
from tests.e2e.erasure_support import (
    ERASE_KEY,
    SALT,
    blob_digests,
    blobs_mentioning,
    drive_for,
    erase,
    files_mentioning,
    targets_of,
)

pytestmark = [pytest.mark.azurite, pytest.mark.slow, pytest.mark.timeout(1800)]
ERASED, KEPT = 3, 4
# The erased upload: landing and archive keep it under its prefix, which names no vehicle.
ERASED_PREFIX = "fleet/erase-a"


@pytest.fixture(scope="module")
def drives(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The small sample drives of two vehicles (seeds 3 and 4: two vehicle ids)."""
    root = tmp_path_factory.mktemp("drives")
    return {seed: drive_for(root / f"drive-{seed}", seed) for seed in (ERASED, KEPT)}


@pytest.fixture
def erase_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AVOPS_API_ERASE_KEYS", ERASE_KEY)
    monkeypatch.setenv("AVOPS_ERASURE_SALT", SALT)
    yield


async def _through_scenes(host: DevHost, env: AppEnv, drive: Path, prefix: str) -> str:
    """Ingest and every downstream step of one drive; returns its measurement id."""
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    upload_measurement(env.zones, drive, manifest, upload_prefix=prefix)
    ingest = await finished(host, instance_id_for("ingest", prefix), timeout_s=6000)
    assert ingest.status is RuntimeStatus.COMPLETED, ingest.error
    output = json.loads(ingest.output)
    extracted = output["extraction"]["datastream_id"]
    sync = await finished(host, instance_id_for("synchronize", extracted), timeout_s=600)
    assert sync.status is RuntimeStatus.COMPLETED, sync.error
    enrich = await finished(
        host, instance_id_for("enrich", json.loads(sync.output)["datastream_id"]), timeout_s=600
    )
    assert enrich.status is RuntimeStatus.COMPLETED, enrich.error
    scenes = await finished(
        host,
        instance_id_for("detect_scenes", json.loads(enrich.output)["datastream_id"]),
        timeout_s=600,
    )
    assert scenes.status is RuntimeStatus.COMPLETED, scenes.error
    return str(output["measurement_id"])


async def _searches(host: DevHost, vehicle: str) -> dict[str, Any]:
    """What the API answers about ``vehicle``: measurements, scenes, pedestrian frames."""
    async with httpx.AsyncClient(timeout=60) as http:
        answers = {}
        for name, route, params in (
            ("measurements", "measurements", {"vehicle": vehicle}),
            ("scenes", "scenes", {"vehicle": vehicle, "limit": 1000}),
            ("frames", "frames", {"vehicle": vehicle, "object": "pedestrian", "limit": 1000}),
        ):
            reply = await http.get(
                f"{host.base_url}/api/{route}",
                params=params,
                headers={"x-functions-key": WRITE_KEY},
            )
            assert reply.status_code == 200, reply.text
            answers[name] = reply.json()
    return answers


def test_erasing_a_vehicle_leaves_no_byte_of_it_and_the_other_vehicle_untouched(
    app_env: AppEnv,
    extract_env: BatchRunner,
    erase_env: None,
    drives: dict[int, Path],
) -> None:
    feed = SqliteStore(app_env.sqlite_path)
    erased_vehicle, kept_vehicle = vehicle_id_for(ERASED), vehicle_id_for(KEPT)
    connection = app_env.connection_string

    async def body(host: DevHost) -> dict[str, Any]:
        erased_m, kept_m = await asyncio.gather(
            _through_scenes(host, app_env, drives[ERASED], ERASED_PREFIX),
            _through_scenes(host, app_env, drives[KEPT], "fleet/keep-b"),
        )
        tokens, datastreams = targets_of(feed, erased_m)
        kept_searches = await _searches(host, kept_vehicle)
        assert kept_searches["scenes"]["items"] and kept_searches["frames"]["items"]
        before = blob_digests(connection)

        forbidden = await erase(host.base_url, f"vehicles/{erased_vehicle}/erase", key=WRITE_KEY)
        preview = await erase(host.base_url, f"vehicles/{erased_vehicle}/erase", dry_run=True)
        after_preview = blob_digests(connection)

        started = await erase(host.base_url, f"vehicles/{erased_vehicle}/erase")
        assert started.status_code == 202, started.text
        run = await finished(host, started.json()["instance_id"], timeout_s=600)
        assert run.status is RuntimeStatus.COMPLETED, (run.error, run.custom_status)
        after = blob_digests(connection)
        again = await erase(host.base_url, f"vehicles/{erased_vehicle}/erase")
        after_again = blob_digests(connection)
        return {
            "erased_m": erased_m,
            "kept_m": kept_m,
            "tokens": [erased_vehicle, *tokens],
            "datastreams": datastreams,
            "kept_searches": kept_searches,
            "kept_searches_after": await _searches(host, kept_vehicle),
            "erased_searches_after": await _searches(host, erased_vehicle),
            "before": before,
            "forbidden": forbidden,
            "preview": preview,
            "after_preview": after_preview,
            "started": started.json(),
            "run_output": json.loads(run.output),
            "after": after,
            "again": again,
            "after_again": after_again,
        }

    result = run_host(
        app_env.options(change_source=feed, named_function_keys={"eraser": ERASE_KEY}), body
    )
    feed.close()
    tokens: list[str] = result["tokens"]
    types = {d.type for d in result["datastreams"]}
    # The erased measurement went all the way: its SCENES datastream wrote the Delta tables.
    assert {DatastreamType.RAW, DatastreamType.EXTRACTED, DatastreamType.SCENES} <= types

    # The write role cannot erase; erase is a role of its own.
    assert result["forbidden"].status_code == 403, result["forbidden"].text

    # A dry run lists everything and deletes nothing.
    preview = result["preview"]
    assert preview.status_code == 200, preview.text
    listed = preview.json()["preview"]
    assert listed["measurements"] == [result["erased_m"]]
    assert set(listed["datastreams"]) == {d.id for d in result["datastreams"]}
    assert listed["blobs"]["raw"] and listed["blobs"]["curated"] and listed["blobs"]["archive"]
    assert result["after_preview"] == result["before"]

    # Nothing anywhere names the erased vehicle, its measurement or its datastreams.
    assert blobs_mentioning(app_env.connection_string, tokens) == []
    state_files = [
        app_env.sqlite_path.parent / name
        for name in (
            app_env.sqlite_path.name,
            f"{app_env.sqlite_path.name}-wal",
            f"{app_env.sqlite_path.name}-shm",
        )
        if (app_env.sqlite_path.parent / name).exists()
    ]
    assert (
        files_mentioning(
            [*state_files, app_env.state_dir, app_env.sqlite_path.parent / "batch"], tokens
        )
        == []
    )

    # The other vehicle: every blob byte-identical, its searches unchanged.
    kept_before = {
        key: digest
        for key, digest in result["before"].items()
        if not any(t in "/".join(key) for t in tokens) and not key[1].startswith(ERASED_PREFIX)
    }
    new = {key for key in result["after"] if key not in result["before"]}
    assert all(key[1].startswith("_erasure/") for key in new), new
    assert {k: v for k, v in result["after"].items() if k not in new} == kept_before
    assert any(kept_vehicle in key[1] for key in kept_before)
    assert result["kept_searches_after"] == result["kept_searches"]
    erased_after = result["erased_searches_after"]
    assert erased_after["measurements"]["items"] == []
    assert erased_after["scenes"]["items"] == [] and erased_after["frames"]["items"] == []

    # The record: completed, counted, without the vehicle id (the scan above covers it too).
    (record_key,) = [key for key in new if key[1].startswith("_erasure/records/")]
    output = result["run_output"]
    assert record_key[1] == f"_erasure/records/{output['erasure_id']}.json"
    counts = output["counts"]
    assert counts["store.measurements"] == 1
    assert counts["store.datastreams"] == len(result["datastreams"])
    assert counts["store.scenes"] > 0 and counts["store.files"] > 0
    assert counts["store.measurement_files"] > 0  # the manifest's file records
    assert counts["blobs.raw"] > 0 and counts["blobs.archive"] > 0
    assert counts["blobs.curated"] > 0 and counts["blobs.extracted"] > 0
    assert counts["runs.purged"] >= len(result["datastreams"])

    # A second request: the same erasure, already done; nothing changes.
    again = result["again"]
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "completed"
    assert again.json()["erasure_id"] == output["erasure_id"]
    assert result["after_again"] == result["after"]
