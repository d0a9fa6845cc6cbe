"""Cosmos DB client, database and containers of the metadata store; errors through
:mod:`dataops.azure_errors`."""

from __future__ import annotations

from typing import Any

from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey

from dataops.azure_errors import translate_azure_errors
from dataops.errors import TerminalError

__all__ = [
    "CONTAINERS",
    "PARTITION_KEY_PATH",
    "StoreContainers",
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
    with translate_azure_errors(f"cosmos database {database_name!r}"):
        database = client.create_database_if_not_exists(database_name)
        containers = {
            name: database.create_container_if_not_exists(
                name, PartitionKey(PARTITION_KEY_PATH), indexing_policy=_indexing_policy(name)
            )
            for name in CONTAINERS
        }
        database.create_container_if_not_exists(LEASES, PartitionKey("/id"))
    return StoreContainers(database, containers)
