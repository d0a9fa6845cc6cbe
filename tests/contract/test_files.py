"""Contract: file records of a datastream (separate documents, upsert by path, pagination)."""

from __future__ import annotations

import pytest

from dataops.errors import InvalidInputError, NotFoundError
from dataops.models import FileRecord
from dataops.store import MAX_PAGE_SIZE, MetadataStore
from tests.contract.conftest import every_page, make_datastream, make_measurement, sha


def _record(path: str, size: int = 10, **meta: object) -> FileRecord:
    return FileRecord(path=path, format="parquet", size=size, sha256=sha(path), meta=dict(meta))


@pytest.fixture
def with_datastream(store: MetadataStore) -> MetadataStore:
    """A store with measurement ``m-1`` and its datastreams ``ds-1`` and ``ds-2``."""
    store.create_measurement(make_measurement("m-1"))
    store.create_datastream(make_datastream("ds-1", "m-1"))
    store.create_datastream(make_datastream("ds-2", "m-1"))
    return store


def _all_paths(store: MetadataStore, ds_id: str, limit: int) -> list[str]:
    files = every_page(
        lambda token: store.list_files(ds_id, limit=limit, continuation=token), limit
    )
    return [f.path for f in files]


def test_attach_counts_and_upserts_by_path(with_datastream: MetadataStore) -> None:
    store = with_datastream
    before = store.get_datastream("ds-1")
    files = [_record(f"camera/front/{i:03d}.parquet", topics=["/cam"]) for i in range(5)]
    assert store.attach_files("ds-1", files) == 5
    after = store.get_datastream("ds-1")
    assert after.file_count == 5
    assert after.etag != before.etag
    # Same paths again, one with new metadata, plus one new file: upsert, not duplicate.
    changed = [_record("camera/front/000.parquet", size=99, rows=7), _record("lidar/a.parquet")]
    assert store.attach_files("ds-1", changed) == 6
    assert store.get_datastream("ds-1").file_count == 6
    listed = {f.path: f for f in store.list_files("ds-1", limit=100).items}
    assert listed["camera/front/000.parquet"] == changed[0]
    assert listed["camera/front/001.parquet"] == files[1]
    # Files belong to their datastream only.
    assert store.list_files("ds-2").items == []
    assert store.get_datastream("ds-2").file_count == 0


def test_files_are_not_embedded_in_the_datastream(with_datastream: MetadataStore) -> None:
    store = with_datastream
    store.attach_files("ds-1", [_record(f"f{i}.parquet") for i in range(3)])
    dumped = store.get_datastream("ds-1").model_dump(mode="json")
    assert "f0.parquet" not in str(dumped)


def test_list_files_paginates_every_file_once(with_datastream: MetadataStore) -> None:
    store = with_datastream
    paths = sorted(f"topic_{i % 3}/{i:04d}.parquet" for i in range(23))
    store.attach_files("ds-1", [_record(p) for p in reversed(paths)])
    store.attach_files("ds-2", [_record("other.parquet")])
    for limit in (1, 5, 23, 100):
        assert _all_paths(store, "ds-1", limit) == paths


def test_files_continuation_is_bound_to_its_datastream(with_datastream: MetadataStore) -> None:
    store = with_datastream
    store.attach_files("ds-1", [_record(f"{i}.parquet") for i in range(3)])
    page = store.list_files("ds-1", limit=1)
    assert page.continuation
    with pytest.raises(InvalidInputError):
        store.list_files("ds-2", limit=1, continuation=page.continuation)
    with pytest.raises(InvalidInputError):
        store.list_files("ds-1", limit=1, continuation="garbled")
    with pytest.raises(InvalidInputError):
        store.list_files("ds-1", limit=0)


def test_attach_to_missing_datastream_is_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError):
        store.attach_files("nope", [_record("a.parquet")])


def test_page_size_is_capped_at_max_page_size(with_datastream: MetadataStore) -> None:
    store = with_datastream
    paths = [f"frames/{i:05d}.jpg" for i in range(MAX_PAGE_SIZE + 1)]
    assert store.attach_files("ds-1", [_record(p) for p in paths]) == MAX_PAGE_SIZE + 1
    page = store.list_files("ds-1", limit=MAX_PAGE_SIZE * 10)
    assert [f.path for f in page.items] == paths[:MAX_PAGE_SIZE]
    assert page.continuation is not None
    rest = store.list_files("ds-1", limit=MAX_PAGE_SIZE * 10, continuation=page.continuation)
    assert [f.path for f in rest.items] == paths[MAX_PAGE_SIZE:]
    assert rest.continuation is None
