"""ASAM OpenLABEL 1.0 label files: vcd's JSON schema first, then references against the package.

An item of the package is (frame, stream): the OpenLABEL frame number and the sensor, named by
a geometry's ``coordinate_system`` (or the object's), which the export declares per sensor.
Object ``type`` is the category; like COCO, it must be one of the package's categories.
Boxes are OpenLABEL's [centre x, centre y, width, height] and are stored in the labels table
in the COCO convention (top-left x, y, width, height).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import jsonschema
from vcd.schema import openlabel_schema

from dataops.labeling.package import PackageItem
from dataops.labeling.report import LabelIssues
from dataops.labeling.validation.common import Label, PackageIndex, check_box

__all__ = ["validate_openlabel"]

# Geometries that become labels; ``bbox`` also gets a box. Other object data (text, num,
# boolean, vec) are attributes of the object in that frame.
_GEOMETRIES = frozenset(
    {
        "bbox",
        "rbbox",
        "cuboid",
        "poly2d",
        "poly3d",
        "point2d",
        "point3d",
        "mat",
        "binary",
        "mesh",
        "image",
        "area_reference",
        "line_reference",
    }
)
_MAX_SCHEMA_MESSAGE = 300

Path = tuple[str | int, ...]


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(openlabel_schema)


def validate_openlabel(
    document: Any, index: PackageIndex, issues: LabelIssues
) -> tuple[list[Label], list[PackageItem]]:
    """The labels of an OpenLABEL document and the items it covers; problems go to ``issues``."""
    schema_errors = sorted(
        _validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]
    )
    for error in schema_errors:
        issues.add(tuple(error.absolute_path), error.message[:_MAX_SCHEMA_MESSAGE])
    if schema_errors:
        return [], []
    root: dict[str, Any] = document["openlabel"]
    objects: dict[str, Any] = root.get("objects") or {}
    for uid, declared in objects.items():
        if declared["type"] not in index.categories:
            issues.add(
                ("openlabel", "objects", uid, "type"),
                f"category {declared['type']!r} is not one of the package's categories "
                f"{sorted(index.categories)}",
            )

    labels: list[Label] = []
    covered: dict[int, PackageItem] = {}
    seen: set[str] = set()
    for frame_key, frame in (root.get("frames") or {}).items():
        frame_path: Path = ("openlabel", "frames", frame_key)
        frame_no = int(frame_key)
        streams = index.streams_of_frame.get(frame_no)
        if not streams:
            issues.add(frame_path, f"frame {frame_no} is not in the export's package")
            continue
        for sensor in streams:
            item = index.by_frame_stream[(frame_no, sensor)]
            covered[item.item_id] = item
        for label, path in _frame_labels(issues, index, frame_path, frame, objects):
            if label.label_id in seen:
                issues.add(path, f"label {label.label_id} appears more than once")
                continue
            seen.add(label.label_id)
            labels.append(label)
    return labels, list(covered.values())


def _frame_labels(
    issues: LabelIssues,
    index: PackageIndex,
    frame_path: Path,
    frame: dict[str, Any],
    objects: dict[str, Any],
) -> Iterator[tuple[Label, Path]]:
    """The labels of one frame's objects, each with its JSON path."""
    frame_no = int(str(frame_path[-1]))
    for uid, in_frame in (frame.get("objects") or {}).items():
        object_path: Path = (*frame_path, "objects", uid)
        declared = objects.get(uid)
        if declared is None:
            issues.add(object_path, f"object {uid} is not declared in openlabel.objects")
            continue
        if declared["type"] not in index.categories:
            continue  # reported once, at the declaration
        data: dict[str, list[dict[str, Any]]] = in_frame.get("object_data") or {}
        attributes = _attributes(declared.get("object_data") or {}) | _attributes(data)
        for kind, entries in data.items():
            if kind not in _GEOMETRIES:
                continue
            for n, entry in enumerate(entries):
                path: Path = (*object_path, "object_data", kind, n)
                label = _label(
                    issues,
                    index,
                    path=path,
                    frame_no=frame_no,
                    uid=uid,
                    declared=declared,
                    kind=kind,
                    entry=entry,
                    attributes=attributes,
                )
                if label is not None:
                    yield label, path


def _label(
    issues: LabelIssues,
    index: PackageIndex,
    *,
    path: Path,
    frame_no: int,
    uid: str,
    declared: dict[str, Any],
    kind: str,
    entry: dict[str, Any],
    attributes: dict[str, Any],
) -> Label | None:
    """One geometry as a label of its (frame, stream) item, or None after recording why not."""
    stream = entry.get("coordinate_system") or declared.get("coordinate_system")
    streams = index.streams_of_frame[frame_no]
    if stream is None and len(streams) == 1:
        stream = streams[0]
    if stream is None:
        issues.add(
            path,
            f"no coordinate_system, and frame {frame_no} has several streams {sorted(streams)}",
        )
        return None
    item = index.by_frame_stream.get((frame_no, stream))
    if item is None:
        issues.add(
            (*path, "coordinate_system"),
            f"(frame {frame_no}, stream {stream!r}) is not an item of the export's package",
        )
        return None
    # The geometry's own attributes (the export flags pre-labels there).
    attributes = {**attributes, **_attributes(entry.get("attributes") or {})}
    box = None
    if kind == "bbox":
        cx, cy, w, h = (float(v) for v in entry["val"])
        box = (cx - w / 2, cy - h / 2, w, h)
        if not check_box(issues, (*path, "val"), box, item):
            return None
    else:
        attributes = {**attributes, kind: entry.get("val")}
    name = entry.get("name") or str(path[-1])
    return Label(
        item=item,
        label_id=f"{uid}/{frame_no}/{kind}/{name}",
        category=str(declared["type"]),
        bbox=box,
        attributes={"object": declared.get("name"), **attributes},
    )


def _attributes(object_data: dict[str, Any]) -> dict[str, Any]:
    """``text``/``num``/``boolean``/``vec`` entries as ``{name: val}``."""
    found: dict[str, Any] = {}
    for kind in ("text", "num", "boolean", "vec"):
        for entry in object_data.get(kind) or []:
            if isinstance(entry, dict) and "name" in entry:
                found[str(entry["name"])] = entry.get("val")
    return found
