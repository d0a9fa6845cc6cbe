"""The derived-step skeleton and the keyset pagination builder every step and store share."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops.derived import DerivedStep, StepOutput
from dataops.errors import InvalidInputError
from dataops.models import Datastream, DatastreamState, DatastreamType, FileRecord
from dataops.store.continuation import Keyset
from dataops.store.sqlite import SqliteStore
from tests.store_seed import add_measurement, completed, derived

STEP = DerivedStep(step="detect_scenes", output_type=DatastreamType.SCENES, sources=(1, 2))


def _opened(tmp_path: Path, sources: list[str]) -> SqliteStore:
    store = SqliteStore(tmp_path / "metadata.sqlite3")
    add_measurement(store)
    completed(store, derived("sync-1", DatastreamType.SYNCHRONIZED, "synchronize"))
    STEP.open(
        store, measurement_id="m-1", datastream_id="out-1", instance_id="i-1", sources=sources
    )
    return store


def test_run_attaches_the_work_files_and_completes_with_its_stats(tmp_path: Path) -> None:
    """The skeleton, not the step, attaches what the work wrote and records its stats."""
    store = _opened(tmp_path, ["sync-1"])
    seen: list[Datastream] = []

    def work(output: Datastream) -> StepOutput:
        seen.append(output)
        record = FileRecord(path=f"{output.path}/scenes", format="delta", size=3)
        return StepOutput({"scenes": 2}, [record])

    done = STEP.run(store, "out-1", work)
    assert [d.state for d in seen] == [DatastreamState.PROCESSING]
    assert done.state is DatastreamState.COMPLETED and done.stats == {"scenes": 2}
    assert done.file_count == 1 and done.producer.step == "detect_scenes"
    # A retried run after the commit answers from the datastream and does not work again.
    assert STEP.run(store, "out-1", work).stats == {"scenes": 2} and len(seen) == 1
    store.close()


def test_run_refuses_a_datastream_in_another_state_or_with_other_sources(tmp_path: Path) -> None:
    """Errors name the output type, the datastream and what is wrong; the work never runs."""
    store = _opened(tmp_path, ["sync-1", "sync-1", "sync-1"])

    def work(output: Datastream) -> StepOutput:
        raise AssertionError("work ran")

    with pytest.raises(InvalidInputError, match="SCENES datastream out-1 needs 1 or 2 sources"):
        STEP.run(store, "out-1", work)
    STEP.fail(store, datastream_id="out-1", reason="operator")
    with pytest.raises(InvalidInputError, match="SCENES datastream out-1 is FAILED"):
        STEP.run(store, "out-1", work)
    store.close()


def test_keyset_after_clause_orders_rows_after_a_key_of_any_length() -> None:
    """One builder for every listing: a key of n columns, ascending or descending."""
    files = Keyset("files", "f", ("path",))
    assert files.after_clause(["?"]) == "path > ?"
    assert files.order_by() == "path"
    newest = Keyset("measurements", "f", ("start_key", "id"), descending=True)
    assert newest.after_clause(["@a", "@b"]) == "(start_key < @a OR (start_key = @a AND id < @b))"
    assert newest.order_by() == "start_key DESC, id DESC"
    three = Keyset("k", "f", ("a", "b", "c"))
    assert three.after_clause(["1", "2", "3"]) == (
        "(a > 1 OR (a = 1 AND (b > 2 OR (b = 2 AND c > 3))))"
    )
    assert newest.position(None) is None
