"""``avops measurements``, ``show`` and ``lineage`` against the app's functions (WSGI transport)."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from avops.cli import _register_commands
from avops.cli import app as cli_app
from avops.client import ApiClient
from tests.api.conftest import READ_KEY, Fleet
from tests.api.function_host import FunctionHost

_register_commands()
runner = CliRunner()


@pytest.fixture
def cli(host: FunctionHost, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI with its HTTP client wired to the functions, and the read key in the env."""
    monkeypatch.setattr(ApiClient, "transport", httpx.WSGITransport(app=host.wsgi))
    monkeypatch.setenv("AVOPS_API_URL", "http://avops.test")
    monkeypatch.setenv("AVOPS_API_KEY", READ_KEY)
    return runner


def test_measurements_json_and_table(cli: CliRunner) -> None:
    result = cli.invoke(cli_app, ["measurements", "--vehicle", "VIN-A", "--json"])
    assert result.exit_code == 0, result.output
    assert [m["id"] for m in json.loads(result.output)["items"]] == ["m-a2", "m-a1"]
    table = cli.invoke(cli_app, ["measurements", "--tag", "highway", "--limit", "1"])
    assert table.exit_code == 0, table.output
    assert "m-b1" in table.output
    assert "more: --continuation" in table.output


def test_measurements_bad_filter_names_the_parameter(cli: CliRunner) -> None:
    result = cli.invoke(cli_app, ["measurements", "--from", "yesterday"])
    assert result.exit_code == 1
    assert "HTTP 400" in result.output
    assert "parameter from" in result.output


def test_show_measurement_then_datastream(cli: CliRunner, fleet: Fleet) -> None:
    result = cli.invoke(cli_app, ["show", "m-a1"])
    assert result.exit_code == 0, result.output
    assert "VIN-A" in result.output
    assert fleet.extracted in result.output
    datastream = cli.invoke(cli_app, ["show", fleet.extracted, "--json"])
    assert datastream.exit_code == 0, datastream.output
    assert json.loads(datastream.output)["sources"] == [fleet.raw]
    missing = cli.invoke(cli_app, ["show", "nothing-here"])
    assert missing.exit_code == 1
    assert "HTTP 404" in missing.output


def test_lineage_table_and_json(cli: CliRunner, fleet: Fleet) -> None:
    result = cli.invoke(cli_app, ["lineage", fleet.extracted])
    assert result.exit_code == 0, result.output
    assert f"<- {fleet.raw}" in result.output
    assert f"-> {fleet.synchronized}" in result.output
    up = cli.invoke(cli_app, ["lineage", fleet.synchronized, "--direction", "up", "--json"])
    assert {n["id"] for n in json.loads(up.output)["nodes"]} == {
        fleet.raw,
        fleet.extracted,
        fleet.synchronized,
    }


def test_wrong_key_is_reported(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVOPS_API_KEY", "nope")
    result = cli.invoke(cli_app, ["measurements"])
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
