"""COCO label files: the pydantic model first, then every reference checked against the package.

Images are the package's items (COCO image id = item id). Categories are matched by name: a
partner's tool may number them its own way, but every name must be one of the package's
categories (partners cannot add categories; a new class is a new export).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dataops.labeling.package import PackageItem
from dataops.labeling.report import LabelIssues
from dataops.labeling.validation.coco_model import CocoFile
from dataops.labeling.validation.common import Label, PackageIndex, check_box

__all__ = ["validate_coco"]


def validate_coco(
    document: Any, index: PackageIndex, issues: LabelIssues
) -> tuple[list[Label], list[PackageItem]]:
    """The labels of a COCO document and the items it covers; problems go to ``issues``."""
    try:
        coco = CocoFile.model_validate(document)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            issues.add(tuple(error["loc"]), error["msg"])
        return [], []
    covered = _check_images(coco, index, issues)
    category_names = _check_categories(coco, index, issues)
    labels: list[Label] = []
    seen_ids: set[int] = set()
    for k, annotation in enumerate(coco.annotations):
        path: tuple[str | int, ...] = ("annotations", k)
        if annotation.id in seen_ids:
            issues.add((*path, "id"), f"annotation id {annotation.id} appears more than once")
        seen_ids.add(annotation.id)
        item = _image_item(index, annotation.image_id, (*path, "image_id"), issues)
        if item is None:
            continue
        covered[item.item_id] = item
        category = category_names.get(annotation.category_id)
        if category is None:
            issues.add(
                (*path, "category_id"),
                f"category id {annotation.category_id} is not in the file's categories",
            )
            continue
        box = None
        if annotation.bbox is not None:
            x, y, w, h = annotation.bbox
            box = (x, y, w, h)
            if not check_box(issues, (*path, "bbox"), box, item):
                continue
        labels.append(
            Label(
                item=item,
                label_id=str(annotation.id),
                category=category,
                bbox=box,
                attributes=_attributes(annotation.attributes, annotation.model_extra),
            )
        )
    return labels, list(covered.values())


def _check_images(
    coco: CocoFile, index: PackageIndex, issues: LabelIssues
) -> dict[int, PackageItem]:
    """The package items the file's ``images`` name; unknown ids and wrong sizes are errors."""
    covered: dict[int, PackageItem] = {}
    seen: set[int] = set()
    for i, image in enumerate(coco.images):
        path: tuple[str | int, ...] = ("images", i)
        if image.id in seen:
            issues.add((*path, "id"), f"image id {image.id} appears more than once")
            continue
        seen.add(image.id)
        item = _image_item(index, image.id, (*path, "id"), issues)
        if item is None:
            continue
        for name, given, expected in (
            ("width", image.width, item.width),
            ("height", image.height, item.height),
        ):
            if given is not None and expected is not None and given != expected:
                issues.add((*path, name), f"{given} but the package's image has {expected}")
        covered[item.item_id] = item
    return covered


def _image_item(
    index: PackageIndex, image_id: int, path: tuple[str | int, ...], issues: LabelIssues
) -> PackageItem | None:
    """The package's image item ``image_id``, or None after recording why there is none."""
    item = index.by_item_id.get(image_id)
    if item is None:
        issues.add(path, f"image id {image_id} is not in the export's package")
        return None
    if item.kind != "image":
        issues.add(path, f"item {image_id} is a {item.kind}, not an image: label it in OpenLABEL")
        return None
    return item


def _check_categories(coco: CocoFile, index: PackageIndex, issues: LabelIssues) -> dict[int, str]:
    """The file's category id -> name; names the package does not have are errors."""
    names: dict[int, str] = {}
    for j, category in enumerate(coco.categories):
        if category.id in names:
            issues.add(("categories", j, "id"), f"category id {category.id} appears more than once")
            continue
        names[category.id] = category.name
        if category.name not in index.categories:
            issues.add(
                ("categories", j, "name"),
                f"category {category.name!r} is not one of the package's categories "
                f"{sorted(index.categories)}",
            )
    return names


def _attributes(attributes: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """The annotation's ``attributes`` plus the scalar keys tools add (iscrowd, score, the
    export's ``avops_prelabel`` flag, ...); lists such as ``segmentation`` are left out."""
    kept = {
        k: v for k, v in (extra or {}).items() if isinstance(v, str | int | float | bool | None)
    }
    return {**kept, **attributes}
