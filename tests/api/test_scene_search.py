"""``GET /api/scenes`` from the scenes Delta tables, on both store backends.

The fleet (tests/api/conftest.py): m-a1 has sc-1 (pedestrian, T0 + 0..5 s) and sc-2 (cut_in,
T0 + 300..305 s) in its newest SCENES datastream and sc-old in an older one; m-b1 has sc-3;
labels of m-a1 at T0 + 1 s (pedestrian, bicycle: two imports) and T0 + 301 s (traffic sign).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dataops.frames.search import FrameQuery, FrameSearch
from dataops.frames.tables import TableFile, ns_floor, scan_in_order
from dataops.scenes.search import SceneSearch, SceneTableQuery
from dataops.storage import BlobZones
from dataops.store.continuation import encode_token, fingerprint
from dataops.store.sqlite import SqliteStore
from tests.api.conftest import SECOND, T0
from tests.api.function_host import FunctionHost
from tests.api.test_routes import get, ok, one_page_of, problem
from tests.contract.conftest import make_measurement, make_scene
from tests.index_tables import FrameRow, LabelRow, publish_labels, publish_scenes


def _ids(host: FunctionHost, **params: Any) -> list[str]:
    return one_page_of(host, "/api/scenes", "id", **params)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"labeled": "true"}, ["sc-1", "sc-2"]),
        ({"labeled": "false"}, ["sc-3"]),
        ({"label": "pedestrian"}, ["sc-1"]),
        ({"label": "bicycle"}, ["sc-1"]),
        ({"label": "traffic sign"}, ["sc-2"]),
        ({"label": "traffic sign", "type": "pedestrian"}, []),
        ({"label": "pedestrian", "labeled": "false"}, []),
        ({"labeled": "true", "vehicle": "VIN-B"}, []),
        ({"labeled": "false", "measurement": "m-a1"}, []),
        ({"label": "unicorn"}, []),
        # The older SCENES datastream of m-a1 was replaced by the newer one: never found.
        ({"measurement": "m-a1"}, ["sc-1", "sc-2"]),
        ({"measurement": "m-none"}, []),
        ({"measurement": "m-a1", "vehicle": "VIN-B"}, []),
        # Start bounds are inclusive at the query's microsecond.
        ({"from": "2024-05-01T08:05:00Z"}, ["sc-2", "sc-3"]),
        ({"to": "2024-05-01T08:05:00Z"}, ["sc-1", "sc-2"]),
        ({"from": "2024-05-01T08:05:00.000001Z"}, ["sc-3"]),
        ({"to": "9999-12-31T23:59:59Z"}, ["sc-1", "sc-2", "sc-3"]),
        ({"from": "9999-12-31T23:59:59Z"}, []),
    ],
)
def test_scene_label_and_table_filters(
    host: FunctionHost, params: dict[str, str], expected: list[str]
) -> None:
    assert _ids(host, **params) == expected


def test_scenes_come_from_the_table_with_exact_times(host: FunctionHost) -> None:
    (scene,) = ok(get(host, "/api/scenes", type="cut_in"))["items"]
    assert scene["datastream_id"] == "ds-scenes-a1"
    assert scene["start"] == "2024-05-01T08:05:00Z"
    assert scene["end"] == "2024-05-01T08:05:05Z"
    assert scene["attributes"]["objects"] == 3
    assert scene["attributes"]["end_ns"] - scene["attributes"]["start_ns"] == 5_000_000_000
    assert scene["vehicle_id"] == "VIN-A"


def test_labeled_pages_and_foreign_tokens(host: FunctionHost) -> None:
    first = ok(get(host, "/api/scenes", labeled="true", limit=1))
    second = ok(
        get(host, "/api/scenes", labeled="true", limit=1, continuation=first["continuation"])
    )
    assert [s["id"] for s in first["items"] + second["items"]] == ["sc-1", "sc-2"]
    assert second["continuation"] is None
    problem(
        get(host, "/api/scenes", labeled="false", limit=1, continuation=first["continuation"]),
        400,
        "continuation",
    )


@pytest.mark.parametrize("position", [["x", "sc-1"], ["9" * 30, "sc-1"], ["-9" * 20, "sc-1"]])
def test_hand_made_token_with_a_bad_position_is_a_400(
    host: FunctionHost, position: list[str]
) -> None:
    # Fingerprints are not secret: a client can forge a token for its own filters.
    token = encode_token("scenes", fingerprint(None, None, None, None, None, None, None), position)
    problem(get(host, "/api/scenes", continuation=token), 400, "continuation")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"labeled": "TRUE"}, "labeled"),
        ({"labeled": "on"}, "labeled"),
        ({"label": "a  b"}, "label"),
        ({"label": "<b>"}, "label"),
        ({"labels": "car"}, "labels"),
    ],
)
def test_bad_label_filters_name_the_parameter(
    host: FunctionHost, params: dict[str, str], parameter: str
) -> None:
    problem(get(host, "/api/scenes", **params), 400, parameter)


def _files(ranges: list[tuple[int, int]]) -> list[TableFile]:
    return [
        TableFile(path=f"f{index}", min_ns=low, max_ns=high, owner="m")
        for index, (low, high) in enumerate(ranges)
    ]


def test_scan_in_order_stops_at_the_first_file_that_cannot_hold_an_earlier_row() -> None:
    # 64 files of 10 rows each, one per 100 ns; a page of 5 is in the first file.
    files = _files([(100 * i, 100 * i + 9) for i in range(64)])
    rows_of = {file.path: [(file.min_ns + k,) for k in range(10)] for file in files}
    groups: list[list[str]] = []

    def run(group: Any, ceiling: int | None) -> list[tuple[Any, ...]]:
        groups.append([file.path for file in group])
        rows = sorted(row for file in group for row in rows_of[file.path])
        return [row for row in rows if ceiling is None or row[0] <= ceiling][:5]

    got = scan_in_order(list(reversed(files)), run, want=5, key=lambda row: row)
    assert got == [(0,), (1,), (2,), (3,), (4,)]
    assert groups == [["f0", "f1", "f2", "f3"]]


def test_scan_in_order_reads_overlapping_and_unknown_ranges() -> None:
    # Files go in start order: f4 (starting at 24, inside the page) before f3; f3 and f5 start
    # after the page's last row and are never read.
    files = _files([(0, 9), (10, 19), (20, 29), (30, 39), (24, 90), (40, 49)])
    rows_of = {
        file.path: [(t, file.path) for t in range(file.min_ns or 0, (file.min_ns or 0) + 10)]
        for file in files
    }
    calls: list[list[str]] = []

    def run(group: Any, ceiling: int | None) -> list[tuple[Any, ...]]:
        calls.append([file.path for file in group])
        rows = sorted(row for file in group for row in rows_of[file.path])
        return [row for row in rows if ceiling is None or row[0] <= ceiling][:26]

    got = scan_in_order(files, run, want=26, key=lambda row: row)
    assert got[-2:] == [(24, "f2"), (24, "f4")]
    assert calls == [["f0", "f1", "f2", "f4"]]
    # A file without statistics may hold anything: it is read first.
    unknown = [TableFile(path="fx", min_ns=None, max_ns=None, owner="m"), *files]
    rows_of["fx"] = [(-5, "fx")]
    calls.clear()
    assert scan_in_order(unknown, run, want=1, key=lambda row: row) == [(-5, "fx")]
    assert calls == [["fx", "f0", "f1", "f2"]]


def test_searches_see_new_datastreams_at_once(index_zones: BlobZones, tmp_path: Path) -> None:
    # The search remembers each measurement's datastreams; the store's change feed must make
    # it forget them as soon as a SCENES run or a label import completes.
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    store.create_measurement(make_measurement("m-fresh", vehicle_id="VIN-F"))
    frames = FrameSearch(index_zones, tmp_path / "cache")
    scenes = SceneSearch(frames.tables)
    where = {"vehicle_id": "VIN-F", "measurement_id": "m-fresh"}
    assert scenes.search(store, SceneTableQuery()).items == []
    publish_scenes(
        store,
        index_zones,
        datastream_id="ds-fresh-1",
        scenes=[make_scene("sc-f1", "m-fresh", vehicle_id="VIN-F", datastream_id="ds-fresh-1")],
        frames=[FrameRow(ns_floor(T0)), FrameRow(ns_floor(T0) + SECOND)],
        **where,
    )
    assert [s.id for s in scenes.search(store, SceneTableQuery()).items] == ["sc-f1"]
    assert frames.search(store, FrameQuery(labeled=True)).items == []
    publish_labels(
        store,
        index_zones,
        datastream_id="ds-fresh-labels",
        frames_datastream_id="ds-fresh-1",
        labels=[LabelRow(ns_floor(T0) + SECOND, "car", frame=1)],
        **where,
    )
    (labeled,) = frames.search(store, FrameQuery(labeled=True)).items
    assert (labeled["time_ns"], labeled["label_categories"]) == (ns_floor(T0) + SECOND, ["car"])
    assert [s.id for s in scenes.search(store, SceneTableQuery(label="car")).items] == ["sc-f1"]
    # A rerun replaces the measurement's scenes and frames.
    publish_scenes(
        store,
        index_zones,
        datastream_id="ds-fresh-2",
        scenes=[
            make_scene(
                "sc-f2",
                "m-fresh",
                vehicle_id="VIN-F",
                datastream_id="ds-fresh-2",
                start=T0 + timedelta(seconds=30),
            )
        ],
        frames=[FrameRow(ns_floor(T0) + 30 * SECOND)],
        **where,
    )
    assert [s.id for s in scenes.search(store, SceneTableQuery()).items] == ["sc-f2"]
    assert [f["datastream_id"] for f in frames.search(store, FrameQuery()).items] == ["ds-fresh-2"]
    store.close()


def test_scan_in_order_reads_only_as_many_span_bounded_files_as_a_page_can_use() -> None:
    # 40 recordings of 10,000 frames, each with one 25-frame scene span: a page of 20 needs the
    # first two spans (x2 margin), not the 20 files the row budget alone would take at once.
    files = [
        TableFile(
            path=f"f{i}", min_ns=10_000 * i, max_ns=10_000 * i + 9_999, owner="m", rows=10_000
        )
        for i in range(40)
    ]
    spanned = [f.spanned((f.min_ns or 0) + 100, (f.min_ns or 0) + 124) for f in files]
    assert all(f is not None and f.matches == 26 for f in spanned)
    groups: list[list[str]] = []

    def run(group: Any, ceiling: int | None) -> list[tuple[Any, ...]]:
        groups.append([file.path for file in group])
        rows = [(t,) for file in group for t in range(file.min_ns or 0, (file.max_ns or 0) + 1)]
        return [row for row in sorted(rows) if ceiling is None or row[0] <= ceiling][:20]

    got = scan_in_order([f for f in spanned if f is not None], run, want=20, key=lambda r: r)
    assert got == [(100 + k,) for k in range(20)]
    assert groups == [["f0", "f1"]]
    # Without the bound, the row budget decides: the first group takes files up to 40,960 rows.
    groups.clear()
    scan_in_order(files, run, want=20, key=lambda r: r)
    assert groups == [["f0", "f1", "f2", "f3", "f4"]]
