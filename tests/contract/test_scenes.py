"""Contract: scenes (upsert by id, filtered queries, pagination)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dataops.errors import ConflictError, InvalidInputError, NotFoundError
from dataops.models import Scene
from dataops.store import MetadataStore, SceneQuery
from tests.contract.conftest import T0, every_page, make_scene


def _seed(store: MetadataStore) -> None:
    store.upsert_scenes(
        [
            make_scene("s-1", "m-1", type="pedestrian", start=T0),
            make_scene("s-2", "m-1", type="cut_in", start=T0 + timedelta(minutes=1)),
            make_scene("s-3", "m-2", vehicle_id="VIN-2", start=T0 + timedelta(minutes=2)),
            make_scene("s-4", "m-2", vehicle_id="VIN-2", type="cut_in", start=T0),
            make_scene("s-5", "m-1", start=T0 + timedelta(minutes=3)),
        ]
    )


def _ids(items: list[Scene]) -> list[str]:
    return [s.id for s in items]


def test_upsert_roundtrips_and_replaces(store: MetadataStore) -> None:
    scene = make_scene("s-1", "m-1")
    assert store.upsert_scenes([scene]) == 1
    (stored,) = store.query_scenes(SceneQuery()).items
    assert stored.etag
    assert stored.model_dump(exclude={"etag"}) == scene.model_dump(exclude={"etag"})
    changed = scene.model_copy(update={"confidence": 0.5, "attributes": {"objects": 9}})
    assert store.upsert_scenes([changed]) == 1
    (again,) = store.query_scenes(SceneQuery()).items
    assert again.confidence == 0.5
    assert again.attributes == {"objects": 9}
    assert again.etag != stored.etag


def test_get_scene_by_id_or_not_found(store: MetadataStore) -> None:
    """A scene is read back by its id alone (clips start from one); an unknown id is 404."""
    _seed(store)
    found = store.get_scene("s-3")
    assert (found.id, found.measurement_id, found.vehicle_id) == ("s-3", "m-2", "VIN-2")
    assert found.etag
    with pytest.raises(NotFoundError, match="s-9"):
        store.get_scene("s-9")


def test_scene_id_of_another_measurement_conflicts(store: MetadataStore) -> None:
    store.upsert_scenes([make_scene("s-1", "m-1")])
    with pytest.raises(ConflictError):
        store.upsert_scenes([make_scene("s-1", "m-2")])
    assert _ids(store.query_scenes(SceneQuery(measurement_id="m-2")).items) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (SceneQuery(), ["s-1", "s-4", "s-2", "s-3", "s-5"]),
        (SceneQuery(type="cut_in"), ["s-4", "s-2"]),
        (SceneQuery(vehicle_id="VIN-2"), ["s-4", "s-3"]),
        (SceneQuery(measurement_id="m-1"), ["s-1", "s-2", "s-5"]),
        (SceneQuery(start_from=T0 + timedelta(minutes=1)), ["s-2", "s-3", "s-5"]),
        (SceneQuery(start_to=T0 + timedelta(seconds=59)), ["s-1", "s-4"]),
        (SceneQuery(measurement_id="m-1", type="pedestrian"), ["s-1", "s-5"]),
        (SceneQuery(type="' OR 1=1 --"), []),
        (SceneQuery(measurement_id="c.id) OR (1=1"), []),
        (SceneQuery(vehicle_id='"; DROP TABLE scenes; --'), []),
    ],
)
def test_query_filters(store: MetadataStore, query: SceneQuery, expected: list[str]) -> None:
    _seed(store)
    assert _ids(store.query_scenes(query).items) == expected


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_pagination_walks_every_scene_once(store: MetadataStore, limit: int) -> None:
    _seed(store)
    pages = every_page(
        lambda token: store.query_scenes(SceneQuery(limit=limit, continuation=token)), limit
    )
    assert _ids(pages) == ["s-1", "s-4", "s-2", "s-3", "s-5"]


def test_bad_scene_queries_are_invalid_input(store: MetadataStore) -> None:
    _seed(store)
    token = store.query_scenes(SceneQuery(limit=1)).continuation
    assert token
    with pytest.raises(InvalidInputError):
        store.query_scenes(SceneQuery(type="cut_in", continuation=token))
    with pytest.raises(InvalidInputError):
        store.query_scenes(SceneQuery(continuation="%%%"))
    with pytest.raises(InvalidInputError):
        store.query_scenes(SceneQuery(limit=-5))
