"""Small hand-made export plans for the writer and copy tests (no pipeline needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from dataops.labeling.exporting.plan import ExportPlan, PlanItem, PlannedDatastream, PreLabel

T0_NS = 1_714_550_400_000_000_000
EXPORT_ID = "0123456789abcdef0123456789abcdef"


def plan_item(
    item_id: int,
    *,
    frame: int,
    sensor: str = "cam_front",
    source_path: str = "x/rec/camera/cam_front/00000000_1.jpg",
    part_row: int | None = None,
    prelabels: list[PreLabel] | None = None,
    file_name: str | None = None,
) -> PlanItem:
    """An image item of measurement ``m-1`` at frame ``frame``."""
    return PlanItem(
        item_id=item_id,
        openlabel_frame=frame,
        sensor=sensor,
        file_name=file_name or f"images/{sensor}/{item_id}.jpg",
        width=640,
        height=360,
        vehicle_id="VIN-1",
        measurement_id="m-1",
        frames_datastream_id="ds-scenes",
        frame=frame * 2,
        time_ns=T0_NS + frame * 100_000_000,
        source_datastream_id="ds-extracted",
        source_path=source_path,
        raw_datastream_id="ds-raw",
        source_file="raw/drive.mcap",
        export_datastream_id="ds-export",
        sensor_key=f"rec/camera/{sensor}",
        part_row=part_row,
        sample_time_ns=T0_NS + frame * 100_000_000,
        prelabels=prelabels or [],
    )


def make_plan(items: list[PlanItem], *, categories: list[str] | None = None) -> ExportPlan:
    """A plan of ``items`` in one measurement."""
    return ExportPlan(
        export_id=EXPORT_ID,
        partner_id="acme",
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        selection={"scene_type": "pedestrian_in_view"},
        sensors=sorted({item.sensor for item in items}),
        categories=categories
        if categories is not None
        else sorted({p.category for item in items for p in item.prelabels}),
        frames=len({item.openlabel_frame for item in items}),
        items=items,
        datastreams=[
            PlannedDatastream(
                datastream_id="ds-export", measurement_id="m-1", sources=["ds-scenes"]
            )
        ],
    )
