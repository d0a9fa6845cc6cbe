"""``GET /api/frames``: parameters are checked before any table is read (400 naming them)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from devhost.cli import app as cli_app
from tests.api.function_host import FunctionHost
from tests.api.test_cli import cli
from tests.api.test_routes import get, ok, problem

__all__ = ["cli"]  # the CLI fixture of test_cli, wired to the app's functions


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "1001"}, "limit"),  # above the cap
        ({"limit": "0"}, "limit"),
        ({"object": "pede strian"}, "object"),
        ({"scene_type": "Hard-Brake"}, "scene_type"),
        ({"from": "1700000000"}, "from"),
        ({"from": "2026-05-04T09:00:00Z", "to": "2026-05-04T08:00:00Z"}, None),
        ({"vehical": "V"}, "vehical"),
        ({"continuation": "not a token"}, "continuation"),
        ({"continuation": "eyJ2IjoxfQ"}, "continuation"),  # well formed, not for this query
    ],
)
def test_bad_parameters_are_400_naming_them(
    host: FunctionHost, params: dict[str, str], parameter: str | None
) -> None:
    problem(get(host, "/api/frames", **params), 400, parameter)


def test_no_frame_index_is_an_empty_page(host: FunctionHost) -> None:
    # The seeded fleet has no SCENES datastream: nothing to scan, no blob is read.
    body = ok(get(host, "/api/frames", object="pedestrian", limit=1000))
    assert body == {"items": [], "continuation": None}


def test_cli_scenes_and_frames(cli: CliRunner) -> None:
    scenes = cli.invoke(cli_app, ["scenes", "--json", "--limit", "2"])
    assert scenes.exit_code == 0, scenes.output
    page = json.loads(scenes.output)
    assert [s["id"] for s in page["items"]] == ["sc-1", "sc-2"]
    table = cli.invoke(cli_app, ["scenes", "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert "sc-1" in table.output and "more: --continuation" in table.output
    frames = cli.invoke(cli_app, ["frames", "--object", "pedestrian", "--json"])
    assert frames.exit_code == 0, frames.output
    assert json.loads(frames.output) == {"items": [], "continuation": None}
    capped = cli.invoke(cli_app, ["frames", "--limit", "5000"])
    assert capped.exit_code == 1
    assert "parameter limit" in capped.output
