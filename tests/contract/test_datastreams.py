"""Contract: datastreams (idempotent create, checked state machine, optimistic concurrency)."""

from __future__ import annotations

import pytest

from dataops.errors import (
    ConflictError,
    EtagMismatchError,
    InvalidTransitionError,
    NotFoundError,
)
from dataops.models import TRANSITIONS, Datastream, DatastreamState, DatastreamType
from dataops.store import MetadataStore
from tests.contract.conftest import assert_read_back_as_created, make_datastream, make_measurement

S = DatastreamState
# How to reach each state from CREATED with allowed steps only.
PATH_TO: dict[DatastreamState, list[DatastreamState]] = {
    S.CREATED: [],
    S.COPYING: [S.COPYING],
    S.PROCESSING: [S.PROCESSING],
    S.COMPLETED: [S.COPYING, S.COMPLETED],
    S.FAILED: [S.FAILED],
}
ILLEGAL = [(a, b) for a in DatastreamState for b in DatastreamState if b not in TRANSITIONS[a]]


@pytest.fixture
def measured(store: MetadataStore) -> MetadataStore:
    """A store that holds measurement ``m-1``."""
    store.create_measurement(make_measurement("m-1"))
    return store


def _walk(store: MetadataStore, datastream: Datastream, steps: list[DatastreamState]) -> Datastream:
    for step in steps:
        assert datastream.etag is not None
        datastream = store.transition_datastream(datastream.id, step, expected_etag=datastream.etag)
    return datastream


def test_create_roundtrips(measured: MetadataStore) -> None:
    original = make_datastream("ds-1", "m-1", sources=["ds-0"])
    created = measured.create_datastream(original)
    assert_read_back_as_created(original, created, measured.get_datastream("ds-1"))


def test_create_is_idempotent(measured: MetadataStore) -> None:
    first = measured.create_datastream(make_datastream("ds-1", "m-1"))
    again = measured.create_datastream(make_datastream("ds-1", "m-1"))
    assert again.etag == first.etag
    assert again.created_at == first.created_at
    assert [d.id for d in measured.list_datastreams("m-1")] == ["ds-1"]


def test_create_with_other_type_or_measurement_conflicts(measured: MetadataStore) -> None:
    measured.create_measurement(make_measurement("m-2"))
    measured.create_datastream(make_datastream("ds-1", "m-1"))
    with pytest.raises(ConflictError, match="type"):
        measured.create_datastream(make_datastream("ds-1", "m-1", type=DatastreamType.EXTRACTED))
    with pytest.raises(ConflictError, match="measurement_id"):
        measured.create_datastream(make_datastream("ds-1", "m-2"))
    assert measured.list_datastreams("m-2") == []


def test_create_for_unknown_measurement_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError):
        store.create_datastream(make_datastream("ds-1", "m-missing"))


def test_get_missing_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_datastream("nope")


def test_list_by_measurement_and_type(measured: MetadataStore) -> None:
    measured.create_measurement(make_measurement("m-2"))
    measured.create_datastream(make_datastream("ds-raw", "m-1"))
    measured.create_datastream(
        make_datastream("ds-ext", "m-1", type=DatastreamType.EXTRACTED, sources=["ds-raw"])
    )
    measured.create_datastream(make_datastream("ds-other", "m-2"))
    assert [d.id for d in measured.list_datastreams("m-1")] == ["ds-raw", "ds-ext"]
    assert [d.id for d in measured.list_datastreams("m-1", DatastreamType.EXTRACTED)] == ["ds-ext"]
    assert measured.list_datastreams("' OR 1=1 --") == []


def test_transition_happy_paths(measured: MetadataStore) -> None:
    ds = measured.create_datastream(make_datastream("ds-1", "m-1"))
    assert ds.etag is not None
    copying = measured.transition_datastream("ds-1", S.COPYING, expected_etag=ds.etag)
    assert copying.state is S.COPYING
    assert copying.etag not in (None, ds.etag)
    assert copying.updated_at >= ds.updated_at
    assert copying.etag is not None
    done = measured.transition_datastream(
        "ds-1", S.COMPLETED, expected_etag=copying.etag, stats={"files": 3}
    )
    assert done.state is S.COMPLETED
    stored = measured.get_datastream("ds-1")
    assert stored.state is S.COMPLETED
    assert stored.stats == {"files": 3}
    assert stored.etag == done.etag

    other = measured.create_datastream(make_datastream("ds-2", "m-1"))
    assert other.etag is not None
    processing = measured.transition_datastream(
        "ds-2", S.PROCESSING, expected_etag=other.etag, stats={"a": 1}
    )
    assert processing.etag is not None
    failed = measured.transition_datastream(
        "ds-2", S.FAILED, expected_etag=processing.etag, reason="decoder crashed", stats={"b": 2}
    )
    assert failed.state is S.FAILED
    assert measured.get_datastream("ds-2").state_reason == "decoder crashed"
    assert measured.get_datastream("ds-2").stats == {"a": 1, "b": 2}


def test_every_illegal_transition_is_refused(measured: MetadataStore) -> None:
    assert len(ILLEGAL) == 18
    for number, (current, target) in enumerate(ILLEGAL):
        ds = _walk(
            measured,
            measured.create_datastream(make_datastream(f"ds-{number}", "m-1")),
            PATH_TO[current],
        )
        assert ds.state is current and ds.etag is not None
        with pytest.raises(InvalidTransitionError):
            measured.transition_datastream(ds.id, target, expected_etag=ds.etag)
        after = measured.get_datastream(ds.id)
        assert (after.state, after.etag) == (current, ds.etag), (current, target)


def test_stale_etag_is_refused(measured: MetadataStore) -> None:
    ds = measured.create_datastream(make_datastream("ds-1", "m-1"))
    assert ds.etag is not None
    measured.transition_datastream("ds-1", S.PROCESSING, expected_etag=ds.etag)
    with pytest.raises(EtagMismatchError):
        measured.transition_datastream("ds-1", S.FAILED, expected_etag=ds.etag)
    with pytest.raises(EtagMismatchError):
        measured.transition_datastream("ds-1", S.FAILED, expected_etag="forged")
    assert measured.get_datastream("ds-1").state is S.PROCESSING
    with pytest.raises(NotFoundError):
        measured.transition_datastream("nope", S.FAILED, expected_etag="x")
