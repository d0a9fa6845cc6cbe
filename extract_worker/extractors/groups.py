"""MDF channel groups and TDMS groups -> one Parquet file per group (``structured`` task).

Output per group: ``structured/<group>/data/part-NNNNN.parquet`` (a Parquet dataset, parts
encoded on writer threads). Units and comments go into the schema metadata: per column as
field metadata, per group as schema metadata. CAN bus logging groups are left to the ``can``
task. Groups are written in one pass over the file (TDMS interleaves them chunk by chunk).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from extract_worker.commit import OutputFile
from extract_worker.downsample import Downsampler
from extract_worker.parquet_sink import PartedParquetWriter, float_split_encodings
from extract_worker.readers.base import TableReader

if TYPE_CHECKING:
    from extract_worker.extractors.context import TaskContext

__all__ = ["extract_groups"]

# Rows per part file: ~16 MB keeps two parts in flight well inside the TDMS memory budget.
_PART_BYTES = 16 << 20


def _encodings(schema: pa.Schema) -> dict[str, str]:
    return float_split_encodings(schema, delta=("time_ns",))


class _GroupOutput:
    def __init__(self, ctx: TaskContext, reader: TableReader, name: str) -> None:
        rule = ctx.config.downsampling_for(name)
        self.sampler = Downsampler(rule)
        directory = ctx.output.directory(name)
        self.prefix = str(directory.relative_to(ctx.output.staging) / "data")
        self.sink = PartedParquetWriter(
            directory / "data",
            part_bytes=_PART_BYTES,
            compression=ctx.config.bulk_compression,
            metadata={
                **reader.group_metadata(name),
                "stream": name,
                "downsampling": rule.model_dump() if rule else None,
            },
            write_statistics=["time_ns"],
            encodings=_encodings,
            order_column="time_ns",
        )

    def write(self, batch: pa.RecordBatch) -> None:
        kept = _downsample(batch, self.sampler)
        if kept.num_rows:
            self.sink.write(kept)


def extract_groups(ctx: TaskContext) -> None:
    """Write ``structured/<group>/data.parquet`` for every selected group."""
    reader = ctx.reader
    assert isinstance(reader, TableReader)
    wanted = {
        s.name for s in reader.streams() if s.msgtype != "mdf/can_bus" and ctx.requested(s.name)
    }
    outputs: dict[str, _GroupOutput] = {}
    try:
        for name, batch in reader.all_batches():
            if name not in wanted:
                continue
            if name not in outputs:
                outputs[name] = _GroupOutput(ctx, reader, name)
            outputs[name].write(batch)
    except BaseException:
        for out in outputs.values():
            out.sink.abort()
        raise
    for name in sorted(outputs):
        out = outputs[name]
        for part in out.sink.close():
            ctx.output.add(
                OutputFile(
                    path=f"{out.prefix}/{part.name}",
                    stream=name,
                    sensor=ctx.kind,
                    rows=part.rows,
                    start_ns=part.first,
                    end_ns=part.last,
                    downsampling=out.sampler.describe(),
                )
            )


def _downsample(batch: pa.RecordBatch, sampler: Downsampler) -> pa.RecordBatch:
    """Rows of ``batch`` the sampler keeps (column 0 is time_ns; rows without time stay)."""
    if sampler.rule is None:
        sampler.kept += batch.num_rows
        return batch
    mask = [t is None or sampler.keep(t) for t in batch.column(0).to_pylist()]
    return batch.filter(pa.array(mask))
