"""Contract: ``open_store`` picks the backend the settings name, and both satisfy the protocol."""

from __future__ import annotations

from dataops.models import MeasurementState
from dataops.settings import Settings, StoreBackend
from dataops.store import MetadataStore, open_store
from dataops.store.cosmos import CosmosStore
from dataops.store.sqlite import SqliteStore
from tests.contract.conftest import make_measurement


def test_open_store_picks_the_backend(settings: Settings) -> None:
    store = open_store(settings)
    try:
        expected = SqliteStore if settings.store_backend is StoreBackend.SQLITE else CosmosStore
        assert isinstance(store, expected)
        assert isinstance(store, MetadataStore)
        created = store.create_measurement(make_measurement("m-1"))
        assert store.get_measurement("m-1").etag == created.etag
    finally:
        store.close()


def test_reopened_store_keeps_its_data(settings: Settings) -> None:
    first = open_store(settings)
    try:
        created = first.create_measurement(make_measurement("m-1"))
        first.set_measurement_state("m-1", MeasurementState.INGESTED, expected_etag=created.etag)
    finally:
        first.close()
    second = open_store(settings)
    try:
        assert second.get_measurement("m-1").state is MeasurementState.INGESTED
    finally:
        second.close()
