"""A measurement's file records: checked the same way by both backends, and old documents.

A measurement document holds ``file_count`` and ``total_bytes``; the manifest's files are file
records of their own, keyed by the measurement id. Documents written before that embed the list
under ``files``: :func:`split_embedded_files` turns one into the document as written now plus
the records the store moves out of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dataops.errors import InvalidInputError, invalid_input_from
from dataops.models import FileRecord, Measurement

if TYPE_CHECKING:
    from dataops.store.protocol import MetadataStore

__all__ = ["all_measurement_files", "checked_measurement_files", "split_embedded_files"]

# The page size :func:`all_measurement_files` reads with: the store's largest page.
_READ_PAGE = 1000


def checked_measurement_files(
    measurement: Measurement, files: Sequence[FileRecord]
) -> list[FileRecord]:
    """``files`` as records of ``measurement``: as many and as large as it says, paths unique."""
    source = f"measurement {measurement.id}"
    records = [FileRecord.model_validate(f.model_dump()) for f in files]
    if len(records) != measurement.file_count:
        raise InvalidInputError(
            f"says {measurement.file_count} files, {len(records)} were given",
            source=source,
            field="file_count",
        )
    total = sum(record.size for record in records)
    if total != measurement.total_bytes:
        raise InvalidInputError(
            f"says {measurement.total_bytes} bytes, the files add up to {total}",
            source=source,
            field="total_bytes",
        )
    seen: set[str] = set()
    for index, record in enumerate(records):
        if record.path in seen:
            raise InvalidInputError(
                f"path {record.path!r} is listed twice", source=source, field=f"files[{index}]"
            )
        seen.add(record.path)
    return records


def split_embedded_files(
    body: Mapping[str, Any], *, source: str
) -> tuple[dict[str, Any], list[FileRecord] | None]:
    """A stored measurement document as written now, and the files it embeds (None: none).

    An old document's ``files`` list becomes ``file_count`` and ``total_bytes``; the records
    are returned for the store to write as their own. InvalidInputError naming ``source`` and
    the field when the embedded list is malformed.
    """
    if "files" not in body:
        return dict(body), None
    document = {k: v for k, v in body.items() if k != "files"}
    embedded = body["files"]
    if not isinstance(embedded, list):
        raise InvalidInputError("must be a list of file records", source=source, field="files")
    records: list[FileRecord] = []
    for index, item in enumerate(embedded):
        try:
            records.append(FileRecord.model_validate(item))
        except ValidationError as err:
            raise invalid_input_from(err, source=source, within=f"files[{index}]") from err
    document["file_count"] = len(records)
    document["total_bytes"] = sum(record.size for record in records)
    return document, records


def all_measurement_files(store: MetadataStore, measurement_id: str) -> Iterator[FileRecord]:
    """Every file record of a measurement in path order, read a page at a time."""
    continuation: str | None = None
    while True:
        page = store.list_measurement_files(measurement_id, _READ_PAGE, continuation)
        yield from page.items
        if page.continuation is None:
            return
        continuation = page.continuation
