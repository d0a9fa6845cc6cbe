"""Parquet output: one file written batch by batch, or a directory of parts written in parallel."""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "ParquetSink",
    "PartInfo",
    "PartedParquetWriter",
    "float_split_encodings",
    "schema_metadata",
]


def schema_metadata(values: dict[str, Any]) -> dict[bytes, bytes]:
    """Parquet key-value metadata: strings as is, everything else as JSON."""
    return {
        key.encode(): (value if isinstance(value, str) else json.dumps(value)).encode()
        for key, value in values.items()
    }


class ParquetSink:
    """Writes record batches to one Parquet file; ``rows`` counts what was written."""

    def __init__(
        self,
        path: Path,
        *,
        compression: str,
        metadata: dict[str, Any],
        use_dictionary: bool | list[str] = False,
        write_statistics: bool | list[str] = True,
        column_encoding: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        # "none" is the config's spelling; pyarrow spells it "NONE".
        self.compression = "NONE" if compression == "none" else compression
        self.metadata = schema_metadata(metadata)
        # Dictionary encoding is off by default: on float columns it made writes 4-8x
        # slower for no size gain (measured while tuning the writers).
        self.use_dictionary = use_dictionary
        self.write_statistics = write_statistics
        self.column_encoding = column_encoding
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one batch (its schema must match the first batch's)."""
        if self._writer is None:
            self._schema = batch.schema.with_metadata(
                {**(batch.schema.metadata or {}), **self.metadata}
            )
            self._writer = pq.ParquetWriter(
                self.path,
                self._schema,
                compression=self.compression,
                use_dictionary=self.use_dictionary,
                write_statistics=self.write_statistics,
                column_encoding=self.column_encoding,
            )
        assert self._schema is not None
        if batch.schema.metadata != self._schema.metadata:
            batch = batch.replace_schema_metadata(self._schema.metadata)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def write_table(self, table: pa.Table) -> None:
        """Append every batch of ``table``."""
        for batch in table.to_batches():
            self.write(batch)

    def close(self) -> bool:
        """Close the file; False if nothing was ever written (no file exists then)."""
        if self._writer is None:
            return False
        self._writer.close()
        self._writer = None
        return True


@dataclass(frozen=True)
class PartInfo:
    """One part file a :class:`PartedParquetWriter` wrote."""

    name: str
    rows: int
    first: Any
    last: Any


@dataclass(eq=False)
class PartedParquetWriter:
    """A Parquet dataset directory of ``part-NNNNN.parquet`` files, encoded on writer threads.

    Parquet encoding is the bottleneck of bulk extraction (~300 MB/s per core measured here)
    and pyarrow releases the GIL while it encodes, so whole parts are handed to a small pool
    while the caller reads on. At most ``writers`` parts are in flight and one is filling:
    memory stays at about ``(writers + 1) * part_bytes`` plus pyarrow's working copies.
    """

    directory: Path
    _: KW_ONLY
    part_bytes: int
    compression: str
    metadata: dict[str, Any]
    use_dictionary: bool | list[str] = False
    write_statistics: bool | list[str] = True
    encodings: Callable[[pa.Schema], dict[str, str]] | None = None
    order_column: str | None = None
    writers: int = 2
    inflight: deque[Future[PartInfo]] = field(default_factory=deque, init=False, repr=False)
    parts: list[PartInfo] = field(default_factory=list, init=False, repr=False)
    pending: list[pa.RecordBatch] = field(default_factory=list, init=False, repr=False)
    pending_bytes: int = field(default=0, init=False, repr=False)
    rows: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.writers, thread_name_prefix="parquet")

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer a batch; hand a full part to the writers."""
        self.pending.append(batch)
        self.pending_bytes += batch.nbytes
        self.rows += batch.num_rows
        if self.pending_bytes >= self.part_bytes:
            self._submit()

    def write_table(self, table: pa.Table) -> None:
        """Hand a whole table to the writers as one part (it may be chunked)."""
        self._submit()
        self.rows += table.num_rows
        self._submit_table(table)

    def _submit(self) -> None:
        if not self.pending:
            return
        self._submit_table(pa.Table.from_batches(self.pending))
        self.pending, self.pending_bytes = [], 0

    def _submit_table(self, table: pa.Table) -> None:
        index = len(self.parts) + len(self.inflight)
        while len(self.inflight) >= self.writers:
            self.parts.append(self.inflight.popleft().result())
        self.inflight.append(self.pool.submit(self._write_part, table, index))

    def _write_part(self, table: pa.Table, index: int) -> PartInfo:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{index:05d}.parquet"
        sink = ParquetSink(
            self.directory / name,
            compression=self.compression,
            metadata=self.metadata,
            use_dictionary=self.use_dictionary,
            write_statistics=self.write_statistics,
            column_encoding=self.encodings(table.schema) if self.encodings else None,
        )
        sink.write_table(table)
        sink.close()
        first = last = None
        if self.order_column is not None and table.num_rows:
            column = table.column(self.order_column)
            first, last = column[0].as_py(), column[-1].as_py()
        return PartInfo(name, table.num_rows, first, last)

    def close(self) -> list[PartInfo]:
        """Write the last part, wait for every writer and list the parts in order."""
        try:
            self._submit()
            while self.inflight:
                self.parts.append(self.inflight.popleft().result())
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        return sorted(self.parts, key=lambda p: p.name)

    def abort(self) -> None:
        """Stop without writing what is pending (the staging directory is removed anyway)."""
        self.pending = []
        self.pool.shutdown(wait=True, cancel_futures=True)


def float_split_encodings(schema: pa.Schema, *, delta: tuple[str, ...] = ()) -> dict[str, str]:
    """Byte-stream-split for float columns (faster and smaller than plain for sensor data),
    delta encoding for the named monotonic integer columns."""
    encodings = {f.name: "BYTE_STREAM_SPLIT" for f in schema if pa.types.is_floating(f.type)}
    encodings.update({name: "DELTA_BINARY_PACKED" for name in delta if name in schema.names})
    return encodings
