"""Metadata store: one protocol, two backends (``sqlite`` embedded default, ``cosmos``)."""

from __future__ import annotations

from dataops.store import protocol
from dataops.store.factory import open_store
from dataops.store.measurement_files import all_measurement_files
from dataops.store.protocol import *  # noqa: F403  # the protocol's names are the package's

__all__ = [*protocol.__all__, "all_measurement_files", "open_store"]  # noqa: PLE0604
