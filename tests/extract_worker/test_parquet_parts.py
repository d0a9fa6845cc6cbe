"""The parted Parquet writer: parts in order, every row once, encodings applied."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from extract_worker.parquet_sink import PartedParquetWriter, float_split_encodings

if TYPE_CHECKING:
    from pathlib import Path


def test_parts_keep_order_and_rows(tmp_path: Path) -> None:
    writer = PartedParquetWriter(
        tmp_path / "data",
        part_bytes=20_000,
        compression="lz4",
        metadata={"stream": "s"},
        encodings=lambda schema: float_split_encodings(schema, delta=("time_ns",)),
        order_column="time_ns",
    )
    for i in range(50):
        times = np.arange(i * 1000, (i + 1) * 1000, dtype=np.int64)
        writer.write(pa.RecordBatch.from_pydict({"time_ns": times, "v": times * 0.5}))
    parts = writer.close()
    assert len(parts) > 5
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(len(parts))]
    assert sum(p.rows for p in parts) == 50_000
    assert parts[0].first == 0
    assert parts[-1].last == 49_999
    table = pq.read_table(tmp_path / "data")
    assert table.column("time_ns").to_pylist() == list(range(50_000))
    meta = pq.ParquetFile(tmp_path / "data" / parts[1].name)
    assert meta.schema_arrow.metadata[b"stream"] == b"s"
    encodings = meta.metadata.row_group(0).column(1).encodings
    assert "BYTE_STREAM_SPLIT" in encodings
