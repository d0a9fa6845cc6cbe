"""Storage errors and the one place where azure.core errors become ``dataops`` errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from dataops.errors import (
    ConflictError,
    DataOpsError,
    EtagMismatchError,
    InvalidInputError,
    NotFoundError,
    RetryableError,
    TerminalError,
)

__all__ = [
    "BlobTooLargeError",
    "CopyVerificationError",
    "StorageAccessError",
    "StorageConfigError",
    "map_azure_error",
    "translate_azure_errors",
]


class CopyVerificationError(TerminalError):
    """A server-side copy finished, but the copy does not match its source."""


class BlobTooLargeError(InvalidInputError):
    """A blob read into memory (a manifest, a small JSON) is bigger than the allowed cap."""


class StorageAccessError(TerminalError):
    """Storage refused the credentials or the identity lacks a role: fix configuration."""


class StorageConfigError(TerminalError):
    """Storage settings are missing or contradictory (no URL for a zone, a bad container prefix)."""


_BY_CLASS: tuple[tuple[type[AzureError], type[DataOpsError]], ...] = (
    (ResourceNotFoundError, NotFoundError),
    (ResourceModifiedError, EtagMismatchError),
    (ResourceExistsError, ConflictError),
    (ClientAuthenticationError, StorageAccessError),
    # Connection refused or reset, DNS failures, connect and read timeouts.
    (ServiceRequestError, RetryableError),
    (ServiceResponseError, RetryableError),
)
_BY_STATUS: dict[int, type[DataOpsError]] = {
    412: EtagMismatchError,
    403: StorageAccessError,
    # Throttling and server-side hiccups: the same request may well succeed later.
    408: RetryableError,
    429: RetryableError,
    500: RetryableError,
    502: RetryableError,
    503: RetryableError,
    504: RetryableError,
}


def _error_class(err: AzureError) -> type[DataOpsError]:
    # Order matters: the specific azure.core subclasses are all HttpResponseErrors too.
    for azure_class, ours in _BY_CLASS:
        if isinstance(err, azure_class):
            return ours
    if isinstance(err, HttpResponseError):
        # SourceConditionNotMet (a copy whose source changed) is not one of the codes the SDK
        # maps to ResourceModifiedError, so the status decides.
        return _BY_STATUS.get(err.status_code or 0, TerminalError)
    return TerminalError


def map_azure_error(err: AzureError, *, where: str) -> DataOpsError:
    """Translate one azure.core error into the ``dataops`` family; ``where`` names the blob."""
    return _error_class(err)(f"{where}: {err.message or type(err).__name__}")


@contextmanager
def translate_azure_errors(where: str) -> Iterator[None]:
    """Re-raise any azure.core error in the block as its ``dataops`` error, keeping the cause."""
    try:
        yield
    except AzureError as err:
        raise map_azure_error(err, where=where) from err
