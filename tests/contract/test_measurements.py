"""Contract: measurements (idempotent create, reads, queries, pagination, hostile input)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from dataops.errors import ConflictError, EtagMismatchError, InvalidInputError, NotFoundError
from dataops.models import Measurement, MeasurementState
from dataops.store import MAX_PAGE_SIZE, MeasurementQuery, MetadataStore, query_rules
from tests.contract.conftest import T0, assert_read_back_as_created, every_page, make_measurement

INJECTIONS = ["' OR 1=1 --", '"; DROP TABLE measurements; --', "c.id) OR (1=1", "*", "%"]


def _seed(store: MetadataStore) -> list[Measurement]:
    """Six measurements over two vehicles, one hour apart, with tags."""
    specs = [
        ("m-1", "VIN-A", 0, ["highway"]),
        ("m-2", "VIN-A", 1, ["city", "rain"]),
        ("m-3", "VIN-B", 2, ["highway", "rain"]),
        ("m-4", "VIN-B", 3, []),
        ("m-5", "VIN-A", 4, ["city"]),
        ("m-6", "VIN-B", 5, ["highway"]),
    ]
    return [
        store.create_measurement(
            make_measurement(mid, vehicle_id=vin, start=T0 + timedelta(hours=h), tags=tags)
        )
        for mid, vin, h, tags in specs
    ]


def _ids(items: list[Measurement]) -> list[str]:
    return [m.id for m in items]


def test_create_roundtrips_and_sets_etag(store: MetadataStore) -> None:
    original = make_measurement("m-1", tags=["highway"])
    created = store.create_measurement(original)
    assert_read_back_as_created(original, created, store.get_measurement("m-1"))


def test_create_is_idempotent_for_same_content(store: MetadataStore) -> None:
    first = store.create_measurement(make_measurement("m-1"))
    again = store.create_measurement(make_measurement("m-1"))
    assert again.etag == first.etag
    assert again.created_at == first.created_at


def test_create_with_other_content_conflicts_naming_both_hashes(store: MetadataStore) -> None:
    stored = store.create_measurement(make_measurement("m-1"))
    other = make_measurement("m-1", variant="re-recorded")
    with pytest.raises(ConflictError) as info:
        store.create_measurement(other)
    assert stored.content_sha256 in str(info.value)
    assert other.content_sha256 in str(info.value)
    assert store.get_measurement("m-1").content_sha256 == stored.content_sha256


def test_get_missing_raises_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_measurement("nope")


def test_set_state_changes_etag_and_checks_it(store: MetadataStore) -> None:
    created = store.create_measurement(make_measurement("m-1"))
    updated = store.set_measurement_state(
        "m-1", MeasurementState.INGESTED, expected_etag=created.etag
    )
    assert updated.state is MeasurementState.INGESTED
    assert updated.etag != created.etag
    assert store.get_measurement("m-1").state is MeasurementState.INGESTED
    with pytest.raises(EtagMismatchError):
        store.set_measurement_state("m-1", MeasurementState.FAILED, expected_etag=created.etag)
    assert store.set_measurement_state("m-1", MeasurementState.FAILED).state is (
        MeasurementState.FAILED
    )
    with pytest.raises(NotFoundError):
        store.set_measurement_state("nope", MeasurementState.FAILED)


def test_query_without_filters_is_newest_first(store: MetadataStore) -> None:
    _seed(store)
    page = store.query_measurements(MeasurementQuery())
    assert _ids(page.items) == ["m-6", "m-5", "m-4", "m-3", "m-2", "m-1"]
    assert page.continuation is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (MeasurementQuery(vehicle_id="VIN-A"), ["m-5", "m-2", "m-1"]),
        (MeasurementQuery(tag="rain"), ["m-3", "m-2"]),
        (MeasurementQuery(state=MeasurementState.INGESTED), ["m-4"]),
        # Recordings that overlap [T0+2h30, T0+3h30]: m-3 (2h..3h) and m-4 (3h..4h).
        (
            MeasurementQuery(
                recorded_from=T0 + timedelta(hours=2, minutes=30),
                recorded_to=T0 + timedelta(hours=3, minutes=30),
            ),
            ["m-4", "m-3"],
        ),
        (MeasurementQuery(recorded_from=T0 + timedelta(hours=4, minutes=1)), ["m-6", "m-5"]),
        (MeasurementQuery(recorded_to=T0 + timedelta(minutes=59)), ["m-1"]),
        (MeasurementQuery(vehicle_id="VIN-B", tag="highway"), ["m-6", "m-3"]),
        (
            MeasurementQuery(vehicle_id="VIN-A", tag="city", recorded_to=T0 + timedelta(hours=2)),
            ["m-2"],
        ),
        (MeasurementQuery(vehicle_id="VIN-C"), []),
    ],
)
def test_query_filters(store: MetadataStore, query: MeasurementQuery, expected: list[str]) -> None:
    _seed(store)
    m4 = store.get_measurement("m-4")
    store.set_measurement_state("m-4", MeasurementState.INGESTED, expected_etag=m4.etag)
    assert _ids(store.query_measurements(query).items) == expected


def test_query_sorts_by_time_not_by_text(store: MetadataStore) -> None:
    # "...00.5Z" sorts before "...00Z" as text; the store must sort by time.
    store.create_measurement(make_measurement("whole", start=T0))
    store.create_measurement(make_measurement("fraction", start=T0 + timedelta(milliseconds=500)))
    assert _ids(store.query_measurements(MeasurementQuery()).items) == ["fraction", "whole"]


@pytest.mark.parametrize("limit", [1, 2, 4, 7])
def test_pagination_walks_every_item_once(store: MetadataStore, limit: int) -> None:
    _seed(store)
    # Two measurements at the same instant: ties are broken by id, across pages too.
    store.create_measurement(make_measurement("m-7", vehicle_id="VIN-A", start=T0))
    pages = every_page(
        lambda token: store.query_measurements(MeasurementQuery(limit=limit, continuation=token)),
        limit,
    )
    assert _ids(pages) == ["m-6", "m-5", "m-4", "m-3", "m-2", "m-7", "m-1"]


def test_pagination_keeps_filters(store: MetadataStore) -> None:
    _seed(store)
    first = store.query_measurements(MeasurementQuery(vehicle_id="VIN-B", limit=2))
    assert _ids(first.items) == ["m-6", "m-4"]
    assert first.continuation
    second = store.query_measurements(
        MeasurementQuery(vehicle_id="VIN-B", limit=2, continuation=first.continuation)
    )
    assert _ids(second.items) == ["m-3"]
    assert second.continuation is None


def _forge(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!not base64!!!",
        "",
        "x" * 10_000,
        _forge({"v": 1}),
        _forge([1, 2]),
        _forge({"v": 1, "k": "measurements", "f": "0" * 24, "p": ["2024", "m"]}),
        _forge({"v": 1, "k": "scenes", "f": "0" * 24, "p": ["2024", "m"]}),
    ],
)
def test_bad_continuation_is_invalid_input(store: MetadataStore, token: str) -> None:
    _seed(store)
    with pytest.raises(InvalidInputError):
        store.query_measurements(MeasurementQuery(continuation=token))


def test_continuation_of_other_filters_is_invalid_input(store: MetadataStore) -> None:
    _seed(store)
    page = store.query_measurements(MeasurementQuery(vehicle_id="VIN-A", limit=1))
    assert page.continuation
    with pytest.raises(InvalidInputError):
        store.query_measurements(
            MeasurementQuery(vehicle_id="VIN-B", limit=1, continuation=page.continuation)
        )


@pytest.mark.parametrize("limit", [0, -1, 10**12])
def test_absurd_limits_are_invalid_input(store: MetadataStore, limit: int) -> None:
    with pytest.raises(InvalidInputError):
        store.query_measurements(MeasurementQuery(limit=limit))


def test_large_limit_is_capped(store: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert query_rules.check_limit(MAX_PAGE_SIZE * 5) == MAX_PAGE_SIZE
    # A small cap stands in for MAX_PAGE_SIZE, so the test needs a handful of documents only.
    monkeypatch.setattr(query_rules, "MAX_PAGE_SIZE", 4)
    _seed(store)
    page = store.query_measurements(MeasurementQuery(limit=MAX_PAGE_SIZE * 5))
    assert _ids(page.items) == ["m-6", "m-5", "m-4", "m-3"]
    assert page.continuation is not None


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_strings_match_nothing(store: MetadataStore, value: str) -> None:
    _seed(store)
    assert store.query_measurements(MeasurementQuery(vehicle_id=value)).items == []
    assert store.query_measurements(MeasurementQuery(tag=value)).items == []
    assert store.query_measurements(MeasurementQuery(vehicle_id="VIN-A", tag=value)).items == []
    with pytest.raises(NotFoundError):
        store.get_measurement(value)
    # Nothing was dropped or changed.
    assert len(store.query_measurements(MeasurementQuery()).items) == 6
