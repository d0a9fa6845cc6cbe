"""Write the manifest's JSON Schema (generated from the pydantic model) to a file.

``python -m dataops.schema_export docs/manifest.schema.json``; a test keeps the file current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dataops.models import Manifest

__all__ = ["manifest_schema", "manifest_schema_text"]


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of manifest.json."""
    schema = Manifest.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def manifest_schema_text() -> str:
    """The schema as the exact text checked into docs/."""
    return json.dumps(manifest_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the schema to ``argv[0]``."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m dataops.schema_export OUT_FILE\n")
        return 2
    Path(argv[0]).write_text(manifest_schema_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
