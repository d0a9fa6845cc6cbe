"""Synchronization: align every extracted sensor to a reference camera clock."""

from __future__ import annotations

from dataops.synchronization.alignment import Match, interpolate, nearest_match
from dataops.synchronization.config import SynchronizationConfig, load_synchronization_config
from dataops.synchronization.routing import DOWNSTREAM, DownstreamStart, downstream_starts
from dataops.synchronization.steps import (
    fail_synchronization,
    prepare_synchronization,
    run_synchronization,
)

__all__ = [
    "DOWNSTREAM",
    "DownstreamStart",
    "Match",
    "SynchronizationConfig",
    "downstream_starts",
    "fail_synchronization",
    "interpolate",
    "load_synchronization_config",
    "nearest_match",
    "prepare_synchronization",
    "run_synchronization",
]
