"""``avops upload DIR``: stream a measurement to landing, files first, manifest last."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from avops.cli import app
from avops.connection import resolve_storage
from dataops.errors import DataOpsError
from dataops.manifest import parse_manifest
from dataops.manifest_builder import build_manifest, recording_paths
from dataops.models import MANIFEST_NAME, Manifest
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.uploader import UploadSummary, upload_measurement
from extract_worker.time_span import recording_span

__all__ = ["manifest_for_directory", "upload", "upload_directory"]


def upload_directory(
    zones: BlobZones,
    root: Path,
    *,
    vehicle_id: str | None,
    upload_prefix: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    console: Console | None = None,
) -> UploadSummary:
    """Upload ``root``; use its manifest.json, or write one (hashing every file) when absent."""
    console = console or Console(stderr=True)
    existing = root / MANIFEST_NAME
    if existing.is_file():
        manifest = parse_manifest(existing.read_bytes(), source=str(existing))
    else:
        if vehicle_id is None:
            raise typer.BadParameter("--vehicle is required when DIR has no manifest.json")
        manifest = manifest_for_directory(root, vehicle_id, start, end, console)
    prefix = upload_prefix or _default_prefix(manifest)
    total = sum(item.size for item in manifest.files)
    with _bar(console) as bar:
        task = bar.add_task(f"upload {prefix}", total=total)
        return upload_measurement(
            zones,
            root,
            manifest,
            upload_prefix=prefix,
            progress=lambda n: bar.update(task, completed=n),
        )


def manifest_for_directory(
    root: Path, vehicle_id: str, start: datetime | None, end: datetime | None, console: Console
) -> Manifest:
    if start is None or end is None:
        start, end = _span_from_recordings(root, start, end, console)
    files = [p for p in root.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    with _bar(console) as bar:
        task = bar.add_task("sha256", total=total)
        return build_manifest(
            root,
            vehicle_id=vehicle_id,
            recording_start=start,
            recording_end=end,
            progress=lambda n: bar.advance(task, n),
        )


def _span_from_recordings(
    root: Path, start: datetime | None, end: datetime | None, console: Console
) -> tuple[datetime, datetime]:
    """The drive's start and end as its recordings state them (what --start/--end leave open)."""
    span = recording_span(recording_paths(root))
    for name, reason in span.skipped.items():
        console.print(f"[yellow]note:[/yellow] no recording time from {name}: {reason}")
    if span.start is None or span.end is None:
        raise typer.BadParameter(
            f"no recording below {root} states when it was recorded; pass --start and --end",
            param_hint="--start/--end",
        )
    start, end = start or span.start, end or span.end
    console.print(
        f"recording time {start:%Y-%m-%dT%H:%M:%SZ} .. {end:%Y-%m-%dT%H:%M:%SZ} "
        f"(from {', '.join(span.used)})"
    )
    return start, end


def _default_prefix(manifest: Manifest) -> str:
    return f"{manifest.vehicle_id}/{manifest.recording_start:%Y%m%dT%H%M%SZ}"


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@app.command()
def upload(
    directory: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Measurement folder.")
    ],
    vehicle: Annotated[
        str | None, typer.Option(help="Vehicle id (when DIR has no manifest).")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Landing prefix (default VEHICLE/START).")
    ] = None,
    start: Annotated[datetime | None, typer.Option(help="Recording start, UTC.")] = None,
    end: Annotated[datetime | None, typer.Option(help="Recording end, UTC.")] = None,
) -> None:
    """Upload a measurement folder to the landing zone (files first, manifest.json last)."""
    console = Console()
    try:
        settings = Settings()
        connection = resolve_storage(settings.storage_connection_string)
        if connection != settings.storage_connection_string:
            settings = settings.model_copy(update={"storage_connection_string": connection})
        with BlobZones.from_settings(settings) as zones:
            summary = upload_directory(
                zones,
                directory,
                vehicle_id=vehicle,
                upload_prefix=prefix,
                start=start.replace(tzinfo=start.tzinfo or UTC) if start else None,
                end=end.replace(tzinfo=end.tzinfo or UTC) if end else None,
                console=console,
            )
    except DataOpsError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=2) from err
    console.print(
        f"uploaded {summary.files} files, {summary.bytes / 1e6:.1f} MB "
        f"to landing/{summary.upload_prefix}"
    )
    if not (directory / MANIFEST_NAME).is_file():
        # The folder had no manifest: say where the one written for it lives.
        console.print(f"manifest written for this folder: landing/{summary.manifest_path}")
