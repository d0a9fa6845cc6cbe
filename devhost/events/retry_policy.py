"""A function's own retry policy (the app's ``retry`` decorator), applied as the host does.

In Azure, a Cosmos DB or timer trigger is retried only when the function declares a retry
policy; the host then calls it again up to ``max_retry_count`` times, and after the last failure
the Cosmos DB trigger's lease moves on regardless. Each call sees a retry context
(``retry_count`` starting at 0, ``max_retry_count``), so the function can tell its last attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devhost.errors import AppLoadError

__all__ = ["NO_RETRY", "RetryContext", "RetryPolicy"]

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")
STRATEGIES = ("fixed_delay", "exponential_backoff")


def _seconds(value: str | None, *, function: str, field: str) -> float:
    if value is None:
        return 0.0
    span = _TIMESPAN.match(str(value).strip())
    if span is None:
        raise AppLoadError(f"{function}: retry {field} {value!r} is not a TimeSpan (hh:mm:ss)")
    days, hours, minutes, seconds = (int(span[i] or 0) for i in range(1, 5))
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retry_count`` retries after the first call (-1: forever), with their delays."""

    strategy: str
    max_retry_count: int
    delay_s: float = 0.0
    minimum_s: float = 0.0
    maximum_s: float = 0.0

    @classmethod
    def from_setting(cls, setting: dict[str, Any], *, function: str) -> RetryPolicy:
        """The policy from the function's ``retry`` setting, checked like the host checks it."""
        strategy = str(setting.get("strategy", ""))
        if strategy not in STRATEGIES:
            raise AppLoadError(
                f"{function}: retry strategy {strategy!r} is not one of {STRATEGIES}"
            )
        try:
            count = int(setting.get("max_retry_count", ""))
        except ValueError as err:
            raise AppLoadError(f"{function}: retry max_retry_count is not an integer") from err
        if count < -1:
            raise AppLoadError(f"{function}: retry max_retry_count must be -1 or more")
        return cls(
            strategy=strategy,
            max_retry_count=count,
            delay_s=_seconds(setting.get("delay_interval"), function=function, field="delay"),
            minimum_s=_seconds(setting.get("minimum_interval"), function=function, field="min"),
            maximum_s=_seconds(setting.get("maximum_interval"), function=function, field="max"),
        )

    @property
    def attempts(self) -> int | None:
        """Calls in all (the first plus the retries); None when retried forever."""
        return None if self.max_retry_count < 0 else self.max_retry_count + 1

    def delay_after(self, failed_attempts: int) -> float:
        """Seconds before the next call after ``failed_attempts`` failed calls (1 or more)."""
        if self.strategy == "fixed_delay":
            return self.delay_s
        grown = self.minimum_s * 2.0 ** max(0, failed_attempts - 1)
        return min(grown, self.maximum_s) if self.maximum_s else grown


@dataclass(frozen=True)
class RetryContext:
    """What ``context.retry_context`` gives the function, as the Python worker fills it."""

    retry_count: int
    max_retry_count: int
    exception: Any = None


# What a Cosmos DB trigger without a policy gets in Azure: one call, then the lease moves on.
NO_RETRY = RetryPolicy(strategy="fixed_delay", max_retry_count=0)
