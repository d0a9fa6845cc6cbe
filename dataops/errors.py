"""The one exception family of ``dataops``: every error is either retryable or terminal.

Activities raise these; the orchestrators decide from the class whether a retry can help.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AccessDeniedError",
    "ConflictError",
    "DataOpsError",
    "EtagMismatchError",
    "ImmutableBlobError",
    "InvalidInputError",
    "InvalidPathError",
    "InvalidTransitionError",
    "NotFoundError",
    "RetryableError",
    "TerminalError",
    "first_line",
    "invalid_input_from",
]


class DataOpsError(Exception):
    """Root of every error raised by ``dataops``."""

    retryable: bool = False


class RetryableError(DataOpsError):
    """A transient failure (throttling, timeouts, a service briefly away): retry may succeed.

    ``retry_after`` is the wait in seconds the service asked for (``Retry-After``), if any.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TerminalError(DataOpsError):
    """A failure that the same input will always hit again: do not retry."""


class InvalidInputError(TerminalError):
    """Input (a manifest, a path, an API query) broke a rule; the message names file and field."""

    def __init__(
        self, message: str, *, source: str | None = None, field: str | None = None
    ) -> None:
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


def invalid_input_from(
    err: ValidationError, *, source: str | None, within: str | None = None
) -> InvalidInputError:
    """The first error of a pydantic validation, naming ``source`` and the field's dotted path
    (below ``within``, e.g. ``files[3]``, when the validated data sits inside a larger one)."""
    first = err.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    field = f"{within}.{path}" if within and path else (within or path or None)
    return InvalidInputError(first["msg"], source=source, field=field)


class InvalidPathError(InvalidInputError):
    """A path segment taken from input is unsafe (traversal, absolute, control characters...)."""


class NotFoundError(TerminalError):
    """The document, blob or instance does not exist."""


class ConflictError(TerminalError):
    """The write contradicts what is stored (same id, different content)."""


class EtagMismatchError(ConflictError):
    """Optimistic concurrency: the document changed since it was read."""


class ImmutableBlobError(ConflictError):
    """A blob (or container) under a WORM policy or a legal hold: no one may delete it yet."""


class AccessDeniedError(TerminalError):
    """The service refused the credentials or the identity lacks a role: fix configuration."""


class InvalidTransitionError(TerminalError):
    """A datastream state change that the state machine does not allow."""


def first_line(err: BaseException, limit: int = 1000) -> str:
    """The first line of an error's message (its type name when it has none), cut at ``limit``.

    Failure reasons land in status documents and datastream records: one bounded line each.
    """
    return (str(err).strip() or type(err).__name__).splitlines()[0][:limit]
