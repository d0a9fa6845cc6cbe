"""``coco.json`` of a package: one image per image item, categories, pre-labels as annotations.

Image ids are the package item ids (``PackageItem.item_id``), so labels handed back in COCO
name the item directly. Pre-labels (the recording's own detections) are annotations flagged
``"avops_prelabel": true`` with the detector's score and track id in ``attributes``; a partner
keeps, corrects or deletes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dataops.labeling.exporting.plan import ExportPlan

__all__ = ["PRELABEL_FLAG", "coco_document"]

PRELABEL_FLAG = "avops_prelabel"


def coco_document(plan: ExportPlan, *, created_at: datetime) -> dict[str, Any]:
    """The COCO document of the plan's image items (point clouds are not COCO images)."""
    category_ids = {name: index + 1 for index, name in enumerate(plan.categories)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for item in plan.items:
        if item.kind != "image":
            continue
        images.append(
            {
                "id": item.item_id,
                "file_name": item.file_name,
                "width": item.width,
                "height": item.height,
                "avops_sensor": item.sensor,
                "avops_time_ns": item.time_ns,
                "avops_measurement_id": item.measurement_id,
            }
        )
        for label in item.prelabels:
            x, y, w, h = label.bbox
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": item.item_id,
                    "category_id": category_ids[label.category],
                    "bbox": [x, y, w, h],
                    "area": round(w * h, 3),
                    "iscrowd": 0,
                    PRELABEL_FLAG: True,
                    "attributes": {"score": label.score, "track_id": label.track_id},
                }
            )
    return {
        "info": {
            "description": f"AVOps labeling export {plan.export_id} for {plan.partner_id}",
            "version": "1",
            "date_created": created_at.isoformat(),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": category_ids[name], "name": name, "supercategory": "object"}
            for name in plan.categories
        ],
    }
