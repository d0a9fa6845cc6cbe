"""Encoded camera frames of the synchronized table's reference camera, streamed in frame order.

The synchronized Parquet names each reference frame's ``reference.path`` (a zone path in the
extracted zone) and ``reference.row``. Two frame stores (see extract_worker/extractors/camera.py):

- one file per frame (``.jpg`` / ``.png``): the path is the frame;
- the Parquet frame store (``frames/part-NNNNN.parquet`` with ``time_ns`` and ``data``): the frame
  is row ``reference.row`` of the part.

Memory: one frame file, or one part (bounded by ``max_bytes``) plus its row group being read.
Frames are in time order, so a part is read once per run of frames inside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataops.enrichment.providers import Int64Array
from dataops.errors import InvalidInputError
from dataops.paths import Zone
from dataops.storage import BlobZones

__all__ = ["DATA_COLUMN", "EncodedFrame", "iter_frames"]

DATA_COLUMN = "data"


@dataclass(frozen=True)
class EncodedFrame:
    """One frame: its row in the synchronized table, where it came from, its encoded bytes."""

    frame: int
    source: str
    data: bytes


class _Part:
    """One part of the Parquet frame store, decoding one row group at a time."""

    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        self.file = pq.ParquetFile(pa.BufferReader(data))
        if DATA_COLUMN not in self.file.schema_arrow.names:
            raise InvalidInputError(f"no '{DATA_COLUMN}' column in the frame store", source=source)
        counts = [self.file.metadata.row_group(g).num_rows for g in range(self.file.num_row_groups)]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.group = -1
        self.column: pa.Array | None = None

    def frame(self, row: int) -> bytes:
        if not 0 <= row < int(self.starts[-1]):
            raise InvalidInputError(
                f"row {row} is outside the frame store part", source=self.source
            )
        group = int(np.searchsorted(self.starts, row, side="right")) - 1
        if group != self.group:
            self.column = None  # drop the previous row group before reading the next
            table = self.file.read_row_group(group, columns=[DATA_COLUMN])
            self.column = table.column(0).combine_chunks()
            self.group = group
        assert self.column is not None
        value = self.column[row - int(self.starts[group])].as_py()
        if value is None:
            raise InvalidInputError(f"row {row} has no frame data", source=self.source)
        return bytes(value)


def iter_frames(
    zones: BlobZones,
    paths: Sequence[str | None],
    rows: Int64Array,
    picked: Int64Array,
    *,
    max_bytes: int,
) -> Iterator[EncodedFrame]:
    """The encoded frames of the ``picked`` synchronized rows that have a frame, in order."""
    part_path: str | None = None
    part: _Part | None = None
    for index in picked.tolist():
        path = paths[index]
        if path is None:
            continue
        source = f"{Zone.EXTRACTED.value}/{path}"
        if path.endswith(".parquet"):
            if path != part_path:
                part = None  # release the previous part first: one part in memory
                blob = zones.read_bytes(Zone.EXTRACTED, path, max_bytes=max_bytes)
                part, part_path = _Part(blob.data, source), path
            assert part is not None
            yield EncodedFrame(index, source, part.frame(int(rows[index])))
        else:
            blob = zones.read_bytes(Zone.EXTRACTED, path, max_bytes=max_bytes)
            yield EncodedFrame(index, source, blob.data)
