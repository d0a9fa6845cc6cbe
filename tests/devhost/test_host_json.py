"""devhost reads host.json as the Functions host does: hub name and durable concurrency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.durable.store import RuntimeStatus
from devhost.errors import AppLoadError
from devhost.host import DevHost, HostOptions
from devhost.hostjson import DurableHostSettings, read_host_json
from tests.devhost.conftest import APPS
from tests.devhost.hosting import run_with_host, wait_until

HOSTJSON_APP = APPS / "hostjson"


def test_reads_hub_name_and_both_limits() -> None:
    """The three durableTask values come out of the file as written."""
    assert read_host_json(HOSTJSON_APP) == DurableHostSettings(
        hub_name="fleethub", max_activities=6, max_orchestrators=3
    )


def test_no_host_json_means_functions_defaults(tmp_path: Path) -> None:
    """An app without host.json gets None everywhere (the host then applies its defaults)."""
    assert read_host_json(tmp_path) == DurableHostSettings()


@pytest.mark.parametrize(
    ("durable", "field"),
    [
        ({"maxConcurrentActivityFunctions": 0}, "maxConcurrentActivityFunctions"),
        ({"maxConcurrentActivityFunctions": "8"}, "maxConcurrentActivityFunctions"),
        ({"maxConcurrentOrchestratorFunctions": True}, "maxConcurrentOrchestratorFunctions"),
        ({"hubName": ""}, "hubName"),
    ],
)
def test_a_bad_value_names_the_file_and_field(
    tmp_path: Path, durable: dict[str, object], field: str
) -> None:
    """A wrong type is refused with the file and field, not replaced by a default."""
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"durableTask": durable}}))
    with pytest.raises(AppLoadError, match=rf"host\.json: extensions\.durableTask\.{field}"):
        read_host_json(tmp_path)


async def peak_fan_out(host: DevHost, instance_id: str, *, n: int, seconds: float) -> int:
    """Run the sample app's ``io_fan_out`` (``n`` sleeping activities) to completion; its
    output is the most activities that were running at once."""
    host.engine.start_new("io_fan_out", instance_id, json.dumps({"n": n, "seconds": seconds}))

    def done() -> bool:
        inst = host.engine.get_instance(instance_id)
        return inst is not None and inst.status is RuntimeStatus.COMPLETED

    await wait_until(done, 60, "fan-out to complete")
    inst = host.engine.get_instance(instance_id)
    assert inst is not None
    assert inst.output is not None
    return int(json.loads(inst.output))


def test_fan_out_runs_with_the_configured_concurrency_not_the_cpu_count(tmp_path: Path) -> None:
    """maxConcurrentActivityFunctions (6) I/O-bound activities run at once, even on fewer CPUs,
    and never more; the task hub is host.json's."""
    options = HostOptions(
        app_root=HOSTJSON_APP, state_dir=tmp_path / "state", port=0, activity_mode="thread"
    )

    async def body(host: DevHost) -> int:
        assert host.engine.task_hub == "fleethub"
        assert host.activity_concurrency == 6
        return await peak_fan_out(host, "fan", n=24, seconds=0.3)

    assert run_with_host(options, body) == 6


def test_explicit_options_override_host_json(tmp_path: Path) -> None:
    """A command-line limit wins over host.json (as a local override should)."""
    options = HostOptions(
        app_root=HOSTJSON_APP,
        state_dir=tmp_path / "state",
        port=0,
        activity_mode="thread",
        concurrency=2,
        activity_workers=2,
        task_hub="other",
    )

    async def body(host: DevHost) -> int:
        assert host.engine.task_hub == "other"
        return await peak_fan_out(host, "fan2", n=8, seconds=0.2)

    assert run_with_host(options, body) == 2
