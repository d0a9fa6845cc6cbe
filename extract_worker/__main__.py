"""``python -m extract_worker``: the Batch task entry point."""

from __future__ import annotations

import sys

from extract_worker.cli import main

sys.exit(main())
