"""Fixtures of the extract worker tests: recordings written into tmp_path per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from extract_worker.config import ExtractConfig, load_config
from tests.extract_worker.recordings import ROS_FORMATS, write_recording

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(params=ROS_FORMATS)
def ros_recording(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The fixture drive in every ROS container: ROS 1 (plain, bz2, lz4), ROS 2, bare MCAP (ros2
    and ros1 profiles)."""
    return write_recording(str(request.param), tmp_path)


@pytest.fixture
def config() -> ExtractConfig:
    """The checked-in default config."""
    return load_config(None)
