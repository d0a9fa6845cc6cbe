"""Cosmos DB client, database and containers of the metadata store, and its error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError

from dataops.errors import (
    ConflictError,
    DataOpsError,
    EtagMismatchError,
    NotFoundError,
    RetryableError,
    TerminalError,
)

__all__ = [
    "CONTAINERS",
    "PARTITION_KEY_PATH",
    "StoreContainers",
    "cosmos_errors",
    "make_client",
    "open_containers",
]

PARTITION_KEY_PATH = "/measurement_id"
# Sort keys live under /idx (fixed-width time text, see query_rules.time_key); each ORDER BY on
# two fields needs a composite index on real Cosmos, and cosmosdb-server enforces the same.
_COMPOSITE: dict[str, list[list[dict[str, str]]]] = {
    "measurements": [
        [{"path": "/idx/start", "order": "descending"}, {"path": "/id", "order": "descending"}]
    ],
    "datastreams": [
        [{"path": "/idx/created", "order": "ascending"}, {"path": "/id", "order": "ascending"}]
    ],
    "files": [],
    "scenes": [
        [{"path": "/idx/start", "order": "ascending"}, {"path": "/id", "order": "ascending"}]
    ],
}
CONTAINERS = tuple(_COMPOSITE)
# The Functions Cosmos DB trigger keeps its leases here; it wants /id as partition key.
LEASES = "leases"
_RETRYABLE_STATUS = frozenset({408, 429, 449, 500, 503})


def _indexing_policy(name: str) -> dict[str, Any]:
    return {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": "/*"}],
        # File metadata (topics, counts, ...) is never filtered on; skip indexing it.
        "excludedPaths": [{"path": "/record/meta/*"}] if name == "files" else [],
        "compositeIndexes": _COMPOSITE[name],
    }


class StoreContainers:
    """The container proxies the store uses, by name."""

    def __init__(self, database: DatabaseProxy, containers: dict[str, ContainerProxy]) -> None:
        self.database = database
        self.measurements = containers["measurements"]
        self.datastreams = containers["datastreams"]
        self.files = containers["files"]
        self.scenes = containers["scenes"]


def make_client(endpoint: str, key: str | None, *, verify_tls: bool) -> CosmosClient:
    """Client with a key, or with the managed identity when no key is configured."""
    credential: Any = key
    if not key:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as err:
            raise TerminalError(
                "no cosmos_key configured and azure-identity is not installed"
            ) from err
        credential = DefaultAzureCredential()
    return CosmosClient(endpoint, credential=credential, connection_verify=verify_tls)


def open_containers(client: CosmosClient, database_name: str) -> StoreContainers:
    """Create the database and containers when missing (idempotent) and return them."""
    with cosmos_errors(f"cosmos database {database_name!r}"):
        database = client.create_database_if_not_exists(database_name)
        containers = {
            name: database.create_container_if_not_exists(
                name, PartitionKey(PARTITION_KEY_PATH), indexing_policy=_indexing_policy(name)
            )
            for name in CONTAINERS
        }
        database.create_container_if_not_exists(LEASES, PartitionKey("/id"))
    return StoreContainers(database, containers)


_BY_STATUS: dict[int, tuple[type[DataOpsError], str]] = {
    404: (NotFoundError, "not found"),
    409: (ConflictError, "already exists"),
    412: (EtagMismatchError, "changed since it was read"),
}


def translate(err: AzureError, what: str) -> DataOpsError:
    """The dataops error for an azure-cosmos failure on ``what`` (keeps retryable apart)."""
    if isinstance(err, CosmosHttpResponseError):
        status = err.status_code
        if status in _BY_STATUS:
            cls, text = _BY_STATUS[status]
            return cls(f"{what} {text}")
        kind = RetryableError if status in _RETRYABLE_STATUS else TerminalError
        return kind(f"cosmos answered {status} for {what}: {err.message}")
    if isinstance(err, ServiceRequestError | ServiceResponseError):
        return RetryableError(f"cosmos unreachable for {what}: {err}")
    return TerminalError(f"cosmos failed for {what}: {err}")


@contextmanager
def cosmos_errors(what: str) -> Iterator[None]:
    """Re-raise azure errors inside the block as dataops errors, keeping the cause."""
    try:
        yield
    except AzureError as err:
        raise translate(err, what) from err
