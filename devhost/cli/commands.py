"""Imports every command module so that each registers itself on the ``avops`` app."""

from __future__ import annotations

from devhost.cli import (
    clip,  # noqa: F401
    demo,  # noqa: F401
    dev,  # noqa: F401
    erase,  # noqa: F401
    export_labels,  # noqa: F401
    import_status,  # noqa: F401
    metadata,  # noqa: F401
    rerun,  # noqa: F401
    runs,  # noqa: F401
    sample,  # noqa: F401
    search,  # noqa: F401
    stranded,  # noqa: F401
    upload,  # noqa: F401
)
