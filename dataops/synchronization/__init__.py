"""Synchronization: align every extracted sensor to a reference camera clock."""

from __future__ import annotations

from dataops.synchronization.alignment import Match, interpolate, nearest_match
from dataops.synchronization.config import SynchronizationConfig, load_synchronization_config
from dataops.synchronization.steps import (
    fail_synchronization,
    prepare_synchronization,
    run_synchronization,
)

__all__ = [
    "Match",
    "SynchronizationConfig",
    "fail_synchronization",
    "interpolate",
    "load_synchronization_config",
    "nearest_match",
    "prepare_synchronization",
    "run_synchronization",
]
