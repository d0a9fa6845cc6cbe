"""docs/manifest.schema.json is generated from the model and kept current."""

from __future__ import annotations

import json
from pathlib import Path

from dataops.schema_export import manifest_schema, manifest_schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_schema_matches_the_model() -> None:
    checked_in = (ROOT / "docs" / "manifest.schema.json").read_text()
    assert checked_in == manifest_schema_text(), "run `make schema` and commit docs/"


def test_schema_forbids_unknown_fields_and_requires_the_core_fields() -> None:
    schema = manifest_schema()
    assert schema["additionalProperties"] is False
    assert {"schema_version", "vehicle_id", "recording_start", "recording_end", "files"} <= set(
        schema["required"]
    )
    json.dumps(schema)
