"""``avops runs``, ``avops run ID`` and ``avops deadletters host``: read devhost's state database.

The app's own change-feed dead letters are ``avops deadletters list`` (``avops.cli.deadletters``,
through the API); ``host`` lists devhost's delivery dead letters (any trigger's events).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from avops.cli import app
from avops.cli.deadletters import deadletters_app
from avops.connection import find_connection
from devhost.db import Database
from devhost.durable.clock import SystemClock
from devhost.durable.history import EventType
from devhost.durable.store import DurableStore, RuntimeStatus
from devhost.events.delivery import DeliveryQueue

AppRoot = Annotated[Path, typer.Option("--app-root", help="Functions app directory.")]
StateDir = Annotated[Path | None, typer.Option(help="devhost state directory.")]


def _db(app_root: Path, state_dir: Path | None) -> Database:
    if state_dir is None:
        # The running local platform's state, wherever its --state-dir put it.
        local = find_connection()
        state_dir = Path(local.state_dir) if local else app_root / ".avops" / "devhost"
    path = state_dir / "devhost.sqlite3"
    if not path.is_file():
        typer.echo(f"no devhost state at {path}; start it with `avops dev`", err=True)
        raise typer.Exit(2)
    return Database(path)


@app.command()
def runs(
    status: Annotated[
        str | None, typer.Option(help="Only this runtime status, e.g. Running.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Only orchestrators whose name contains this.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    app_root: AppRoot = Path(),
    state_dir: StateDir = None,
) -> None:
    """List orchestration instances, newest first."""
    statuses = None
    if status:
        try:
            statuses = [RuntimeStatus(status.capitalize()).value]
        except ValueError as err:
            choices = ", ".join(s.value for s in RuntimeStatus)
            raise typer.BadParameter(f"unknown status {status!r}; one of {choices}") from err
    db = _db(app_root, state_dir)
    store = DurableStore(db)
    with db.read() as conn:
        items = store.query_instances(conn, statuses=statuses, name=name, limit=limit)
    table = Table("instance id", "name", "status", "custom status", "created", "updated")
    for inst in items:
        custom = inst.custom_status or ""
        table.add_row(
            inst.instance_id,
            inst.name,
            inst.status.value,
            custom if len(custom) <= 40 else custom[:39] + "…",
            inst.created_at,
            inst.updated_at,
        )
    Console().print(table)
    db.close()


@app.command()
def run(
    instance_id: Annotated[str, typer.Argument(help="Orchestration instance id.")],
    app_root: AppRoot = Path(),
    state_dir: StateDir = None,
) -> None:
    """Show one instance: status, custom status, output and a summary of its history."""
    db = _db(app_root, state_dir)
    store = DurableStore(db)
    with db.read() as conn:
        inst = store.get_instance(conn, instance_id)
        history = store.load_history(conn, instance_id) if inst else []
        children = store.children_of(conn, instance_id) if inst else []
    db.close()
    if inst is None:
        typer.echo(f"no instance {instance_id!r}", err=True)
        raise typer.Exit(1)
    console = Console()
    console.print(f"[bold]{inst.name}[/bold] {inst.instance_id}")
    console.print(f"status:        {inst.status.value}")
    console.print(f"custom status: {inst.custom_status or '-'}")
    console.print(f"created:       {inst.created_at}")
    console.print(f"updated:       {inst.updated_at}")
    if inst.error:
        console.print(f"error:         {inst.error}")
    console.print(f"output:        {inst.output or '-'}")
    counts = Counter(_event_name(e["EventType"]) for e in history)
    summary = ", ".join(f"{name} x{count}" for name, count in sorted(counts.items()))
    console.print(f"history:       {len(history)} events ({summary})")
    scheduled = Counter(
        e.get("Name") for e in history if e["EventType"] == EventType.TASK_SCHEDULED
    )
    for activity, count in sorted(scheduled.items(), key=lambda kv: str(kv[0])):
        console.print(f"  activity {activity}: {count} scheduled")
    for child in children:
        console.print(
            f"  sub-orchestration {child.instance_id} ({child.name}): {child.status.value}"
        )


def _event_name(value: int) -> str:
    try:
        return EventType(value).name
    except ValueError:
        return str(value)


@deadletters_app.command("host")
def host_deadletters(
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    app_root: AppRoot = Path(),
    state_dir: StateDir = None,
) -> None:
    """devhost's deliveries a function could not take (it raised after retries, or malformed)."""
    db = _db(app_root, state_dir)
    letters = DeliveryQueue(db, SystemClock()).dead_letters(limit)
    db.close()
    table = Table("#", "source", "function", "attempts", "error", "at", "payload")
    for d in letters:
        payload = json.dumps(json.loads(d.payload))[:80]
        table.add_row(
            str(d.deadletter_id),
            d.source,
            d.function,
            str(d.attempts),
            d.error,
            d.created_at,
            payload,
        )
    Console().print(table)
