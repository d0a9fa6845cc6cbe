"""``avops demo``: the main job end to end on the embedded default (what ``make demo`` runs).

Starts Azurite and devhost with the unchanged function_app, generates the small sample drive,
uploads it to landing (files first, manifest last), waits for the ingest run, reports what is
where, and stops exactly what it started. Exits non-zero when any step failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dataops.ids import instance_id_for
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store import open_store
from devhost.cli import app
from devhost.cli.upload import upload_directory
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.sample_drive import generate_drive
from devhost.services.azurite import AzuriteBlob

__all__ = ["demo"]

REPO_ROOT = Path(__file__).resolve().parents[2]
FINAL = {RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED}


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
            options = HostOptions(
                app_root=REPO_ROOT,
                state_dir=workdir / "devhost",
                port=0,
                subscriptions_path=REPO_ROOT / "infra" / "eventgrid-subscriptions.json",
                storage_connection_string=azurite.connection_string,
                poll_interval_s=0.25,
            )
            outcome = asyncio.run(_ingest(options, zones, drive.out_dir, console, timeout_s))
            _report(console, zones, settings, outcome)
    elapsed = time.perf_counter() - started
    console.print(f"demo finished in {elapsed:.1f} s; Azurite and devhost stopped")
    if outcome["status"] != RuntimeStatus.COMPLETED.value:
        raise typer.Exit(code=1)


async def _ingest(
    options: HostOptions, zones: BlobZones, drive_dir: Path, console: Console, timeout_s: float
) -> dict[str, Any]:
    host = DevHost(options)
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
        while time.monotonic() < deadline:
            found = host.engine.get_instance(instance_id)
            if found is not None:
                stage = json.loads(found.custom_status or "{}").get("stage", "")
                if stage and stage != last_stage:
                    console.print(f"  ingest: {stage}")
                    last_stage = stage
                if found.status in FINAL:
                    return {
                        "status": found.status.value,
                        "output": json.loads(found.output or "null"),
                        "error": found.error,
                        "seconds": time.perf_counter() - upload_started,
                        "instance_id": instance_id,
                    }
            await asyncio.sleep(0.2)
        return {"status": "TimedOut", "output": None, "error": f"no result in {timeout_s} s"}
    finally:
        await host.stop()


def _report(
    console: Console, zones: BlobZones, settings: Settings, outcome: dict[str, Any]
) -> None:
    if outcome["status"] != RuntimeStatus.COMPLETED.value:
        console.print(f"[red]ingest {outcome['status']}[/red]: {outcome['error']}")
        return
    output = outcome["output"]
    store = open_store(settings)
    try:
        raw = store.get_datastream(output["datastream_id"])
        files = store.list_files(raw.id, limit=1000).items
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
