"""``avops clip SCENE_ID --out`` under devhost: the route records a CLIP datastream, the
``clip`` orchestration writes the MCAP, the run's output links it, the CLI downloads it."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcap.reader import make_reader
from mcap.writer import Writer
from typer.testing import CliRunner

from avops.cli import _register_commands
from avops.cli import app as cli_app
from dataops.models import DatastreamState, DatastreamType, FileRecord, Scene
from devhost.host import DevHost
from tests.contract.conftest import create_with_files, make_measurement, seed_completed_raw
from tests.e2e.conftest import WRITE_KEY, AppEnv, run_host

pytestmark = pytest.mark.azurite

T0 = 1_777_881_600_000_000_000
STEP = 100_000_000  # 10 Hz for 3 s


def _recording(path: Path) -> None:
    with path.open("wb") as handle:
        writer = Writer(handle)
        writer.start()
        schema = writer.register_schema(
            name="Tick", encoding="jsonschema", data=b'{"type":"object"}'
        )
        channel = writer.register_channel("/tick", "json", schema)
        for index in range(30):
            stamp = T0 + index * STEP
            writer.add_message(channel, stamp, json.dumps({"i": index}).encode(), stamp)
        writer.finish()


def _seed(env: AppEnv, tmp_path: Path) -> Scene:
    recording = tmp_path / "drive.mcap"
    _recording(recording)
    store = env.store()
    measurement = create_with_files(
        store,
        make_measurement("m-clip"),
        [FileRecord(path="drive.mcap", format="mcap", size=recording.stat().st_size)],
    )
    seed_completed_raw(store, env.zones, measurement, tmp_path)
    scene = Scene(
        id="scene-1",
        measurement_id=measurement.id,
        datastream_id="scenes-1",
        vehicle_id=measurement.vehicle_id,
        type="pedestrian",
        start=datetime.fromtimestamp((T0 + 10 * STEP) / 1e9, UTC),
        end=datetime.fromtimestamp((T0 + 15 * STEP) / 1e9, UTC),
    )
    store.upsert_scenes([scene])
    store.close()
    return scene


def test_clip_route_orchestration_and_cli(app_env: AppEnv, tmp_path: Path) -> None:
    """Scene 1.0..1.5 s with a 0.2 s margin -> the ticks at 0.8..1.7 s, in a file and a link."""
    scene = _seed(app_env, tmp_path)
    out = tmp_path / "scene.mcap"
    _register_commands()

    async def body(host: DevHost) -> dict[str, Any]:
        run = await asyncio.to_thread(
            CliRunner().invoke,
            cli_app,
            [
                "clip",
                scene.id,
                "--out",
                str(out),
                "--margin",
                "0.2",
                "--topic",
                "/tick",
                "--url",
                host.base_url,
                "--key",
                WRITE_KEY,
            ],
        )
        async with httpx.AsyncClient(timeout=30) as http:
            unknown = await http.post(
                f"{host.base_url}/api/scenes/no-such-scene/clip",
                json={},
                headers={"x-functions-key": WRITE_KEY},
            )
            no_range = await http.post(
                f"{host.base_url}/api/measurements/{scene.measurement_id}/clip",
                json={"topics": []},
                headers={"x-functions-key": WRITE_KEY},
            )
        return {"run": run, "unknown": unknown, "no_range": no_range}

    result = run_host(app_env.options(), body)
    run = result["run"]
    assert run.exit_code == 0, run.output
    printed = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    assert printed["messages"] == "10"
    fox = urllib.parse.parse_qs(urllib.parse.urlsplit(printed["foxglove"]).query)
    assert fox["ds.url"] == [printed["url"]]
    with out.open("rb") as handle:
        stamps = [m.log_time for _, _, m in make_reader(handle).iter_messages()]
    assert stamps == [T0 + index * STEP for index in range(8, 18)]
    assert result["unknown"].status_code == 404
    assert result["no_range"].status_code == 400
    store = app_env.store()
    (clip,) = store.list_datastreams(scene.measurement_id, DatastreamType.CLIP)
    store.close()
    assert clip.state == DatastreamState.COMPLETED
    assert clip.sources == ["raw-1", "scenes-1"]
    assert clip.stats["window"]["topics"] == ["/tick"]
