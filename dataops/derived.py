"""The skeleton of a derived step: prepare the output datastream, run, attach, complete or fail.

``synchronize``, ``enrich``, ``detect_scenes`` and ``label_import`` each make datastreams in the
curated zone from their sources, the same way: created (idempotent by id, which the orchestrator
chose) with its sources, CREATED -> PROCESSING; then the step's own work runs and returns a
:class:`StepOutput` (files it wrote, stats); the skeleton attaches the files and completes the
datastream with the stats, or later marks it FAILED with a reason. State changes are only made
from the state they leave, so a retried activity changes nothing twice; one whose etag-guarded
write loses a race reads the datastream again and re-applies while that state still allows it
(:func:`~dataops.store.transitions.advance_datastream`). A new step writes only
its ``work`` function (and, when its sources are not one datastream, its ``prepare``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dataops import __version__
from dataops.errors import InvalidInputError, NotFoundError
from dataops.models import Datastream, DatastreamState, DatastreamType, FileRecord, Producer
from dataops.models.measurement import Measurement
from dataops.paths import Zone, raw_prefix
from dataops.storage import BlobZones
from dataops.store import MetadataStore
from dataops.store.transitions import advance_datastream

__all__ = [
    "DerivedStep",
    "OneSourceStep",
    "StepOutput",
    "StepRunner",
    "StepWork",
    "complete_output",
    "completed_source",
    "fail_output",
    "open_datastream",
    "open_output",
    "summary",
    "write_parquet",
]


# The states a step's output datastream is still being made in.
_UNFINISHED = frozenset({DatastreamState.CREATED, DatastreamState.PROCESSING})


def completed_source(
    store: MetadataStore, datastream_id: str, *types: DatastreamType
) -> Datastream:
    """The source datastream, checked to be COMPLETED and of one of ``types``."""
    source = store.get_datastream(datastream_id)
    if source.type not in types:
        wanted = " or ".join(str(t) for t in types)
        raise InvalidInputError(f"datastream {source.id} is {source.type}, not {wanted}")
    if source.state is not DatastreamState.COMPLETED:
        raise InvalidInputError(
            f"{source.type} datastream {source.id} is {source.state}, not COMPLETED"
        )
    return source


def open_output(
    store: MetadataStore,
    *,
    measurement_id: str,
    datastream_id: str,
    datastream_type: DatastreamType,
    step: str,
    instance_id: str,
    sources: list[str],
) -> Datastream:
    """The step's output datastream in the curated zone, created if missing, CREATED moved to
    PROCESSING; one already past PROCESSING (a retry after the commit) is returned as is."""
    return open_datastream(
        store,
        store.get_measurement(measurement_id),
        datastream_id=datastream_id,
        datastream_type=datastream_type,
        zone=Zone.CURATED,
        producer=Producer(step=step, code_version=__version__, instance_id=instance_id),
        sources=sources,
    )


def open_datastream(
    store: MetadataStore,
    measurement: Measurement,
    *,
    datastream_id: str,
    datastream_type: DatastreamType,
    zone: Zone,
    producer: Producer,
    sources: list[str],
    stats: dict[str, Any] | None = None,
    working: DatastreamState = DatastreamState.PROCESSING,
) -> Datastream:
    """A datastream of ``measurement`` created (idempotent by id), CREATED -> ``working``.

    Every producing step opens its datastream so (ingest's RAW one COPYING, the others
    PROCESSING), in the folder ``<date>/<vehicle>/<measurement>/<datastream>`` of ``zone``; a
    datastream already past CREATED (a retry) is returned as is.
    """
    prefix = raw_prefix(
        measurement.recording_start, measurement.vehicle_id, measurement.id, datastream_id
    )
    datastream = store.create_datastream(
        Datastream(
            id=datastream_id,
            measurement_id=measurement.id,
            type=datastream_type,
            zone=zone,
            path=prefix,
            producer=producer,
            sources=sources,
            stats=stats or {},
        )
    )
    if datastream.state is DatastreamState.CREATED:
        datastream = advance_datastream(
            store, datastream.id, working, when={DatastreamState.CREATED}
        )
    return datastream


def complete_output(store: MetadataStore, datastream_id: str, stats: dict[str, Any]) -> Datastream:
    """PROCESSING -> COMPLETED with ``stats``; a datastream already past it is returned as is."""
    return advance_datastream(
        store,
        datastream_id,
        DatastreamState.COMPLETED,
        when={DatastreamState.PROCESSING},
        stats=stats,
    )


def fail_output(store: MetadataStore, *, datastream_id: str, reason: str) -> dict[str, Any]:
    """The output datastream FAILED with ``reason`` (if it exists and is not final)."""
    answer = {"datastream_id": datastream_id, "reason": reason}
    try:
        advance_datastream(
            store, datastream_id, DatastreamState.FAILED, when=_UNFINISHED, reason=reason
        )
    except NotFoundError:
        # Failed before prepare made it (e.g. the source is not COMPLETED): nothing to mark.
        return answer
    return answer


@dataclass(frozen=True)
class StepOutput:
    """What a step's work made: the files it wrote (to attach) and the datastream's stats."""

    stats: dict[str, Any]
    files: list[FileRecord] = field(default_factory=list)


Work = Callable[[Datastream], StepOutput]
"""A step's own part: given its PROCESSING output datastream, write the files, say the stats."""


@dataclass(frozen=True, kw_only=True)
class DerivedStep:
    """The skeleton of step ``step``, whose output is ``output_type`` with ``sources`` sources.

    ``sources`` is the (fewest, most) sources the output datastream may have; most None: any.
    """

    step: str
    output_type: DatastreamType
    sources: tuple[int, int | None] = (1, 1)

    def open(
        self,
        store: MetadataStore,
        *,
        measurement_id: str,
        datastream_id: str,
        instance_id: str,
        sources: list[str],
    ) -> Datastream:
        """The output datastream PROCESSING in the curated zone (see :func:`open_output`)."""
        return open_output(
            store,
            measurement_id=measurement_id,
            datastream_id=datastream_id,
            datastream_type=self.output_type,
            step=self.step,
            instance_id=instance_id,
            sources=sources,
        )

    @staticmethod
    def prepared(datastream: Datastream) -> dict[str, Any]:
        """The prepare activity's result: the opened output datastream's id, measurement, path."""
        return {
            "datastream_id": datastream.id,
            "measurement_id": datastream.measurement_id,
            "path": datastream.path,
        }

    def run(self, store: MetadataStore, datastream_id: str, work: Work) -> Datastream:
        """Check the output datastream, run ``work``, attach its files, COMPLETED with its stats.

        A datastream COMPLETED already (a retried activity after the commit) is returned as is,
        without running ``work`` again; one in any state but PROCESSING is an error.
        """
        datastream = store.get_datastream(datastream_id)
        if datastream.state is DatastreamState.COMPLETED:
            return datastream
        self.check(datastream)
        return self.finish(store, datastream_id, work(datastream))

    def check(self, datastream: Datastream) -> None:
        """The output datastream is PROCESSING and has as many sources as the step takes."""
        name = f"{self.output_type.value} datastream {datastream.id}"
        if datastream.state is not DatastreamState.PROCESSING:
            raise InvalidInputError(f"{name} is {datastream.state}")
        fewest, most = self.sources
        count = len(datastream.sources)
        if count < fewest or (most is not None and count > most):
            raise InvalidInputError(f"{name} needs {_source_count(fewest, most)}")

    @staticmethod
    def finish(store: MetadataStore, datastream_id: str, output: StepOutput) -> Datastream:
        """Attach the output's files, then PROCESSING -> COMPLETED with its stats."""
        if output.files:
            store.attach_files(datastream_id, output.files)
        return complete_output(store, datastream_id, output.stats)

    @staticmethod
    def fail(store: MetadataStore, *, datastream_id: str, reason: str) -> dict[str, Any]:
        """The output datastream FAILED with ``reason`` (if it exists and is not final)."""
        return fail_output(store, datastream_id=datastream_id, reason=reason)


@dataclass(frozen=True, kw_only=True)
class OneSourceStep(DerivedStep):
    """A step made from one COMPLETED datastream of ``source_type`` (synchronize, enrich)."""

    source_type: DatastreamType

    def prepare(
        self,
        store: MetadataStore,
        *,
        source_datastream_id: str,
        datastream_id: str,
        instance_id: str,
    ) -> dict[str, Any]:
        """The output datastream PROCESSING in the curated zone; sources: the one source."""
        source = completed_source(store, source_datastream_id, self.source_type)
        opened = self.open(
            store,
            measurement_id=source.measurement_id,
            datastream_id=datastream_id,
            instance_id=instance_id,
            sources=[source.id],
        )
        return self.prepared(opened)


StepWork = Callable[[BlobZones, MetadataStore, Datastream, Path], StepOutput]
"""A step's work given zones, store, its PROCESSING output datastream and its config file."""


@dataclass(frozen=True)
class StepRunner:
    """A step's run activity: ``runner(zones, store, datastream_id=..., config_path=...)``.

    Runs ``work`` in the skeleton of ``step`` and answers ``summary`` of the output datastream
    (also for a retry after the commit, so the answer is the same every time).
    """

    step: DerivedStep
    work: StepWork
    summary: Callable[[Datastream], dict[str, Any]]
    default_config: Path

    def __call__(
        self,
        zones: BlobZones,
        store: MetadataStore,
        *,
        datastream_id: str,
        config_path: Path | None = None,
    ) -> dict[str, Any]:
        config = config_path or self.default_config
        output = self.step.run(
            store, datastream_id, lambda datastream: self.work(zones, store, datastream, config)
        )
        return self.summary(output)


def summary(datastream: Datastream, **defaults: Any) -> dict[str, Any]:
    """A run activity's answer from its output datastream: the id, the stats named in
    ``defaults`` (the default where a stat is missing) and ``skipped`` (None unless skipped)."""
    stats = datastream.stats
    return {
        "datastream_id": datastream.id,
        **{name: stats.get(name, default) for name, default in defaults.items()},
        "skipped": stats.get("skipped"),
    }


def _source_count(fewest: int, most: int | None) -> str:
    if most is None:
        return f"at least {fewest} source" + ("s" if fewest != 1 else "")
    if fewest == most == 1:
        return "one source"
    return f"{fewest} or {most} sources" if most == fewest + 1 else f"{fewest}-{most} sources"


def write_parquet(
    zones: BlobZones, path: str, table: pa.Table, *, meta: dict[str, Any]
) -> FileRecord:
    """``table`` as zstd Parquet at ``path`` in the curated zone; its file record to attach."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue()
    zones.write_bytes(Zone.CURATED, path, data)
    return FileRecord(path=path, format="parquet", size=len(data), meta=meta)
