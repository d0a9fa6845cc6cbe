"""Storage-specific errors; azure.core errors are translated by :mod:`dataops.azure_errors`."""

from __future__ import annotations

from dataops.azure_errors import map_azure_error, translate_azure_errors
from dataops.errors import InvalidInputError, TerminalError

__all__ = [
    "BlobTooLargeError",
    "CopyVerificationError",
    "StorageConfigError",
    "map_azure_error",
    "translate_azure_errors",
]


class CopyVerificationError(TerminalError):
    """A server-side copy finished, but the copy does not match its source."""


class BlobTooLargeError(InvalidInputError):
    """A blob read into memory (a manifest, a small JSON) is bigger than the allowed cap."""


class StorageConfigError(TerminalError):
    """Storage settings are missing or contradictory (no URL for a zone, a bad container prefix)."""
