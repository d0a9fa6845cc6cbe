"""The work of the ``enrich`` orchestration's activities: prepare, run, fail.

Idempotent like every activity: the ENRICHED datastream id comes from the orchestrator, the
Parquet output is deterministic and overwritten whole, the file record is upserted by path and
state changes are only made from the state they leave.

Input: the SYNCHRONIZED Parquet (one row per reference frame, read with only the needed
columns), the drive's context files in its RAW datastream (``weather.csv``,
``roads.geojson``) and, if a detector is configured, the reference camera's frames (streamed,
see onnx_detector.py). Output: ``enriched.parquet``, one row per reference frame keyed by the
same ``time_ns``, and the providers (name, version) in the datastream's stats. Nothing is written
before every provider has run, so a failing one leaves no partial output.
"""

from __future__ import annotations

import json
import logging
import posixpath
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataops.derived import OneSourceStep, StepOutput, StepRunner, summary, write_parquet
from dataops.enrichment import camera_frames, sun
from dataops.enrichment import objects as objects_mod
from dataops.enrichment import roads as roads_mod
from dataops.enrichment.config import (
    DEFAULT_CONFIG_PATH,
    EnrichmentConfig,
    load_enrichment_config,
)
from dataops.enrichment.providers import FloatArray, Int64Array, WeatherProvider, WeatherTable
from dataops.enrichment.weather_offline import OfflineWeather
from dataops.enrichment.weather_openmeteo import OpenMeteoWeather
from dataops.errors import InvalidInputError
from dataops.models import (
    Datastream,
    DatastreamState,
    DatastreamType,
)
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones
from dataops.store import MetadataStore

__all__ = [
    "OUTPUT_NAME",
    "SKIPPED_NO_FRAMES",
    "fail_enrichment",
    "prepare_enrichment",
    "run_enrichment",
]

log = logging.getLogger("avops.enrichment")

OUTPUT_NAME = "enriched.parquet"
SYNCHRONIZED_NAME = "synchronized.parquet"
SKIPPED_NO_FRAMES = "no_synchronized_frames"
TIME_COLUMN = "time_ns"
REFERENCE_PATH = "reference.path"
REFERENCE_ROW = "reference.row"
_PAGE = 1000
# The context files are small; anything bigger than this is not what the step expects.
_MAX_CONTEXT_BYTES = 64 * 1024 * 1024


# ----------------------------------------------------------------------------- prepare / fail


ENRICH = OneSourceStep(
    step="enrich", source_type=DatastreamType.SYNCHRONIZED, output_type=DatastreamType.ENRICHED
)

prepare_enrichment = ENRICH.prepare
"""ENRICHED datastream PROCESSING in the curated zone, source: the SYNCHRONIZED one."""


fail_enrichment = ENRICH.fail
"""ENRICHED datastream FAILED with ``reason`` (if it exists and is not final)."""


# ----------------------------------------------------------------------------- run


def run_enrichment(
    zones: BlobZones,
    store: MetadataStore,
    *,
    datastream_id: str,
    config_path: Path = DEFAULT_CONFIG_PATH,
    weather_provider: WeatherProvider | None = None,
) -> dict[str, Any]:
    """Per-frame weather, map context, sun and objects; write the Parquet, COMPLETED.

    ``weather_provider`` replaces the configured one (tests, notebooks).
    """
    work = partial(_enrich, weather_provider=weather_provider)
    run = StepRunner(ENRICH, work, _result, DEFAULT_CONFIG_PATH)
    return run(zones, store, datastream_id=datastream_id, config_path=config_path)


def _enrich(
    zones: BlobZones,
    store: MetadataStore,
    datastream: Datastream,
    config_path: Path,
    weather_provider: WeatherProvider | None = None,
) -> StepOutput:
    config = load_enrichment_config(config_path)
    source = store.get_datastream(datastream.sources[0])
    synchronized_path = _find_file(store, source, SYNCHRONIZED_NAME)
    if synchronized_path is None:
        # Synchronization skipped (logger-synchronized or no camera): there are no frames.
        return StepOutput({"rows": 0, "skipped": SKIPPED_NO_FRAMES})
    frames = _read_synchronized(zones, synchronized_path, config)
    times = np.asarray(frames.column(TIME_COLUMN).to_numpy(), dtype=np.int64)
    lat = _floats(frames, "latitude")
    lon = _floats(frames, "longitude")
    located = np.isfinite(lat) & np.isfinite(lon)
    context = _context_files(store, datastream.measurement_id, config)
    providers: dict[str, Any] = {}

    weather, providers["weather"] = _weather(
        zones, context, config, lat=lat, lon=lon, times=times, override=weather_provider
    )
    raining = np.where(
        np.isnan(weather.precipitation_mm),
        np.nan,
        weather.precipitation_mm >= config.weather.rain_threshold_mm,
    )

    road_class, speed_limit, country, road_distance, providers["map"] = _roads(
        zones, context, config, lat, lon
    )
    cells: list[str | None] = [
        h3.latlng_to_cell(float(la), float(lo), config.map.h3_resolution) if ok else None
        for la, lo, ok in zip(lat, lon, located, strict=True)
    ]
    providers["h3"] = {
        "name": "h3",
        "version": h3.__version__,
        "resolution": config.map.h3_resolution,
    }

    elevation = np.where(located, sun.sun_elevation_deg(lat, lon, times), np.nan)
    night = np.where(np.isnan(elevation), np.nan, elevation < config.night_sun_elevation_deg)
    providers["sun"] = {"name": sun.NAME, "version": sun.VERSION}

    found, objects_column, providers["objects"], detector_info = _objects(
        zones, frames, config, config_dir=config_path.parent
    )
    if detector_info is not None:
        providers["detector"] = detector_info

    columns: dict[str, pa.Array] = {
        "frame": frames.column("frame").combine_chunks()
        if "frame" in frames.column_names
        else pa.array(np.arange(times.size, dtype=np.int64)),
        TIME_COLUMN: pa.array(times),
        "lat": _nullable(lat),
        "lon": _nullable(lon),
        "h3_cell": pa.array(cells, type=pa.string()),
        "road_class": pa.array(road_class, type=pa.string()),
        "speed_limit_kph": _nullable(speed_limit),
        "country": pa.array(country, type=pa.string()),
        "road_distance_m": _nullable(road_distance),
        "sun_elevation_deg": _nullable(elevation),
        "is_night": _nullable_bool(night),
        "temperature_c": _nullable(weather.temperature_c),
        "precipitation_mm": _nullable(weather.precipitation_mm),
        "cloud_cover_pct": _nullable(weather.cloud_cover_pct),
        "weather_code": _nullable(weather.weather_code),
        "is_raining": _nullable_bool(raining),
        "object_count": found.count,
        "object_classes": found.classes,
        "objects": objects_column,
    }
    table = pa.table(columns).replace_schema_metadata(
        {"avops.source": source.id, "avops.providers": _json(providers)}
    )
    written = write_parquet(
        zones,
        join_path(datastream.path, OUTPUT_NAME),
        table,
        meta={"kind": "enriched", "rows": table.num_rows},
    )
    rows = int(times.size)
    stats = {
        "rows": rows,
        "providers": providers,
        "shares": {
            "position": _share(located, rows),
            "road_match": _share(np.asarray([c is not None for c in road_class]), rows),
            "rain": _share(raining == 1, rows),
            "night": _share(night == 1, rows),
            "objects": _share(np.asarray([(c or 0) > 0 for c in found.count.to_pylist()]), rows),
        },
    }
    return StepOutput(stats, [written])


def _result(datastream: Datastream) -> dict[str, Any]:
    return summary(datastream, rows=0)


# ----------------------------------------------------------------------------- inputs


def _find_file(store: MetadataStore, datastream: Datastream, name: str) -> str | None:
    """Zone path of the datastream's file called ``name`` (first in path order), if any."""
    continuation: str | None = None
    while True:
        page = store.list_files(datastream.id, limit=_PAGE, continuation=continuation)
        for record in page.items:
            if posixpath.basename(record.path) == name:
                return record.path
        continuation = page.continuation
        if continuation is None:
            return None


def _context_files(
    store: MetadataStore, measurement_id: str, config: EnrichmentConfig
) -> dict[str, tuple[Zone, str]]:
    """The weather table and road network of the measurement's RAW datastream(s), by name."""
    wanted = {config.weather.table_name, config.map.roads_name}
    found: dict[str, tuple[Zone, str]] = {}
    for raw in store.list_datastreams(measurement_id, DatastreamType.RAW):
        if raw.state is not DatastreamState.COMPLETED:
            continue
        for name in sorted(wanted - set(found)):
            path = _find_file(store, raw, name)
            if path is not None:
                found[name] = (raw.zone, path)
    return found


def _read_synchronized(zones: BlobZones, path: str, config: EnrichmentConfig) -> pa.Table:
    """Only the columns enrichment needs: frame, time, position and the objects' matches."""
    blob = zones.read_bytes(Zone.CURATED, path, max_bytes=config.max_file_bytes)
    parquet = pq.ParquetFile(pa.BufferReader(blob.data))
    names = parquet.schema_arrow.names
    if TIME_COLUMN not in names:
        raise InvalidInputError(f"no {TIME_COLUMN} column", source=f"curated/{path}")
    wanted = [c for c in ("frame", TIME_COLUMN, "latitude", "longitude") if c in names]
    if config.objects.detector is not None:
        # The detector runs on the reference camera's frames.
        wanted += [c for c in (REFERENCE_PATH, REFERENCE_ROW) if c in names]
    wanted += [
        f"{sensor}.{suffix}"
        for sensor in _object_sensors(names, config)
        for suffix in ("path", "row")
    ]
    return parquet.read(columns=wanted)


def _object_sensors(names: list[str], config: EnrichmentConfig) -> list[str]:
    """Sensors of the synchronized table whose name matches an objects glob, sorted."""
    sensors = {
        name.removesuffix(".path")
        for name in names
        if name.endswith(".path") and f"{name.removesuffix('.path')}.row" in names
    }
    return sorted(
        s for s in sensors if any(fnmatchcase(s, pattern) for pattern in config.objects.sensors)
    )


def _floats(table: pa.Table, name: str) -> FloatArray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    values = pc.cast(table.column(name), pa.float64()).to_numpy()
    return np.asarray(values, dtype=np.float64)


# ----------------------------------------------------------------------------- providers


def _weather(
    zones: BlobZones,
    context: dict[str, tuple[Zone, str]],
    config: EnrichmentConfig,
    *,
    lat: FloatArray,
    lon: FloatArray,
    times: Int64Array,
    override: WeatherProvider | None,
) -> tuple[WeatherTable, dict[str, Any]]:
    settings = config.weather
    provider: WeatherProvider | None = override
    owned: OpenMeteoWeather | None = None
    source: str | None = None
    if provider is None and settings.provider == "offline":
        located = context.get(settings.table_name)
        if located is None:
            reason = f"no {settings.table_name} in the RAW datastream"
            return WeatherTable.unknown(lat.size), {
                "name": OfflineWeather.name,
                "version": OfflineWeather.version,
                "reason": reason,
            }
        zone, path = located
        source = f"{zone.value}/{path}"
        provider = OfflineWeather(
            zones.read_bytes(zone, path, max_bytes=_MAX_CONTEXT_BYTES).data,
            source=source,
            max_distance_km=settings.max_distance_km,
            max_age_s=settings.max_age_s,
        )
    elif provider is None and settings.provider == "open-meteo":
        meteo = settings.open_meteo
        owned = provider = OpenMeteoWeather(
            archive_url=meteo.archive_url,
            forecast_url=meteo.forecast_url,
            archive_lag_days=meteo.archive_lag_days,
            grid_deg=meteo.grid_deg,
            timeout_s=meteo.timeout_s,
            cache_dir=Path(meteo.cache_dir) if meteo.cache_dir else None,
        )
    if provider is None:
        return WeatherTable.unknown(lat.size), {"name": None, "reason": "no provider configured"}
    try:
        table = provider.conditions(lat, lon, times)
    finally:
        if owned is not None:
            owned.close()
    info: dict[str, Any] = {"name": provider.name, "version": provider.version}
    if source is not None:
        info["source"] = source
    info["valid"] = int(np.sum(np.isfinite(table.precipitation_mm)))
    return table, info


def _roads(
    zones: BlobZones,
    context: dict[str, tuple[Zone, str]],
    config: EnrichmentConfig,
    lat: FloatArray,
    lon: FloatArray,
) -> tuple[list[str | None], FloatArray, list[str | None], FloatArray, dict[str, Any]]:
    settings = config.map
    info: dict[str, Any] = {"name": roads_mod.NAME, "version": roads_mod.VERSION}
    located = context.get(settings.roads_name)
    nothing = np.full(lat.size, np.nan)
    if located is None:
        info["reason"] = f"no {settings.roads_name} in the RAW datastream"
        return [None] * lat.size, nothing, [None] * lat.size, nothing.copy(), info
    zone, path = located
    network = roads_mod.RoadNetwork.from_geojson(
        zones.read_bytes(zone, path, max_bytes=_MAX_CONTEXT_BYTES).data,
        source=f"{zone.value}/{path}",
        cell_m=settings.grid_cell_m,
    )
    match = network.nearest(lat, lon, settings.max_distance_m)
    props = [network.properties[int(r)] if r >= 0 else None for r in match.road]
    info.update(
        source=f"{zone.value}/{path}",
        roads=len(network.properties),
        max_distance_m=settings.max_distance_m,
    )
    speed = np.array(
        [np.nan if p is None or p["maxspeed"] is None else p["maxspeed"] for p in props],
        dtype=np.float64,
    )
    return (
        [None if p is None else p["road_class"] for p in props],
        speed,
        [None if p is None else p["country"] for p in props],
        match.distance_m,
        info,
    )


def _objects(
    zones: BlobZones, frames: pa.Table, config: EnrichmentConfig, *, config_dir: Path
) -> tuple[objects_mod.FrameObjects, pa.Array, dict[str, Any], dict[str, Any] | None]:
    """Objects per frame from the first matching perception sensor (one source, so no double
    counts) and the configured detector, merged; with the providers' records."""
    detector = config.objects.detector
    info: dict[str, Any] = {"name": "perception-topics", "version": "1", "detector": None}
    perception = _perception(zones, frames, config, info)
    detected: list[list[objects_mod.DetectedObject] | None] = [None] * frames.num_rows
    detector_info: dict[str, Any] | None = None
    if detector is not None:
        # Lazy: onnxruntime and OpenCV load only when a detector is configured.
        from dataops.enrichment import onnx_detector

        info["detector"] = onnx_detector.NAME
        # Loaded and checked before any frame is read: a bad model fails fast.
        model = onnx_detector.load_detector(
            zones, detector, config_dir=config_dir, max_bytes=config.max_file_bytes
        )
        detector_info = model.info()
        if REFERENCE_PATH in frames.column_names and REFERENCE_ROW in frames.column_names:
            picked = np.arange(0, frames.num_rows, detector.frame_stride, dtype=np.int64)
            rows = np.asarray(
                pc.fill_null(frames.column(REFERENCE_ROW), -1).to_numpy(), dtype=np.int64
            )
            frame_stream = camera_frames.iter_frames(
                zones,
                frames.column(REFERENCE_PATH).to_pylist(),
                rows,
                picked,
                max_bytes=config.max_file_bytes,
            )
            detected = onnx_detector.detect_frames(model, frame_stream, frames.num_rows)
        else:
            detector_info["reason"] = "no reference camera frames in the synchronized table"
        detector_info["frames"] = sum(d is not None for d in detected)
        detector_info["objects"] = sum(len(d) for d in detected if d is not None)
    merged, column = objects_mod.merge_objects(perception, detected)
    return merged, column, info, detector_info


def _perception(
    zones: BlobZones, frames: pa.Table, config: EnrichmentConfig, info: dict[str, Any]
) -> list[list[objects_mod.DetectedObject] | None]:
    """Objects per frame of the matched perception message (None: none matched)."""
    sensors = _object_sensors(frames.column_names, config)
    if not sensors:
        info["reason"] = "no perception sensor in the synchronized table"
        return [None] * frames.num_rows
    sensor = sensors[0]
    info["sensor"] = sensor

    def read(path: str) -> pa.Array:
        blob = zones.read_bytes(Zone.EXTRACTED, path, max_bytes=config.max_file_bytes)
        parquet = pq.ParquetFile(pa.BufferReader(blob.data))
        if objects_mod.DETECTIONS_COLUMN not in parquet.schema_arrow.names:
            raise InvalidInputError(
                f"no '{objects_mod.DETECTIONS_COLUMN}' column", source=f"extracted/{path}"
            )
        column = parquet.read(columns=[objects_mod.DETECTIONS_COLUMN]).column(0)
        return column.combine_chunks()

    rows = pc.fill_null(frames.column(f"{sensor}.row"), -1).to_numpy()
    found = objects_mod.objects_per_frame(
        frames.column(f"{sensor}.path").to_pylist(), np.asarray(rows, dtype=np.int64), read
    )
    return found.per_frame


# ----------------------------------------------------------------------------- output


def _nullable(values: FloatArray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values), type=pa.float64())


def _nullable_bool(values: FloatArray) -> pa.Array:
    """0/1 with NaN for unknown -> bool with nulls."""
    return pa.array(values == 1, mask=np.isnan(values), type=pa.bool_())


def _share(flags: Any, rows: int) -> float:
    return round(float(np.sum(flags)) / rows, 4) if rows else 0.0


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
