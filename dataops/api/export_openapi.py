"""``python -m dataops.api.export_openapi [PATH]``: write the OpenAPI document to PATH."""

from __future__ import annotations

import sys
from pathlib import Path

from dataops.api.openapi import write_document

if __name__ == "__main__":
    write_document(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json"))
