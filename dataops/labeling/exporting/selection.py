"""Selection -> reference frames of the frame index, downsampled per measurement, capped.

Frame searches and scene types go through :class:`FrameSearch` page by page (time order), so
only the kept frames are held; explicit frame lists are looked up in each measurement's newest
COMPLETED frame index table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dataops.errors import InvalidInputError, NotFoundError
from dataops.frames.delta import download_delta_table
from dataops.frames.search import FrameQuery, FrameSearch
from dataops.labeling.exporting.request import Downsampling, FrameFilter, FrameRef, Selection
from dataops.models import Datastream, DatastreamState, DatastreamType
from dataops.paths import Zone
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.protocol import MAX_PAGE_SIZE

__all__ = ["FrameDownsampler", "SelectedFrame", "frames_index_of", "select_frames"]

_ROW_COLUMNS = ["vehicle_id", "measurement_id", "datastream_id", "frame", "time_ns", "paths"]


@dataclass(frozen=True)
class SelectedFrame:
    """One reference frame of the frame index with its sensor -> extracted path map."""

    vehicle_id: str
    measurement_id: str
    frames_datastream_id: str
    frame: int
    time_ns: int
    paths: dict[str, str]


@dataclass
class FrameDownsampler:
    """Keeps every n-th frame of each measurement, at least ``min_interval_ms`` apart.

    Frames of one measurement must come in time order; measurements may interleave.
    """

    rule: Downsampling
    _seen: dict[str, int] = field(default_factory=dict)
    _last_kept: dict[str, int] = field(default_factory=dict)

    def keep(self, measurement_id: str, time_ns: int) -> bool:
        """Whether this frame is kept (call once per candidate frame)."""
        position = self._seen.get(measurement_id, 0)
        self._seen[measurement_id] = position + 1
        if position % self.rule.every_nth:
            return False
        last = self._last_kept.get(measurement_id)
        if last is not None and time_ns - last < self.rule.min_interval_ms * 1_000_000:
            return False
        self._last_kept[measurement_id] = time_ns
        return True


def _paths(value: Any) -> dict[str, str]:
    # DuckDB gives MAP columns as a dict; pyarrow as a list of (key, value) pairs.
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    return {str(k): str(v) for k, v in value or [] if v is not None}


def _from_row(row: dict[str, Any]) -> SelectedFrame:
    return SelectedFrame(
        vehicle_id=str(row["vehicle_id"]),
        measurement_id=str(row["measurement_id"]),
        frames_datastream_id=str(row["datastream_id"]),
        frame=int(row["frame"]),
        time_ns=int(row["time_ns"]),
        paths=_paths(row["paths"]),
    )


def _searched(
    store: MetadataStore, search: FrameSearch, wanted: FrameFilter
) -> Iterator[SelectedFrame]:
    continuation: str | None = None
    while True:
        page = search.search(
            store,
            FrameQuery(
                vehicle_id=wanted.vehicle,
                object_class=wanted.object,
                scene_type=wanted.scene_type,
                time_from=wanted.time_from,
                time_to=wanted.time_to,
                limit=MAX_PAGE_SIZE,
                continuation=continuation,
            ),
        )
        yield from (_from_row(row) for row in page.items)
        continuation = page.continuation
        if continuation is None:
            return


def frames_index_of(store: MetadataStore, measurement_id: str) -> Datastream:
    """The newest COMPLETED SCENES datastream of a measurement that has a frame index."""
    done = [
        d
        for d in store.list_datastreams(measurement_id, DatastreamType.SCENES)
        if d.state is DatastreamState.COMPLETED and d.stats.get("frames_table")
    ]
    if not done:
        raise NotFoundError(f"measurement {measurement_id} has no frame index (no SCENES)")
    return max(done, key=lambda d: (d.created_at, d.id))


def _listed(
    zones: BlobZones, store: MetadataStore, refs: list[FrameRef], cache_dir: Path
) -> Iterator[SelectedFrame]:
    by_measurement: dict[str, dict[int, int]] = {}
    for position, ref in enumerate(refs):
        by_measurement.setdefault(ref.measurement_id, {})[ref.time_ns] = position
    for measurement_id in sorted(by_measurement):
        wanted = by_measurement[measurement_id]
        try:
            frames_ds = frames_index_of(store, measurement_id)
        except NotFoundError as err:
            first = min(wanted.values())
            raise InvalidInputError(str(err), field=f"selection.frames[{first}]") from err
        cache_dir.mkdir(parents=True, exist_ok=True)
        table = download_delta_table(
            zones, Zone.CURATED, str(frames_ds.stats["frames_table"]), cache_dir
        ).to_pyarrow_table(columns=_ROW_COLUMNS)
        table = table.filter(pc.is_in(table.column("time_ns"), value_set=_int64(wanted)))
        table = table.sort_by("time_ns")
        rows = table.to_pylist()
        missing = set(wanted) - {int(row["time_ns"]) for row in rows}
        if missing:
            position = min(wanted[t] for t in missing)
            raise InvalidInputError(
                f"measurement {measurement_id} has no reference frame at time_ns "
                f"{refs[position].time_ns}",
                field=f"selection.frames[{position}]",
            )
        yield from (_from_row(row) for row in rows)


def _int64(values: Iterable[int]) -> pa.Array:
    return pa.array(sorted(values), pa.int64())


def select_frames(
    zones: BlobZones,
    store: MetadataStore,
    search: FrameSearch,
    selection: Selection,
    downsampling: Downsampling,
    *,
    max_frames: int,
    cache_dir: Path,
) -> list[SelectedFrame]:
    """The kept frames in (measurement, time) order; InvalidInputError above ``max_frames``."""
    wanted = selection.as_filter()
    candidates: Iterator[SelectedFrame]
    if wanted is not None:
        candidates = _searched(store, search, wanted)
    else:
        assert isinstance(selection.frames, list)
        candidates = _listed(zones, store, selection.frames, cache_dir)
    sampler = FrameDownsampler(downsampling)
    kept: list[SelectedFrame] = []
    for frame in candidates:
        if not sampler.keep(frame.measurement_id, frame.time_ns):
            continue
        kept.append(frame)
        if len(kept) > max_frames:
            raise InvalidInputError(
                f"the selection has more than {max_frames} frames after downsampling: "
                "narrow it or downsample more",
                field="selection",
            )
    kept.sort(key=lambda f: (f.measurement_id, f.time_ns))
    return kept
