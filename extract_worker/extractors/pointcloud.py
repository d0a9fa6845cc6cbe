"""``lidar`` and ``radar``: PointCloud2 -> Parquet with every field, frame index and time.

Output per topic: ``<kind>/<topic>/points/part-NNNNN.parquet``, a Parquet dataset of ~32 MB
parts. The parts are encoded by two writer threads (pyarrow releases the GIL) while the main
thread reads on: Parquet encoding is the bottleneck and a single writer tops out below the
400 MB/s per core this extractor is held to (docs/extract-worker.md, throughput table).

Points are cut out of the message buffer with one structured numpy view per frame (no
per-point Python), buffered up to a part (~32 MB) and copied once per field into it.
Floats are written with byte-stream-split and no dictionary: pyarrow's default dictionary
encoding on float columns was measured 4-8x slower.
Optionally one PCD file per frame (pypcd4) for viewers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from extract_worker.commit import OutputFile
from extract_worker.errors import BadInputError
from extract_worker.extractors.message_task import run_message_task
from extract_worker.extractors.wellknown import ros_shaped
from extract_worker.parquet_sink import PartedParquetWriter, float_split_encodings

if TYPE_CHECKING:
    from extract_worker.downsample import Downsampler
    from extract_worker.extractors.context import TaskContext

__all__ = ["PointCloudHandler", "extract_pointclouds", "point_dtype"]

# sensor_msgs/PointField datatype constants -> numpy type code
_POINTFIELD_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
# Bytes of points per part file: large enough for fast writes, small enough that two parts in
# flight plus one being filled stay far below the 512 MB budget.
_PART_BYTES = 32 << 20


def point_dtype(fields: Any, point_step: int, *, big_endian: bool) -> np.dtype[Any]:
    """The structured numpy dtype of one point (count > 1 fields become sub-arrays)."""
    order = ">" if big_endian else "<"
    names, formats, offsets = [], [], []
    for field in fields:
        code = _POINTFIELD_TYPES.get(int(field.datatype))
        if code is None:
            raise ValueError(f"field {field.name!r} has unknown datatype {field.datatype}")
        count = int(field.count) or 1
        names.append(str(field.name))
        formats.append((f"{order}{code}", (count,)) if count > 1 else f"{order}{code}")
        offsets.append(int(field.offset))
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step}
    )


class PointCloudHandler:
    """Writes one point cloud topic to ``<kind>/<topic>/points.parquet``."""

    def __init__(self, ctx: TaskContext, topic: str, msgtype: str, sampler: Downsampler) -> None:
        self.ctx = ctx
        self.topic = topic
        self.msgtype = msgtype
        self.adapt = ros_shaped(msgtype)
        self.sampler = sampler
        self.directory = ctx.output.directory(topic)
        self.prefix = self.directory.relative_to(ctx.output.staging)
        self.pcd = ctx.config.pcd_per_frame
        rule = sampler.rule
        self.writer = PartedParquetWriter(
            self.directory / "points",
            part_bytes=_PART_BYTES,
            compression=ctx.config.bulk_compression,
            metadata={
                "topic": topic,
                "msgtype": msgtype,
                "downsampling": rule.model_dump() if rule else None,
            },
            # frame and time_ns repeat per point: dictionary/RLE makes them nearly free.
            use_dictionary=["frame", "time_ns"],
            write_statistics=["frame", "time_ns"],
            encodings=float_split_encodings,
            order_column="time_ns",
        )
        self.frames_per_part: list[int] = []
        self.frames = 0
        # Zero-copy views of the buffered frames, their frame numbers, times and point counts.
        self.pending: list[np.ndarray[Any, Any]] = []
        self.pending_meta: list[tuple[int, int, int]] = []
        self.pending_bytes = 0
        self.dtype_key: tuple[Any, ...] | None = None
        self.dtype: np.dtype[Any] | None = None
        self.first: int | None = None
        self.last: int | None = None

    def add(self, time_ns: int, message: Any) -> None:
        """Take one frame: a structured view on its buffer, copied out at the next flush."""
        message = self.adapt(message)
        key = (
            tuple((f.name, f.offset, f.datatype, f.count) for f in message.fields),
            message.point_step,
            message.is_bigendian,
        )
        if key != self.dtype_key:
            self._flush()  # one file, one schema: a layout change starts a new row group
            try:
                self.dtype = point_dtype(
                    message.fields, int(message.point_step), big_endian=bool(message.is_bigendian)
                )
            except (ValueError, TypeError) as err:
                raise BadInputError(
                    f"frame at {time_ns} ns: bad point layout: {err}",
                    path=str(self.ctx.reader.path),
                    field=self.topic,
                ) from err
            self.dtype_key = key
        assert self.dtype is not None
        npoints = int(message.width) * int(message.height)
        data = message.data
        if npoints * int(message.point_step) > len(data):
            raise BadInputError(
                f"frame at {time_ns} ns claims {npoints} points of {message.point_step} bytes "
                f"but carries {len(data)} bytes",
                path=str(self.ctx.reader.path),
                field=self.topic,
            )
        points = np.frombuffer(data, self.dtype, npoints)
        if self.pcd:
            self._write_pcd(points, time_ns)
        if self.first is None:
            self.first = time_ns
        self.last = time_ns
        self.pending.append(points)
        self.pending_meta.append((self.frames, time_ns, npoints))
        self.frames += 1
        self.pending_bytes += npoints * int(message.point_step)
        if self.pending_bytes >= _PART_BYTES:
            self._flush()

    def _flush(self) -> None:
        """Copy the buffered frames into one batch per field and write one row group."""
        if not self.pending:
            return
        dtype = self.pending[0].dtype
        meta = np.asarray(self.pending_meta, np.int64)
        counts = meta[:, 2]
        columns: dict[str, pa.Array] = {
            "frame": pa.array(np.repeat(meta[:, 0].astype(np.int32), counts)),
            "time_ns": pa.array(np.repeat(meta[:, 1], counts)),
        }
        for name in dtype.names or ():
            # One copy per field, straight out of the strided views.
            values = np.concatenate([p[name] for p in self.pending])
            if values.dtype.byteorder == ">":
                values = values.astype(values.dtype.newbyteorder("="))
            if values.ndim > 1:
                flat = pa.array(values.reshape(-1))
                columns[name] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
            else:
                columns[name] = pa.array(values)
        self.writer.write(pa.RecordBatch.from_pydict(columns))
        self.pending, self.pending_meta, self.pending_bytes = [], [], 0

    def _write_pcd(self, points: np.ndarray[Any, Any], time_ns: int) -> None:
        from pypcd4.pypcd4 import PointCloud

        names = [n for n in points.dtype.names or () if points[n].ndim == 1]
        arrays = [points[n].astype(points[n].dtype.newbyteorder("=")) for n in names]
        cloud = PointCloud.from_points(arrays, names, [a.dtype.type for a in arrays])
        frames = self.directory / "pcd"
        frames.mkdir(exist_ok=True)
        cloud.save(frames / f"{self.frames:08d}_{time_ns}.pcd")

    def close(self) -> list[OutputFile]:
        """Write the last part, wait for the writers and describe the parts."""
        self._flush()
        return [
            OutputFile(
                path=f"{self.prefix}/points/{part.name}",
                stream=self.topic,
                sensor=self.ctx.kind,
                rows=part.rows,
                start_ns=part.first,
                end_ns=part.last,
                downsampling=self.sampler.describe(),
            )
            for part in self.writer.close()
        ]


def extract_pointclouds(ctx: TaskContext) -> None:
    """Run the point cloud handler over every lidar (or radar) topic."""
    run_message_task(ctx, PointCloudHandler)
