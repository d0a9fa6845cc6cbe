"""At-least-once delivery of events to functions, with retries and a dead-letter table.

Sources (Event Grid poller, change feed, timers) put an event in ``deliveries`` in the same
transaction that records how far they have read, so a crash loses nothing; the delivery loop
deletes a row only after the function returned, so a crash in between delivers it again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from devhost.db import Database
from devhost.durable.clock import Clock
from devhost.durable.history import format_time
from devhost.events.retry_policy import RetryPolicy

__all__ = ["DeadLetter", "Delivery", "DeliveryQueue", "PermanentDeliveryError"]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    function TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(next_at);
CREATE TABLE IF NOT EXISTS deadletters (
    deadletter_id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    function TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


class PermanentDeliveryError(Exception):
    """Retrying cannot help (malformed event, unknown function): dead-letter at once."""


@dataclass(frozen=True)
class Delivery:
    """One queued event for one function."""

    delivery_id: int
    source: str
    function: str
    payload: str
    attempts: int


@dataclass(frozen=True)
class DeadLetter:
    """An event that a function could not take."""

    deadletter_id: int
    source: str
    function: str
    payload: str
    attempts: int
    error: str
    created_at: str


Invoker = Callable[[Delivery], Awaitable[None]]


class DeliveryQueue:
    """Persistent queue of events with exponential backoff and dead-lettering."""

    def __init__(
        self, db: Database, clock: Clock, *, max_attempts: int = 5, backoff_s: float = 1.0
    ) -> None:
        self.db = db
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        # Functions that declare their own retry policy (or, like a Cosmos DB trigger without
        # one, get no retry in Azure) are retried by that policy instead of the defaults.
        self.retry_policies: dict[str, RetryPolicy] = {}
        self.on_change: Callable[[], None] = lambda: None
        db.executescript(SCHEMA)

    def enqueue(self, conn: sqlite3.Connection, source: str, function: str, payload: Any) -> None:
        """Queue ``payload`` (JSON-able or JSON text) for ``function`` in the open transaction."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        conn.execute(
            "INSERT INTO deliveries (source, function, payload, next_at, created_at) "
            "VALUES (?,?,?,?,?)",
            (source, function, text, self.clock.now().timestamp(), format_time(self.clock.now())),
        )

    def due(self, limit: int = 50) -> list[Delivery]:
        """Deliveries whose time has come, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM deliveries WHERE next_at<=? ORDER BY delivery_id LIMIT ?",
                (self.clock.now().timestamp(), limit),
            ).fetchall()
        return [
            Delivery(r["delivery_id"], r["source"], r["function"], r["payload"], r["attempts"])
            for r in rows
        ]

    def attempts_for(self, function: str) -> int | None:
        """Calls a delivery to ``function`` gets before it is dead-lettered (None: forever)."""
        policy = self.retry_policies.get(function)
        return self.max_attempts if policy is None else policy.attempts

    def _delay_after(self, function: str, failed_attempts: int) -> float:
        policy = self.retry_policies.get(function)
        if policy is None:
            return float(self.backoff_s * 2.0 ** (failed_attempts - 1))
        return policy.delay_after(failed_attempts)

    def pending_count(self) -> int:
        """Rows still queued (due or backing off)."""
        with self.db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0])

    def next_due_at(self) -> float | None:
        """Epoch time of the next queued delivery."""
        with self.db.read() as conn:
            row = conn.execute("SELECT MIN(next_at) FROM deliveries").fetchone()
        return None if row[0] is None else float(row[0])

    async def deliver_due(self, invoke: Invoker, limit: int = 50) -> int:
        """Deliver what is due; returns how many deliveries were attempted."""
        items = self.due(limit)
        for item in items:
            await self._deliver(item, invoke)
        return len(items)

    async def _deliver(self, item: Delivery, invoke: Invoker) -> None:
        try:
            await invoke(item)
        except PermanentDeliveryError as err:
            log.error(  # noqa: TRY400 - the reason is the message; a traceback adds nothing
                "%s event %d for %s cannot be delivered: %s",
                item.source,
                item.delivery_id,
                item.function,
                err,
            )
            self._dead_letter(item, item.attempts + 1, str(err))
            return
        except Exception as err:  # the function raised: retry with backoff, then dead-letter
            attempts = item.attempts + 1
            message = f"{type(err).__name__}: {err}"
            limit = self.attempts_for(item.function)
            if limit is not None and attempts >= limit:
                log.exception(
                    "%s event %d for %s failed %d times, dead-lettered: %s",
                    item.source,
                    item.delivery_id,
                    item.function,
                    attempts,
                    message,
                )
                self._dead_letter(item, attempts, message)
                return
            delay = self._delay_after(item.function, attempts)
            log.warning(
                "%s event %d for %s failed (attempt %d), retry in %.0fs: %s",
                item.source,
                item.delivery_id,
                item.function,
                attempts,
                delay,
                message,
            )
            with self.db.transaction() as conn:
                conn.execute(
                    "UPDATE deliveries SET attempts=?, next_at=?, last_error=? WHERE delivery_id=?",
                    (attempts, self.clock.now().timestamp() + delay, message, item.delivery_id),
                )
            return
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM deliveries WHERE delivery_id=?", (item.delivery_id,))

    def _dead_letter(self, item: Delivery, attempts: int, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM deliveries WHERE delivery_id=?", (item.delivery_id,))
            conn.execute(
                "INSERT INTO deadletters (source, function, payload, attempts, error, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (
                    item.source,
                    item.function,
                    item.payload,
                    attempts,
                    error,
                    format_time(self.clock.now()),
                ),
            )

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest dead letters first."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM deadletters ORDER BY deadletter_id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [DeadLetter(**dict(r)) for r in rows]
