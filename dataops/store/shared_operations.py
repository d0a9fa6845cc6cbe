"""The store operations both backends carry out alike, on top of a few backend primitives.

A state change and a lineage walk decide the same things on sqlite and on Cosmos: which change is
allowed, what the changed document holds, how far the walk goes. Only reading and writing a
document differ, so each backend supplies those (:class:`SharedOperations`'s abstract methods)
and inherits the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from dataops.errors import EtagMismatchError, InvalidInputError
from dataops.models import Datastream, DatastreamState, check_transition
from dataops.models.common import utc_now
from dataops.store.lineage_walk import walk_lineage
from dataops.store.protocol import LineageDirection, LineageGraph
from dataops.store.query_rules import check_depth

__all__ = ["DatastreamChange", "SharedOperations"]

DatastreamChange = Callable[[Datastream], Datastream]
"""The new version of a datastream given the stored one (raising when it may not change)."""


class SharedOperations(ABC):
    """``transition_datastream`` and ``lineage`` of the MetadataStore protocol, once."""

    @abstractmethod
    def get_datastream(self, datastream_id: str) -> Datastream:
        """Raise NotFoundError when absent."""

    @abstractmethod
    def _rewrite_datastream(
        self, datastream_id: str, change: DatastreamChange, expected_etag: str
    ) -> Datastream:
        """Write ``change(stored)`` if the stored etag is still ``expected_etag``, atomically.

        Returns the written datastream with its new etag; NotFoundError when absent,
        EtagMismatchError when another write came first.
        """

    @abstractmethod
    def _fetch_datastreams(self, ids: Iterable[str]) -> dict[str, Datastream]:
        """Datastreams with these ids (missing ids left out)."""

    @abstractmethod
    def _fetch_consumers(self, ids: Iterable[str]) -> list[Datastream]:
        """Datastreams that list any of these ids among their sources."""

    def transition_datastream(
        self,
        datastream_id: str,
        target: DatastreamState,
        *,
        expected_etag: str,
        reason: str | None = None,
        stats: dict[str, Any] | None = None,
    ) -> Datastream:
        """Checked state change; EtagMismatchError if the document changed since it was read.

        ``stats`` are merged into the stored stats; ``reason`` replaces the state reason.
        """
        target = DatastreamState(target)

        def change(current: Datastream) -> Datastream:
            # The etag comes first: with a stale etag the caller's idea of the state is too.
            if current.etag != expected_etag:
                raise EtagMismatchError(f"datastream {datastream_id!r} changed since it was read")
            check_transition(current.state, target)
            return Datastream.model_validate(
                {
                    **current.model_dump(),
                    "state": target,
                    "state_reason": reason,
                    "stats": {**current.stats, **(stats or {})},
                    "updated_at": utc_now(),
                }
            )

        return self._rewrite_datastream(datastream_id, change, expected_etag)

    def lineage(
        self, datastream_id: str, direction: LineageDirection, depth: int = 8
    ) -> LineageGraph:
        """Walk sources (up) and consumers (down) breadth-first, at most ``depth`` levels."""
        levels = check_depth(depth)
        try:
            direction = LineageDirection(str(direction))
        except ValueError as err:
            raise InvalidInputError(
                f"unknown lineage direction {direction!r}", field="direction"
            ) from err
        root = self.get_datastream(datastream_id)
        return walk_lineage(root, direction, levels, self._fetch_datastreams, self._fetch_consumers)
