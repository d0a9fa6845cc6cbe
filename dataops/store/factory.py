"""Pick and open the metadata store backend that the settings name."""

from __future__ import annotations

from dataops.settings import Settings, StoreBackend
from dataops.store.protocol import MetadataStore

__all__ = ["open_store"]


def open_store(settings: Settings) -> MetadataStore:
    """Open the configured store: ``sqlite`` (embedded default) or ``cosmos``.

    The cosmos backend is imported only when chosen, so the embedded setup never loads
    azure-cosmos.
    """
    if settings.store_backend is StoreBackend.COSMOS:
        from dataops.store.cosmos import CosmosStore

        return CosmosStore.from_settings(settings)
    from dataops.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path)
