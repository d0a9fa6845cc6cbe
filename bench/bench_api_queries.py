"""Metadata API query latency on 10,000 measurements and 100,000 datastreams (sqlite).

Each search runs through the API layer (``dataops.api.handle``: auth, parameter validation,
the store, pydantic models, JSON) and, as the named reference in the same run, as the raw SQL
that the store ends up running, on the same database file through a plain sqlite3 connection.
The gap between the two is what the API and the store's document handling cost.
Goal: p95 < 50 ms for every API search.

Run: ``.venv/bin/python -m pytest bench/bench_api_queries.py -m bench -s -p no:cacheprovider``;
the numbers also go to bench/results/bench_api_queries.json.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.measurement_store import READ_KEY, T0, build_store, read_request
from dataops.api import HANDLERS, ApiContext, handle
from dataops.models import DatastreamType
from dataops.settings import Settings
from dataops.store.query_rules import time_key
from dataops.store.sqlite import SqliteStore

pytestmark = pytest.mark.bench

MEASUREMENTS = 10_000
DATASTREAMS_PER_MEASUREMENT = 10
VEHICLES = 200
TAGS = [f"tag-{i:02d}" for i in range(20)]
RUNS = 300
RESULTS = Path(__file__).resolve().parent / "results"
GOAL_P95_MS = 50.0
TYPES = list(DatastreamType)


def _build(path: Path) -> SqliteStore:
    """10k measurements of 200 vehicles over a year; each has a chain of 10 datastreams."""
    rng = random.Random(7)
    return build_store(
        path,
        measurements=MEASUREMENTS,
        vehicles=VEHICLES,
        chain=[TYPES[min(j, len(TYPES) - 1)] for j in range(DATASTREAMS_PER_MEASUREMENT)],
        tags=lambda _: rng.sample(TAGS, 2),
    )


@dataclass(frozen=True)
class Search:
    """One search: how the API is asked and the raw SQL reference for the same question."""

    name: str
    api: Callable[[random.Random], tuple[str, dict[str, str], dict[str, str]]]
    sql: Callable[[sqlite3.Connection, random.Random], object]


def _vehicle(rng: random.Random) -> str:
    return f"VIN-{rng.randrange(VEHICLES):04d}"


def _window(rng: random.Random) -> tuple[datetime, datetime]:
    start = T0 + timedelta(days=rng.randrange(360))
    return start, start + timedelta(days=3)


_ORDER = "ORDER BY start_key DESC, id DESC LIMIT 101"


def _sql_window(conn: sqlite3.Connection, rng: random.Random) -> object:
    start, end = _window(rng)
    return conn.execute(
        f"SELECT etag, doc FROM measurements WHERE end_key >= ? AND start_key <= ? {_ORDER}",
        (time_key(start), time_key(end)),
    ).fetchall()


def _sql_lineage(conn: sqlite3.Connection, rng: random.Random) -> object:
    root = f"d-{rng.randrange(MEASUREMENTS):05d}-5"
    # Same reach as the API's walk (both directions, 8 levels), as one recursive query.
    return conn.execute(
        "WITH RECURSIVE up(id, n) AS (SELECT ?, 0 UNION SELECT s.source_id, up.n + 1 "
        "FROM datastream_sources s JOIN up ON s.datastream_id = up.id WHERE up.n < 8), "
        "down(id, n) AS (SELECT ?, 0 UNION SELECT s.datastream_id, down.n + 1 "
        "FROM datastream_sources s JOIN down ON s.source_id = down.id WHERE down.n < 8) "
        "SELECT d.etag, d.doc FROM datastreams d WHERE d.id IN "
        "(SELECT id FROM up UNION SELECT id FROM down)",
        (root, root),
    ).fetchall()


def _sql_detail(conn: sqlite3.Connection, rng: random.Random) -> object:
    measurement_id = f"m-{rng.randrange(MEASUREMENTS):05d}"
    return [
        conn.execute(
            "SELECT etag, doc FROM measurements WHERE id = ?", (measurement_id,)
        ).fetchall(),
        conn.execute(
            "SELECT etag, doc FROM datastreams WHERE measurement_id = ? ORDER BY created_key, id",
            (measurement_id,),
        ).fetchall(),
    ]


SEARCHES = [
    Search(
        "newest measurements (page of 100)",
        lambda rng: ("measurements", {}, {}),
        lambda conn, rng: conn.execute(f"SELECT etag, doc FROM measurements {_ORDER}").fetchall(),
    ),
    Search(
        "measurements of a vehicle",
        lambda rng: ("measurements", {}, {"vehicle": _vehicle(rng)}),
        lambda conn, rng: conn.execute(
            f"SELECT etag, doc FROM measurements WHERE vehicle_id = ? {_ORDER}",
            (_vehicle(rng),),
        ).fetchall(),
    ),
    Search(
        "measurements in a 3-day window",
        lambda rng: (
            "measurements",
            {},
            dict(zip(("from", "to"), (t.isoformat() for t in _window(rng)), strict=True)),
        ),
        _sql_window,
    ),
    Search(
        "measurements with a tag",
        lambda rng: ("measurements", {}, {"tag": rng.choice(TAGS)}),
        lambda conn, rng: conn.execute(
            "SELECT etag, doc FROM measurements WHERE EXISTS (SELECT 1 FROM measurement_tags t "
            f"WHERE t.tag = ? AND t.measurement_id = measurements.id) {_ORDER}",
            (rng.choice(TAGS),),
        ).fetchall(),
    ),
    Search(
        "vehicle + tag + window",
        lambda rng: (
            "measurements",
            {},
            {
                "vehicle": _vehicle(rng),
                "tag": rng.choice(TAGS),
                "from": T0.isoformat(),
                "to": (T0 + timedelta(days=400)).isoformat(),
            },
        ),
        lambda conn, rng: conn.execute(
            "SELECT etag, doc FROM measurements WHERE vehicle_id = ? AND end_key >= ? "
            "AND start_key <= ? AND EXISTS (SELECT 1 FROM measurement_tags t WHERE t.tag = ? "
            f"AND t.measurement_id = measurements.id) {_ORDER}",
            (
                _vehicle(rng),
                time_key(T0),
                time_key(T0 + timedelta(days=400)),
                rng.choice(TAGS),
            ),
        ).fetchall(),
    ),
    Search(
        "measurement with its datastreams",
        lambda rng: ("measurements/{id}", {"id": f"m-{rng.randrange(MEASUREMENTS):05d}"}, {}),
        _sql_detail,
    ),
    Search(
        "one datastream",
        lambda rng: (
            "datastreams/{id}",
            {"id": f"d-{rng.randrange(MEASUREMENTS):05d}-{rng.randrange(10)}"},
            {},
        ),
        lambda conn, rng: conn.execute(
            "SELECT etag, doc FROM datastreams WHERE id = ?",
            (f"d-{rng.randrange(MEASUREMENTS):05d}-{rng.randrange(10)}",),
        ).fetchall(),
    ),
    Search(
        "lineage both ways, depth 8",
        lambda rng: (
            "datastreams/{id}/lineage",
            {"id": f"d-{rng.randrange(MEASUREMENTS):05d}-5"},
            {"direction": "both", "depth": "8"},
        ),
        _sql_lineage,
    ),
]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def test_api_query_latency(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("bench") / "metadata.sqlite3"
    began = time.perf_counter()
    store = _build(path)
    print(
        f"\nbuilt {MEASUREMENTS} measurements, {MEASUREMENTS * DATASTREAMS_PER_MEASUREMENT} "
        f"datastreams in {time.perf_counter() - began:.0f} s ({path.stat().st_size >> 20} MiB)"
    )
    settings = Settings(api_read_keys=[READ_KEY])
    context = ApiContext(
        settings=lambda: settings,
        store=lambda: store,
        locator=lambda: pytest.fail("no search here needs storage"),
    )
    reference = sqlite3.connect(path)
    rows = []
    failures = []
    try:
        for search in SEARCHES:
            rng_api, rng_sql = random.Random(1), random.Random(1)
            api_times, sql_times = [], []
            for _ in range(RUNS):
                route, ids, params = search.api(rng_api)
                request = read_request(route, ids, params)
                start = time.perf_counter()
                response = handle(request, context, HANDLERS)
                api_times.append(time.perf_counter() - start)
                assert response.status == 200, response.body[:300]
                start = time.perf_counter()
                search.sql(reference, rng_sql)
                sql_times.append(time.perf_counter() - start)
            api_p50, api_p95 = _percentiles(api_times)
            sql_p50, sql_p95 = _percentiles(sql_times)
            rows.append((search.name, api_p50, api_p95, sql_p50, sql_p95))
            if api_p95 >= GOAL_P95_MS:
                failures.append(search.name)
    finally:
        reference.close()
        store.close()
    print(f"\n{'search':<36} {'API p50':>9} {'API p95':>9} {'SQL p50':>9} {'SQL p95':>9}  (ms)")
    for name, api_p50, api_p95, sql_p50, sql_p95 in rows:
        print(f"{name:<36} {api_p50:9.2f} {api_p95:9.2f} {sql_p50:9.2f} {sql_p95:9.2f}")
    print(f"reference: the same query as raw SQL on the same file; goal API p95 < {GOAL_P95_MS} ms")
    RESULTS.mkdir(exist_ok=True)
    report = {
        "benchmark": "api_queries",
        "data": {
            "measurements": MEASUREMENTS,
            "datastreams": MEASUREMENTS * DATASTREAMS_PER_MEASUREMENT,
            "backend": "sqlite",
        },
        "runs_per_search": RUNS,
        "reference": "the same query as raw SQL on the same database file (sqlite3)",
        "goal_p95_ms": GOAL_P95_MS,
        "searches": [
            {
                "search": name,
                "api_p50_ms": round(api_p50, 3),
                "api_p95_ms": round(api_p95, 3),
                "sql_p50_ms": round(sql_p50, 3),
                "sql_p95_ms": round(sql_p95, 3),
            }
            for name, api_p50, api_p95, sql_p50, sql_p95 in rows
        ],
    }
    (RESULTS / "bench_api_queries.json").write_text(json.dumps(report, indent=2) + "\n")
    assert not failures, f"p95 over {GOAL_P95_MS} ms: {failures}"
