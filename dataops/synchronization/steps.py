"""The work of the ``synchronize`` orchestration's activities: prepare, run, fail.

Idempotent like every activity: the SYNCHRONIZED datastream id comes from the orchestrator,
the Parquet output is deterministic and overwritten whole, the file record is upserted by path
and state changes are only made from the state they leave.

Memory stays bounded by the largest single extracted table read (``max_file_bytes``), and only
its needed columns are decoded: time, the camera frame path, and the signal columns the config
names. Each non-reference sensor is loaded, matched and dropped before the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataops.derived import OneSourceStep, StepOutput, StepRunner, summary, write_parquet
from dataops.errors import InvalidInputError
from dataops.models import Datastream, DatastreamType
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.synchronization.alignment import (
    FloatArray,
    Int64Array,
    interpolate,
    nearest_match,
    sort_timeline,
)
from dataops.synchronization.config import (
    DEFAULT_CONFIG_PATH,
    SynchronizationConfig,
    load_synchronization_config,
)

__all__ = [
    "OUTPUT_NAME",
    "SKIPPED_LOGGER_SYNCHRONIZED",
    "Sensor",
    "Timeline",
    "fail_synchronization",
    "load_timeline",
    "prepare_synchronization",
    "run_synchronization",
]

log = logging.getLogger("avops.synchronization")

OUTPUT_NAME = "synchronized.parquet"
SKIPPED_LOGGER_SYNCHRONIZED = "logger_synchronized"
SKIPPED_NO_CAMERA = "no_camera"
TIME_COLUMN = "time_ns"
CAN_KIND = "can"
CAN_DECODED = "decoded"
# Point clouds are one row per point: a frame is the first row of each distinct time.
_POINT_KINDS = frozenset({"lidar", "radar"})
_PAGE = 1000


@dataclass
class Sensor:
    """One extracted stream: ``<recording>/<kind>/<stream folder>`` and its table files."""

    name: str
    recording: str
    kind: str
    files: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    """A sensor's samples sorted by time: where each one is, and its signal columns."""

    times: Int64Array
    file_index: npt.NDArray[np.int32]
    rows: Int64Array
    files: list[str]
    frame_paths: pa.Array | None = None
    signals: dict[str, FloatArray] = field(default_factory=dict)

    def rate_hz(self) -> float:
        """Mean sample rate; 0 for fewer than two samples or no time span."""
        if self.times.size < 2 or self.times[-1] == self.times[0]:
            return 0.0
        return float((self.times.size - 1) / ((self.times[-1] - self.times[0]) / 1e9))


# ----------------------------------------------------------------------------- prepare / fail


SYNCHRONIZE = OneSourceStep(
    step="synchronize",
    source_type=DatastreamType.EXTRACTED,
    output_type=DatastreamType.SYNCHRONIZED,
)

prepare_synchronization = SYNCHRONIZE.prepare
"""SYNCHRONIZED datastream PROCESSING in the curated zone, source: the EXTRACTED one."""


fail_synchronization = SYNCHRONIZE.fail
"""SYNCHRONIZED datastream FAILED with ``reason`` (if it exists and is not final)."""


# ----------------------------------------------------------------------------- run


def _synchronize(
    zones: BlobZones, store: MetadataStore, datastream: Datastream, config_path: Path
) -> StepOutput:
    measurement = store.get_measurement(datastream.measurement_id)
    if measurement.logger_synchronized:
        return StepOutput({"skipped": SKIPPED_LOGGER_SYNCHRONIZED})
    config = load_synchronization_config(config_path)
    source = store.get_datastream(datastream.sources[0])
    sensors = _find_sensors(store, source, config)
    cameras = {
        s.name: load_timeline(zones, s, config, with_signals=False)
        for s in sensors
        if s.kind == "camera"
    }
    reference_name = _pick_reference(cameras, sensors, config)
    if reference_name is None:
        return StepOutput({"skipped": SKIPPED_NO_CAMERA})
    by_name = {s.name: s for s in sensors}
    reference_sensor = by_name[reference_name]
    reference = cameras.get(reference_name) or load_timeline(
        zones, reference_sensor, config, with_signals=False
    )
    times = reference.times
    columns: dict[str, pa.Array] = {
        "frame": pa.array(np.arange(times.size, dtype=np.int64)),
        TIME_COLUMN: pa.array(times),
        "reference.path": _paths_at(reference, np.arange(times.size, dtype=np.int64)),
        "reference.row": pa.array(reference.rows),
    }
    sensor_stats: dict[str, Any] = {}
    chosen: dict[str, tuple[tuple[int, bool, str], str, str, FloatArray]] = {}
    for sensor in sensors:
        if sensor.name == reference_name:
            continue
        timeline = cameras.get(sensor.name) or load_timeline(
            zones, sensor, config, with_signals=True
        )
        tolerance = config.tolerance_ns(sensor.name, sensor.kind)
        columns.update(_match_columns(sensor, timeline, times, tolerance, sensor_stats))
        _offer_signals(
            sensor,
            timeline,
            reference=times,
            reference_recording=reference_sensor.recording,
            config=config,
            chosen=chosen,
        )
        cameras.pop(sensor.name, None)  # done with it: bounded memory
    signal_stats: dict[str, Any] = {}
    for signal in config.signals:
        picked = chosen.get(signal.name)
        values = picked[3] if picked else np.full(times.size, np.nan)
        columns[signal.name] = pa.array(values, mask=np.isnan(values), type=pa.float64())
        signal_stats[signal.name] = (
            {"sensor": picked[1], "column": picked[2], "valid": int(np.sum(~np.isnan(values)))}
            if picked
            else None
        )
    table = pa.table(columns)
    table = table.replace_schema_metadata(
        {"avops.reference": reference_name, "avops.source": source.id}
    )
    path = join_path(datastream.path, OUTPUT_NAME)
    written = write_parquet(
        zones,
        path,
        table,
        meta={"kind": "synchronized", "rows": table.num_rows, "reference": reference_name},
    )
    stats = {
        "rows": table.num_rows,
        "reference": {
            "sensor": reference_name,
            "frames": int(times.size),
            "rate_hz": round(reference.rate_hz(), 3),
        },
        "sensors": sensor_stats,
        "signals": signal_stats,
        "path": path,
    }
    log.info(
        "synchronized %s to %s: %d frames, %d sensors",
        source.id,
        reference_name,
        table.num_rows,
        len(sensor_stats),
    )
    return StepOutput(stats, [written])


def _result(datastream: Datastream) -> dict[str, Any]:
    reference = datastream.stats.get("reference") or {}
    return {**summary(datastream, rows=0), "reference": reference.get("sensor")}


run_synchronization = StepRunner(SYNCHRONIZE, _synchronize, _result, DEFAULT_CONFIG_PATH)
"""Align every extracted sensor to the reference camera, write the Parquet, COMPLETED."""


# ----------------------------------------------------------------------------- sensors


def _find_sensors(
    store: MetadataStore, source: Datastream, config: SynchronizationConfig
) -> list[Sensor]:
    """Group the EXTRACTED file records by sensor folder; only the tables, sorted by name."""
    sensors: dict[str, Sensor] = {}
    continuation: str | None = None
    base = source.path.rstrip("/") + "/"
    while True:
        page = store.list_files(source.id, limit=_PAGE, continuation=continuation)
        for record in page.items:
            if not record.path.startswith(base) or not record.path.endswith(".parquet"):
                continue
            parts = record.path[len(base) :].split("/")
            if len(parts) < 4 or parts[1] not in config.kinds:
                continue
            recording, kind, stream = parts[0], parts[1], parts[2]
            # Cameras: the index only (frames in a parquet frame store are bytes, not times).
            if kind == "camera" and parts[3:] != ["index.parquet"]:
                continue
            name = f"{recording}/{kind}/{stream}"
            if kind == CAN_KIND:
                # Raw frames carry no signals; each DBC message decoded from the bus is a
                # sensor of its own (its signals share one time column).
                if len(parts) != 5 or parts[3] != CAN_DECODED:
                    continue
                name = f"{name}/{parts[4].removesuffix('.parquet')}"
            sensor = sensors.setdefault(name, Sensor(name, recording, kind))
            sensor.files.append(record.path)
        continuation = page.continuation
        if continuation is None:
            break
    for sensor in sensors.values():
        sensor.files.sort()
    return [sensors[name] for name in sorted(sensors)]


def _pick_reference(
    cameras: dict[str, Timeline], sensors: list[Sensor], config: SynchronizationConfig
) -> str | None:
    """The configured sensor, else the camera with the lowest rate (ties: by name)."""
    if config.reference is not None:
        names = [s.name for s in sensors if fnmatchcase(s.name, config.reference)]
        if not names:
            raise InvalidInputError(
                f"no extracted sensor matches the reference {config.reference!r}",
                field="reference",
            )
        return names[0]
    usable = [(t.rate_hz(), name) for name, t in cameras.items() if t.times.size >= 2]
    if not usable:
        return None
    return min(usable)[1]


def _signal_columns(sensor: Sensor, config: SynchronizationConfig) -> set[str]:
    return {
        source.column
        for signal in config.signals
        for source in signal.sources
        if fnmatchcase(sensor.name, source.sensor)
    }


def load_timeline(
    zones: BlobZones, sensor: Sensor, config: SynchronizationConfig, *, with_signals: bool
) -> Timeline:
    """Read only the needed columns of every table of one sensor, sorted by time."""
    wanted = _signal_columns(sensor, config) if with_signals else set()
    times: list[Int64Array] = []
    file_index: list[npt.NDArray[np.int32]] = []
    rows: list[Int64Array] = []
    frame_paths: list[pa.Array] = []
    signals: dict[str, list[FloatArray]] = {}
    present: set[str] = set()
    tables: list[pa.Table] = []
    for number, path in enumerate(sensor.files):
        blob = zones.read_bytes(Zone.EXTRACTED, path, max_bytes=config.max_file_bytes)
        parquet = pq.ParquetFile(pa.BufferReader(blob.data))
        names = set(parquet.schema_arrow.names)
        if TIME_COLUMN not in names:
            raise InvalidInputError(f"no {TIME_COLUMN} column", source=f"extracted/{path}")
        columns = [TIME_COLUMN]
        if sensor.kind == "camera":
            columns += [c for c in ("path", "part_row") if c in names]
        present = wanted & names if number == 0 else present & names
        columns += sorted(wanted & names)
        table = parquet.read(columns=columns)
        file_times = table.column(TIME_COLUMN).to_numpy().astype(np.int64)
        if bool(pc.any(pc.is_null(table.column(TIME_COLUMN))).as_py()):
            raise InvalidInputError(f"null {TIME_COLUMN}", source=f"extracted/{path}")
        file_rows = np.arange(file_times.size, dtype=np.int64)
        if sensor.kind == "camera" and "part_row" in names:
            # Parquet frame store: the frame is row ``part_row`` of the part named in ``path``;
            # one file per frame: no part_row (null), the index row is kept.
            part_row = pc.cast(table.column("part_row"), pa.int64()).combine_chunks()
            file_rows = np.asarray(
                pc.fill_null(part_row, pa.array(file_rows)).to_numpy(), dtype=np.int64
            )
        if sensor.kind in _POINT_KINDS:
            # One entry per frame: its first point row (np.unique keeps the first index).
            file_times, first = np.unique(file_times, return_index=True)
            file_rows = first.astype(np.int64)
            table = table.take(pa.array(first))
        times.append(file_times)
        rows.append(file_rows)
        file_index.append(np.full(file_times.size, number, dtype=np.int32))
        if sensor.kind == "camera" and "path" in names:
            frame_paths.append(table.column("path").combine_chunks().cast(pa.string()))
        tables.append(table)
    for path, table in zip(sensor.files, tables, strict=True):
        for column in sorted(present):
            try:
                values = pc.cast(table.column(column), pa.float64()).to_numpy()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise InvalidInputError(
                    f"signal column {column!r} is not numeric: {err}",
                    source=f"extracted/{path}",
                ) from err
            signals.setdefault(column, []).append(np.asarray(values, dtype=np.float64))
    del tables
    all_times = np.concatenate(times) if times else np.zeros(0, np.int64)
    order = sort_timeline(all_times)
    paths_array: pa.Array | None = None
    if frame_paths and len(frame_paths) == len(sensor.files):
        # Frame paths are relative to <recording>/camera/; make them zone paths.
        camera_dir = sensor.files[0].rsplit("/", 2)[0]
        joined = pa.concat_arrays(frame_paths).take(pa.array(order))
        paths_array = pc.binary_join_element_wise(camera_dir, joined, "/")
    return Timeline(
        times=all_times[order],
        file_index=(np.concatenate(file_index) if file_index else np.zeros(0, np.int32))[order],
        rows=(np.concatenate(rows) if rows else np.zeros(0, np.int64))[order],
        files=list(sensor.files),
        frame_paths=paths_array,
        signals={name: np.concatenate(parts)[order] for name, parts in signals.items()},
    )


def _paths_at(timeline: Timeline, index: Int64Array) -> pa.Array:
    """Where each picked sample is: the frame file for cameras, else the table file."""
    matched = index >= 0
    safe = np.where(matched, index, 0)
    if timeline.frame_paths is not None:
        picked = timeline.frame_paths.take(pa.array(safe))
    else:
        files = pa.array(timeline.files, type=pa.string())
        picked = files.take(pa.array(timeline.file_index[safe] if index.size else safe))
    return pc.if_else(pa.array(matched), picked, pa.scalar(None, pa.string()))


def _match_columns(
    sensor: Sensor,
    timeline: Timeline,
    reference: Int64Array,
    tolerance_ns: int,
    stats: dict[str, Any],
) -> dict[str, pa.Array]:
    """Matched time, offset, path and row of one sensor per reference frame (null: none)."""
    match = nearest_match(reference, timeline.times, tolerance_ns)
    matched = match.matched
    missing = ~matched
    safe = np.where(matched, match.index, 0)
    has_samples = timeline.times.size > 0
    sample_times = timeline.times[safe] if has_samples else np.zeros(reference.size, np.int64)
    sample_rows = timeline.rows[safe] if has_samples else np.zeros(reference.size, np.int64)
    largest = match.max_abs_offset_ns()
    stats[sensor.name] = {
        "kind": sensor.kind,
        "samples": int(timeline.times.size),
        "matched": match.match_count,
        "unmatched": int(reference.size - match.match_count),
        "match_rate": round(match.match_count / reference.size, 4) if reference.size else 0.0,
        "max_abs_offset_ms": None if largest is None else round(largest / 1e6, 3),
        "tolerance_ms": tolerance_ns / 1e6,
    }
    name = sensor.name
    return {
        f"{name}.time_ns": pa.array(sample_times, mask=missing, type=pa.int64()),
        f"{name}.offset_ns": pa.array(match.offset_ns, mask=missing, type=pa.int64()),
        f"{name}.path": _paths_at(timeline, match.index)
        if has_samples
        else pa.nulls(reference.size, pa.string()),
        f"{name}.row": pa.array(sample_rows, mask=missing, type=pa.int64()),
    }


def _offer_signals(
    sensor: Sensor,
    timeline: Timeline,
    *,
    reference: Int64Array,
    reference_recording: str,
    config: SynchronizationConfig,
    chosen: dict[str, tuple[tuple[int, bool, str], str, str, FloatArray]],
) -> None:
    """Interpolate the signals this sensor can give, if it ranks above what was chosen.

    Rank: the earlier source in the config, then the reference's own recording, then name;
    so the result does not depend on the order sensors are visited in.
    """
    for signal in config.signals:
        for position, source in enumerate(signal.sources):
            if not fnmatchcase(sensor.name, source.sensor) or source.column not in timeline.signals:
                continue
            rank = (position, sensor.recording != reference_recording, sensor.name)
            current = chosen.get(signal.name)
            if current is None or rank < current[0]:
                values = interpolate(
                    reference,
                    timeline.times,
                    timeline.signals[source.column] * source.scale,
                    max_gap_ns=round(signal.max_gap_ms * 1e6),
                )
                chosen[signal.name] = (rank, sensor.name, source.column, values)
            break
