"""What both label formats are checked against (the export's package) and what they become."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from dataops.labeling.package import PackageItem, PackageManifest
from dataops.labeling.report import LabelIssues

__all__ = ["BoxXYWH", "Label", "PackageIndex", "check_box"]

BoxXYWH = tuple[float, float, float, float]
"""Pixels, COCO convention: top-left x, y, width, height."""

# Tools write coordinates as floats; a box edge on the image border may come out a hair past it.
_EDGE_TOLERANCE_PX = 1e-3


@dataclass(frozen=True)
class Label:
    """One validated label, tied to the package item it annotates."""

    item: PackageItem
    label_id: str
    category: str
    bbox: BoxXYWH | None
    attributes: dict[str, Any] = field(default_factory=dict)


class PackageIndex:
    """Lookups into ``package.json`` by the keys each format uses."""

    def __init__(self, manifest: PackageManifest) -> None:
        self.manifest = manifest
        self.by_item_id: dict[int, PackageItem] = {i.item_id: i for i in manifest.items}
        self.by_frame_stream: dict[tuple[int, str], PackageItem] = {
            (i.openlabel_frame, i.sensor): i for i in manifest.items
        }
        self.streams_of_frame: dict[int, list[str]] = defaultdict(list)
        for item in manifest.items:
            self.streams_of_frame[item.openlabel_frame].append(item.sensor)
        self.categories: frozenset[str] = frozenset(manifest.categories)


def check_box(
    issues: LabelIssues, path: tuple[str | int, ...], box: BoxXYWH, item: PackageItem
) -> bool:
    """Finite, positive size, inside the item's image; records an error and returns False if not."""
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box):
        issues.add(path, f"box {list(box)} has a non-finite coordinate")
        return False
    if w <= 0 or h <= 0:
        issues.add(path, f"box {list(box)} has no area (width and height must be > 0)")
        return False
    if item.kind != "image" or item.width is None or item.height is None:
        # Point clouds have no pixel frame to check against.
        return True
    tol = _EDGE_TOLERANCE_PX
    if x < -tol or y < -tol or x + w > item.width + tol or y + h > item.height + tol:
        issues.add(
            path,
            f"box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] is outside image {item.item_id} "
            f"({item.width}x{item.height} px)",
        )
        return False
    return True
