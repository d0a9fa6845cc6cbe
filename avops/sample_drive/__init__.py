"""Synthetic but consistent test drives: ROS 1/2 bags, MDF4 + DBC, TDMS, truth and manifest."""

from __future__ import annotations

from avops.sample_drive.generate import DriveSummary, ProgressCallback, generate_drive

__all__ = ["DriveSummary", "ProgressCallback", "generate_drive"]
