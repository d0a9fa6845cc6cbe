"""Contract: lineage walks over datastream sources on a diamond-shaped DAG.

raw -> ext_a -> sync -> scenes
raw -> ext_b -> sync
"""

from __future__ import annotations

import pytest

from dataops.errors import InvalidInputError, NotFoundError
from dataops.models import DatastreamType
from dataops.store import MAX_LINEAGE_DEPTH, LineageDirection, LineageEdge, MetadataStore
from tests.contract.conftest import make_datastream, make_measurement

UP, DOWN, BOTH = LineageDirection.UP, LineageDirection.DOWN, LineageDirection.BOTH
EDGES = {
    ("raw", "ext_a"),
    ("raw", "ext_b"),
    ("ext_a", "sync"),
    ("ext_b", "sync"),
    ("sync", "scenes"),
}


@pytest.fixture
def dag(store: MetadataStore) -> MetadataStore:
    """The diamond above, plus an unrelated datastream in another measurement."""
    store.create_measurement(make_measurement("m-1"))
    store.create_measurement(make_measurement("m-2"))
    store.create_datastream(make_datastream("raw", "m-1"))
    for name in ("ext_a", "ext_b"):
        store.create_datastream(
            make_datastream(name, "m-1", type=DatastreamType.EXTRACTED, sources=["raw"])
        )
    store.create_datastream(
        make_datastream("sync", "m-1", type=DatastreamType.SYNCHRONIZED, sources=["ext_a", "ext_b"])
    )
    store.create_datastream(
        make_datastream("scenes", "m-1", type=DatastreamType.SCENES, sources=["sync"])
    )
    store.create_datastream(make_datastream("unrelated", "m-2"))
    return store


def _edges(edges: list[LineageEdge]) -> set[tuple[str, str]]:
    pairs = [(e.source, e.target) for e in edges]
    assert len(pairs) == len(set(pairs)), "an edge is listed twice"
    return set(pairs)


def test_down_from_root_reaches_everything_once(dag: MetadataStore) -> None:
    graph = dag.lineage("raw", DOWN)
    assert graph.root == "raw"
    assert set(graph.nodes) == {"raw", "ext_a", "ext_b", "sync", "scenes"}
    assert _edges(graph.edges) == EDGES
    assert graph.truncated is False
    assert graph.nodes["sync"].sources == ["ext_a", "ext_b"]


def test_up_from_leaf(dag: MetadataStore) -> None:
    graph = dag.lineage("scenes", UP)
    assert set(graph.nodes) == {"raw", "ext_a", "ext_b", "sync", "scenes"}
    assert _edges(graph.edges) == EDGES
    assert graph.truncated is False


def test_both_from_the_middle(dag: MetadataStore) -> None:
    graph = dag.lineage("ext_a", BOTH)
    assert set(graph.nodes) == {"raw", "ext_a", "sync", "scenes"}
    assert _edges(graph.edges) == {("raw", "ext_a"), ("ext_a", "sync"), ("sync", "scenes")}
    assert graph.truncated is False


def test_depth_cap_sets_truncated(dag: MetadataStore) -> None:
    one = dag.lineage("raw", DOWN, depth=1)
    assert set(one.nodes) == {"raw", "ext_a", "ext_b"}
    assert _edges(one.edges) == {("raw", "ext_a"), ("raw", "ext_b")}
    assert one.truncated is True
    two = dag.lineage("raw", DOWN, depth=2)
    assert set(two.nodes) == {"raw", "ext_a", "ext_b", "sync"}
    assert _edges(two.edges) == EDGES - {("sync", "scenes")}
    assert two.truncated is True
    # Exactly deep enough: nothing is cut off.
    assert dag.lineage("raw", DOWN, depth=3).truncated is False
    up = dag.lineage("scenes", UP, depth=2)
    assert set(up.nodes) == {"scenes", "sync", "ext_a", "ext_b"}
    assert up.truncated is True
    zero = dag.lineage("sync", BOTH, depth=0)
    assert set(zero.nodes) == {"sync"}
    assert zero.edges == []
    assert zero.truncated is True
    assert dag.lineage("unrelated", BOTH, depth=0).truncated is False


def test_depth_beyond_the_cap_is_capped(dag: MetadataStore) -> None:
    graph = dag.lineage("raw", DOWN, depth=MAX_LINEAGE_DEPTH * 10)
    assert len(graph.nodes) == 5


@pytest.mark.parametrize("depth", [-1, 10**12])
def test_bad_depth_is_invalid_input(dag: MetadataStore, depth: int) -> None:
    with pytest.raises(InvalidInputError):
        dag.lineage("raw", DOWN, depth=depth)


def test_missing_root_is_not_found(dag: MetadataStore) -> None:
    with pytest.raises(NotFoundError):
        dag.lineage("nope", BOTH)


def test_unrelated_has_no_lineage(dag: MetadataStore) -> None:
    graph = dag.lineage("unrelated", BOTH)
    assert set(graph.nodes) == {"unrelated"}
    assert graph.edges == []
