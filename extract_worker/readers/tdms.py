"""TDMS through nptdms, streamed with ``TdmsFile.open`` and ``data_chunks`` (never ``read``).

An incomplete final segment (a logger that died mid-write) is a hard error at open: nptdms
would otherwise hand back the segment with its missing values, and a truncated file must be a
clear failure, never zero-filled output.
"""

from __future__ import annotations

import struct
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from extract_worker.errors import (
    BadInputError,
    ExtractError,
    LimitExceededError,
    TruncatedInputError,
)
from extract_worker.readers.base import StreamInfo, TableReader, ValidationReport

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from extract_worker.config import ExtractConfig

__all__ = ["TdmsReader"]

_PARSE_ERRORS = (ValueError, KeyError, IndexError, struct.error, EOFError, OSError, TypeError)
_WF_START = "wf_start_time"
_WF_INCREMENT = "wf_increment"


class TdmsReader(TableReader):
    """One TDMS file; its groups are the streams."""

    format = "tdms"

    def __init__(self, path: Path, config: ExtractConfig) -> None:
        super().__init__(path, config)
        self._file: Any = None

    def _fail(self, err: BaseException, what: str) -> ExtractError:
        if isinstance(err, ExtractError):
            return err
        if isinstance(err, MemoryError):
            return LimitExceededError(
                f"{what}: needs more memory than the limit", path=str(self.path)
            )
        return BadInputError(f"{what}: {type(err).__name__}: {err}", path=str(self.path))

    def open(self) -> None:
        """Read every segment's metadata (not the data) and refuse an incomplete last one."""
        from nptdms import TdmsFile

        try:
            self._file = TdmsFile.open(self.path)
            status = self._file.file_status
        except (*_PARSE_ERRORS, MemoryError) as err:
            raise self._fail(err, "TDMS segment metadata unreadable") from err
        if status.incomplete_final_segment:
            segments = self._file._reader._segments  # private: only for the offset
            offset = int(segments[-1].position) if segments else None
            short = {
                path: (s.expected_length, s.read_length)
                for path, s in (status.channel_statuses or {}).items()
                if s.read_length != s.expected_length
            }
            detail = "; ".join(f"{p}: {r} of {e} values" for p, (e, r) in sorted(short.items()))
            raise TruncatedInputError(
                "incomplete final segment (the writer did not finish)"
                + (f": {detail}" if detail else ""),
                path=str(self.path),
                offset=offset,
            )

    def close(self) -> None:
        """Close nptdms's file handle."""
        tdms, self._file = self._file, None
        if tdms is not None:
            with suppress(*_PARSE_ERRORS):
                tdms.close()

    def streams(self) -> list[StreamInfo]:
        """One entry per group: sample count, bytes and time range from waveform properties."""
        out = []
        for group in self._file.groups():
            channels = group.channels()
            count = max((len(c) for c in channels), default=0)
            starts, ends = [], []
            for channel in channels:
                bounds = _time_bounds(channel)
                if bounds:
                    starts.append(bounds[0])
                    ends.append(bounds[1])
            out.append(
                StreamInfo(
                    name=group.name,
                    msgtype="tdms/group",
                    count=count,
                    start_ns=min(starts) if starts else None,
                    end_ns=max(ends) if ends else None,
                    extra={
                        "bytes": sum(len(c) * _itemsize(c) for c in channels),
                        "channels": [c.name for c in channels],
                    },
                )
            )
        return out

    def time_range(self) -> tuple[int | None, int | None]:
        """Earliest and latest waveform time over all groups (None without waveform data)."""
        streams = self.streams()
        starts = [s.start_ns for s in streams if s.start_ns is not None]
        ends = [s.end_ns for s in streams if s.end_ns is not None]
        return (min(starts) if starts else None, max(ends) if ends else None)

    def group_metadata(self, group: str) -> dict[str, Any]:
        """File and group properties plus each channel's unit."""
        tdms_group = self._file[group]
        return {
            "tdms_group": group,
            "file_properties": _plain(self._file.properties),
            "group_properties": _plain(tdms_group.properties),
            "units": {
                c.name: str(c.properties.get("unit_string", "")) for c in tdms_group.channels()
            },
        }

    def batches(self, group: str) -> Iterator[pa.RecordBatch]:
        """The group's rows, one batch per data chunk."""
        for name, batch in self.all_batches():
            if name == group:
                yield batch

    def all_batches(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        """Every group's rows in one pass over the file, chunk by chunk."""
        timing = {(g.name, c.name): _timing(c) for g in self._file.groups() for c in g.channels()}
        units = {
            (g.name, c.name): str(c.properties.get("unit_string", ""))
            for g in self._file.groups()
            for c in g.channels()
        }
        try:
            for chunk in self._file.data_chunks():
                for group_chunk in chunk.groups():
                    batch = _group_batch(group_chunk, timing, units)
                    if batch is not None:
                        yield group_chunk.name, batch
        except (*_PARSE_ERRORS, MemoryError) as err:
            raise self._fail(err, "TDMS data unreadable") from err

    def validate(self) -> ValidationReport:
        """Read every data chunk once (the incomplete-segment check ran at open)."""
        report = ValidationReport(format=self.format)
        rows: dict[str, int] = {}
        for name, batch in self.all_batches():
            rows[name] = rows.get(name, 0) + batch.num_rows
        report.checks.append("final segment complete")
        report.checks.extend(f"{name}: {count} rows" for name, count in sorted(rows.items()))
        return report


def _group_batch(
    group_chunk: Any,
    timing: dict[tuple[str, str], tuple[int, float] | None],
    units: dict[tuple[str, str], str],
) -> pa.RecordBatch | None:
    """Columns of one group in one chunk; time from the first channel with waveform timing."""
    channel_chunks = group_chunk.channels()
    if not channel_chunks:
        return None
    arrays = [(c.name, c.offset, c[:]) for c in channel_chunks]
    rows = max(len(a) for _, _, a in arrays)
    if rows == 0:
        return None
    fields: list[pa.Field] = []
    columns: list[pa.Array] = []
    time_ns = None
    for name, offset, _ in arrays:
        wf = timing.get((group_chunk.name, name))
        if wf is not None:
            start, increment = wf
            index = np.arange(offset, offset + rows, dtype=np.int64)
            time_ns = start + np.round(index * increment * 1e9).astype(np.int64)
            break
    fields.append(pa.field("time_ns", pa.int64()))
    columns.append(pa.array(time_ns) if time_ns is not None else pa.nulls(rows, pa.int64()))
    for name, _, values in arrays:
        array = _to_arrow(values)
        if len(array) < rows:
            # Channels of one group may be shorter in a chunk: nulls, never zeros.
            array = pa.concat_arrays([array, pa.nulls(rows - len(array), array.type)])
        unit = units.get((group_chunk.name, name), "")
        fields.append(pa.field(name, array.type, metadata={"unit": unit} if unit else None))
        columns.append(array)
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def _to_arrow(values: Any) -> pa.Array:
    data = np.asarray(values)
    if data.dtype.kind == "M":
        return pa.array(data.astype("datetime64[ns]"))
    if data.dtype.kind in {"O", "U", "S"}:
        return pa.array([str(v) for v in data.tolist()], pa.string())
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("="))
    return pa.array(data)


def _timing(channel: Any) -> tuple[int, float] | None:
    """(start ns, increment s) of a waveform channel, None for others."""
    props = channel.properties
    start = props.get(_WF_START)
    increment = props.get(_WF_INCREMENT)
    if start is None or increment is None:
        return None
    start_ns = int(np.datetime64(start, "ns").astype(np.int64))
    return start_ns, float(increment)


def _time_bounds(channel: Any) -> tuple[int, int] | None:
    wf = _timing(channel)
    if wf is None or len(channel) == 0:
        return None
    start, increment = wf
    return start, start + round((len(channel) - 1) * increment * 1e9)


def _itemsize(channel: Any) -> int:
    dtype = getattr(channel, "dtype", None)
    return int(np.dtype(dtype).itemsize) if dtype is not None else 0


def _plain(properties: dict[str, Any]) -> dict[str, str]:
    """Properties as strings (timestamps and numpy scalars are not JSON)."""
    return {str(k): str(v) for k, v in properties.items()}
