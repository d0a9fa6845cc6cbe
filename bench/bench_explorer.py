"""Explorer pages and thumbnails against the Metadata API calls they stand on (same run).

On a sqlite store of 10,000 measurements (5 datastreams each, 4 files per datastream):

- the catalog page (50 rows) against ``GET /measurements?limit=50``;
- the measurement page against the API calls a client would make for the same content:
  ``GET /measurements/{id}`` plus ``GET /datastreams/{id}/files`` and one
  ``GET /locations?sas=true`` per file shown;
- a thumbnail (240 px wide of a 640x360 JPEG frame) from Azurite, cold (every frame once, so
  never a thumbnail cache hit) and warm (the same frames again), against reading the same blob
  alone with the same one-request read.

Every request goes through the API's dispatch (auth, parameters, handler, rendering) on the
same store; page and reference calls alternate, so load on the machine falls on both alike.
Goals: pages within 1.5x of their API calls (p50) and p95 < 200 ms; a thumbnail p95 < 50 ms.
Run: ``.venv/bin/python -m pytest bench/bench_explorer.py -m bench -s -p no:cacheprovider``;
the numbers also go to bench/results/bench_explorer.json.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.measurement_store import READ_KEY, T0, build_store, read_request
from dataops.api import HANDLERS, ApiContext, Locator, handle
from dataops.explorer.drive import DriveReader
from dataops.models import DatastreamType
from dataops.paths import Zone
from dataops.settings import Settings
from dataops.storage import BlobZones, ConnectionStringZones, zone_clients_from_settings
from tests.azurite import started_azurite
from tests.drive_frames import seed_frames_drive

# Building 10,000 measurements with their datastreams and files takes minutes on a small machine.
pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]

MEASUREMENTS = 10_000
CHAIN = [
    DatastreamType.RAW,
    DatastreamType.EXTRACTED,
    DatastreamType.SYNCHRONIZED,
    DatastreamType.ENRICHED,
    DatastreamType.SCENES,
]
RUNS = 100
FRAMES = 200
RESULTS = Path(__file__).resolve().parent / "results"
OFFLINE = "UseDevelopmentStorage=true"
FRAME_MAX_BYTES = 1 << 24


def _p(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def _alternating(
    ours: Callable[[int], object], reference: Callable[[int], object], runs: int
) -> tuple[list[float], list[float]]:
    """Wall times of ``ours(i)`` and ``reference(i)``, called in turn ``runs`` times each."""
    mine: list[float] = []
    theirs: list[float] = []
    for i in range(runs):
        for call, samples in ((ours, mine), (reference, theirs)):
            start = time.perf_counter()
            call(i)
            samples.append(time.perf_counter() - start)
    return mine, theirs


def _row(what: str, ours: list[float], reference: list[float]) -> dict[str, object]:
    p50, p95 = _p(ours)
    ref_p50, ref_p95 = _p(reference)
    return {
        "what": what,
        "page_p50_ms": round(p50, 2),
        "page_p95_ms": round(p95, 2),
        "reference_p50_ms": round(ref_p50, 2),
        "reference_p95_ms": round(ref_p95, 2),
        "ratio_p50": round(p50 / ref_p50, 2),
    }


def _get(context: ApiContext, route: str, ids: dict[str, str], params: dict[str, str]) -> bytes:
    response = handle(
        read_request(route, ids, params),
        context,
        HANDLERS,
    )
    assert response.status == 200, response.body[:300]
    return response.body


def _camera_frame(frame: int) -> bytes:
    """A distinct 640x360 JPEG per frame, blurred noise (compresses like a camera picture)."""
    rng = np.random.default_rng(frame)
    image = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (15, 15), 0)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data.tobytes())


def _pages(context: ApiContext) -> list[dict[str, object]]:
    def measurement(i: int) -> str:
        return f"m-{(i * 7919) % MEASUREMENTS:05d}"

    def catalog(i: int) -> None:
        _get(context, "explorer", {}, {"limit": "50"})

    def api_catalog(i: int) -> None:
        _get(context, "measurements", {}, {"limit": "50"})

    def page(i: int) -> None:
        _get(context, "explorer/measurements/{id}", {"id": measurement(i)}, {})

    def api_measurement(i: int) -> None:
        detail = json.loads(_get(context, "measurements/{id}", {"id": measurement(i)}, {}))
        for summary in detail["datastreams"]:
            files = json.loads(
                _get(context, "datastreams/{id}/files", {"id": summary["id"]}, {"limit": "25"})
            )
            for record in files["items"]:
                relative = record["path"].split("/", 6)[-1]
                _get(
                    context,
                    "locations",
                    {},
                    {"datastream": summary["id"], "path": relative, "sas": "true"},
                )

    rows = []
    for what, ours, reference in (
        ("catalog (50 rows) vs GET /measurements?limit=50", catalog, api_catalog),
        ("measurement page vs its API calls", page, api_measurement),
    ):
        ours(0), reference(0)  # warm both paths once
        rows.append(_row(what, *_alternating(ours, reference, RUNS)))
    return rows


def _thumbnails(context: ApiContext, workdir: Path) -> list[dict[str, object]]:
    store = context.store()
    with started_azurite(workdir / "azurite") as azurite:
        zones = BlobZones(ConnectionStringZones(azurite.connection_string))
        zones.ensure_containers([Zone.EXTRACTED, Zone.CURATED])
        seed_frames_drive(
            store,
            zones,
            measurement_id="m-frames",
            start=T0,
            rows=[(frame, frame * 200_000_000) for frame in range(FRAMES)],
            image=_camera_frame,
        )
        drives = DriveReader(zones, workdir / "tables")
        thumb_context = dataclasses.replace(context, drives=lambda: drives)

        def thumbnail(i: int) -> None:
            _get(
                thumb_context,
                "drives/{id}/frames/{frame}/image",
                {"id": "m-frames", "frame": str(i % FRAMES)},
                {"width": "240"},
            )

        def blob(i: int) -> None:
            path = f"m-frames/cam/{i % FRAMES:05d}.jpg"
            zones.read_capped(Zone.EXTRACTED, path, max_bytes=FRAME_MAX_BYTES)

        # Warm the table cache and the connection with another width: no frame is cached yet.
        _get(
            thumb_context,
            "drives/{id}/frames/{frame}/image",
            {"id": "m-frames", "frame": "0"},
            {"width": "239"},
        )
        blob(0)
        cold = _alternating(thumbnail, blob, FRAMES)  # every frame once: never a cache hit
        warm = _alternating(thumbnail, blob, FRAMES)  # the same frames again: cache hits
        zones.close()
    return [
        _row("thumbnail 240 px of a 640x360 JPEG, cold vs reading the blob", *cold),
        _row("thumbnail 240 px, warm (cached) vs reading the blob", *warm),
    ]


def test_explorer_pages_and_thumbnails(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("bench-explorer")
    began = time.perf_counter()
    store = build_store(
        workdir / "metadata.sqlite3",
        measurements=MEASUREMENTS,
        vehicles=200,
        chain=CHAIN,
        files=4,
        tags=lambda _: ["bench"],
    )
    print(f"\nbuilt {MEASUREMENTS} measurements in {time.perf_counter() - began:.0f} s")
    settings = Settings(api_read_keys=[READ_KEY], storage_connection_string=OFFLINE)
    locator = Locator(zone_clients_from_settings(settings), sas_minutes=15)
    context = ApiContext(settings=lambda: settings, store=lambda: store, locator=lambda: locator)
    rows = _pages(context) + _thumbnails(context, workdir)
    store.close()
    print(f"\n{'what':<66} {'p50':>8} {'p95':>8} {'ref p50':>8} {'ref p95':>8} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['what']:<66} {row['page_p50_ms']:8.2f} {row['page_p95_ms']:8.2f} "
            f"{row['reference_p50_ms']:8.2f} {row['reference_p95_ms']:8.2f} "
            f"{row['ratio_p50']:6.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_explorer.json").write_text(
        json.dumps({"benchmark": "explorer", "measurements": MEASUREMENTS, "rows": rows}, indent=2)
        + "\n"
    )
