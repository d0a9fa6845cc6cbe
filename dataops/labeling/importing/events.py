"""Which blob events start a label import, and the run each one maps to.

A partner's label file is a ``*.json`` blob (see ``package.is_label_upload``) in an export's
container of the ``labeled`` zone, ``<labeled container>-<export id>``. One run per version of
the file: the instance id is derived from (container, name, etag), so a redelivered event finds
its run and a rewritten file (new etag) gets a new one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from dataops.errors import InvalidInputError
from dataops.events import BLOB_CREATED, MANIFEST_APIS, BlobEvent, blob_location
from dataops.ids import instance_id_for
from dataops.labeling.package import is_label_upload
from dataops.paths import check_relative_path
from dataops.storage.export_zones import check_export_id

__all__ = ["LABELED_NAMESPACE", "LabelUpload", "label_upload_from_event", "labeled_datastream_id"]

# Fixed forever: LABELED datastream ids are derived in it, so a retried run finds its own.
LABELED_NAMESPACE = uuid.UUID("0b6f6a52-4c1e-5d8e-9a51-3f2d7c1e8a40")


@dataclass(frozen=True)
class LabelUpload:
    """One version of one label file in one export's labeled container."""

    export_id: str
    container: str
    name: str
    etag: str

    @property
    def instance_id(self) -> str:
        """The ``label_import`` run of this version of the file."""
        return instance_id_for("label-import", f"{self.container}\x00{self.name}\x00{self.etag}")

    def start_input(self, *, max_bytes: int) -> dict[str, Any]:
        """Orchestrator input (settings are passed in, not read during replay)."""
        return {
            "export_id": self.export_id,
            "container": self.container,
            "name": self.name,
            "etag": self.etag,
            "max_bytes": max_bytes,
        }


def label_upload_from_event(event: BlobEvent, labeled_container: str) -> LabelUpload | None:
    """The upload ``event`` reports, or None when it is no label file of an export.

    An unsafe export id or blob name in a matching container is an error, not a silent skip.
    """
    if event.event_type != BLOB_CREATED or event.data.api not in MANIFEST_APIS:
        return None
    container, name = blob_location(event.subject)
    if not container.startswith(labeled_container + "-") or not is_label_upload(name):
        return None
    source = f"{container}/{name}"
    export_id = container.removeprefix(labeled_container + "-")
    try:
        check_export_id(export_id, field="subject")
    except InvalidInputError as err:
        raise InvalidInputError(str(err), source=source) from err
    check_relative_path(name, field="subject", source=source)
    if not event.data.e_tag:
        raise InvalidInputError("event has no eTag", source=source, field="data.eTag")
    return LabelUpload(export_id=export_id, container=container, name=name, etag=event.data.e_tag)


def labeled_datastream_id(upload: LabelUpload, measurement_id: str) -> str:
    """The LABELED datastream of ``measurement_id`` made from this version of the file."""
    key = "|".join([upload.export_id, upload.name, upload.etag, measurement_id])
    return str(uuid.uuid5(LABELED_NAMESPACE, key))
