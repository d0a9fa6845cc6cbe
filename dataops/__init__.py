"""AVOps DataOps domain core: models, manifest rules, zones, metadata store, blob zones.

Nothing in this package imports azure-functions: it is tested without a host and reused by
the Function App, the devhost and the extraction worker alike.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
