"""``can``: CAN frames (MDF 4 bus logging, can_msgs/Frame) -> raw frames Parquet, plus one
Parquet per DBC message with its decoded signals when DBC files are configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from extract_worker.commit import OutputFile
from extract_worker.downsample import Downsampler
from extract_worker.errors import ConfigError
from extract_worker.extractors.message_task import run_message_task
from extract_worker.parquet_sink import ParquetSink
from extract_worker.readers.base import CanFrames, TableReader

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.extractors.context import TaskContext

__all__ = ["FRAME_SCHEMA", "CanSink", "extract_can", "load_dbc"]

FRAME_SCHEMA = pa.schema(
    [
        pa.field("time_ns", pa.int64()),
        pa.field("bus", pa.int32()),
        pa.field("arbitration_id", pa.uint32()),
        pa.field("is_extended", pa.bool_()),
        pa.field("dlc", pa.uint8()),
        pa.field("data", pa.binary()),
    ]
)
_BATCH = 65536


def load_dbc(paths: list[Path]) -> Any:
    """One cantools database from every configured DBC file (None if none are configured)."""
    if not paths:
        return None
    import cantools
    from cantools.database.errors import UnsupportedDatabaseFormatError

    database = cantools.database.Database()
    for path in paths:
        try:
            database.add_dbc_file(str(path))
        except (OSError, ValueError, UnsupportedDatabaseFormatError) as err:
            raise ConfigError(f"cannot load DBC: {err}", path=str(path)) from err
    return database


class CanSink:
    """Raw frames of one stream to ``frames.parquet``; decoded signals per DBC message."""

    def __init__(
        self,
        ctx: TaskContext,
        stream: str,
        database: Any,
        sampler: Downsampler,
        *,
        presampled: bool = False,
    ) -> None:
        self.ctx = ctx
        # True when the message loop applied the sampler already (ROS topics).
        self.presampled = presampled
        self.stream = stream
        self.database = database
        self.sampler = sampler
        self.directory = ctx.output.directory(stream)
        self.prefix = self.directory.relative_to(ctx.output.staging)
        rule = sampler.rule.model_dump() if sampler.rule else None
        self.frames = ParquetSink(
            self.directory / "frames.parquet",
            compression=ctx.config.parquet_compression,
            metadata={"stream": stream, "downsampling": rule},
        )
        self.messages: dict[int, Any] = {}
        self.decoded: dict[str, tuple[ParquetSink, dict[str, list[Any]]]] = {}
        self.unknown_ids: set[int] = set()
        # Frames no DBC knows stay in frames.parquet; they are counted, never dropped.
        self.unknown_frames = 0
        self.decoded_frames = 0
        self.decode_errors = 0
        self.first: int | None = None
        self.last: int | None = None

    def write(self, frames: CanFrames) -> None:
        """Write one batch of frames (downsampled per stream) and decode them."""
        if self.presampled:
            pass
        elif self.sampler.rule is not None:
            keep = np.fromiter((self.sampler.keep(int(t)) for t in frames.time_ns), bool)
            frames = CanFrames(
                time_ns=frames.time_ns[keep],
                bus=frames.bus[keep],
                arbitration_id=frames.arbitration_id[keep],
                is_extended=frames.is_extended[keep],
                dlc=frames.dlc[keep],
                data=[d for d, k in zip(frames.data, keep, strict=True) if k],
            )
        else:
            self.sampler.kept += len(frames.data)
        if not len(frames.data):
            return
        if self.first is None:
            self.first = int(frames.time_ns[0])
        self.last = int(frames.time_ns[-1])
        self.frames.write(
            pa.RecordBatch.from_arrays(
                [
                    pa.array(np.asarray(frames.time_ns, np.int64)),
                    pa.array(np.asarray(frames.bus, np.int32)),
                    pa.array(np.asarray(frames.arbitration_id, np.uint32)),
                    pa.array(np.asarray(frames.is_extended, bool)),
                    pa.array(np.asarray(frames.dlc, np.uint8)),
                    pa.array(frames.data, pa.binary()),
                ],
                schema=FRAME_SCHEMA,
            )
        )
        if self.database is not None:
            self._decode(frames)

    def _message(self, arbitration_id: int) -> Any:
        if arbitration_id not in self.messages:
            try:
                self.messages[arbitration_id] = self.database.get_message_by_frame_id(
                    arbitration_id
                )
            except KeyError:
                self.messages[arbitration_id] = None
        return self.messages[arbitration_id]

    def _decode(self, frames: CanFrames) -> None:
        for time_ns, bus, arbitration_id, data in zip(
            frames.time_ns.tolist(),
            frames.bus.tolist(),
            frames.arbitration_id.tolist(),
            frames.data,
            strict=True,
        ):
            message = self._message(arbitration_id)
            if message is None:
                self.unknown_ids.add(arbitration_id)
                self.unknown_frames += 1
                continue
            try:
                signals = message.decode(data, decode_choices=False, scaling=True)
            except (ValueError, KeyError, IndexError):  # cantools raises these on short data
                self.decode_errors += 1
                continue
            self.decoded_frames += 1
            _, rows = self._decoded_sink(message)
            rows["time_ns"].append(time_ns)
            rows["bus"].append(bus)
            for signal in message.signals:
                rows[signal.name].append(signals.get(signal.name))
            if len(rows["time_ns"]) >= _BATCH:
                self._flush(message.name)

    def _decoded_sink(self, message: Any) -> tuple[ParquetSink, dict[str, list[Any]]]:
        if message.name not in self.decoded:
            directory = self.directory / "decoded"
            directory.mkdir(exist_ok=True)
            sink = ParquetSink(
                directory / f"{message.name}.parquet",
                compression=self.ctx.config.parquet_compression,
                metadata={
                    "stream": self.stream,
                    "message": message.name,
                    "frame_id": message.frame_id,
                    "units": {s.name: s.unit or "" for s in message.signals},
                    "comments": {s.name: s.comment or "" for s in message.signals},
                },
            )
            rows: dict[str, list[Any]] = {"time_ns": [], "bus": []}
            rows.update({s.name: [] for s in message.signals})
            self.decoded[message.name] = (sink, rows)
        return self.decoded[message.name]

    def _flush(self, name: str) -> None:
        sink, rows = self.decoded[name]
        if not rows["time_ns"]:
            return
        columns = {
            "time_ns": pa.array(rows["time_ns"], pa.int64()),
            "bus": pa.array(rows["bus"], pa.int32()),
        }
        for key, values in rows.items():
            if key not in columns:
                columns[key] = pa.array(
                    [None if v is None else float(v) for v in values], pa.float64()
                )
        sink.write(pa.RecordBatch.from_pydict(columns))
        for values in rows.values():
            values.clear()

    def close(self) -> list[OutputFile]:
        """Finish every file and describe them."""
        out: list[OutputFile] = []
        if self.frames.close():
            out.append(
                OutputFile(
                    path=f"{self.prefix}/frames.parquet",
                    stream=self.stream,
                    sensor=self.ctx.kind,
                    rows=self.frames.rows,
                    start_ns=self.first,
                    end_ns=self.last,
                    downsampling=self.sampler.describe(),
                )
            )
        for name in sorted(self.decoded):
            self._flush(name)
            sink, _ = self.decoded[name]
            if sink.close():
                out.append(
                    OutputFile(
                        path=f"{self.prefix}/decoded/{name}.parquet",
                        stream=self.stream,
                        sensor=self.ctx.kind,
                        rows=sink.rows,
                        start_ns=self.first,
                        end_ns=self.last,
                    )
                )
        if self.database is not None:
            self.ctx.output.extra.setdefault("can_decoding", {})[self.stream] = {
                "unknown_ids": sorted(self.unknown_ids),
                "unknown_frames": self.unknown_frames,
                "decoded_frames": self.decoded_frames,
                "decode_errors": self.decode_errors,
            }
        return out


class RosCanHandler:
    """Collects can_msgs/Frame messages of one topic into CanFrames batches."""

    def __init__(self, ctx: TaskContext, topic: str, msgtype: str, sampler: Downsampler) -> None:
        database = load_dbc(ctx.config.dbc_files)
        self.sink = CanSink(ctx, topic, database, sampler, presampled=True)
        self.rows: list[tuple[int, int, bool, int, bytes]] = []
        self.times: list[int] = []

    def add(self, time_ns: int, message: Any) -> None:
        """Take one frame."""
        dlc = int(message.dlc)
        self.times.append(time_ns)
        self.rows.append(
            (int(message.id), dlc, bool(message.is_extended), 0, bytes(message.data[:dlc]))
        )
        if len(self.rows) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        ids, dlcs, extended, buses, data = zip(*self.rows, strict=True)
        self.sink.write(
            CanFrames(
                time_ns=np.asarray(self.times, np.int64),
                bus=np.asarray(buses, np.int32),
                arbitration_id=np.asarray(ids, np.uint32),
                is_extended=np.asarray(extended, bool),
                dlc=np.asarray(dlcs, np.uint8),
                data=list(data),
            )
        )
        self.rows, self.times = [], []

    def close(self) -> list[OutputFile]:
        """Write the rest and describe the files."""
        self._flush()
        return self.sink.close()


def extract_can(ctx: TaskContext) -> None:
    """CAN frames of MDF bus logging groups or of can_msgs/Frame topics."""
    reader = ctx.reader
    if isinstance(reader, TableReader):
        database = load_dbc(ctx.config.dbc_files)
        for stream in reader.streams():
            if stream.msgtype != "mdf/can_bus" or not ctx.requested(stream.name):
                continue
            sink = CanSink(
                ctx, stream.name, database, Downsampler(ctx.config.downsampling_for(stream.name))
            )
            for frames in reader.can_frames(stream.name):
                sink.write(frames)
            for item in sink.close():
                ctx.output.add(item)
        return
    run_message_task(ctx, RosCanHandler)
