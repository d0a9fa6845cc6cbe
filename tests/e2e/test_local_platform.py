"""`avops dev` with zero configuration: a second terminal uploads and lists, state survives restart.

Everything runs as a user would run it: `avops dev` and the other commands are separate
processes whose environment holds no AVOPS_* (or Functions storage) variable at all. They find
each other through `.avops/connection.json` in the working directory, and the one key that
`avops dev` prints serves the Metadata API's read and write roles.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from avops.connection import CONNECTION_FILE

pytestmark = pytest.mark.azurite
ROOT = Path(__file__).resolve().parents[2]
SCENES_TIMEOUT_S = 240


def _clean_env() -> dict[str, str]:
    """The machine's environment without any setting of the app (what a new user has)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AVOPS_", "AzureWebJobs", "FUNCTIONS_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _avops(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "avops.cli", *args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class LocalPlatform:
    """`avops dev` as a child process in ``workdir``, started and stopped like a user would."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[str] | None = None
        self.banner = ""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "avops.cli",
                "dev",
                "--app-root",
                str(ROOT),
                "--port",
                "0",
                "--log-level",
                "WARNING",
            ],
            cwd=self.workdir,
            env=_clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("ready"):
                break
        self.banner = "".join(lines)
        assert "ready" in self.banner, self.banner

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.returncode == 0, self.banner


def _api(connection: dict[str, Any], path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{connection['api_url']}/api/{path}",
        params=params,
        headers={"x-functions-key": connection["key"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for_scenes(connection: dict[str, Any], measurement_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + SCENES_TIMEOUT_S
    streams: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        streams = _api(connection, f"measurements/{measurement_id}/datastreams")["items"]
        if any(s["type"] == "SCENES" and s["state"] == "COMPLETED" for s in streams):
            return streams
        if any(s["state"] == "FAILED" for s in streams):
            break
        time.sleep(1)
    raise AssertionError(f"no completed SCENES datastream; datastreams: {streams}")


def test_zero_config_platform_serves_a_second_terminal_and_survives_restart(
    tmp_path: Path, sample_drive: Path
) -> None:
    """No variables anywhere: the change feed is wired, a second process uploads and lists with
    the one printed key, and after a restart the measurement is still listed.

    It uploads the session's sample drive (only read); the slow test below writes its own
    with `avops sample`."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    drive = sample_drive

    platform = LocalPlatform(workdir)
    platform.start()
    try:
        assert "no change feed" not in platform.banner, platform.banner
        connection = json.loads((workdir / CONNECTION_FILE).read_text())
        assert oct((workdir / CONNECTION_FILE).stat().st_mode & 0o777) == "0o600"
        uploaded = _avops("upload", str(drive), cwd=workdir)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        measurement_id = _wait_for_measurement(workdir)
        # Without the key the API answers 401, never data.
        denied = httpx.get(f"{connection['api_url']}/api/measurements", timeout=30)
        assert denied.status_code == 401
    finally:
        platform.stop()
    assert not (workdir / CONNECTION_FILE).exists(), "a stopped platform leaves no connection"
    gone = _avops("measurements", "--json", cwd=workdir)
    assert gone.returncode == 2, "with no platform running the command says it cannot reach it"
    with _restarted(workdir, connection, measurement_id):
        pass  # the key and the listed measurement, checked on entering, are the point here


@contextmanager
def _restarted(
    workdir: Path, connection: dict[str, Any], measurement_id: str
) -> Iterator[dict[str, Any]]:
    """The platform started again in ``workdir``: same key, the measurement still listed."""
    restarted = LocalPlatform(workdir)
    restarted.start()
    try:
        again = json.loads((workdir / CONNECTION_FILE).read_text())
        assert again["key"] == connection["key"], "the local key survives a restart"
        listed = _avops("measurements", "--json", cwd=workdir)
        assert listed.returncode == 0, listed.stderr
        assert [m["id"] for m in json.loads(listed.stdout)["items"]] == [measurement_id]
        yield again
    finally:
        restarted.stop()


def _wait_for_measurement(workdir: Path) -> str:
    """The uploaded measurement's id, as a second process (`avops measurements`) lists it.

    The wait itself asks the API over HTTP with the connection file's key (milliseconds a
    poll); the CLI, a fresh process of its own, lists once the measurement exists.
    """
    connection = json.loads((workdir / CONNECTION_FILE).read_text())
    deadline = time.monotonic() + 90
    while not _api(connection, "measurements")["items"]:
        if time.monotonic() > deadline:
            raise AssertionError("the upload never became a measurement")
        time.sleep(0.1)
    listed = _avops("measurements", "--json", cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    (measurement,) = json.loads(listed.stdout)["items"]
    return str(measurement["id"])


@pytest.mark.slow
def test_zero_config_platform_runs_a_drive_to_scenes_and_keeps_it_across_restart(
    tmp_path: Path,
) -> None:
    """No variables anywhere: upload from a second process reaches SCENES; a restart keeps all.

    Slow (minutes: the whole chain under process workers); the default run has the quick
    check below, which covers discovery, the key, the change feed's wiring and the restart.
    """
    workdir = tmp_path / "work"
    workdir.mkdir()
    drive = tmp_path / "drive"
    generated = _avops("sample", str(drive), cwd=workdir)
    assert generated.returncode == 0, generated.stderr

    platform = LocalPlatform(workdir)
    platform.start()
    try:
        connection = json.loads((workdir / CONNECTION_FILE).read_text())
        key = re.search(r"key\s+(\S+)\s+\(functions key", platform.banner)
        assert key and key[1] == connection["key"], platform.banner
        uploaded = _avops("upload", str(drive), cwd=workdir)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        measurement = {"id": _wait_for_measurement(workdir)}
        streams = _wait_for_scenes(connection, measurement["id"])
        assert {s["type"] for s in streams} >= {
            "RAW",
            "EXTRACTED",
            "SYNCHRONIZED",
            "ENRICHED",
            "SCENES",
        }
        scenes = _avops("scenes", "--json", cwd=workdir)
        assert scenes.returncode == 0, scenes.stderr
        assert json.loads(scenes.stdout)["items"], "the drive's scenes are searchable"
    finally:
        platform.stop()
    assert not (workdir / CONNECTION_FILE).exists(), "a stopped platform leaves no connection"

    with _restarted(workdir, connection, measurement["id"]) as again:
        streams = _api(again, f"measurements/{measurement['id']}/datastreams")["items"]
        assert any(s["type"] == "SCENES" for s in streams)
        runs = _avops("runs", cwd=workdir)
        assert runs.returncode == 0, runs.stderr
        assert "ingest" in runs.stdout
