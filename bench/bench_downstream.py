"""Downstream steps on the large sample drive: synchronize, enrich, detect_scenes.

After devhost ingests and extracts the large sample (as bench_extract_orchestration does), each
step's activity work (its ``run_*`` function; ``prepare_*`` is a store write and not timed) runs
in process against Azurite + SQLite, in a fresh child process per measurement so its peak RSS
(VmHWM) is that step's alone (a probe that only imports and connects gives the baseline
every process carries). Reference, measured in the same run: a plain pyarrow read
(``download`` + ``pq.read_table``, all columns) of the same Parquet inputs the step reads:

- synchronize: every extracted Parquet table of the EXTRACTED datastream;
- enrich: ``synchronized.parquet`` and the perception tables its frames match;
- detect_scenes: ``synchronized.parquet`` and ``enriched.parquet``.

Also reported: enrich with an ONNX detector on every reference frame (the red-box test model at
320x320, CPU) against enrich without it, so the cost of inference per frame is visible.

The extracted inputs take minutes to make (generate ~1.5 GB, upload, extract); with
``AVOPS_BENCH_CACHE=<dir>`` they are made once there (Azurite data, store, a marker) and reused.
Run with ``make bench`` (``pytest bench -m bench -s``); results go to bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from activities import runtime
from avops.sample_drive import generate_drive
from bench._common import (
    ROOT,
    ingest_with_extraction,
    project_host_options,
    run_probe,
    use_local_stack,
    write_results,
)
from dataops.enrichment.config import load_enrichment_config
from dataops.enrichment.steps import prepare_enrichment, run_enrichment
from dataops.paths import Zone
from dataops.scenes.steps import prepare_scene_detection, run_scene_detection
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from dataops.synchronization.steps import prepare_synchronization, run_synchronization
from devhost.batch_runner import batch_runner
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob

ROUNDS = 3
MARKER = "extracted.json"
MAX_READ_BYTES = 1 << 30


# ----------------------------------------------------------------------------- child process


def _peak_rss_mb() -> float:
    # VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's over exec).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _probe(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """In the child: one step's run (or the reference read); seconds and rows."""
    settings = Settings()
    zones = BlobZones.from_settings(settings)
    store = SqliteStore(settings.sqlite_path)
    try:
        if kind == "baseline":
            return {"seconds": 0.0, "rows": 0}  # the imports and clients alone
        if kind == "reference":
            started = time.perf_counter()
            rows = 0
            for zone, path in args["inputs"]:
                blob = zones.read_bytes(Zone(zone), path, max_bytes=MAX_READ_BYTES)
                rows += pq.read_table(pa.BufferReader(blob.data)).num_rows
                del blob
            return {"seconds": time.perf_counter() - started, "rows": rows}
        steps: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
            "synchronize": (prepare_synchronization, run_synchronization),
            "enrich": (prepare_enrichment, run_enrichment),
            "detect_scenes": (prepare_scene_detection, run_scene_detection),
        }
        prepare, run = steps[kind]
        prepare(
            store,
            source_datastream_id=args["source"],
            datastream_id=args["datastream_id"],
            instance_id="bench",
        )
        extra = {"config_path": Path(args["config_path"])} if args.get("config_path") else {}
        started = time.perf_counter()
        run(zones, store, datastream_id=args["datastream_id"], **extra)
        seconds = time.perf_counter() - started
        stats = store.get_datastream(args["datastream_id"]).stats
        # detect_scenes counts frames (and scenes), the others rows.
        return {"seconds": seconds, "rows": stats.get("rows", stats.get("frames"))}
    finally:
        store.close()
        zones.close()


def _child_main() -> None:
    kind, args = sys.argv[1], json.loads(sys.argv[2])
    result = _probe(kind, args)
    print(json.dumps({**result, "peak_rss_mb": _peak_rss_mb()}), flush=True)
    # The measurement is complete. Interpreter teardown of native thread pools aborted once
    # here ("terminate called without an active exception", 1 of ~20 probes), which is not
    # what is measured: leave without it.
    os._exit(0)


# ----------------------------------------------------------------------------- parent


def _measure(kind: str, args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return run_probe("bench.bench_downstream", kind, json.dumps(args), env=env, timeout_s=3000)


async def _ingest_and_extract(options: HostOptions, zones: BlobZones, drive: Path) -> str:
    """Upload the drive, wait for ingest + extraction; the EXTRACTED datastream id."""
    host = DevHost(options)
    await host.start()
    try:
        run = await ingest_with_extraction(host, zones, drive, "bench/downstream", poll_s=0.5)
        return run.extracted_id
    finally:
        await host.stop()


def _extracted_inputs(cache: Path, azurite: AzuriteBlob) -> dict[str, Any]:
    """The EXTRACTED datastream of the large sample, made once per cache dir."""
    marker = cache / MARKER
    if marker.exists():
        return {**json.loads(marker.read_text()), "reused": True}
    settings = Settings()
    zones = BlobZones.from_settings(settings)
    zones.ensure_containers()
    drive = cache / "drive"
    generated = generate_drive(drive, seed=1, size="large")
    options = project_host_options(cache / "devhost", azurite.connection_string, 0.2)
    started = time.perf_counter()
    with batch_runner(settings):
        extracted_id = asyncio.run(_ingest_and_extract(options, zones, drive))
    info = {
        "extracted_id": extracted_id,
        "drive_bytes": generated.total_bytes,
        "upload_to_extracted_s": round(time.perf_counter() - started, 1),
    }
    zones.close()
    shutil.rmtree(drive)  # the drive is in the zones now; keep the cache small
    marker.write_text(json.dumps(info))
    return {**info, "reused": False}


def _files(store: SqliteStore, datastream_id: str) -> list[str]:
    paths: list[str] = []
    continuation: str | None = None
    while True:
        page = store.list_files(datastream_id, limit=1000, continuation=continuation)
        paths += [record.path for record in page.items]
        continuation = page.continuation
        if continuation is None:
            return paths


def _perception_inputs(zones: BlobZones, synchronized: str) -> list[str]:
    """The extracted tables enrich reads for objects: the matched files of the objects sensor."""
    blob = zones.read_bytes(Zone.CURATED, synchronized, max_bytes=MAX_READ_BYTES)
    table = pq.read_table(pa.BufferReader(blob.data))
    patterns = load_enrichment_config().objects.sensors
    sensors = sorted(
        name.removesuffix(".path")
        for name in table.column_names
        if name.endswith(".path")
        and any(fnmatchcase(name.removesuffix(".path"), p) for p in patterns)
    )
    if not sensors:
        return []
    return sorted({p for p in table.column(f"{sensors[0]}.path").to_pylist() if p})


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda run: float(run["seconds"]))


def _report(result: dict[str, Any]) -> None:
    rows = result["steps"]
    write_results("bench_downstream", result)
    print()
    print(
        f"peak RSS of a probe that only imports and connects: {result['baseline_peak_rss_mb']} MB"
    )
    print("step               rows  inputs   step s  plain read s  ratio   peak RSS step / plain")
    for row in rows:
        print(
            f"{row['step']:<17} {row['rows']:>5} {row['inputs']:>7} {row['step_s']:>8} "
            f"{row['plain_read_s']:>13} {row['ratio']:>6}   {row['step_peak_rss_mb']} / "
            f"{row['plain_read_peak_rss_mb']} MB"
        )


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_downstream_steps_against_a_plain_pyarrow_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Here, not at the top: the probes import this module, and onnx would add to their RSS.
    from tests.unit.test_onnx_models import red_box_enrichment_config

    detector_config = red_box_enrichment_config(tmp_path / "detector", frame_stride=1)
    cached = os.environ.get("AVOPS_BENCH_CACHE")
    cache = Path(cached) if cached else tmp_path / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    with AzuriteBlob(cache / "azurite") as azurite:
        use_local_stack(monkeypatch, azurite, cache / "metadata.sqlite3")
        info = _extracted_inputs(cache, azurite)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        settings = Settings()
        zones = BlobZones.from_settings(settings)
        store = SqliteStore(settings.sqlite_path)
        run_id = f"{int(time.time())}"
        extracted = info["extracted_id"]
        sync_inputs = [["extracted", p] for p in _files(store, extracted) if p.endswith(".parquet")]

        rows: list[dict[str, Any]] = []
        baseline = _measure("baseline", {}, env)

        def step(
            kind: str, source: str, inputs: list[list[str]], config: Path | None = None
        ) -> str:
            measured: list[dict[str, Any]] = []
            reference: list[dict[str, Any]] = []
            name = kind if config is None else f"{kind}+detector"
            for number in range(ROUNDS):
                datastream_id = f"bench-{name.replace('+', '-')}-{run_id}-{number}"
                args: dict[str, Any] = {"source": source, "datastream_id": datastream_id}
                if config is not None:
                    args["config_path"] = str(config)
                # Interleaved, best of each: the shared VM's neighbours move absolute times.
                measured.append({**_measure(kind, args, env), "datastream_id": datastream_id})
                reference.append(_measure("reference", {"inputs": inputs}, env))
            ours, plain = _best(measured), _best(reference)
            rows.append(
                {
                    "step": name,
                    "rows": ours["rows"],
                    "inputs": len(inputs),
                    "step_s": round(ours["seconds"], 2),
                    "plain_read_s": round(plain["seconds"], 2),
                    "ratio": round(ours["seconds"] / plain["seconds"], 2),
                    "step_peak_rss_mb": round(ours["peak_rss_mb"], 1),
                    "plain_read_peak_rss_mb": round(plain["peak_rss_mb"], 1),
                }
            )
            print(f"\n{rows[-1]}", flush=True)
            return str(measured[0]["datastream_id"])

        synchronized_id = step("synchronize", extracted, sync_inputs)
        synchronized = store.get_datastream(synchronized_id)
        sync_path = f"{synchronized.path}/synchronized.parquet"
        enrich_inputs = [["curated", sync_path]] + [
            ["extracted", p] for p in _perception_inputs(zones, sync_path)
        ]
        enriched_id = step("enrich", synchronized_id, enrich_inputs)
        enriched = store.get_datastream(enriched_id)
        scene_inputs = [["curated", sync_path], ["curated", f"{enriched.path}/enriched.parquet"]]
        step("detect_scenes", enriched_id, scene_inputs)
        step("enrich", synchronized_id, enrich_inputs, config=detector_config)
        store.close()
        zones.close()
        runtime.reset()
    result = {
        "drive_bytes": info["drive_bytes"],
        "upload_to_extracted_s": info["upload_to_extracted_s"],
        "extracted_inputs_reused": info["reused"],
        "cores": os.cpu_count(),
        "rounds": ROUNDS,
        "baseline_peak_rss_mb": round(baseline["peak_rss_mb"], 1),
        "steps": rows,
    }
    _report(result)


if __name__ == "__main__":
    _child_main()
