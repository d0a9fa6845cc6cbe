"""What belongs to an erasure target: its measurements and every datastream made from them.

The walk starts at each measurement's datastreams (RAW first) and follows consumers down the
lineage, so a datastream made from the target's data in another measurement's record (a
label import, a future cross-measurement step) goes too. The plan is computed again by every
step from the store, which is why the store documents are deleted last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.errors import NotFoundError
from dataops.ids import instance_id_for
from dataops.local_caches import CacheScope
from dataops.models import Datastream, DatastreamType, Measurement
from dataops.paths import Zone, date_prefix, join_path
from dataops.store import MeasurementQuery, MetadataStore
from dataops.store.protocol import MAX_PAGE_SIZE, LineageDirection

__all__ = ["ErasurePlan", "plan_erasure"]

_LINEAGE_DEPTH = 8


@dataclass
class ErasurePlan:
    """The target's measurements and datastreams, and the prefixes and runs they occupy."""

    target: ErasureTarget
    measurements: list[Measurement] = field(default_factory=list)
    datastreams: dict[str, Datastream] = field(default_factory=dict)

    @property
    def measurement_ids(self) -> list[str]:
        return sorted(m.id for m in self.measurements)

    @property
    def datastream_ids(self) -> list[str]:
        return sorted(self.datastreams)

    def tokens(self) -> list[str]:
        """Strings that mark a blob, a job or a file as the target's (ids, never paths)."""
        found = {*self.measurement_ids, *self.datastream_ids}
        if self.target.kind is TargetKind.VEHICLE:
            found.add(self.target.target_id)
        return sorted(found)

    def prefixes(self) -> list[tuple[Zone, str]]:
        """Folders to empty: each upload in landing, archive and error, each datastream's own."""
        out: set[tuple[Zone, str]] = set()
        for measurement in self.measurements:
            for zone in (Zone.LANDING, Zone.ARCHIVE, Zone.ERROR):
                out.add((zone, measurement.upload_prefix.strip("/")))
            # Every datastream of a measurement lives below <date>/<vehicle>/<measurement>/,
            # also one that failed before it was recorded; the error zone mirrors those paths.
            folder = join_path(
                date_prefix(measurement.recording_start), measurement.vehicle_id, measurement.id
            )
            for zone in (Zone.RAW, Zone.EXTRACTED, Zone.CURATED, Zone.ERROR):
                out.add((zone, folder))
        for datastream in self.datastreams.values():
            for zone in (datastream.zone, Zone.ERROR):
                out.add((zone, datastream.path.strip("/")))
        return sorted(out)

    def cache_scope(self) -> CacheScope:
        """What the process's local caches must drop (dataops.local_caches)."""
        return CacheScope.of(
            self.measurement_ids,
            self.datastream_ids,
            ((zone.value, prefix) for zone, prefix in self.prefixes()),
        )

    def instance_ids(self) -> list[str]:
        """Orchestration instances that worked on the target (their histories name it)."""
        found: set[str] = set()
        for measurement in self.measurements:
            found.add(instance_id_for("ingest", measurement.upload_prefix))
        for datastream in self.datastreams.values():
            if datastream.producer.instance_id:
                found.add(datastream.producer.instance_id)
            if datastream.type is DatastreamType.RAW:
                found.add(instance_id_for("extract", datastream.id))
                found.add(instance_id_for("extract-rerun", datastream.id))
        return sorted(found)


def _measurements(store: MetadataStore, target: ErasureTarget) -> list[Measurement]:
    if target.kind is TargetKind.MEASUREMENT:
        try:
            return [store.get_measurement(target.target_id)]
        except NotFoundError:
            return []
    found: list[Measurement] = []
    continuation: str | None = None
    while True:
        page = store.query_measurements(
            MeasurementQuery(
                vehicle_id=target.target_id, limit=MAX_PAGE_SIZE, continuation=continuation
            )
        )
        found.extend(page.items)
        continuation = page.continuation
        if continuation is None:
            return found


def plan_erasure(store: MetadataStore, target: ErasureTarget) -> ErasurePlan:
    """The plan as the store has it now (empty once the store documents are gone)."""
    plan = ErasurePlan(target=target, measurements=_measurements(store, target))
    frontier: list[Datastream] = []
    for measurement in plan.measurements:
        frontier.extend(store.list_datastreams(measurement.id))
    while frontier:
        fresh = [d for d in frontier if d.id not in plan.datastreams]
        for datastream in fresh:
            plan.datastreams[datastream.id] = datastream
        frontier = []
        for datastream in fresh:
            graph = store.lineage(datastream.id, LineageDirection.DOWN, _LINEAGE_DEPTH)
            frontier.extend(n for n in graph.nodes.values() if n.id not in plan.datastreams)
    return plan
