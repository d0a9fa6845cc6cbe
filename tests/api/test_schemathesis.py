"""schemathesis against the OpenAPI document: no 5xx, no answer that breaks the schema.

The requests go through a WSGI adapter over the app's real HTTP functions (function_host.py),
so the document, the wiring and the handlers are what is tested; the operations on
orchestrations (starters, run status) need a Durable host and are left to the devhost tests
(tests/e2e); the store is a seeded sqlite
store (a longer run on cosmos is in the slow suite). Every request carries the write key, which may
call every operation; the auth tests cover keys and roles.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import hypothesis
import pytest
import schemathesis
import urllib3
from azure.cosmos import CosmosClient
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from activities import runtime
from dataops.api import ROUTES
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.cosmos import CosmosStore
from dataops.store.cosmos_setup import open_containers
from dataops.store.sqlite import SqliteStore
from tests.api.conftest import WRITE_KEY, api_settings, seed
from tests.api.function_host import FunctionHost

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]

_HOST = FunctionHost()
RUN_OPERATIONS = sorted(op.operation_id for op in ROUTES if op.runs)
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", _HOST.wsgi).exclude(
    operation_id=RUN_OPERATIONS
)


@contextmanager
def _behind_runtime(store: MetadataStore, zones: BlobZones) -> Iterator[None]:
    seed(store)
    settings = api_settings()
    patch = pytest.MonkeyPatch()
    patch.setattr(runtime, "settings", lambda: settings)
    patch.setattr(runtime, "metadata_store", lambda: store)
    # Routes that read blobs (label imports, the explorer's labeling page) reach Azurite.
    patch.setattr(runtime, "blob_zones", lambda: zones)
    try:
        yield
    finally:
        patch.undo()
        store.close()


@pytest.fixture(scope="module")
def seeded_sqlite(
    tmp_path_factory: pytest.TempPathFactory, index_zones: BlobZones
) -> Iterator[None]:
    """A seeded sqlite store behind activities.runtime for the whole module."""
    store = SqliteStore(tmp_path_factory.mktemp("st") / "metadata.sqlite3")
    with _behind_runtime(store, index_zones):
        yield


@pytest.fixture(scope="module")
def seeded_cosmos(cosmos_client: CosmosClient, index_zones: BlobZones) -> Iterator[None]:
    """A seeded cosmos database behind activities.runtime for the whole module."""
    database = f"st-{uuid.uuid4().hex[:12]}"
    try:
        with _behind_runtime(CosmosStore(open_containers(cosmos_client, database)), index_zones):
            yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            cosmos_client.delete_database(database)


@schema.parametrize()
@hypothesis.settings(
    max_examples=int(os.environ.get("AVOPS_SCHEMATHESIS_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_conforms_to_its_document(case: schemathesis.Case, seeded_sqlite: None) -> None:
    del seeded_sqlite
    case.call_and_validate(headers={"x-functions-key": WRITE_KEY}, checks=CHECKS)


@pytest.mark.slow
@schema.parametrize()
@hypothesis.settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_conforms_on_cosmos_at_length(case: schemathesis.Case, seeded_cosmos: None) -> None:
    del seeded_cosmos
    case.call_and_validate(headers={"x-functions-key": WRITE_KEY}, checks=CHECKS)


def test_schemathesis_sees_every_operation_but_the_document_and_the_run_operations() -> None:
    # schemathesis leaves out the operation that serves the schema it loaded.
    labels = {result.ok().label for result in schema.get_all_operations()}
    expected = {
        f"{op.method} {op.path}" for op in ROUTES if op.route != "openapi.json" and not op.runs
    }
    assert labels == expected
    assert "GET /health" in labels
