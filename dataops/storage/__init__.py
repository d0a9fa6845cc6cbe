"""Blob storage zones: Azurite locally, one storage account per zone in Azure.

:class:`BlobZones` is the API; :mod:`dataops.storage.zones` decides which container serves
which zone; :mod:`dataops.azure_errors` translates azure.core errors (re-exported here).
"""

from __future__ import annotations

from dataops.storage.blob_zones import BlobZones
from dataops.storage.errors import (
    BlobTooLargeError,
    CopyVerificationError,
    StorageConfigError,
    map_azure_error,
    translate_azure_errors,
)
from dataops.storage.models import (
    SHA256_METADATA_KEY,
    BlobDigest,
    BlobInfo,
    CopyResult,
    MoveResult,
    ProgressCallback,
    SmallBlob,
    UploadResult,
)
from dataops.storage.zones import (
    DEFAULT_CHUNK_SIZE,
    AccountUrlZones,
    ConnectionStringZones,
    ZoneClients,
    container_name,
    zone_clients_from_settings,
)

__all__ = [
    "BlobZones",
    "ZoneClients",
    "ConnectionStringZones",
    "AccountUrlZones",
    "zone_clients_from_settings",
    "container_name",
    "DEFAULT_CHUNK_SIZE",
    "SHA256_METADATA_KEY",
    "BlobDigest",
    "BlobInfo",
    "CopyResult",
    "MoveResult",
    "ProgressCallback",
    "SmallBlob",
    "UploadResult",
    "BlobTooLargeError",
    "CopyVerificationError",
    "StorageConfigError",
    "map_azure_error",
    "translate_azure_errors",
]
