"""CLI: ``avops dev`` stops exactly what it started; ``runs``, ``run``, ``deadletters``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from avops.cli import _register_commands
from avops.cli import app as cli_app
from devhost.db import Database
from devhost.durable.clock import FakeClock
from devhost.durable.engine import DurableEngine
from devhost.events.delivery import DeliveryQueue
from devhost.registry import Registry
from tests.devhost.conftest import SAMPLE_APP

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        for child in text.split():
            found.add(int(child))
            found |= _children(int(child))
    return found


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return False
    return stat.read_text().split(") ", 1)[1].split()[0] != "Z"


@pytest.mark.azurite
def test_avops_dev_serves_and_stops_its_processes(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        "SAMPLE_APP_OUT": str(tmp_path / "out.jsonl"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "avops.cli",
            "dev",
            "--app-root",
            str(SAMPLE_APP),
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
            "--subscriptions",
            str(SAMPLE_APP / "subscriptions.json"),
            "--log-level",
            "WARNING",
        ],
        # Its connection file goes to the working directory's .avops/, not the checkout's.
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("ready"):
                break
        text = "".join(lines)
        assert "ready" in text, text
        base = re.search(r"HTTP\s+(http://\S+)/api/", text)
        key = re.search(r"key\s+(\S+)\s+\(functions key", text)
        assert base and key, text
        assert "AzuriteBlob" in text
        started = httpx.post(
            f"{base[1]}/api/orchestrators/fan_out?code={key[1]}", json={"n": 3}, timeout=30
        )
        assert started.status_code == 202
        status_url = started.json()["statusQueryGetUri"]
        for _ in range(600):
            polled = httpx.get(status_url, timeout=30)
            if polled.status_code == 200:
                break
            time.sleep(0.05)
        assert polled.json()["output"] == 5
        children = _children(proc.pid)
        assert children, "azurite and the activity processes should be children"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.1)
    assert not [c for c in children if _alive(c)], "processes started by avops dev outlived it"


def test_runs_run_and_deadletters_commands(
    tmp_path: Path, sample_registry: Registry, out_file: Path
) -> None:
    state = tmp_path / "state"
    db = Database(state / "devhost.sqlite3")
    engine = DurableEngine(db, sample_registry, clock=FakeClock())
    engine.start_new("parent", "cli-parent")
    engine.start_new("sleeper", "cli-sleeper")
    engine.run_until_idle()
    queue = DeliveryQueue(db, FakeClock())
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO deadletters (source, function, payload, attempts, error, created_at) "
            "VALUES ('test', 'rejects_events', ?, 5, 'RuntimeError: no', 'now')",
            (json.dumps({"id": "e1"}),),
        )
    assert len(queue.dead_letters()) == 1
    db.close()

    _register_commands()
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["runs", "--state-dir", str(state)])
    assert listed.exit_code == 0, listed.output
    assert "cli-parent" in listed.output
    assert "cli-sleeper" in listed.output
    running = runner.invoke(cli_app, ["runs", "--status", "running", "--state-dir", str(state)])
    assert "cli-sleeper" in running.output
    assert "cli-parent" not in running.output
    shown = runner.invoke(cli_app, ["run", "cli-parent", "--state-dir", str(state)])
    assert shown.exit_code == 0, shown.output
    assert "Completed" in shown.output
    assert "sub-orchestration child-b (hello_seq): Completed" in shown.output
    assert "SUB_ORCHESTRATION_CREATED x2" in shown.output
    missing = runner.invoke(cli_app, ["run", "nope", "--state-dir", str(state)])
    assert missing.exit_code == 1
    letters = runner.invoke(cli_app, ["deadletters", "host", "--state-dir", str(state)])
    assert "rejects_events" in letters.output
    bad = runner.invoke(cli_app, ["runs", "--status", "weird", "--state-dir", str(state)])
    assert bad.exit_code != 0
