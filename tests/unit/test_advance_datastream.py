"""A step's state change that loses an etag race is re-applied, unless the race settled it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dataops.derived import complete_output, fail_output, open_datastream
from dataops.errors import EtagMismatchError
from dataops.models import Datastream, DatastreamState, DatastreamType, FileRecord, Producer
from dataops.paths import Zone
from dataops.store.sqlite import SqliteStore
from dataops.store.transitions import ADVANCE_ATTEMPTS, advance_datastream
from tests.store_seed import add_measurement, derived

Race = Callable[[SqliteStore], None]


class RacedStore(SqliteStore):
    """A real store where another writer's write lands between each read and the next state
    change, for as many state changes as ``races`` holds."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.races: list[Race] = []
        self.lost = 0

    def transition_datastream(self, datastream_id: str, *args: Any, **kwargs: Any) -> Datastream:
        if self.races:
            self.races.pop(0)(self)
        try:
            return super().transition_datastream(datastream_id, *args, **kwargs)
        except EtagMismatchError:
            self.lost += 1
            raise


def attach_a_file(store: SqliteStore) -> None:
    """Another writer changes the document without changing its state (a new etag)."""
    store.attach_files("out", [FileRecord(path=f"x{store.lost}.parquet", format="parquet", size=1)])


def complete_it(store: SqliteStore) -> None:
    """Another writer (a retry of the same step) completes the datastream first."""
    current = SqliteStore.get_datastream(store, "out")
    assert current.etag is not None
    SqliteStore.transition_datastream(
        store, "out", DatastreamState.COMPLETED, expected_etag=current.etag, stats={"by": "other"}
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RacedStore]:
    opened = RacedStore(tmp_path / "meta.sqlite3")
    add_measurement(opened)
    created = opened.create_datastream(derived("out", DatastreamType.SYNCHRONIZED, "synchronize"))
    assert created.etag is not None
    opened.transition_datastream("out", DatastreamState.PROCESSING, expected_etag=created.etag)
    yield opened
    opened.close()


def test_completion_that_loses_a_race_is_re_applied_with_its_stats(store: RacedStore) -> None:
    store.races = [attach_a_file, attach_a_file]
    done = complete_output(store, "out", {"rows": 3})
    assert store.lost == 2
    assert (done.state, done.stats, done.file_count) == (DatastreamState.COMPLETED, {"rows": 3}, 2)
    assert store.get_datastream("out") == done


def test_a_datastream_another_writer_completed_meanwhile_is_left_alone(store: RacedStore) -> None:
    store.races = [complete_it]
    done = complete_output(store, "out", {"rows": 3})
    assert store.lost == 1
    assert (done.state, done.stats) == (DatastreamState.COMPLETED, {"by": "other"})


def test_failing_a_datastream_another_writer_completed_keeps_it_completed(
    store: RacedStore,
) -> None:
    store.races = [complete_it]
    fail_output(store, datastream_id="out", reason="boom")
    kept = store.get_datastream("out")
    assert (kept.state, kept.state_reason) == (DatastreamState.COMPLETED, None)


def test_failing_after_a_lost_race_is_re_applied(store: RacedStore) -> None:
    store.races = [attach_a_file]
    fail_output(store, datastream_id="out", reason="boom")
    failed = store.get_datastream("out")
    assert (failed.state, failed.state_reason, store.lost) == (DatastreamState.FAILED, "boom", 1)


def test_opening_re_applies_created_to_processing_after_a_lost_race(tmp_path: Path) -> None:
    store = RacedStore(tmp_path / "meta.sqlite3")
    measurement = add_measurement(store)
    store.create_datastream(derived("out", DatastreamType.SYNCHRONIZED, "synchronize"))
    store.races = [attach_a_file]
    opened = open_datastream(
        store,
        measurement,
        datastream_id="out",
        datastream_type=DatastreamType.SYNCHRONIZED,
        zone=Zone.CURATED,
        producer=Producer(step="synchronize", code_version="test"),
        sources=[],
    )
    assert (opened.state, store.lost) == (DatastreamState.PROCESSING, 1)
    store.close()


def test_a_datastream_that_keeps_changing_gives_up_after_bounded_attempts(
    store: RacedStore,
) -> None:
    store.races = [attach_a_file] * (ADVANCE_ATTEMPTS + 1)
    with pytest.raises(EtagMismatchError, match="gave up after"):
        advance_datastream(
            store, "out", DatastreamState.COMPLETED, when={DatastreamState.PROCESSING}
        )
    assert store.lost == ADVANCE_ATTEMPTS
    assert store.get_datastream("out").state is DatastreamState.PROCESSING
