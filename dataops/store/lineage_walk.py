"""Breadth-first lineage walk over datastream sources, shared by both store backends.

The backends only supply two lookups (datastreams by id, consumers of ids); the walk, the
depth cap and the ``truncated`` flag are decided here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dataops.models import Datastream
from dataops.store.protocol import LineageDirection, LineageEdge, LineageGraph

__all__ = ["FetchConsumers", "FetchDatastreams", "walk_lineage"]

FetchDatastreams = Callable[[Iterable[str]], dict[str, Datastream]]
"""Datastreams with these ids (missing ids are left out)."""
FetchConsumers = Callable[[Iterable[str]], list[Datastream]]
"""Datastreams that list any of these ids among their sources."""


def walk_lineage(
    root: Datastream,
    direction: LineageDirection,
    depth: int,
    fetch: FetchDatastreams,
    consumers: FetchConsumers,
) -> LineageGraph:
    """Nodes within ``depth`` levels of ``root`` in ``direction`` and the edges between them."""
    nodes: dict[str, Datastream] = {root.id: root}
    edges: set[tuple[str, str]] = set()
    truncated = False
    if direction in (LineageDirection.UP, LineageDirection.BOTH):
        truncated |= _walk_up(root, depth, fetch, nodes, edges)
    if direction in (LineageDirection.DOWN, LineageDirection.BOTH):
        truncated |= _walk_down(root, depth, consumers, nodes, edges)
    return LineageGraph(
        root=root.id,
        nodes=nodes,
        edges=[LineageEdge(source=s, target=t) for s, t in sorted(edges)],
        truncated=truncated,
    )


def _walk_up(
    root: Datastream,
    depth: int,
    fetch: FetchDatastreams,
    nodes: dict[str, Datastream],
    edges: set[tuple[str, str]],
) -> bool:
    frontier = [root]
    for level in range(depth + 1):
        wanted = {s for node in frontier for s in node.sources if s not in nodes}
        last_level = level == depth
        if last_level:
            # Edges back into the graph are kept; anything new means the walk was cut short.
            _link_up(frontier, nodes, edges)
            return bool(wanted) and bool(fetch(wanted))
        found = fetch(wanted) if wanted else {}
        nodes.update(found)
        _link_up(frontier, nodes, edges)
        frontier = list(found.values())
        if not frontier:
            return False
    return False


def _link_up(
    frontier: list[Datastream], nodes: dict[str, Datastream], edges: set[tuple[str, str]]
) -> None:
    for node in frontier:
        edges.update((source, node.id) for source in node.sources if source in nodes)


def _walk_down(
    root: Datastream,
    depth: int,
    consumers: FetchConsumers,
    nodes: dict[str, Datastream],
    edges: set[tuple[str, str]],
) -> bool:
    frontier_ids = {root.id}
    for level in range(depth + 1):
        found = consumers(frontier_ids)
        last_level = level == depth
        fresh: dict[str, Datastream] = {}
        for consumer in found:
            if consumer.id not in nodes and not last_level:
                fresh[consumer.id] = consumer
        nodes.update(fresh)
        outside = False
        for consumer in found:
            if consumer.id not in nodes:
                outside = True
                continue
            edges.update((s, consumer.id) for s in consumer.sources if s in frontier_ids)
        if last_level:
            return outside
        frontier_ids = set(fresh)
        if not frontier_ids:
            return False
    return False
