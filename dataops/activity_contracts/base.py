"""What an activity contract is: a name, an input model, an output model and a retry policy.

The orchestrator that calls an activity and the function that serves it use the same
:class:`ActivityContract`, so the name is written once and the input is checked on both
sides. Inputs cross the Durable boundary as the plain JSON objects they always were
(``model_dump``), so histories recorded before the contracts existed replay unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = [
    "IO_RETRY",
    "ActivityContract",
    "ActivityInput",
    "ActivityOutput",
    "RetryPolicy",
]


class ActivityInput(BaseModel):
    """Base of every activity input: a field the model does not know is an error, not lost."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActivityOutput(BaseModel):
    """Base of every activity output: declares what callers read; the rest passes through."""

    model_config = ConfigDict(extra="allow", frozen=True)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a retryable failure is tried again (terminal ones never are).

    The wait before attempt ``n + 1`` is ``first_delay_s * backoff ** (n - 1)`` capped at
    ``max_delay_s``; a ``Retry-After`` the service sent wins when it asks for longer.
    """

    max_attempts: int = 3
    first_delay_s: float = 2.0
    backoff: float = 2.0
    max_delay_s: float = 60.0

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        planned = min(self.first_delay_s * self.backoff ** max(attempt - 1, 0), self.max_delay_s)
        if retry_after_s is not None:
            return max(planned, retry_after_s)
        return planned


# Store, blob and batch calls: transient failures get three attempts in all.
IO_RETRY = RetryPolicy()

InputT = TypeVar("InputT", bound=ActivityInput)
OutputT = TypeVar("OutputT", bound=ActivityOutput)


@dataclass(frozen=True)
class ActivityContract(Generic[InputT, OutputT]):
    """One activity: the function name, what it takes, what it returns, how it is retried.

    ``cpu_bound`` marks the few activities that compute over a drive's data in Python (the
    steps' runs, clip writing, label import). The others wait on storage, the store or the
    batch service; devhost runs those in threads, as the Functions host runs every activity
    (docs/devhost.md, "Concurrency and latency").
    """

    name: str
    input: type[InputT]
    output: type[OutputT]
    retry: RetryPolicy = field(default=IO_RETRY)
    cpu_bound: bool = False

    def payload(self, args: InputT) -> dict[str, Any]:
        """The JSON object sent over the Durable boundary for ``args``."""
        return args.model_dump(mode="json")

    def parse_input(self, params: Any) -> InputT:
        """The typed input from what the Durable runtime delivered (unknown fields refused)."""
        return self.input.model_validate(params)

    def parse_output(self, result: Any) -> OutputT:
        """The typed output from the activity's JSON result."""
        return self.output.model_validate(result)
