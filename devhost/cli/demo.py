"""``avops demo``: the main job end to end on the embedded default (what ``make demo`` runs).

Starts Azurite from node_modules, generates the small sample drive, uploads it to the landing
zone (files first, manifest last), reports what is where, and stops what it started.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones
from devhost.cli import app
from devhost.cli.upload import upload_directory
from devhost.sample_drive import generate_drive
from devhost.services.azurite import AzuriteBlob

__all__ = ["demo"]


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its files.")] = Path(
        ".avops/demo"
    ),
    seed: Annotated[int, typer.Option(min=0, help="Sample drive seed.")] = 0,
) -> None:
    """Start Azurite, generate the small sample drive, upload it to landing, report, stop."""
    console = Console()
    started = time.perf_counter()
    drive_dir = workdir / f"sample-{seed}"
    if drive_dir.exists():
        shutil.rmtree(drive_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    with AzuriteBlob(workdir / "azurite") as azurite:
        console.print(f"Azurite blob service on {azurite.blob_endpoint} (pid {azurite.pid})")
        settings = Settings(storage_connection_string=azurite.connection_string)
        with BlobZones.from_settings(settings) as zones:
            zones.ensure_containers()
            summary = generate_drive(drive_dir, seed=seed, size="small")
            console.print(
                f"generated sample drive: {len(summary.manifest.files)} files, "
                f"{summary.total_bytes / 1e6:.1f} MB in {summary.seconds:.1f} s -> {drive_dir}"
            )
            uploaded = upload_directory(zones, drive_dir, vehicle_id=None, console=console)
            landing = list(zones.list_blobs(Zone.LANDING, uploaded.upload_prefix))
    table = Table(title=f"landing/{uploaded.upload_prefix}")
    table.add_column("blob")
    table.add_column("bytes", justify="right")
    for info in landing:
        table.add_row(info.path, f"{info.size:,}")
    console.print(table)
    console.print(
        f"uploaded {uploaded.files} files + manifest ({uploaded.bytes / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.1f} s; Azurite stopped"
    )
    if len(landing) != uploaded.files + 1:
        console.print("[red]landing does not hold every uploaded file[/red]")
        raise typer.Exit(code=1)
