"""The one mapping from Azure SDK and HTTP failures to the ``dataops`` error family.

Storage (``dataops.storage``), the Cosmos store (``dataops.store``) and Azure Batch
(``dataops.batch``) all translate through here, so a status means the same thing everywhere:
the class decides whether the orchestrators retry (``dataops.errors``), and a throttled
answer carries the wait the service asked for (``Retry-After``) on the ``RetryableError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import parsedate_to_datetime

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    IncompleteReadError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from dataops.errors import (
    AccessDeniedError,
    ConflictError,
    DataOpsError,
    EtagMismatchError,
    ImmutableBlobError,
    NotFoundError,
    RetryableError,
    TerminalError,
)

__all__ = [
    "RETRYABLE_STATUS",
    "error_class_for",
    "error_class_for_status",
    "map_azure_error",
    "retry_after_seconds",
    "translate_azure_errors",
]

# Throttling (429, Cosmos 449 "retry with"), timeouts (408) and server-side hiccups (5xx):
# the same request may well succeed later. Any other 5xx is treated the same way.
RETRYABLE_STATUS = frozenset({408, 429, 449, 500, 502, 503, 504})

# A 400 is a request the service could not take (often our bug, never a file and field the
# user can fix), so it stays a plain TerminalError, like any other 4xx not listed here.
_BY_STATUS: dict[int, type[DataOpsError]] = {
    401: AccessDeniedError,
    403: AccessDeniedError,
    404: NotFoundError,
    409: ConflictError,
    # SourceConditionNotMet (a copy whose source changed) is a 412 the SDK does not turn into
    # ResourceModifiedError, so the status decides.
    412: EtagMismatchError,
}

# Storage error codes that decide more than their status does (all four are 409s). WORM:
# a time-based retention policy or a legal hold on the blob or its container; retrying cannot
# help until the policy allows it (docs/erasure.md, "Immutable (WORM) archive").
_BY_CODE: dict[str, type[DataOpsError]] = {
    "BlobImmutableDueToPolicy": ImmutableBlobError,
    "BlobImmutableDueToLegalHold": ImmutableBlobError,
    "ContainerHasLegalHold": ImmutableBlobError,
    "ContainerImmutabilityPolicyLocked": ImmutableBlobError,
}

# Checked in order: the specific azure.core classes are HttpResponseErrors too, and a
# DecodeError (a body that does not parse) is one although retrying reads the same bytes.
_BY_CLASS: tuple[tuple[type[BaseException], type[DataOpsError]], ...] = (
    # A body cut off mid-way (the connection dropped) is a DecodeError too, but the next
    # read gets the whole body: retryable, unlike a body that arrived and does not parse.
    (IncompleteReadError, RetryableError),
    (DecodeError, TerminalError),
    (ResourceNotFoundError, NotFoundError),
    (ResourceModifiedError, EtagMismatchError),
    (ResourceExistsError, ConflictError),
    (ClientAuthenticationError, AccessDeniedError),
    # Connection refused or reset, DNS failures, connect and read timeouts.
    (ServiceRequestError, RetryableError),
    (ServiceResponseError, RetryableError),
    (ConnectionError, RetryableError),
    (TimeoutError, RetryableError),
)

_MAX_RETRY_AFTER_S = 3600.0


def error_class_for_status(status: int) -> type[DataOpsError]:
    """Our error class for an HTTP status of a failed call."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status in RETRYABLE_STATUS or status >= 500:
        return RetryableError
    return TerminalError


def error_class_for(err: BaseException) -> type[DataOpsError]:
    """Our error class for an azure.core error or a connection-level failure."""
    by_code = _BY_CODE.get(_error_code(err) or "")
    if by_code is not None:
        return by_code
    for known, ours in _BY_CLASS:
        if isinstance(err, known):
            return ours
    if isinstance(err, HttpResponseError):
        return error_class_for_status(err.status_code or 0)
    if isinstance(err, AzureError):
        # Neither an HTTP answer nor a known client-side fault (a stream cut mid-body...).
        return RetryableError
    return TerminalError


def _error_code(err: BaseException) -> str | None:
    """The service's error code: what the SDK parsed, else the ``x-ms-error-code`` header."""
    code = getattr(err, "error_code", None)
    if code:
        return str(getattr(code, "value", code))  # the storage SDK gives a (str, Enum)
    headers = getattr(getattr(err, "response", None), "headers", None)
    return None if headers is None else headers.get("x-ms-error-code")


def retry_after_seconds(err: BaseException) -> float | None:
    """The wait the service asked for: ``x-ms-retry-after-ms``, else ``Retry-After``."""
    headers = getattr(getattr(err, "response", None), "headers", None)
    if headers is None:
        return None
    millis = _number(headers.get("x-ms-retry-after-ms"))
    if millis is not None:
        return _bounded(millis / 1000)
    value = headers.get("Retry-After")
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return _bounded(seconds)
    # The HTTP-date form counts from the response's own Date, not from our clock.
    when, sent = _http_date(value), _http_date(headers.get("Date"))
    if when is None or sent is None:
        return None
    return _bounded((when - sent).total_seconds())


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _http_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def _bounded(seconds: float) -> float:
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def map_azure_error(err: BaseException, *, where: str) -> DataOpsError:
    """One azure.core (or connection) error as its ``dataops`` error; ``where`` names the target."""
    cls = error_class_for(err)
    status = getattr(err, "status_code", None)
    detail = getattr(err, "message", None) or str(err) or type(err).__name__
    text = f"{where}: {detail}" if status is None else f"{where}: HTTP {status}: {detail}"
    if issubclass(cls, RetryableError):
        return cls(text, retry_after=retry_after_seconds(err))
    return cls(text)


@contextmanager
def translate_azure_errors(where: str) -> Iterator[None]:
    """Re-raise any azure.core error in the block as its ``dataops`` error, keeping the cause."""
    try:
        yield
    except AzureError as err:
        raise map_azure_error(err, where=where) from err
