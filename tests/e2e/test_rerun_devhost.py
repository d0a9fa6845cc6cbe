"""A change of thresholds and a rerun -> a new SCENES datastream with lineage to the same
inputs, the old one kept. ``avops rerun-step --wait`` -> ``POST /api/datastreams/{id}/rerun``,
then ``GET /api/runs/{id}`` under devhost.

The scene config file (``AVOPS_SCENES_CONFIG``) is read on every run: the test lets the change
feed detect scenes with the shipped thresholds, rewrites the file, and reruns from the ENRICHED
datastream.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from activities import runtime
from avops.cli import _register_commands
from avops.cli import app as cli_app
from dataops.models import DatastreamState, DatastreamType
from dataops.scenes.config import DEFAULT_CONFIG_PATH
from dataops.store.protocol import SceneQuery
from dataops.store.sqlite import SqliteStore
from devhost.durable.store import RuntimeStatus
from devhost.host import DevHost
from tests.e2e.conftest import WRITE_KEY, finished, run_host
from tests.e2e.pipeline import PipelineRun

pytestmark = pytest.mark.azurite


def _changed_thresholds(path: Path) -> None:
    """No stop lasts 1000 s; 5 m/s is "high speed", so the cruise becomes one."""
    config = json.loads(path.read_text())
    config["stop"]["min_duration_s"] = 1000.0
    config["high_speed"].update(enter=5.0, exit=4.0)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("pipeline_run", ["sqlite"], indirect=True)
def test_rerun_after_a_threshold_change_makes_a_second_scenes_datastream(
    pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's run detected scenes with the shipped thresholds; a host on its state
    reruns detect_scenes from the ENRICHED datastream after the thresholds changed."""
    run = pipeline_run
    config = tmp_path / "scenes.json"
    shutil.copyfile(DEFAULT_CONFIG_PATH, config)
    for name, value in run.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AVOPS_SCENES_CONFIG", str(config))
    runtime.reset()
    feed = run.change_source()
    _register_commands()
    synchronized_id, enriched_id = run.output_of("synchronize"), run.output_of("enrich")
    first = run.instances["detect_scenes"]

    async def body(host: DevHost) -> dict[str, Any]:
        _changed_thresholds(config)
        async with httpx.AsyncClient(timeout=30) as http:
            # Through the CLI (in a thread: the host runs on this loop).
            rerun = await asyncio.to_thread(
                CliRunner().invoke,
                cli_app,
                ["rerun-step", enriched_id, "--wait", "--url", host.base_url, "--key", WRITE_KEY],
            )
            first_scenes = json.loads(first.output)["datastream_id"]
            end_of_chain = await asyncio.to_thread(
                CliRunner().invoke,
                cli_app,
                ["rerun-step", first_scenes, "--url", host.base_url, "--key", WRITE_KEY],
            )
            unknown = await http.post(
                f"{host.base_url}/api/datastreams/no-such-datastream/rerun",
                headers={"x-functions-key": WRITE_KEY},
            )
            assert rerun.exit_code == 0, rerun.output
            printed = dict(line.split(": ", 1) for line in rerun.stdout.splitlines())
            second = await finished(host, printed["instance"], timeout_s=60)
            lineage = await http.get(
                f"{host.base_url}/api/datastreams/{enriched_id}/lineage",
                params={"direction": "down"},
                headers={"x-functions-key": WRITE_KEY},
            )
        return {
            "first": first,
            "second": second,
            "printed": printed,
            "cli_output": rerun.output,
            "new_id": printed["new datastream"],
            "end_of_chain": end_of_chain,
            "unknown": unknown,
            "lineage": lineage,
            "synchronized_id": synchronized_id,
            "enriched_id": enriched_id,
            "detect_instances": host.engine.query(name="detect_scenes"),
        }

    try:
        result = run_host(run.host_options(feed), body)
    finally:
        if isinstance(feed, SqliteStore):
            feed.close()
        runtime.reset()
    second = result["second"]
    assert second.status is RuntimeStatus.COMPLETED, second.error
    # --wait followed the run on the app's status route; no host key or management URL shown.
    printed = result["printed"]
    assert printed["runtime status"] == "Completed"
    assert printed["status"].endswith(f"/api/runs/{second.instance_id}")
    assert "code=" not in result["cli_output"]
    assert "webhooks" not in result["cli_output"]
    # A SCENES datastream feeds no step: 400 naming the parameter, printed by the CLI.
    assert result["end_of_chain"].exit_code == 1
    assert "HTTP 400" in result["end_of_chain"].stderr
    assert "(parameter id)" in result["end_of_chain"].stderr
    assert result["unknown"].status_code == 404
    # Two runs of detect_scenes from this ENRICHED datastream: the change feed's and the rerun,
    # each with its own output (tests sharing the run may have started others).
    runs_from_enriched = [
        i
        for i in result["detect_instances"]
        if json.loads(i.input)["source_datastream_id"] == result["enriched_id"]
    ]
    assert len(runs_from_enriched) == 2
    new_id = result["new_id"]
    old_id = json.loads(result["first"].output)["datastream_id"]
    assert json.loads(second.output)["datastream_id"] == new_id != old_id

    store = run.store()
    old, new = store.get_datastream(old_id), store.get_datastream(new_id)
    assert old.state is new.state is DatastreamState.COMPLETED
    assert old.sources == new.sources == [result["synchronized_id"], result["enriched_id"]]
    assert new.producer.instance_id == second.instance_id != old.producer.instance_id
    measurement_id = old.measurement_id
    scenes = store.query_scenes(SceneQuery(measurement_id=measurement_id, limit=1000)).items
    old_types = Counter(s.type for s in scenes if s.datastream_id == old_id)
    new_types = Counter(s.type for s in scenes if s.datastream_id == new_id)
    assert old_types["stop"] == 1 and old_types["high_speed"] == 0, old_types
    assert new_types["stop"] == 0 and new_types["high_speed"] >= 1, new_types
    # The thresholds that did not change found the same scenes.
    assert old_types["hard_brake"] == new_types["hard_brake"] == 1
    # The SCENES datastreams made from this ENRICHED one (tests sharing the run add others).
    from_enriched = {
        d.id
        for d in store.list_datastreams(measurement_id, DatastreamType.SCENES)
        if result["enriched_id"] in d.sources
    }
    assert from_enriched == {old_id, new_id}
    # Lineage from the ENRICHED datastream down shows both SCENES datastreams.
    assert result["lineage"].status_code == 200, result["lineage"].text
    edges = {(e["source"], e["target"]) for e in result["lineage"].json()["edges"]}
    assert {(result["enriched_id"], old_id), (result["enriched_id"], new_id)} <= edges
    store.close()
