"""How an activity tells its orchestrator whether a failure is worth retrying.

Durable Functions hands the orchestrator only a failed activity's message (``Reason`` and
``Details`` of the ``TaskFailed`` event), so the serving side puts a marker at the start of
the message: ``[avops-error terminal NotFoundError] datastream 'x' not found`` or
``[avops-error retryable RetryableError retry_after=30] ...``. The orchestrator's retry helper
parses it back. A failure without the marker (a worker that died, a host error) is retryable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FailureInfo", "format_failure", "parse_failure"]

_MARKER = re.compile(
    r"\[avops-error (?P<kind>terminal|retryable) (?P<cls>\w+)"
    r"(?: retry_after=(?P<after>\d+(?:\.\d+)?))?\] ?(?P<message>[^\n]*)"
)


@dataclass(frozen=True)
class FailureInfo:
    """A failed activity as the orchestrator sees it."""

    retryable: bool
    error_class: str
    message: str
    retry_after_s: float | None = None


def format_failure(info: FailureInfo) -> str:
    """The failure message, marker first, that the activity raises with."""
    kind = "retryable" if info.retryable else "terminal"
    after = f" retry_after={info.retry_after_s:.3f}" if info.retry_after_s is not None else ""
    return f"[avops-error {kind} {info.error_class}{after}] {info.message}"


def parse_failure(text: str) -> FailureInfo:
    """What a failed task's message says; without a marker, a retryable unknown failure."""
    found = _MARKER.search(text)
    if found is None:
        first = (text.strip() or "activity failed").splitlines()[0].strip()
        return FailureInfo(retryable=True, error_class="UnknownError", message=first)
    after = found.group("after")
    return FailureInfo(
        retryable=found.group("kind") == "retryable",
        error_class=found.group("cls"),
        message=found.group("message").strip() or found.group("cls"),
        retry_after_s=float(after) if after is not None else None,
    )
