"""``structured``, ``gps`` and ``imu`` for messages: one Parquet file per topic, flattened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from extract_worker.commit import OutputFile
from extract_worker.extractors.message_task import run_message_task
from extract_worker.flatten import Flattener
from extract_worker.parquet_sink import ParquetSink
from extract_worker.readers.base import MessageReader

if TYPE_CHECKING:
    from extract_worker.downsample import Downsampler
    from extract_worker.extractors.context import TaskContext

__all__ = ["TableHandler", "extract_tables"]


class TableHandler:
    """Flattens one topic's messages into ``<kind>/<topic>/data.parquet``."""

    def __init__(self, ctx: TaskContext, topic: str, msgtype: str, sampler: Downsampler) -> None:
        reader = ctx.reader
        assert isinstance(reader, MessageReader)
        self.ctx = ctx
        self.topic = topic
        self.sampler = sampler
        self.flattener = Flattener(msgtype, reader.type_fields)
        directory = ctx.output.directory(topic)
        self.relpath = str(directory.relative_to(ctx.output.staging) / "data.parquet")
        self.sink = ParquetSink(
            directory / "data.parquet",
            compression=ctx.config.parquet_compression,
            metadata={
                "topic": topic,
                "msgtype": msgtype,
                "downsampling": sampler.rule.model_dump() if sampler.rule else None,
            },
        )
        self.batch_rows = ctx.config.row_group_rows
        self.first: int | None = None
        self.last: int | None = None

    def add(self, time_ns: int, message: Any) -> None:
        """Buffer one message; write a batch when the buffer is full."""
        if self.first is None:
            self.first = time_ns
        self.last = time_ns
        self.flattener.add(time_ns, message)
        if len(self.flattener) >= self.batch_rows:
            self.sink.write(self.flattener.flush())

    def close(self) -> list[OutputFile]:
        """Write the rest and describe the file."""
        if len(self.flattener):
            self.sink.write(self.flattener.flush())
        if not self.sink.close():
            return []
        return [
            OutputFile(
                path=self.relpath,
                stream=self.topic,
                sensor=self.ctx.kind,
                rows=self.sink.rows,
                start_ns=self.first,
                end_ns=self.last,
                downsampling=self.sampler.describe(),
            )
        ]


def extract_tables(ctx: TaskContext) -> None:
    """Run the table handler over every topic the task selects."""
    run_message_task(ctx, TableHandler)
