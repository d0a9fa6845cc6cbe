"""How an exit code of a task decides between done, failed for good, and retry.

The worker's contract (docs/extract-worker.md): 0 ok, 2 bad input, 3 retryable. Every other
code means the program did not get to decide: killed by the OOM killer or a signal (negative
codes locally, 128+N in a shell), an interpreter that could not start, a node problem. Those
are treated as retryable: a retry may land on a healthy node or a quieter moment, and the
task's ``max_retries`` still ends a task that fails the same way every time. Only 2 is proof
that the same input fails again.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EXIT_OK", "EXIT_RETRYABLE", "EXIT_TERMINAL", "Outcome", "classify", "describe"]

EXIT_OK = 0
EXIT_TERMINAL = 2
EXIT_RETRYABLE = 3


class Outcome(StrEnum):
    """What one attempt's exit code means."""

    SUCCEEDED = "succeeded"
    TERMINAL = "terminal"
    RETRYABLE = "retryable"


def classify(exit_code: int) -> Outcome:
    """0 succeeded, 2 terminal, anything else retryable (see module docstring)."""
    if exit_code == EXIT_OK:
        return Outcome.SUCCEEDED
    if exit_code == EXIT_TERMINAL:
        return Outcome.TERMINAL
    return Outcome.RETRYABLE


def describe(exit_code: int) -> str:
    """A short human reason for a failed attempt's exit code."""
    if exit_code == EXIT_TERMINAL:
        return "bad input (exit code 2): not retried"
    if exit_code == EXIT_RETRYABLE:
        return "retryable failure (exit code 3)"
    if exit_code < 0:
        return f"killed by signal {-exit_code}"
    if exit_code > 128:
        return f"exit code {exit_code} (signal {exit_code - 128}, as a shell reports it)"
    return f"unexpected exit code {exit_code}"
