"""Change feed for ``cosmos_db_trigger`` functions, with lease checkpoints persisted in SQLite.

The sqlite metadata store's ``read_changes`` feeds it; for the cosmos backend against
cosmosdb-server (no incremental change feed) :class:`CosmosTsSource` polls ``_ts``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol

from devhost.db import Database
from devhost.durable.clock import Clock
from devhost.durable.history import format_time
from devhost.events.delivery import DeliveryQueue
from devhost.registry import FunctionSpec

__all__ = ["ChangeFeedPump", "ChangeSource", "CosmosTsSource"]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    function TEXT PRIMARY KEY,
    container TEXT NOT NULL,
    checkpoint TEXT,
    updated_at TEXT NOT NULL
);
"""


class ChangeSource(Protocol):
    """Anything with the store's ``read_changes`` signature."""

    def read_changes(self, container: Any, checkpoint: str | None, max_items: int = 100) -> Any:
        """A batch with ``documents`` and ``checkpoint``."""
        ...


@dataclass(eq=False)
class ChangeFeedPump:
    """Reads each cosmos-triggered function's container after its lease and queues the batch."""

    db: Database
    queue: DeliveryQueue
    functions: list[FunctionSpec]
    source: ChangeSource
    clock: Clock
    _: KW_ONLY
    max_items: int = 100
    _last_error: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.db.executescript(SCHEMA)

    def lease(self, function: str) -> str | None:
        """Checkpoint of one function's lease."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT checkpoint FROM leases WHERE function=?", (function,)
            ).fetchone()
        return None if row is None else row["checkpoint"]

    def poll_once(self) -> int:
        """Queue one batch per function if there are changes; returns documents queued."""
        total = 0
        for spec in self.functions:
            container = str(spec.trigger.get("containerName") or spec.trigger.get("collectionName"))
            checkpoint = self.lease(spec.name)
            try:
                batch = self.source.read_changes(container, checkpoint, self.max_items)
            except Exception as err:  # a broken source must not stop the other functions' feeds
                # Logged when the problem changes, not on every poll.
                if self._last_error.get(spec.name) != repr(err):
                    self._last_error[spec.name] = repr(err)
                    log.exception(
                        "change feed of %s for %s could not be read", container, spec.name
                    )
                continue
            self._last_error.pop(spec.name, None)
            docs = list(batch.documents)
            if not docs and batch.checkpoint == checkpoint:
                continue
            with self.db.transaction() as conn:
                if docs:
                    self.queue.enqueue(conn, f"changefeed:{container}", spec.name, json.dumps(docs))
                # The lease moves in the same transaction that queues the batch.
                conn.execute(
                    "INSERT OR REPLACE INTO leases VALUES (?,?,?,?)",
                    (spec.name, container, batch.checkpoint, format_time(self.clock.now())),
                )
            if docs:
                log.info("change feed: %d documents of %s for %s", len(docs), container, spec.name)
            total += len(docs)
        if total:
            self.queue.on_change()
        return total


class _Batch:
    def __init__(self, documents: list[dict[str, Any]], checkpoint: str) -> None:
        self.documents = documents
        self.checkpoint = checkpoint


class CosmosTsSource:
    """Change source for cosmosdb-server: poll ``_ts >= last`` and skip etags already seen at it.

    ``_ts`` has one-second resolution, so documents written in the same second as the checkpoint
    are read again and recognised by their ``_etag`` (which changes on every write).
    """

    def __init__(self, database: Any) -> None:
        self._database = database

    def read_changes(self, container: Any, checkpoint: str | None, max_items: int = 100) -> _Batch:
        """Documents with ``_ts`` at or after the checkpoint, oldest first, deletes not shown."""
        state: dict[str, Any] = json.loads(checkpoint) if checkpoint else {"ts": 0, "etags": []}
        last_ts, seen = int(state["ts"]), set(state["etags"])
        from azure.cosmos.exceptions import CosmosResourceNotFoundError

        client = self._database.get_container_client(str(container))
        try:
            rows = list(
                client.query_items(
                    "SELECT * FROM c WHERE c._ts >= @ts ORDER BY c._ts",
                    parameters=[{"name": "@ts", "value": last_ts}],
                    enable_cross_partition_query=True,
                )
            )
        except CosmosResourceNotFoundError:
            rows = []  # the app creates its containers on first use; until then nothing changed
        fresh = [r for r in rows if not (r["_ts"] == last_ts and r.get("_etag") in seen)][
            :max_items
        ]
        if not fresh:
            return _Batch([], checkpoint or json.dumps(state))
        new_ts = max(int(r["_ts"]) for r in fresh)
        # Only what this batch delivered counts as seen: a max_items cut must not skip the rest.
        etags = {str(r["_etag"]) for r in fresh if int(r["_ts"]) == new_ts and r.get("_etag")}
        if new_ts == last_ts:
            etags |= seen
        return _Batch(fresh, json.dumps({"ts": new_ts, "etags": sorted(etags)}))
