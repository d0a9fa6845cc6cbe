"""``avops demo``: the main job end to end on the embedded default (what ``make demo`` runs).

Starts Azurite, devhost with the unchanged function_app and (for the local batch backend) the
local batch pool, generates the small sample drive, uploads it to landing (files first, manifest
last), waits for the ingest run, its extraction and the ``synchronize`` run the datastreams change
feed starts, reports what is where (per sensor: files, rows, bytes; synchronization stats), and
stops exactly what it started. Exits non-zero when any step failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from avops.cli import app
from avops.cli.activity_modes import activity_placement
from avops.cli.upload import upload_directory
from avops.sample_drive import generate_drive
from dataops.ids import instance_id_for
from dataops.models import DatastreamType
from dataops.paths import Zone
from dataops.settings import BatchBackend, Settings, StoreBackend
from dataops.storage import BlobZones
from dataops.store import SceneQuery, open_store
from dataops.store.sqlite import SqliteStore
from devhost.batch_runner import BatchRunner, batch_runner
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob

__all__ = ["demo"]

REPO_ROOT = Path(__file__).resolve().parents[2]


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its files.")] = Path(
        ".avops/demo"
    ),
    seed: Annotated[int, typer.Option(min=0, help="Sample drive seed.")] = 0,
    timeout_s: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600.0,
) -> None:
    """Azurite + devhost, sample drive, upload, ingest to raw; report; stop what it started."""
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    started = time.perf_counter()
    workdir = workdir.resolve()
    # Each demo starts from nothing, so what it prints is what this run did.
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    with AzuriteBlob(workdir / "azurite") as azurite:
        console.print(f"Azurite blob service on {azurite.blob_endpoint} (pid {azurite.pid})")
        os.environ["AVOPS_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        os.environ["AVOPS_SQLITE_PATH"] = str(workdir / "metadata.sqlite3")
        settings = Settings()
        with BlobZones.from_settings(settings) as zones:
            zones.ensure_containers()
            drive = generate_drive(workdir / f"sample-{seed}", seed=seed, size="small")
            console.print(
                f"generated the small sample drive: {len(drive.manifest.files)} files, "
                f"{drive.total_bytes / 1e6:.1f} MB in {drive.seconds:.1f} s"
            )
            # The sqlite store's change log feeds the datastreams change feed (synchronize).
            feed = (
                SqliteStore(settings.sqlite_path)
                if settings.store_backend is StoreBackend.SQLITE
                else None
            )
            activity_mode, thread_activities = activity_placement("auto")
            options = HostOptions(
                app_root=REPO_ROOT,
                state_dir=workdir / "devhost",
                port=0,
                subscriptions_path=REPO_ROOT / "infra" / "eventgrid-subscriptions.json",
                storage_connection_string=azurite.connection_string,
                poll_interval_s=0.25,
                change_source=feed,
                # As `avops dev` places them: I/O-bound activities in threads.
                activity_mode=activity_mode,
                thread_activities=thread_activities,
            )
            try:
                with _batch_pool(settings, console) as runner:
                    outcome = asyncio.run(
                        _ingest(options, zones, drive.out_dir, console, timeout_s, runner)
                    )
            finally:
                if feed is not None:
                    feed.close()
            outcome["truth_path"] = str(drive.truth_path)
            ok = _report(console, zones, settings, outcome)
    elapsed = time.perf_counter() - started
    console.print(f"demo finished in {elapsed:.1f} s; Azurite and devhost stopped")
    if not ok:
        raise typer.Exit(code=1)


@contextlib.contextmanager
def _batch_pool(settings: Settings, console: Console) -> Iterator[BatchRunner | None]:
    """The local batch pool (the Batch service's stand-in) while the host runs, if local."""
    if settings.batch_backend is not BatchBackend.LOCAL:
        yield None
        return
    with batch_runner(settings) as runner:
        console.print(f"local batch pool running ({runner.pool.workdir})")
        yield runner


async def _ingest(  # noqa: PLR0917 - the demo's pieces, in the order they are made
    options: HostOptions,
    zones: BlobZones,
    drive_dir: Path,
    console: Console,
    timeout_s: float,
    runner: BatchRunner | None,
) -> dict[str, Any]:
    host = DevHost(options)
    if runner is not None:
        runner.notify(host.engine)  # a job's end wakes its orchestration at once
    await host.start()
    console.print(f"devhost serving {host.base_url} (dashboard: {host.base_url}/dashboard)")
    try:
        upload_started = time.perf_counter()
        uploaded = await asyncio.to_thread(
            upload_directory, zones, drive_dir, vehicle_id=None, console=console
        )
        instance_id = instance_id_for("ingest", uploaded.upload_prefix)
        console.print(
            f"uploaded landing/{uploaded.upload_prefix}; waiting for ingest {instance_id}"
        )
        deadline = time.monotonic() + timeout_s
        last_stage = ""
        last_progress = ""
        while time.monotonic() < deadline:
            found = host.engine.get_instance(instance_id)
            if found is not None:
                custom = json.loads(found.custom_status or "{}")
                stage = custom.get("stage", "")
                if stage and stage != last_stage:
                    console.print(f"  ingest: {stage}")
                    last_stage = stage
                if stage == "extracting" and custom.get("datastream_id"):
                    progress = _extract_progress(host, custom["datastream_id"])
                    if progress and progress != last_progress:
                        console.print(f"  extract: {progress}")
                        last_progress = progress
                if found.status in TERMINAL:
                    output = json.loads(found.output or "null")
                    return {
                        "status": found.status.value,
                        "output": output,
                        "error": found.error,
                        "seconds": time.perf_counter() - upload_started,
                        "instance_id": instance_id,
                        "synchronize": (
                            sync := await _synchronized(host, output, deadline, console)
                        ),
                        "downstream": await _downstream(host, sync, deadline, console),
                    }
            await asyncio.sleep(0.2)
        return {"status": "TimedOut", "output": None, "error": f"no result in {timeout_s} s"}
    finally:
        await host.stop()


async def _synchronized(
    host: DevHost, output: Any, deadline: float, console: Console
) -> dict[str, Any] | None:
    """Wait for the ``synchronize`` run the change feed starts after a completed extraction."""
    extraction = (output or {}).get("extraction") or {}
    if extraction.get("status") != "Completed" or host.changefeed is None:
        return None
    instance_id = instance_id_for("synchronize", extraction["datastream_id"])
    console.print(f"  change feed: waiting for synchronize {instance_id}")
    while time.monotonic() < deadline:
        found = host.engine.get_instance(instance_id)
        if found is not None and found.status in TERMINAL:
            custom = json.loads(found.custom_status or "{}")
            return {
                "status": found.status.value,
                "error": found.error,
                "datastream_id": custom.get("datastream_id"),
            }
        await asyncio.sleep(0.2)
    return {"status": "TimedOut", "error": "synchronize did not finish in time"}


async def _downstream(
    host: DevHost, sync: dict[str, Any] | None, deadline: float, console: Console
) -> dict[str, dict[str, Any]]:
    """Wait for the chain the change feed starts: enrich from the SYNCHRONIZED datastream,
    then detect_scenes from the ENRICHED one (each instance id derives from its source).

    The host must not stop under them: an activity cut off mid-write would only be redone on
    the next start, and the report should show what they made.
    """
    results: dict[str, dict[str, Any]] = {}
    source = sync
    for step in ("enrich", "detect_scenes"):
        if source is None or source["status"] != RuntimeStatus.COMPLETED.value:
            break
        instance_id = instance_id_for(step, source["datastream_id"])
        console.print(f"  change feed: waiting for {step} {instance_id}")
        results[step] = {"status": "TimedOut", "error": f"{step} did not finish in time"}
        while time.monotonic() < deadline:
            found = host.engine.get_instance(instance_id)
            if found is not None and found.status in TERMINAL:
                custom = json.loads(found.custom_status or "{}")
                results[step] = {
                    "status": found.status.value,
                    "error": found.error,
                    "datastream_id": custom.get("datastream_id"),
                }
                break
            await asyncio.sleep(0.2)
        source = results[step]
    return results


def _extract_progress(host: DevHost, raw_datastream_id: str) -> str:
    """``tasks done/total`` of the extraction the ingest run started, once it has begun."""
    found = host.engine.get_instance(instance_id_for("extract", raw_datastream_id))
    if found is None:
        return ""
    custom = json.loads(found.custom_status or "{}")
    if not custom.get("tasks_total"):
        return str(custom.get("stage", ""))
    return f"{custom['stage']}, {custom['tasks_done']}/{custom['tasks_total']} tasks done"


def _report(
    console: Console, zones: BlobZones, settings: Settings, outcome: dict[str, Any]
) -> bool:
    """Print what is where; False if ingest or extraction failed."""
    if outcome["status"] != RuntimeStatus.COMPLETED.value:
        console.print(f"[red]ingest {outcome['status']}[/red]: {outcome['error']}")
        return False
    output = outcome["output"]
    store = open_store(settings)
    try:
        raw = store.get_datastream(output["datastream_id"])
        files = store.list_files(raw.id, limit=1000).items
        extraction = output.get("extraction")
        extracted = (
            store.get_datastream(extraction["datastream_id"])
            if extraction and extraction.get("status") == "Completed"
            else None
        )
    finally:
        store.close()
    table = Table(title=f"raw/{raw.path}")
    table.add_column("file")
    table.add_column("format")
    table.add_column("bytes", justify="right")
    for record in files:
        table.add_row(
            record.path.removeprefix(raw.path + "/"), str(record.format), f"{record.size:,}"
        )
    console.print(table)
    console.print(f"measurement: {output['measurement_id']}")
    console.print(f"RAW datastream: {raw.id} ({raw.state}), {raw.file_count} files")
    console.print(f"archive copy: archive/{raw.stats.get('upload_prefix', '?')}")
    remaining = list(zones.list_blobs(Zone.LANDING))
    console.print(f"landing now holds {len(remaining)} blobs")
    console.print(f"ingest took {outcome['seconds']:.1f} s from upload to COMPLETED")
    if extraction is None:
        console.print("extraction is off (AVOPS_EXTRACT_ON_INGEST=false)")
        return True
    if extracted is None:
        console.print(f"[red]extraction failed[/red]: {extraction.get('reason')}")
        return False
    _report_extraction(console, extracted.path, extracted.id, extracted.stats)
    synchronized = _report_synchronization(console, settings, output["measurement_id"], outcome)
    return synchronized and _report_scenes(console, settings, output["measurement_id"], outcome)


def _report_scenes(
    console: Console, settings: Settings, measurement_id: str, outcome: dict[str, Any]
) -> bool:
    """Scenes found next to the sample drive's planted truth; False if a step failed."""
    runs = outcome.get("downstream") or {}
    failed = {step: run for step, run in runs.items() if run["status"] != "Completed"}
    for step, run in failed.items():
        console.print(f"[red]{step} {run['status']}[/red]: {run['error']}")
    if "detect_scenes" not in runs or failed:
        return not failed
    store = open_store(settings)
    try:
        scenes = store.query_scenes(SceneQuery(measurement_id=measurement_id, limit=1000)).items
    finally:
        store.close()
    truth_path = outcome.get("truth_path")
    truth = json.loads(Path(truth_path).read_text())["events"] if truth_path else []
    start = min((s.start for s in scenes), default=None)
    table = Table(title=f"scenes of {measurement_id} next to the planted truth")
    for column in ("type", "truth start-end s", "found start-end s", "error s"):
        table.add_column(column)
    for event in truth:
        match = next(
            (
                scene
                for scene in scenes
                if scene.type == event["type"]
                and scene.start.timestamp() * 1e9 < event["end_ns"]
                and scene.end.timestamp() * 1e9 > event["start_ns"]
            ),
            None,
        )
        found = "not found"
        error = "-"
        if match is not None:
            found_start = match.start.timestamp() - event["start_ns"] / 1e9 + event["start_s"]
            found_end = match.end.timestamp() - event["end_ns"] / 1e9 + event["end_s"]
            found = f"{found_start:.2f}-{found_end:.2f}"
            error = f"{found_start - event['start_s']:+.2f} / {found_end - event['end_s']:+.2f}"
        table.add_row(event["type"], f"{event['start_s']:.2f}-{event['end_s']:.2f}", found, error)
    console.print(table)
    by_type: dict[str, int] = {}
    for scene in scenes:
        by_type[scene.type] = by_type.get(scene.type, 0) + 1
    console.print(
        f"scenes found: {by_type or 'none'}" + (f" from {start:%H:%M:%S}" if start else "")
    )
    return True


def _report_extraction(console: Console, path: str, datastream_id: str, stats: Any) -> None:
    table = Table(title=f"extracted/{path}")
    table.add_column("sensor (task kind)")
    table.add_column("files", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("bytes", justify="right")
    for kind, totals in sorted(stats.get("kinds", {}).items()):
        table.add_row(kind, f"{totals['files']:,}", f"{totals['rows']:,}", f"{totals['bytes']:,}")
    console.print(table)
    recordings = stats.get("recordings", {})
    console.print(
        f"EXTRACTED datastream: {datastream_id} (COMPLETED), {len(recordings)} recordings, "
        f"{stats.get('files', 0):,} files, {stats.get('bytes', 0):,} bytes"
    )


def _report_synchronization(
    console: Console, settings: Settings, measurement_id: str, outcome: dict[str, Any]
) -> bool:
    """The SYNCHRONIZED datastream's stats; False if the synchronize run failed."""
    run = outcome.get("synchronize")
    if run is None:
        console.print("synchronization: no change feed for this store backend")
        return True
    if run["status"] != RuntimeStatus.COMPLETED.value:
        console.print(f"[red]synchronize {run['status']}[/red]: {run['error']}")
        return False
    store = open_store(settings)
    try:
        found = store.list_datastreams(measurement_id, DatastreamType.SYNCHRONIZED)
    finally:
        store.close()
    if not found:
        console.print("[red]synchronize completed but no SYNCHRONIZED datastream exists[/red]")
        return False
    synchronized = found[0]
    stats = synchronized.stats
    head = f"SYNCHRONIZED datastream: {synchronized.id} ({synchronized.state})"
    if stats.get("skipped"):
        console.print(f"{head}, skipped: {stats['skipped']}")
        return True
    table = Table(title=f"curated/{stats.get('path', synchronized.path)}")
    table.add_column("sensor")
    table.add_column("match rate", justify="right")
    table.add_column("max |offset| ms", justify="right")
    for name, sensor in sorted(stats.get("sensors", {}).items()):
        table.add_row(name, f"{sensor['match_rate']:.3f}", str(sensor["max_abs_offset_ms"]))
    console.print(table)
    reference = stats.get("reference", {})
    console.print(
        f"{head}, {stats.get('rows', 0)} rows on {reference.get('sensor')} "
        f"({reference.get('rate_hz')} Hz)"
    )
    return True
