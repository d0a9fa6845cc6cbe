"""Registering and listing a 10,000-file measurement on the cosmos store (cosmosdb-server).

The measurement's file records go in chunks of 500 (``dataops/store/cosmos_file_chunks.py``).
The named reference in the same run writes the same 10,000 records the way a datastream's file
records go, one item per file (``attach_files``), on the same server and database. Both are
then listed back in pages of 1,000.

Run: ``.venv/bin/python -m pytest bench/bench_measurement_files.py -m bench -s
-p no:cacheprovider``; the numbers also go to bench/results/bench_measurement_files.json.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from dataops.models import (
    Datastream,
    DatastreamType,
    FileRecord,
    Measurement,
    Producer,
    manifest_file_records,
)
from dataops.paths import Zone
from dataops.settings import Settings, StoreBackend
from dataops.store import MAX_PAGE_SIZE, MetadataStore, Page, open_store
from devhost.services.cosmos_server import CosmosServer
from tests.large_manifest import many_file_manifest

pytestmark = [
    pytest.mark.bench,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

FILES = 10_000
RESULTS = Path(__file__).resolve().parent / "results"


def _list_all(list_page: Callable[[str | None], Page[FileRecord]]) -> int:
    count, token = 0, None
    while True:
        page = list_page(token)
        count += len(page.items)
        token = page.continuation
        if token is None:
            return count


def _timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def test_measurement_files_in_chunks_against_one_item_per_file() -> None:
    manifest = many_file_manifest(FILES)
    records = manifest_file_records(manifest)
    with CosmosServer() as server:
        store: MetadataStore = open_store(
            Settings(
                store_backend=StoreBackend.COSMOS,
                cosmos_endpoint=server.endpoint,
                cosmos_key=server.key,
                cosmos_database=f"bench-{uuid.uuid4().hex[:8]}",
                cosmos_verify_tls=False,
            )
        )
        measurement = Measurement.from_manifest(manifest, "m-bench", "up/bench")
        create_s, _ = _timed(lambda: store.create_measurement(measurement, records))
        list_s, listed = _timed(
            lambda: _list_all(
                lambda token: store.list_measurement_files("m-bench", MAX_PAGE_SIZE, token)
            )
        )
        store.create_datastream(
            Datastream(
                id="raw-bench",
                measurement_id="m-bench",
                type=DatastreamType.RAW,
                zone=Zone.RAW,
                path="2025/01/01/WVWZZZ1JZXW000001/m-bench/raw-bench",
                producer=Producer(step="bench", code_version="0"),
            )
        )
        reference_create_s, _ = _timed(lambda: store.attach_files("raw-bench", records))
        reference_list_s, reference_listed = _timed(
            lambda: _list_all(lambda token: store.list_files("raw-bench", MAX_PAGE_SIZE, token))
        )
        store.close()
    assert listed == reference_listed == FILES
    result = {
        "files": FILES,
        "chunked_write_s": round(create_s, 2),
        "chunked_list_s": round(list_s, 2),
        "reference_one_item_per_file_write_s": round(reference_create_s, 2),
        "reference_one_item_per_file_list_s": round(reference_list_s, 2),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_measurement_files.json").write_text(json.dumps(result, indent=2) + "\n")
