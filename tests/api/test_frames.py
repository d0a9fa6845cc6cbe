"""``GET /api/frames`` on both store backends: the fleet's frame index and labels tables.

The fleet (tests/api/conftest.py) has frames of m-a1 (six at T0 + 0..5 s in scene sc-1, four
of them with a pedestrian; three at T0 + 300..302 s in sc-2) and of m-b1 (three with a
pedestrian at T0 + 4 h), and two label imports of m-a1: the frame at T0 + 1 s has a pedestrian
and a bicycle label (one from each import), the one at T0 + 301 s a traffic sign.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from avops.cli import app as cli_app
from dataops.frames.tables import ns_floor
from tests.api.conftest import SECOND, T0
from tests.api.function_host import FunctionHost
from tests.api.test_cli import cli
from tests.api.test_routes import get, ok, one_page_of, problem

__all__ = ["cli"]  # the CLI fixture of test_cli, wired to the app's functions

A1 = ns_floor(T0)
B1 = ns_floor(T0) + 4 * 3600 * SECOND
ALL = [A1 + i * SECOND for i in range(6)] + [A1 + (300 + i) * SECOND for i in range(3)]
ALL += [B1 + i * SECOND for i in range(3)]


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
        ({"labeled": "yes"}, "labeled"),
        ({"labeled": "1"}, "labeled"),
        ({"labeled": ""}, "labeled"),
        ({"label": "car'; --"}, "label"),
        ({"label": " car"}, "label"),
        ({"label": "x" * 65}, "label"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    host: FunctionHost, params: dict[str, str], parameter: str | None
) -> None:
    problem(get(host, "/api/frames", **params), 400, parameter)


def _times(host: FunctionHost, **params: Any) -> list[int]:
    return one_page_of(host, "/api/frames", "time_ns", **params)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALL),
        ({"object": "pedestrian"}, ALL[:4] + ALL[9:]),
        ({"vehicle": "VIN-B"}, ALL[9:]),
        ({"vehicle": "VIN-Z"}, []),
        ({"scene_type": "cut_in"}, ALL[6:9]),
        ({"from": "2024-05-01T08:00:01Z", "to": "2024-05-01T08:05:00Z"}, ALL[1:7]),
        ({"labeled": "true"}, [ALL[1], ALL[7]]),
        ({"labeled": "false"}, [t for t in ALL if t not in (ALL[1], ALL[7])]),
        ({"label": "bicycle"}, [ALL[1]]),
        ({"label": "traffic sign"}, [ALL[7]]),
        ({"label": "pedestrian", "labeled": "false"}, []),
        ({"label": "pedestrian", "vehicle": "VIN-B"}, []),
        ({"labeled": "true", "object": "pedestrian"}, [ALL[1]]),
        ({"label": "unicorn"}, []),
    ],
)
def test_frame_filters(host: FunctionHost, params: dict[str, str], expected: list[int]) -> None:
    assert _times(host, **params) == expected


def test_frames_carry_the_categories_of_every_label_import(host: FunctionHost) -> None:
    items = ok(get(host, "/api/frames", vehicle="VIN-A", limit=1000))["items"]
    categories = {item["time_ns"]: item["label_categories"] for item in items}
    assert categories[ALL[1]] == ["bicycle", "pedestrian"]
    assert categories[ALL[7]] == ["traffic sign"]
    assert all(categories[t] == [] for t in ALL[:9] if t not in (ALL[1], ALL[7]))
    first = items[0]
    assert first["datastream_id"] == "ds-scenes-a1"
    assert first["scene_ids"] == ["sc-1"]
    assert first["time"] == "2024-05-01T08:00:00Z"


def test_pages_cover_every_frame_once_in_order(host: FunctionHost) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 5}
    for _ in range(10):
        body = ok(get(host, "/api/frames", **params))
        seen += [item["time_ns"] for item in body["items"]]
        if body["continuation"] is None:
            break
        params["continuation"] = body["continuation"]
    assert seen == ALL
    labeled = ok(get(host, "/api/frames", labeled="true", limit=1))
    assert [item["time_ns"] for item in labeled["items"]] == [ALL[1]]
    rest = ok(
        get(host, "/api/frames", labeled="true", limit=1, continuation=labeled["continuation"])
    )
    assert [item["time_ns"] for item in rest["items"]] == [ALL[7]]
    assert rest["continuation"] is None
    # A token is bound to its filters: the same token with another label filter is refused.
    problem(
        get(host, "/api/frames", label="bicycle", limit=1, continuation=labeled["continuation"]),
        400,
        "continuation",
    )


def test_cli_frames_with_label_filters(cli: CliRunner) -> None:
    frames = cli.invoke(cli_app, ["frames", "--object", "pedestrian", "--json", "--limit", "2"])
    assert frames.exit_code == 0, frames.output
    page = json.loads(frames.output)
    assert [item["time_ns"] for item in page["items"]] == ALL[:2]
    assert page["continuation"]
    labeled = cli.invoke(cli_app, ["frames", "--labeled", "--json"])
    assert labeled.exit_code == 0, labeled.output
    assert [item["time_ns"] for item in json.loads(labeled.output)["items"]] == [ALL[1], ALL[7]]
    unlabeled = cli.invoke(cli_app, ["frames", "--unlabeled", "--vehicle", "VIN-B", "--json"])
    assert len(json.loads(unlabeled.output)["items"]) == 3
    table = cli.invoke(cli_app, ["frames", "--label", "bicycle"])
    assert table.exit_code == 0, table.output
    assert "bicycle" in table.output
    capped = cli.invoke(cli_app, ["frames", "--limit", "5000"])
    assert capped.exit_code == 1
    assert "parameter limit" in capped.output
    bad = cli.invoke(cli_app, ["frames", "--label", "no'quotes"])
    assert bad.exit_code == 1
    assert "parameter label" in bad.output


def test_cli_scenes(cli: CliRunner) -> None:
    scenes = cli.invoke(cli_app, ["scenes", "--json", "--limit", "2"])
    assert scenes.exit_code == 0, scenes.output
    page = json.loads(scenes.output)
    assert [s["id"] for s in page["items"]] == ["sc-1", "sc-2"]
    table = cli.invoke(cli_app, ["scenes", "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert "sc-1" in table.output and "more: --continuation" in table.output
    labeled = cli.invoke(cli_app, ["scenes", "--labeled", "--json"])
    assert [s["id"] for s in json.loads(labeled.output)["items"]] == ["sc-1", "sc-2"]
    unlabeled = cli.invoke(cli_app, ["scenes", "--unlabeled", "--json"])
    assert [s["id"] for s in json.loads(unlabeled.output)["items"]] == ["sc-3"]
    category = cli.invoke(cli_app, ["scenes", "--label", "traffic sign", "--json"])
    assert [s["id"] for s in json.loads(category.output)["items"]] == ["sc-2"]
