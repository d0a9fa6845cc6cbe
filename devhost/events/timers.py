"""Timer triggers on their NCRONTAB schedules (six fields, seconds first) or TimeSpan intervals."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from croniter import croniter

from devhost.db import Database
from devhost.durable.clock import Clock
from devhost.durable.history import format_time, parse_time
from devhost.errors import AppLoadError
from devhost.events.delivery import DeliveryQueue
from devhost.registry import FunctionSpec

__all__ = ["Schedule", "TimerScheduler"]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS timer_state (
    function TEXT PRIMARY KEY,
    next_due TEXT NOT NULL,
    last_fired TEXT
);
"""

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")
# How late a firing may be before the host calls it past due.
PAST_DUE_AFTER = timedelta(seconds=30)


class Schedule:
    """An NCRONTAB expression or a TimeSpan (``hh:mm:ss``)."""

    def __init__(self, expression: str, function: str) -> None:
        self.expression = expression.strip()
        span = _TIMESPAN.match(self.expression)
        self._interval: timedelta | None = None
        if span is not None:
            days = int(span[1] or 0)
            self._interval = timedelta(
                days=days, hours=int(span[2]), minutes=int(span[3]), seconds=int(span[4])
            )
            return
        fields = self.expression.split()
        if len(fields) != 6 or not croniter.is_valid(self.expression, second_at_beginning=True):
            raise AppLoadError(
                f"{function}: timer schedule {expression!r} is not a six-field NCRONTAB expression "
                "({second} {minute} {hour} {day} {month} {day-of-week}) or a TimeSpan"
            )

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after ``moment``."""
        if self._interval is not None:
            return moment + self._interval
        result: datetime = croniter(self.expression, moment, second_at_beginning=True).get_next(
            datetime
        )
        return result


class TimerScheduler:
    """Queues a delivery for each timer function when its schedule comes due (state in SQLite)."""

    def __init__(
        self, db: Database, queue: DeliveryQueue, functions: list[FunctionSpec], clock: Clock
    ) -> None:
        self.db = db
        self.queue = queue
        self.clock = clock
        self.schedules = {
            spec.name: (
                Schedule(str(spec.trigger.get("schedule")), spec.name),
                bool(spec.trigger.get("runOnStartup")),
            )
            for spec in functions
        }
        db.executescript(SCHEMA)

    def poll_once(self) -> int:
        """Fire what is due; returns the number of firings queued."""
        now = self.clock.now()
        fired = 0
        with self.db.transaction() as conn:
            for name, (schedule, on_startup) in self.schedules.items():
                row = conn.execute("SELECT * FROM timer_state WHERE function=?", (name,)).fetchone()
                if row is None:
                    due = now if on_startup else schedule.next_after(now)
                    conn.execute(
                        "INSERT INTO timer_state VALUES (?,?,NULL)", (name, format_time(due))
                    )
                    if not on_startup:
                        continue
                    last = None
                else:
                    due = parse_time(row["next_due"])
                    last = row["last_fired"]
                if now < due:
                    continue
                following = schedule.next_after(now)
                payload = {
                    "Schedule": {"AdjustForDST": True},
                    "ScheduleStatus": {
                        "Last": last or format_time(due),
                        "Next": format_time(following),
                        "LastUpdated": format_time(now),
                    },
                    "IsPastDue": now - due > PAST_DUE_AFTER,
                }
                self.queue.enqueue(conn, "timer", name, payload)
                conn.execute(
                    "UPDATE timer_state SET next_due=?, last_fired=? WHERE function=?",
                    (format_time(following), format_time(now), name),
                )
                log.info(
                    "timer %s fired (due %s), next %s",
                    name,
                    format_time(due),
                    format_time(following),
                )
                fired += 1
        if fired:
            self.queue.on_change()
        return fired
