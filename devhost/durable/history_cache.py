"""Histories already replayed, kept in memory as the stored events and as the SDK's objects.

Every replay pass hands the SDK the whole history. Reading it from SQLite (JSON) and letting
the SDK parse it (dateutil on every timestamp) made each pass cost a few milliseconds per
event, so a fan-out of n activities cost O(n) per pass, most of it re-parsing events that had
not changed. The cache keeps each instance's committed history in both forms; a pass parses
only its own new events. SQLite stays the truth: an entry is used only when its execution id
and length match the stored history, and a pass's events enter the cache only after its
transaction commits.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.history import HistoryEvent

from devhost.durable.replay import parse_events

__all__ = ["CachedHistory", "HistoryCache"]

# Events kept over all instances; the least recently replayed instances go first.
DEFAULT_MAX_EVENTS = 200_000


def _played(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies marked as replayed, the form old events take in every later pass."""
    return [{**event, "IsPlayed": True} for event in events]


@dataclass
class CachedHistory:
    """One execution's committed history, marked played, in stored and parsed form."""

    execution_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    parsed: list[HistoryEvent] = field(default_factory=list)

    @classmethod
    def of(cls, execution_id: str, stored: list[dict[str, Any]]) -> CachedHistory:
        """Build from events as stored (their IsPlayed flags are overwritten)."""
        events = _played(stored)
        return cls(execution_id, events, parse_events(events))

    def extended(self, appended: list[dict[str, Any]]) -> CachedHistory:
        """This history followed by ``appended`` (a new object: this one stays as it was)."""
        more = _played(appended)
        return CachedHistory(
            self.execution_id, [*self.events, *more], [*self.parsed, *parse_events(more)]
        )


class HistoryCache:
    """Bounded map of instance id to its cached history; changes wait for the commit."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_events = max_events
        self._entries: OrderedDict[str, CachedHistory] = OrderedDict()
        self._events = 0
        # What the transaction in progress will have written: None means "forget it".
        self._staged: dict[str, CachedHistory | None] = {}

    def get(self, instance_id: str, execution_id: str, length: int) -> CachedHistory | None:
        """The entry if it is the stored history of ``execution_id`` with ``length`` events."""
        entry = self._entries.get(instance_id)
        if entry is None:
            return None
        if entry.execution_id != execution_id or len(entry.events) != length:
            self._drop(instance_id)
            return None
        self._entries.move_to_end(instance_id)
        return entry

    def stage(self, instance_id: str, entry: CachedHistory | None) -> None:
        """Record what the current transaction writes; applied by :meth:`commit`."""
        self._staged[instance_id] = entry

    def commit(self) -> None:
        """The transaction committed: staged entries replace (or remove) the cached ones."""
        staged, self._staged = self._staged, {}
        for instance_id, entry in staged.items():
            self._drop(instance_id)
            if entry is not None and len(entry.events) <= self.max_events:
                self._entries[instance_id] = entry
                self._events += len(entry.events)
        while self._events > self.max_events:
            self._drop(next(iter(self._entries)))

    def rollback(self) -> None:
        """The transaction rolled back: nothing it staged happened."""
        self._staged.clear()

    def _drop(self, instance_id: str) -> None:
        entry = self._entries.pop(instance_id, None)
        if entry is not None:
            self._events -= len(entry.events)

    def __len__(self) -> int:
        return len(self._entries)
