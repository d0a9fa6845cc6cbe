"""``camera``: Image -> JPEG (or PNG), CompressedImage -> its bytes unchanged, plus an index.

Per topic: ``camera/<topic>/<frame>_<time ns>.<ext>`` and ``camera/<topic>/index.parquet``
(time, header stamp, frame_id, path, width, height, encoding). With ``frame_store: parquet``
the frames go into ``camera/<topic>/frames/part-NNNNN.parquet`` (time_ns, data) instead and
the index names part and row: one file create per frame is what limits passthrough on slow
or network file systems (measured ~1,500 creates/s here), not the bytes.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from PIL import Image, UnidentifiedImageError

from extract_worker.commit import OutputFile
from extract_worker.errors import BadInputError
from extract_worker.extractors.image_codec import UnsupportedEncodingError, to_pil
from extract_worker.extractors.message_task import run_message_task
from extract_worker.extractors.wellknown import COMPRESSED_IMAGE_TYPES, ros_shaped
from extract_worker.parquet_sink import ParquetSink, PartedParquetWriter

if TYPE_CHECKING:
    from extract_worker.downsample import Downsampler
    from extract_worker.extractors.context import TaskContext

__all__ = ["INDEX_SCHEMA", "CameraHandler", "extract_camera"]

INDEX_SCHEMA = pa.schema(
    [
        pa.field("time_ns", pa.int64()),
        pa.field("header_stamp_ns", pa.int64()),
        pa.field("frame_id", pa.string()),
        pa.field("path", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("encoding", pa.string()),
        pa.field("bytes", pa.int64()),
        pa.field("part_row", pa.int32()),
    ]
)
_FRAME_SCHEMA = pa.schema([pa.field("time_ns", pa.int64()), pa.field("data", pa.large_binary())])
# Bytes of a compressed frame that certainly hold its size (JPEG SOF, PNG IHDR).
_HEADER_BYTES = 64 << 10
# Frame bytes per part file in the parquet frame store.
_PART_BYTES = 64 << 20


class CameraHandler:
    """Writes one camera topic's frames and its index."""

    def __init__(self, ctx: TaskContext, topic: str, msgtype: str, sampler: Downsampler) -> None:
        self.ctx = ctx
        self.topic = topic
        self.sampler = sampler
        self.compressed = msgtype in COMPRESSED_IMAGE_TYPES
        self.adapt = ros_shaped(msgtype)
        self.directory = ctx.output.directory(topic)
        self.prefix = self.directory.relative_to(ctx.output.staging)
        self.fmt = ctx.config.image_format
        self.quality = ctx.config.jpeg_quality
        self.rows: dict[str, list[Any]] = {name: [] for name in INDEX_SCHEMA.names}
        self.count = 0
        self.in_parquet = ctx.config.frame_store == "parquet"
        self.part = 0
        self.part_times: list[int] = []
        self.part_data: list[Any] = []
        self.part_bytes = 0
        self.store: PartedParquetWriter | None = None
        self.frame_bytes = 0

    def add(self, time_ns: int, message: Any) -> None:
        """Write one frame file and add its index row."""
        message = self.adapt(message)
        stamp = message.header.stamp
        if self.compressed:
            # The decoded uint8 array itself: written out through the buffer protocol, never
            # copied into a bytes object.
            payload = message.data
            ext, width, height, encoding = _compressed_info(payload, str(message.format))
        else:
            encoding = str(message.encoding)
            try:
                image = to_pil(message, sixteen_bit=self.fmt == "png")
            except (UnsupportedEncodingError, ValueError) as err:
                raise BadInputError(
                    f"frame at {time_ns} ns: {err}",
                    path=str(self.ctx.reader.path),
                    field=self.topic,
                ) from err
            buffer = io.BytesIO()
            if self.fmt == "png":
                image.save(buffer, "PNG", compress_level=1)
                ext = "png"
            else:
                image.save(buffer, "JPEG", quality=self.quality)
                ext = "jpg"
            payload = buffer.getvalue()
            width, height = int(message.width), int(message.height)
        if self.in_parquet:
            name = f"frames/part-{self.part:05d}.parquet"
            if not isinstance(payload, np.ndarray):
                payload = np.frombuffer(payload, np.uint8)
            part_row: int | None = len(self.part_data)
            self.part_times.append(time_ns)
            self.part_data.append(payload)
            self.part_bytes += len(payload)
        else:
            name = f"{self.count:08d}_{time_ns}.{ext}"
            part_row = None
            (self.directory / name).write_bytes(payload)
        self.count += 1
        self.frame_bytes += len(payload)
        row = self.rows
        row["time_ns"].append(time_ns)
        row["header_stamp_ns"].append(int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec))
        row["frame_id"].append(str(message.header.frame_id))
        row["path"].append(f"{self.prefix}/{name}")
        row["width"].append(width)
        row["height"].append(height)
        row["encoding"].append(encoding)
        row["bytes"].append(len(payload))
        row["part_row"].append(part_row)
        if self.part_bytes >= _PART_BYTES:
            self._write_part()

    def _write_part(self) -> None:
        """Hand the buffered frames to the parquet frame store as one part."""
        if not self.part_data:
            return
        if self.store is None:
            # Frames are JPEG/PNG already: compressing or min/max-ing them only costs time.
            self.store = PartedParquetWriter(
                self.directory / "frames",
                part_bytes=0,
                compression="none",
                metadata={"topic": self.topic},
                write_statistics=["time_ns"],
            )
        # One single-value chunk per frame wrapping its buffer: pyarrow copies each frame once,
        # into the Parquet page, instead of first into one concatenated buffer.
        chunks = [
            pa.LargeBinaryArray.from_buffers(
                pa.large_binary(),
                1,
                [None, pa.py_buffer(np.array([0, len(frame)], np.int64)), pa.py_buffer(frame)],
            )
            for frame in self.part_data
        ]
        table = pa.table(
            [pa.chunked_array([pa.array(self.part_times, pa.int64())]), pa.chunked_array(chunks)],
            schema=_FRAME_SCHEMA,
        )
        self.store.write_table(table)
        self.part += 1
        self.part_times, self.part_data, self.part_bytes = [], [], 0

    def close(self) -> list[OutputFile]:
        """Write the index and describe the frames and the index."""
        if not self.count:
            return []
        self._write_part()
        if self.store is not None:
            self.store.close()
        sink = ParquetSink(
            self.directory / "index.parquet",
            compression=self.ctx.config.parquet_compression,
            metadata={
                "topic": self.topic,
                "image_format": "passthrough" if self.compressed else self.fmt,
                "jpeg_quality": self.quality,
                "frame_store": self.ctx.config.frame_store,
                "downsampling": self.sampler.describe(),
            },
        )
        sink.write_table(pa.table(self.rows, schema=INDEX_SCHEMA))
        sink.close()
        times = self.rows["time_ns"]
        index_bytes = (self.directory / "index.parquet").stat().st_size
        # One entry per topic: the index lists every frame file, bytes include the frames.
        return [
            OutputFile(
                path=f"{self.prefix}/index.parquet",
                stream=self.topic,
                sensor=self.ctx.kind,
                rows=self.count,
                bytes=index_bytes + self.frame_bytes,
                start_ns=times[0],
                end_ns=times[-1],
                downsampling=self.sampler.describe(),
            )
        ]


def _compressed_info(payload: Any, fmt: str) -> tuple[str, int | None, int | None, str]:
    """Extension, size and encoding of a compressed frame from its header (no decode)."""
    try:
        # The header sits in the first kilobytes; no need to copy the whole frame.
        with Image.open(io.BytesIO(memoryview(payload)[:_HEADER_BYTES])) as image:
            kind = (image.format or "").lower()
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        kind, width, height = "", None, None
    if not kind:
        kind = "png" if "png" in fmt.lower() else "jpeg" if "jpeg" in fmt.lower() else "bin"
    ext = {"jpeg": "jpg", "png": "png"}.get(kind, kind)
    return ext, width, height, fmt or kind


def extract_camera(ctx: TaskContext) -> None:
    """Run the camera handler over every camera topic."""
    run_message_task(ctx, CameraHandler)
