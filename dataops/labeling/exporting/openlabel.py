"""``openlabel.json`` of a package: ASAM OpenLABEL 1.0 built with ``vcd`` and schema-checked.

One OpenLABEL frame per exported reference frame (``PackageItem.openlabel_frame``) with its
time, one stream per sensor (camera or lidar) with a sensor coordinate system of the same
name, and one object per pre-label with its 2D box in that camera's coordinate system. The
document is validated against vcd's OpenLABEL 1.0 JSON schema before anything is uploaded.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from vcd import core, schema, types

from dataops.errors import InvalidInputError
from dataops.labeling.exporting.plan import ExportPlan

__all__ = ["PRELABEL_ATTRIBUTE", "TAXONOMY_ONTOLOGY", "check_openlabel", "openlabel_document"]

PRELABEL_ATTRIBUTE = "avops_prelabel"
TAXONOMY_ONTOLOGY = "urn:avops:labeling-taxonomy"
_STREAM_TYPES = {"image": core.StreamType.camera, "pointcloud": core.StreamType.lidar}


def openlabel_document(plan: ExportPlan) -> dict[str, Any]:
    """The OpenLABEL document of the plan, validated (InvalidInputError if it is not valid)."""
    label = core.OpenLABEL()
    label.add_metadata_properties(
        {"annotator": "avops-export", "comment": f"export {plan.export_id}"}
    )
    # The export's taxonomy: every object type a partner may use, pre-labelled or not.
    ontology = label.add_ontology(TAXONOMY_ONTOLOGY, subset_include=list(plan.categories))
    streams: dict[str, str] = {}
    for item in plan.items:
        if item.sensor not in streams:
            streams[item.sensor] = item.kind
            label.add_stream(
                stream_name=item.sensor,
                uri=item.sensor_key,
                description=f"{item.kind} sensor {item.sensor_key}",
                stream_type=_STREAM_TYPES[item.kind],
            )
            label.add_coordinate_system(item.sensor, types.CoordinateSystemType.sensor_cs)
        label.add_frame_properties(
            item.openlabel_frame,
            timestamp=item.time_ns / 1e9,
            properties={
                "avops_time_ns": item.time_ns,
                "avops_measurement_id": item.measurement_id,
                "avops_frame": item.frame,
                "streams": {
                    item.sensor: {
                        "uri": item.file_name,
                        "stream_properties": {"avops_item_id": item.item_id},
                    }
                },
            },
        )
        for number, prelabel in enumerate(item.prelabels):
            x, y, w, h = prelabel.bbox
            uid = label.add_object(
                name=f"{prelabel.category}-{item.item_id}-{number}",
                semantic_type=prelabel.category,
                frame_value=item.openlabel_frame,
                ont_uid=ontology,
            )
            box = types.bbox(
                name="shape",
                # OpenLABEL boxes are centre x, y, width, height.
                val=(x + w / 2, y + h / 2, w, h),
                coordinate_system=item.sensor,
            )
            box.add_attribute(types.boolean(PRELABEL_ATTRIBUTE, True))
            if prelabel.score is not None:
                box.add_attribute(types.num("score", prelabel.score))
            label.add_object_data(uid, box, frame_value=item.openlabel_frame)
    document: dict[str, Any] = json.loads(label.stringify(pretty=False, validate=False))
    check_openlabel(document)
    return document


def check_openlabel(document: dict[str, Any]) -> None:
    """InvalidInputError naming the failing path unless ``document`` is valid OpenLABEL 1.0."""
    try:
        jsonschema.validate(instance=document, schema=schema.openlabel_schema)
    except jsonschema.ValidationError as err:
        where = "/".join(str(part) for part in err.absolute_path) or "(root)"
        raise InvalidInputError(
            f"not valid OpenLABEL {schema.openlabel_schema_version}: {err.message}",
            source="openlabel.json",
            field=where,
        ) from err
