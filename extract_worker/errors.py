"""The one exception family of the worker, mapped onto the documented exit codes.

Every reader translates its library's errors into :class:`BadInputError` (or a subclass)
and keeps the cause with ``raise ... from err``. The CLI maps the family onto exit codes:
0 ok, 2 bad input (the same input fails again: no retry), 3 retryable.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_RETRYABLE",
    "BadInputError",
    "ConfigError",
    "ExtractError",
    "LimitExceededError",
    "RetryableExtractError",
    "TaskTimeoutError",
    "TruncatedInputError",
    "UnknownTypeError",
    "UnsupportedFormatError",
]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_RETRYABLE = 3


class ExtractError(Exception):
    """Root of every error the worker raises on purpose."""

    exit_code: int = EXIT_RETRYABLE
    retryable: bool = True


class RetryableExtractError(ExtractError):
    """A transient failure (storage away, scratch disk full): a retry may succeed."""


class TaskTimeoutError(RetryableExtractError):
    """The task ran past its wall-clock limit.

    Retryable on purpose: slow NFS or a busy node are the usual causes; the orchestrator
    caps the retries, so a file that is slow on every node still ends as failed.
    """


class BadInputError(ExtractError):
    """The input breaks a rule; the message names the file and, where known, the offset."""

    exit_code = EXIT_BAD_INPUT
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.offset = offset
        self.field = field
        where = [part for part in (path, field) if part]
        if offset is not None:
            where.append(f"offset {offset}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class UnsupportedFormatError(BadInputError):
    """The file is none of the formats the worker reads."""


class TruncatedInputError(BadInputError):
    """The file ends before its structure says it should (truncated upload, crashed logger)."""


class UnknownTypeError(BadInputError):
    """A topic's message type has no definition: not in the recording, distro or msg folder."""

    def __init__(self, *, path: str, topic: str, msgtype: str, detail: str = "") -> None:
        self.topic = topic
        self.msgtype = msgtype
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"unknown message type {msgtype!r} on topic {topic!r}{extra}", path=path, field=topic
        )


class LimitExceededError(BadInputError):
    """Parsing needed more memory than the task's limit (e.g. a record claiming 4 GB)."""


class ConfigError(BadInputError):
    """The extraction config is invalid; rerunning with the same config fails again."""
