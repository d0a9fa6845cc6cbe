"""A SQLite store of many measurements, each with a lineage chain of datastreams (benches).

Measurement ``i`` is ``m-{i:05d}`` of vehicle ``VIN-{i % vehicles:04d}``, recorded 53 minutes
after the one before for 30 minutes; datastream ``j`` of it is ``d-{i:05d}-{j}``, made from
datastream ``j - 1``, RAW zone first and curated after, with ``files`` files attached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dataops.api import ApiRequest
from dataops.models import Datastream, DatastreamType, FileRecord, Measurement, Producer
from dataops.paths import Zone
from dataops.store.sqlite import SqliteStore

__all__ = ["READ_KEY", "T0", "build_store", "read_request", "sha256_text"]

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# The API key the benchmarks give the read role and send with every request.
READ_KEY = "bench-read-key"


def read_request(route: str, ids: dict[str, str], params: dict[str, str]) -> ApiRequest:
    """``GET /api/<route>`` with the route's ids and query parameters, as the read key."""
    return ApiRequest.build(
        method="GET",
        route=route,
        path="/api/" + route,
        route_params=ids,
        params=params,
        headers={"x-functions-key": READ_KEY},
    )


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` (stand-in content digests)."""
    return hashlib.sha256(text.encode()).hexdigest()


def build_store(  # the shape of the fleet, one keyword each
    path: Path,
    *,
    measurements: int,
    vehicles: int,
    chain: Sequence[DatastreamType],
    files: int = 0,
    tags: Callable[[int], list[str]] = lambda _: [],
) -> SqliteStore:
    """The store at ``path`` with ``measurements`` measurements (tags of measurement ``i``:
    ``tags(i)``) and a datastream of each type of ``chain`` per measurement."""
    store = SqliteStore(path)
    for i in range(measurements):
        start = T0 + timedelta(minutes=53 * i)
        measurement_id = f"m-{i:05d}"
        store.create_measurement(
            Measurement(
                id=measurement_id,
                vehicle_id=f"VIN-{i % vehicles:04d}",
                recording_start=start,
                recording_end=start + timedelta(minutes=30),
                upload_prefix=f"uploads/{measurement_id}",
                tags=tags(i),
                content_sha256=sha256_text(measurement_id),
            )
        )
        previous: list[str] = []
        for j, kind in enumerate(chain):
            datastream_id = f"d-{i:05d}-{j}"
            prefix = f"2025/01/01/VIN/{measurement_id}/{datastream_id}"
            store.create_datastream(
                Datastream(
                    id=datastream_id,
                    measurement_id=measurement_id,
                    type=kind,
                    zone=Zone.RAW if j == 0 else Zone.CURATED,
                    path=prefix,
                    producer=Producer(step=f"step-{j}", code_version="1", instance_id=f"i-{i}-{j}"),
                    sources=previous,
                )
            )
            if files:
                store.attach_files(
                    datastream_id,
                    [
                        FileRecord(path=f"{prefix}/f{k}.parquet", format="parquet", size=k)
                        for k in range(files)
                    ],
                )
            previous = [datastream_id]
    return store
