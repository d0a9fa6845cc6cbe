"""Enrichment: sun elevation, road matching, offline and Open-Meteo weather, objects, the step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, cast
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataops.enrichment.config import EnrichmentConfig, load_enrichment_config
from dataops.enrichment.objects import (
    DetectedObject,
    classes_per_message,
    merge_objects,
    objects_per_frame,
    objects_per_message,
)
from dataops.enrichment.roads import RoadNetwork, point_segment_distance
from dataops.enrichment.steps import fail_enrichment, prepare_enrichment, run_enrichment
from dataops.enrichment.sun import sun_elevation_deg
from dataops.enrichment.weather_offline import OfflineWeather
from dataops.enrichment.weather_openmeteo import OpenMeteoWeather
from dataops.errors import InvalidInputError
from dataops.models import DatastreamState, DatastreamType, FileRecord
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.http_stub import serving
from tests.store_seed import PREFIX, add_measurement, completed, derived


def _ns(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp()) * 1_000_000_000


# ----------------------------------------------------------------------------- sun


@pytest.mark.parametrize(
    ("lat", "lon", "stamp", "low", "high"),
    [
        # Equator, March equinox, solar noon (12:07 UTC: the equation of time is ~ -7 min).
        (0.0, 0.0, (2024, 3, 20, 12, 7), 89.0, 90.0),
        # Same place at midnight: the sun is straight below.
        (0.0, 0.0, (2024, 3, 20, 0, 0), -90.0, -87.0),
        # Tropic of Cancer at the June solstice's solar noon: overhead.
        (23.44, 0.0, (2024, 6, 21, 12, 2), 89.5, 90.0),
        # Gothenburg, 2026-05-04 08:00 UTC (10:00 local): ~35.6° (declination +15.9°).
        (57.7065, 11.938, (2026, 5, 4, 8, 0), 35.0, 36.2),
        # Gothenburg at midnight UTC in May: near the lower culmination (23:09 UTC), whose
        # elevation is -(90 - 57.7 - 15.9) = -16.4°: night, but not far below twilight.
        (57.7065, 11.938, (2026, 5, 4, 0, 0), -16.5, -14.5),
        # Tromsø on midsummer's midnight: the midnight sun stays above the horizon.
        (69.65, 18.96, (2024, 6, 21, 23, 0), 0.5, 6.0),
    ],
)
def test_sun_elevation_matches_known_values(
    lat: float, lon: float, stamp: tuple[int, ...], low: float, high: float
) -> None:
    elevation = sun_elevation_deg([lat], [lon], [_ns(*stamp)])
    assert low <= elevation[0] <= high


# ----------------------------------------------------------------------------- roads


def _network_geojson(lines: list[tuple[list[list[float]], dict[str, Any]]]) -> bytes:
    features = [
        {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "LineString", "coordinates": c},
        }
        for c, props in lines
    ]
    features.append(
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
    )
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_point_segment_distance_covers_ends_interior_and_degenerate_segments() -> None:
    segments = np.array([[0.0, 0.0, 10.0, 0.0], [5.0, 5.0, 5.0, 5.0]])
    assert point_segment_distance(5.0, 3.0, segments).tolist() == [3.0, 2.0]
    assert point_segment_distance(-3.0, 4.0, segments[:1]).tolist() == [5.0]
    assert point_segment_distance(13.0, -4.0, segments[:1]).tolist() == [5.0]


def test_grid_index_finds_the_same_nearest_road_as_brute_force() -> None:
    rng = np.random.default_rng(7)
    lat0, lon0 = 57.7, 11.9
    lines = []
    for number in range(200):
        start = rng.uniform([-0.01, -0.02], [0.01, 0.02])
        coords = [start + rng.normal(0, 0.0005, 2) * k for k in range(rng.integers(2, 5))]
        lines.append(
            (
                [[lon0 + float(p[1]), lat0 + float(p[0])] for p in coords],
                {
                    "road_class": f"c{number}",
                    "maxspeed": "30 mph" if number % 2 else 50,
                    "country": "SE",
                },
            )
        )
    network = RoadNetwork.from_geojson(_network_geojson(lines), cell_m=75.0)
    assert len(network.properties) == 200
    lat = lat0 + rng.uniform(-0.011, 0.011, 500)
    lon = lon0 + rng.uniform(-0.021, 0.021, 500)
    lat[0] = np.nan  # unknown position: no match
    match = network.nearest(lat, lon, max_distance_m=40.0)
    x, y = network.to_local(lat, lon)
    brute = point_segment_distance(x[:, None], y[:, None], network.segments[None, :, :])
    best = np.argmin(np.nan_to_num(brute, nan=np.inf), axis=1)
    best_d = brute[np.arange(lat.size), best]
    expected = np.where(best_d <= 40.0, network.road_of_segment[best], -1)
    assert match.road[0] == -1
    assert np.array_equal(match.road[1:], expected[1:])
    assert 50 < np.sum(match.road >= 0) < 500  # both matches and misses were exercised
    matched = match.road >= 0
    assert np.allclose(match.distance_m[matched], best_d[matched])
    assert network.properties[1]["maxspeed"] == pytest.approx(48.3)
    assert network.properties[0]["maxspeed"] == 50.0


def test_road_network_rejects_a_file_without_lines() -> None:
    with pytest.raises(InvalidInputError, match="no LineStrings"):
        RoadNetwork.from_geojson(_network_geojson([]))


# ----------------------------------------------------------------------------- offline weather

WEATHER = """time,lat,lon,temperature_c,precipitation_mm,cloud_cover_pct,weather_code
2026-05-04T08:00:00Z,57.70,11.90,10.0,0.0,50,3
2026-05-04T08:00:10Z,57.70,11.90,10.5,1.5,100,61
2026-05-04T08:00:20Z,57.70,11.90,11.0,,100,61
2026-05-04T08:00:00Z,58.00,12.50,20.0,0.0,0,0
"""


def test_offline_weather_takes_the_nearest_station_then_the_nearest_row() -> None:
    weather = OfflineWeather(WEATHER.encode(), max_distance_km=20.0, max_age_s=30.0)
    t0 = _ns(2026, 5, 4, 8, 0, 0)
    lat = np.array([57.701, 57.701, 57.701, 57.701, 57.99, 57.701, 60.0])
    lon = np.array([11.901, 11.901, 11.901, 11.901, 12.49, 11.901, 11.9])
    times = np.array(
        [
            t0 + 4_000_000_000,
            t0 + 5_000_000_000,
            t0 + 6_000_000_000,
            t0 + 19_000_000_000,
            t0,
            t0 + 90_000_000_000,
            t0,
        ],
        dtype=np.int64,
    )
    table = weather.conditions(lat, lon, times)
    # 4 s -> row 0; 5 s is a tie -> the earlier row; 6 s -> row at 10 s; 19 s -> row at 20 s.
    assert table.temperature_c[:4].tolist() == [10.0, 10.0, 10.5, 11.0]
    assert table.precipitation_mm[2] == 1.5 and np.isnan(table.precipitation_mm[3])
    assert table.weather_code[2] == 61
    assert table.temperature_c[4] == 20.0  # the other station
    assert np.isnan(table.temperature_c[5])  # 70 s after the last row: too old
    assert np.isnan(table.temperature_c[6])  # 250 km from any station


def test_offline_weather_names_missing_columns_and_bad_rows() -> None:
    with pytest.raises(InvalidInputError, match="lacks columns"):
        OfflineWeather(b"time,lat,lon\n")
    with pytest.raises(InvalidInputError, match="row 2"):
        OfflineWeather(WEATHER.replace("2026-05-04T08:00:00Z,57.70", "yesterday,57.70", 1).encode())


# ----------------------------------------------------------------------------- Open-Meteo


class _FakeOpenMeteo(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, dict[str, list[str]]]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        type(self).requests.append((url.path, query))
        day = datetime.fromisoformat(query["start_date"][0]).replace(tzinfo=UTC)
        hours = [int(day.timestamp()) + 3600 * h for h in range(24)]
        body = {
            "hourly": {
                "time": hours,
                "temperature_2m": [5.0 + h for h in range(24)],
                "precipitation": [0.4 if h == 8 else 0.0 for h in range(24)],
                "cloud_cover": [80] * 24,
                "weather_code": [61 if h == 8 else 3 for h in range(24)],
            }
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        """Quiet: the test asserts on the recorded requests instead."""


@pytest.fixture
def fake_open_meteo() -> Iterator[str]:
    _FakeOpenMeteo.requests = []
    with serving(_FakeOpenMeteo) as url:
        yield url


def test_open_meteo_sends_the_exact_query_and_caches_archived_days(
    fake_open_meteo: str, tmp_path: Path
) -> None:
    def provider() -> OpenMeteoWeather:
        return OpenMeteoWeather(
            archive_url=f"{fake_open_meteo}/v1/archive",
            forecast_url=f"{fake_open_meteo}/v1/forecast",
            cache_dir=tmp_path / "cache",
            now=datetime(2026, 6, 1, tzinfo=UTC),
        )

    lat = np.array([57.70652, 57.70649, np.nan])
    lon = np.array([11.93801, 11.93804, 11.9])
    times = np.array([_ns(2026, 5, 4, 8, 20), _ns(2026, 5, 4, 9, 40), _ns(2026, 5, 4, 8)])
    first = provider()
    table = first.conditions(lat, lon, times)
    first.close()
    assert table.temperature_c[:2].tolist() == [13.0, 15.0]  # 08:20 -> 08:00, 09:40 -> 10:00
    assert table.precipitation_mm[:2].tolist() == [0.4, 0.0]
    assert np.isnan(table.temperature_c[2])
    assert _FakeOpenMeteo.requests == [
        (
            "/v1/archive",
            {
                "latitude": ["57.7100"],
                "longitude": ["11.9400"],
                "start_date": ["2026-05-04"],
                "end_date": ["2026-05-04"],
                "hourly": ["temperature_2m,precipitation,cloud_cover,weather_code"],
                "timezone": ["UTC"],
                "timeformat": ["unixtime"],
            },
        )
    ]
    assert first.requests == 1
    # A new provider (a later run) answers from the on-disk cache: no second request.
    second = provider()
    again = second.conditions(lat[:1], lon[:1], times[:1])
    second.close()
    assert again.temperature_c.tolist() == [13.0]
    assert second.requests == 0 and len(_FakeOpenMeteo.requests) == 1


def test_open_meteo_uses_the_forecast_api_for_recent_days_and_does_not_persist_them(
    fake_open_meteo: str, tmp_path: Path
) -> None:
    weather = OpenMeteoWeather(
        archive_url=f"{fake_open_meteo}/v1/archive",
        forecast_url=f"{fake_open_meteo}/v1/forecast",
        cache_dir=tmp_path / "cache",
        now=datetime(2026, 5, 5, tzinfo=UTC),
    )
    table = weather.conditions(np.array([57.7]), np.array([11.9]), np.array([_ns(2026, 5, 4, 8)]))
    table = weather.conditions(np.array([57.7]), np.array([11.9]), np.array([_ns(2026, 5, 4, 8)]))
    weather.close()
    assert table.precipitation_mm.tolist() == [0.4]
    assert [path for path, _ in _FakeOpenMeteo.requests] == ["/v1/forecast"]  # memory cache
    assert not (tmp_path / "cache").exists()


def test_open_meteo_failure_is_an_input_error(tmp_path: Path) -> None:
    weather = OpenMeteoWeather(
        archive_url="http://127.0.0.1:9/v1/archive",  # discard port: connection refused
        timeout_s=2.0,
        now=datetime(2026, 6, 1, tzinfo=UTC),
    )
    with pytest.raises(InvalidInputError, match="Open-Meteo request failed"):
        weather.conditions(np.array([57.7]), np.array([11.9]), np.array([_ns(2026, 5, 4, 8)]))
    weather.close()


# ----------------------------------------------------------------------------- objects


def _detections(messages: list[list[list[tuple[str, float]]]]) -> pa.Array:
    """Detection2DArray ``detections`` column: per message, per detection, (class, score)s."""
    return pa.array(
        [
            [
                {"results": [{"hypothesis": {"class_id": c, "score": s}} for c, s in results]}
                for results in message
            ]
            for message in messages
        ]
    )


def test_objects_count_and_best_scoring_classes_per_frame() -> None:
    column = _detections(
        [
            [],
            [[("pedestrian", 0.9)], [("car", 0.3), ("truck", 0.6)]],
            [[]],  # a detection without hypotheses
            [[("pedestrian", 0.8)], [("pedestrian", 0.7)]],
        ]
    )
    assert classes_per_message(column) == [
        [],
        ["pedestrian", "truck"],
        ["unknown"],
        ["pedestrian", "pedestrian"],
    ]
    reads: list[str] = []

    def read(path: str) -> pa.Array:
        reads.append(path)
        return column

    found = objects_per_frame(["a", "a", None, "a", "a"], np.array([0, 1, -1, 3, 2]), read)
    assert found.count.to_pylist() == [0, 2, None, 2, 1]
    assert found.classes.to_pylist() == [
        [],
        ["pedestrian", "truck"],
        None,
        ["pedestrian"],
        ["unknown"],
    ]
    assert reads == ["a"]  # each table read once
    with pytest.raises(InvalidInputError, match="row 9"):
        objects_per_frame(["a"], np.array([9]), read)


@pytest.mark.parametrize("ros2", [True, False])
def test_perception_objects_carry_the_best_score_and_the_bbox(ros2: bool) -> None:
    def center(x: float, y: float) -> dict[str, Any]:
        # vision_msgs 4 (ROS 2) nests the position; ROS 1's Pose2D has x, y, theta.
        return {"position": {"x": x, "y": y}, "theta": 0.0} if ros2 else {"x": x, "y": y}

    def detection(results: list[tuple[str, float]], box: dict[str, Any] | None) -> Any:
        hypotheses = [{"hypothesis": {"class_id": c, "score": sc}} for c, sc in results]
        return {"results": hypotheses, "bbox": box}

    column = pa.array(
        [
            [
                # centre (100, 50), 40 x 80 -> (80, 10)-(120, 90)
                detection(
                    [("car", 0.3), ("pedestrian", 0.7)],
                    {"center": center(100, 50), "size_x": 40.0, "size_y": 80.0},
                ),
                detection([], None),  # no hypotheses, no box
            ]
        ]
    )
    (found,) = objects_per_message(column)
    assert found == [
        DetectedObject("pedestrian", 0.7, (80.0, 10.0, 120.0, 90.0)),
        DetectedObject("unknown", None, None),
    ]
    # Without a bbox field at all: classes and scores only.
    (plain,) = objects_per_message(_detections([[[("car", 0.4)]]]))
    assert plain == [DetectedObject("car", 0.4, None)]


def test_perception_and_detector_objects_merge_and_keep_their_source() -> None:
    car = DetectedObject("car", 0.8, (1.0, 2.0, 3.0, 4.0))
    person = DetectedObject("pedestrian", 0.6, (5.0, 6.0, 7.0, 8.0))
    seen = DetectedObject("pedestrian", 0.9, (10.0, 20.0, 30.0, 60.0))
    unknown = DetectedObject("unknown", None, None)
    merged, column = merge_objects(
        [[seen, seen], None, [], None, [unknown]],
        [[car], [person], None, None, []],
    )
    assert merged.count.to_pylist() == [3, 1, 0, None, 1]
    assert merged.classes.to_pylist() == [
        ["car", "pedestrian"],
        ["pedestrian"],
        [],
        None,
        ["unknown"],
    ]
    rows = column.to_pylist()
    assert [o["source"] for o in rows[0]] == ["perception", "perception", "detector"]
    assert rows[0][0]["score"] == pytest.approx(0.9) and rows[0][0]["y_max"] == 60.0
    assert rows[4] == [
        {
            "source": "perception",
            "class": "unknown",
            "score": None,
            "x_min": None,
            "y_min": None,
            "x_max": None,
            "y_max": None,
        }
    ]
    assert rows[0][2] == {
        "source": "detector",
        "class": "car",
        "score": pytest.approx(0.8),
        "x_min": 1.0,
        "y_min": 2.0,
        "x_max": 3.0,
        "y_max": 4.0,
    }
    assert rows[1][0]["class"] == "pedestrian" and rows[1][0]["source"] == "detector"
    assert rows[2] == [] and rows[3] is None


def test_a_detector_config_with_an_unknown_layout_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "enrichment.json"
    detector = {"model": "yolo.onnx", "layout": "ssd", "class_names": ["car"]}
    path.write_text(json.dumps({"objects": {"detector": detector}}))
    with pytest.raises(InvalidInputError) as err:
        load_enrichment_config(path)
    assert err.value.field == "objects.detector.layout"
    detector["layout"] = "yolo"
    path.write_text(json.dumps({"objects": {"detector": detector}}))
    loaded = load_enrichment_config(path).objects.detector
    assert loaded is not None and loaded.frame_stride == 1 and loaded.letterbox


def test_shipped_config_loads_and_defaults_agree() -> None:
    shipped = load_enrichment_config()
    assert shipped == EnrichmentConfig()
    assert shipped.weather.provider == "offline" and shipped.map.h3_resolution == 9


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "enrichment.json"
    path.write_text(json.dumps({"weather": {"provider": "sky"}}))
    with pytest.raises(InvalidInputError) as err:
        load_enrichment_config(path)
    assert err.value.field == "weather.provider"


# ----------------------------------------------------------------------------- the step


class _MemoryZones:
    """The two BlobZones calls the step makes, on a dict; reads are bounded like the real ones."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[Zone, str], bytes] = {}

    def read_bytes(self, zone: Zone, path: str, *, max_bytes: int) -> SimpleNamespace:
        data = self.blobs[(zone, path)]
        assert len(data) <= max_bytes
        return SimpleNamespace(data=data)

    def write_bytes(self, zone: Zone, path: str, data: bytes) -> str:
        self.blobs[(zone, path)] = data
        return "etag"


def test_step_without_context_files_records_why_and_still_enriches(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    add_measurement(store)
    prefix = PREFIX
    zones = _MemoryZones()
    times = np.array([_ns(2026, 5, 4, 8, 0, s) for s in range(3)], dtype=np.int64)
    frames = pa.table(
        {
            "frame": pa.array([0, 1, 2], pa.int64()),
            "time_ns": pa.array(times),
            "latitude": pa.array([57.7065, None, 57.7066], pa.float64()),
            "longitude": pa.array([11.938, None, 11.9381], pa.float64()),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(frames, sink)
    zones.blobs[(Zone.CURATED, f"{prefix}/sync-1/synchronized.parquet")] = (
        sink.getvalue().to_pybytes()
    )
    completed(store, derived("sync-1", DatastreamType.SYNCHRONIZED, "synchronize"))
    store.attach_files(
        "sync-1",
        [FileRecord(path=f"{prefix}/sync-1/synchronized.parquet", format="parquet", size=1)],
    )
    kwargs = {"source_datastream_id": "sync-1", "datastream_id": "enr-1", "instance_id": "i-1"}
    prepared = prepare_enrichment(store, **kwargs)
    assert prepare_enrichment(store, **kwargs) == prepared  # idempotent retry
    with pytest.raises(InvalidInputError, match="not SYNCHRONIZED"):
        prepare_enrichment(store, source_datastream_id="enr-1", datastream_id="x", instance_id="i")

    result = run_enrichment(cast(BlobZones, zones), store, datastream_id="enr-1")
    assert result == {"datastream_id": "enr-1", "rows": 3, "skipped": None}
    enriched = store.get_datastream("enr-1")
    assert enriched.state is DatastreamState.COMPLETED and enriched.sources == ["sync-1"]
    providers = enriched.stats["providers"]
    assert providers["weather"]["reason"] == "no weather.csv in the RAW datastream"
    assert providers["map"]["reason"] == "no roads.geojson in the RAW datastream"
    assert providers["objects"]["reason"] == "no perception sensor in the synchronized table"
    assert enriched.stats["shares"]["position"] == pytest.approx(0.6667)
    table = pq.read_table(
        pa.BufferReader(zones.blobs[(Zone.CURATED, f"{prefix}/enr-1/enriched.parquet")])
    )
    assert table.column("time_ns").to_numpy().tolist() == times.tolist()
    assert table.column("h3_cell").null_count == 1
    assert table.column("is_night").to_pylist() == [False, None, False]
    assert table.column("is_raining").null_count == 3
    assert table.column("road_class").null_count == 3
    assert table.column("object_count").null_count == 3
    # A retried run after the commit reports the same and writes nothing new.
    assert run_enrichment(cast(BlobZones, zones), store, datastream_id="enr-1") == result
    assert fail_enrichment(store, datastream_id="enr-1", reason="late")["reason"] == "late"
    assert store.get_datastream("enr-1").state is DatastreamState.COMPLETED
    store.close()


def test_step_completes_as_skipped_when_synchronization_wrote_no_frames(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    add_measurement(store, logger_synchronized=True)
    completed(store, derived("sync-1", DatastreamType.SYNCHRONIZED, "synchronize"))
    prepare_enrichment(
        store, source_datastream_id="sync-1", datastream_id="enr-1", instance_id="i-1"
    )
    zones = _MemoryZones()
    result = run_enrichment(cast(BlobZones, zones), store, datastream_id="enr-1")
    assert result == {"datastream_id": "enr-1", "rows": 0, "skipped": "no_synchronized_frames"}
    assert store.get_datastream("enr-1").file_count == 0 and not zones.blobs
    store.close()
