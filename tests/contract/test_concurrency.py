"""Contract: two writers race to transition one datastream from the same etag; one wins."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from dataops.errors import EtagMismatchError
from dataops.models import DatastreamState, Measurement
from dataops.settings import Settings
from dataops.store import MetadataStore, open_store
from dataops.store.sqlite import SqliteStore
from tests.contract.conftest import make_datastream, make_measurement

ROUNDS = 5
TARGETS = (DatastreamState.PROCESSING, DatastreamState.FAILED)


def _outcome(store: MetadataStore, ds_id: str, target: DatastreamState, etag: str) -> str:
    try:
        store.transition_datastream(ds_id, target, expected_etag=etag)
    except EtagMismatchError:
        return "stale"
    return f"won:{target.value}"


def _check(store: MetadataStore, ds_id: str, outcomes: list[str]) -> None:
    assert sorted(o.split(":")[0] for o in outcomes) == ["stale", "won"], outcomes
    winner = next(o for o in outcomes if o.startswith("won")).split(":")[1]
    assert store.get_datastream(ds_id).state.value == winner


def _race_threads(writers: list[MetadataStore], ds_id: str, etag: str) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def race(index: int) -> None:
        barrier.wait()
        outcomes.append(_outcome(writers[index], ds_id, TARGETS[index], etag))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_threads_one_wins(settings: Settings) -> None:
    setup = open_store(settings)
    setup.create_measurement(make_measurement("m-1"))
    # One store per thread, like two function instances sharing one database.
    writers = [open_store(settings), open_store(settings)]
    try:
        for round_ in range(ROUNDS):
            ds = setup.create_datastream(make_datastream(f"ds-{round_}", "m-1"))
            assert ds.etag is not None
            _check(setup, ds.id, _race_threads(writers, ds.id, ds.etag))
        # Both writers on one store object (one sqlite connection per thread) race too.
        ds = setup.create_datastream(make_datastream("ds-shared", "m-1"))
        assert ds.etag is not None
        _check(setup, ds.id, _race_threads([writers[0], writers[0]], ds.id, ds.etag))
    finally:
        for store in (*writers, setup):
            store.close()


def test_concurrent_identical_creates_both_succeed(settings: Settings) -> None:
    writers = [open_store(settings), open_store(settings)]
    try:
        barrier = threading.Barrier(2)
        results: list[Measurement] = []

        def create(index: int) -> None:
            barrier.wait()
            results.append(writers[index].create_measurement(make_measurement("m-1")))

        threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(results) == 2
        assert results[0].etag == results[1].etag == writers[0].get_measurement("m-1").etag
    finally:
        for store in writers:
            store.close()


def _process_writer(
    *, path: str, ds_id: str, target: str, etag: str, barrier: Any, results: Any
) -> None:
    store = SqliteStore(path)
    try:
        barrier.wait()
        results.put(_outcome(store, ds_id, DatastreamState(target), etag))
    except Exception as err:
        # Report instead of dying silently, so the parent fails fast with the reason.
        results.put(f"error:{err!r}")
        raise
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_two_processes_one_wins(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    store = SqliteStore(path)
    try:
        store.create_measurement(make_measurement("m-1"))
        context = multiprocessing.get_context("spawn")
        for round_ in range(2):
            ds = store.create_datastream(make_datastream(f"ds-{round_}", "m-1"))
            assert ds.etag is not None
            barrier = context.Barrier(2)
            results = context.Queue()
            processes = [
                context.Process(
                    target=_process_writer,
                    kwargs={
                        "path": str(path),
                        "ds_id": ds.id,
                        "target": TARGETS[i].value,
                        "etag": ds.etag,
                        "barrier": barrier,
                        "results": results,
                    },
                )
                for i in range(2)
            ]
            for process in processes:
                process.start()
            outcomes = [results.get(timeout=30) for _ in processes]
            for process in processes:
                process.join(timeout=30)
                assert process.exitcode == 0
            _check(store, ds.id, outcomes)
    finally:
        store.close()
