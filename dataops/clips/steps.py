"""The clip step: resolve the window, record the CLIP datastream, write and share the MCAP.

A clip of a scene (or of a measurement's time range) holds every message of the measurement's
recordings (its RAW datastream's files in the raw zone) inside the window widened by a margin.
Recordings are streamed to a temporary folder range by range and read there through their
indexes; the clip is written to a temporary file and streamed to the share zone, so memory
stays bounded whatever the recordings' size. See docs/clips.md.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Self
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataops.clips.bag_files import is_bag_sidecar, message_compression
from dataops.clips.writer import ClipSource, ClipWindow, write_clip
from dataops.errors import InvalidInputError, NotFoundError
from dataops.models import Datastream, DatastreamState, DatastreamType, FileRecord
from dataops.models.datastream import Producer
from dataops.paths import Zone, join_path
from dataops.sqlite_wal import checkpoint_wal
from dataops.storage import BlobZones
from dataops.storage.sas import blob_read_url
from dataops.store import MetadataStore
from dataops.store.transitions import advance_datastream

__all__ = [
    "CLIP_NAME",
    "CLIP_STEP",
    "ClipRequest",
    "clip_links",
    "fail_clip",
    "foxglove_url",
    "prepare_clip",
    "write_measurement_clip",
]

CLIP_STEP = "clip"
FILE_COMPRESSED_DB3 = ".db3.zstd"
CLIP_NAME = "clip.mcap"
CODE_VERSION = "1"
MAX_TOPICS = 256
_NS = 1_000_000_000


class ClipRequest(BaseModel):
    """Body of ``POST /scenes/{id}/clip`` and ``POST /measurements/{id}/clip``."""

    model_config = ConfigDict(extra="forbid")

    from_ns: Annotated[int, Field(ge=0)] | None = None
    to_ns: Annotated[int, Field(ge=0)] | None = None
    margin_s: Annotated[float, Field(ge=0.0, le=600.0)] | None = Field(
        default=None, description="Seconds added before and after; default AVOPS_CLIP_MARGIN_S."
    )
    topics: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=MAX_TOPICS)
    ] = Field(default_factory=list, description="Topics to keep; empty: every topic.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_ns is not None and self.to_ns is not None and self.to_ns < self.from_ns:
            raise ValueError("to_ns is before from_ns")
        return self


def _ns(value: datetime) -> int:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def _completed_raw(store: MetadataStore, measurement_id: str) -> Datastream:
    raws = [
        ds
        for ds in store.list_datastreams(measurement_id, DatastreamType.RAW)
        if ds.state == DatastreamState.COMPLETED
    ]
    if not raws:
        raise NotFoundError(f"measurement {measurement_id!r} has no COMPLETED RAW datastream")
    return raws[-1]


def prepare_clip(
    store: MetadataStore,
    request: ClipRequest,
    *,
    datastream_id: str,
    instance_id: str,
    default_margin_s: float,
    scene_id: str | None = None,
    measurement_id: str | None = None,
) -> Datastream:
    """Check the request and record the CLIP datastream (CREATED) with its window in stats."""
    sources: list[str] = []
    if scene_id is not None:
        scene = store.get_scene(scene_id)
        measurement_id = scene.measurement_id
        start_ns, end_ns = _ns(scene.start), _ns(scene.end)
        sources.append(scene.datastream_id)
    elif measurement_id is not None:
        if request.from_ns is None or request.to_ns is None:
            raise InvalidInputError("a measurement clip needs from_ns and to_ns", field="from_ns")
        store.get_measurement(measurement_id)
        start_ns, end_ns = request.from_ns, request.to_ns
    else:
        raise InvalidInputError("a clip needs a scene or a measurement", field="id")
    raw = _completed_raw(store, measurement_id)
    margin_ns = round(
        (request.margin_s if request.margin_s is not None else default_margin_s) * _NS
    )
    window = {
        "from_ns": max(0, start_ns - margin_ns),
        "to_ns": end_ns + margin_ns,
        "margin_s": margin_ns / _NS,
        "topics": sorted(set(request.topics)),
        **({"scene_id": scene_id} if scene_id is not None else {}),
    }
    return store.create_datastream(
        Datastream(
            id=datastream_id,
            measurement_id=measurement_id,
            type=DatastreamType.CLIP,
            zone=Zone.SHARE,
            path=f"clips/{measurement_id}/{datastream_id}",
            producer=Producer(step=CLIP_STEP, code_version=CODE_VERSION, instance_id=instance_id),
            sources=[raw.id, *sources],
            stats={"window": window},
        )
    )


def _source_kind(record: FileRecord) -> str | None:
    suffix = PurePosixPath(record.path).suffix.lower()
    fmt = str(record.format)
    if suffix == ".mcap" and fmt in {"mcap", "rosbag2"}:
        return "mcap"
    if fmt == "rosbag2" and record.path.lower().endswith((".db3", FILE_COMPRESSED_DB3)):
        return "rosbag2_sqlite3"
    if fmt in {"rosbag1", "mdf4", "tdms"}:
        return fmt
    return None


def _ready_sqlite3_storage(
    zones: BlobZones, raw: Datastream, path: str, listed: set[str], local: Path
) -> str | None:
    """Ready the downloaded ``.db3`` at ``local`` for reading: the WAL beside it in the raw
    zone applied to it; the bag's per-message compression from its metadata.yaml."""
    wal = f"{path}-wal"
    if wal in listed:
        local_wal = local.with_name(f"{local.name}-wal")
        zones.download_file(Zone.RAW, join_path(raw.path, wal), local_wal)
        checkpoint_wal(local)  # the activity's own download
    yaml_path = str(PurePosixPath(path).with_name("metadata.yaml"))
    if yaml_path not in listed:
        return None
    local_yaml = local.with_name(f"{local.name}.metadata.yaml")
    zones.download_file(Zone.RAW, join_path(raw.path, yaml_path), local_yaml)
    return message_compression(local_yaml, yaml_path)


def _raw_files(store: MetadataStore, raw: Datastream) -> list[FileRecord]:
    """The RAW datastream's files, each path relative to the datastream's folder: ingest
    records zone paths (``<datastream path>/<file>``), and the clip joins them to it again."""
    prefix = raw.path.strip("/") + "/"
    files: list[FileRecord] = []
    continuation: str | None = None
    while True:
        page = store.list_files(raw.id, limit=100, continuation=continuation)
        files.extend(
            record.model_copy(update={"path": record.path.removeprefix(prefix)})
            for record in page.items
        )
        continuation = page.continuation
        if continuation is None:
            return files


def write_measurement_clip(
    zones: BlobZones, store: MetadataStore, *, datastream_id: str, link_hours: int
) -> dict[str, Any]:
    """Write the clip of a CREATED CLIP datastream; COMPLETED with counts, path and links."""
    clip = store.get_datastream(datastream_id)
    if clip.type != DatastreamType.CLIP:
        raise InvalidInputError(f"datastream {datastream_id} is not a CLIP", field="datastream_id")
    if clip.state == DatastreamState.COMPLETED:
        # A retry of a call whose answer was lost: the clip is there, hand out its links.
        return _answer(zones, clip, link_hours)
    if clip.state == DatastreamState.CREATED:
        clip = advance_datastream(
            store, clip.id, DatastreamState.PROCESSING, when={DatastreamState.CREATED}
        )
    window_doc = clip.stats["window"]
    window = ClipWindow(
        int(window_doc["from_ns"]), int(window_doc["to_ns"]), frozenset(window_doc["topics"])
    )
    raw = store.get_datastream(clip.sources[0])
    path = join_path(clip.path, CLIP_NAME)
    with tempfile.TemporaryDirectory(prefix="avops-clip-") as tmp:
        workdir = Path(tmp)
        sources: list[ClipSource] = []
        skipped: dict[str, str] = {}
        files = _raw_files(store, raw)
        listed = {record.path for record in files}
        for index, record in enumerate(files):
            kind = _source_kind(record)
            if kind is None:
                if str(record.format) not in {"dbc", "other"} and not is_bag_sidecar(record):
                    skipped[record.path] = f"format {record.format} ({record.path}) is not clipped"
                continue
            # A bag's compression_mode file: the storage arrives as one zstd stream.
            packed = record.path.lower().endswith(FILE_COMPRESSED_DB3)
            suffix = FILE_COMPRESSED_DB3 if packed else PurePosixPath(record.path).suffix
            local = workdir / f"{index}{suffix}"
            zones.download_file(Zone.RAW, join_path(raw.path, record.path), local)
            compression = None
            if kind == "rosbag2_sqlite3":
                compression = _ready_sqlite3_storage(zones, raw, record.path, listed, local)
            sources.append(
                ClipSource(
                    kind=kind,
                    path=local,
                    name=record.path,
                    message_compression=compression,
                    file_compression="zstd" if packed else None,
                )
            )
        out = workdir / CLIP_NAME
        with out.open("wb") as stream:
            stats = write_clip(sources, window, stream)
        stats.skipped.update(skipped)
        zones.upload_file(Zone.SHARE, path, out, content_type="application/octet-stream")
        size = out.stat().st_size
    store.attach_files(
        clip.id,
        [FileRecord(path=CLIP_NAME, format="mcap", size=size, meta=stats.as_dict())],
    )
    done = advance_datastream(
        store,
        clip.id,
        DatastreamState.COMPLETED,
        when={DatastreamState.PROCESSING},
        stats={**clip.stats, **stats.as_dict(), "bytes": size, "path": path},
    )
    return _answer(zones, done, link_hours)


def _answer(zones: BlobZones, clip: Datastream, link_hours: int) -> dict[str, Any]:
    stats = clip.stats
    return {
        "datastream_id": clip.id,
        "measurement_id": clip.measurement_id,
        "path": stats["path"],
        "bytes": stats["bytes"],
        "messages": stats["messages"],
        "topics": stats["topics"],
        "skipped": stats["skipped"],
        **clip_links(
            zones, stats["path"], expires_at=datetime.now(UTC) + timedelta(hours=link_hours)
        ),
    }


def foxglove_url(sas_url: str) -> str:
    """The Foxglove app link that opens the remote file at ``sas_url``."""
    return "https://app.foxglove.dev/?ds=remote-file&ds.url=" + quote(sas_url, safe="")


def clip_links(zones: BlobZones, path: str, *, expires_at: datetime) -> dict[str, str]:
    """The clip's read-only SAS URL, its Foxglove link and when both stop working."""
    url = blob_read_url(zones, Zone.SHARE, path, expires_at=expires_at)
    return {"url": url, "foxglove_url": foxglove_url(url), "expires_at": expires_at.isoformat()}


def fail_clip(store: MetadataStore, *, datastream_id: str, reason: str) -> dict[str, Any]:
    """Mark the clip FAILED with the reason (a final state: a new request makes a new clip)."""
    clip = advance_datastream(
        store,
        datastream_id,
        DatastreamState.FAILED,
        when={DatastreamState.CREATED, DatastreamState.PROCESSING},
        reason=reason[:4000],
    )
    return {"datastream_id": clip.id, "state": str(clip.state)}
