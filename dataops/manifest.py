"""Parsing a manifest from bytes: size cap first, then JSON, then the schema, errors by field."""

from __future__ import annotations

import json

from pydantic import ValidationError

from dataops.errors import InvalidInputError
from dataops.ids import derive_measurement_id
from dataops.models import Manifest

__all__ = ["DEFAULT_MAX_MANIFEST_BYTES", "measurement_id_of", "parse_manifest"]

DEFAULT_MAX_MANIFEST_BYTES = 1024 * 1024


def parse_manifest(
    data: bytes, *, source: str = "manifest.json", max_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
) -> Manifest:
    """Validate manifest bytes; raise InvalidInputError naming the file and the field path."""
    if len(data) > max_bytes:
        raise InvalidInputError(
            f"manifest is {len(data)} bytes, more than the limit of {max_bytes}", source=source
        )
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"not valid JSON: {err}", source=source) from err
    if not isinstance(document, dict):
        raise InvalidInputError("top level must be a JSON object", source=source)
    try:
        return Manifest.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(root)"
        more = f" (and {err.error_count() - 1} more errors)" if err.error_count() > 1 else ""
        raise InvalidInputError(f"{first['msg']}{more}", source=source, field=field) from err


def measurement_id_of(manifest: Manifest) -> str:
    """The manifest's own id, or the UUIDv5 derived from its content."""
    if manifest.measurement_id is not None:
        return manifest.measurement_id
    return derive_measurement_id(
        manifest.vehicle_id, manifest.recording_start, (f.sha256 for f in manifest.files)
    )
