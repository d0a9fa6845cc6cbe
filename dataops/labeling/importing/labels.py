"""Check one label file against its export's package: parse, detect the format, validate.

Pure: bytes and the package in, labels or a list of errors out. The storage side (reading the
file, reports, LABELED datastreams) is ``dataops.labeling.importing.steps``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dataops.labeling.package import PackageItem
from dataops.labeling.report import LabelFormat, LabelIssues
from dataops.labeling.validation.coco import validate_coco
from dataops.labeling.validation.common import Label, PackageIndex
from dataops.labeling.validation.openlabel import validate_openlabel

__all__ = ["CheckedLabels", "check_label_file", "detect_format"]

_COCO_KEYS = frozenset({"images", "annotations", "categories"})


@dataclass
class CheckedLabels:
    """The outcome of checking one file: its format, its labels, or its errors."""

    issues: LabelIssues
    format: LabelFormat | None = None
    labels: list[Label] = field(default_factory=list)
    covered: list[PackageItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error found."""
        return not self.issues


def detect_format(document: Any) -> LabelFormat | None:
    """OpenLABEL: a top-level ``openlabel``; COCO: ``images``, ``annotations``, ``categories``."""
    if not isinstance(document, dict):
        return None
    if "openlabel" in document:
        return LabelFormat.OPENLABEL
    if document.keys() >= _COCO_KEYS:
        return LabelFormat.COCO
    return None


def check_label_file(file: str, data: bytes, index: PackageIndex) -> CheckedLabels:
    """Every problem of ``data`` (the content of ``file``), or its labels if there is none."""
    result = CheckedLabels(issues=LabelIssues(file))
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        result.issues.add("$", f"not UTF-8 text (byte {err.start}): {err.reason}")
        return result
    except json.JSONDecodeError as err:
        result.issues.add("$", f"not valid JSON: line {err.lineno} column {err.colno}: {err.msg}")
        return result
    result.format = detect_format(document)
    if result.format is None:
        result.issues.add(
            "$",
            "neither COCO (top-level images, annotations and categories) nor OpenLABEL "
            "(top-level openlabel)",
        )
        return result
    validate = validate_coco if result.format is LabelFormat.COCO else validate_openlabel
    labels, covered = validate(document, index, result.issues)
    if not result.issues and not covered:
        result.issues.add("$", "labels no item of the export's package")
    if not result.issues:
        result.labels, result.covered = labels, covered
    return result
