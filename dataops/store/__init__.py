"""Metadata store: one protocol, two backends (``sqlite`` embedded default, ``cosmos``)."""

from __future__ import annotations

from dataops.store.factory import open_store
from dataops.store.protocol import (
    MAX_LINEAGE_DEPTH,
    MAX_PAGE_SIZE,
    ChangeBatch,
    ChangeFeedContainer,
    LineageDirection,
    LineageEdge,
    LineageGraph,
    MeasurementQuery,
    MetadataStore,
    Page,
    SceneQuery,
)

__all__ = [
    "MAX_LINEAGE_DEPTH",
    "MAX_PAGE_SIZE",
    "ChangeBatch",
    "ChangeFeedContainer",
    "LineageDirection",
    "LineageEdge",
    "LineageGraph",
    "MeasurementQuery",
    "MetadataStore",
    "Page",
    "SceneQuery",
    "open_store",
]
