"""``avops sample``: write a synthetic drive (bags, MDF4, DBC, TDMS, truth, manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from avops.cli import app
from avops.sample_drive import DriveSummary, generate_drive
from avops.sample_drive.profiles import Size

__all__ = ["sample"]


@app.command()
def sample(
    out_dir: Annotated[
        Path, typer.Argument(help="Empty or new directory to write the drive into.")
    ],
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same bytes.")] = 0,
    size: Annotated[
        str, typer.Option(help="small (about 10 MB, seconds) or large (over 1 GB).")
    ] = "small",
) -> None:
    """Generate a sample drive with planted events and a truth file; manifest.json last."""
    if size not in ("small", "large"):
        raise typer.BadParameter("must be 'small' or 'large'", param_hint="--size")
    chosen: Size = "large" if size == "large" else "small"
    console = Console()
    try:
        if chosen == "large":
            summary = _with_progress(out_dir, seed, chosen, console)
        else:
            summary = generate_drive(out_dir, seed=seed, size=chosen)
    except FileExistsError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=1) from err
    console.print(
        f"wrote {len(summary.manifest.files)} files, {summary.total_bytes / 1e6:.1f} MB, "
        f"in {summary.seconds:.1f} s to {summary.out_dir}"
    )
    console.print(f"manifest: {summary.manifest_path}  truth: {summary.truth_path}")


def _with_progress(out_dir: Path, seed: int, size: Size, console: Console) -> DriveSummary:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("starting", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        return generate_drive(out_dir, seed=seed, size=size, progress=progress)
