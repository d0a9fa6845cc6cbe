"""Extraction: plan batch jobs per recording, follow them, record what they produced."""

from __future__ import annotations

from dataops.extraction.config import ExtractionConfig, load_extraction_config
from dataops.extraction.plan import (
    PlannedJob,
    Recording,
    find_dbc_files,
    find_recordings,
    plan_jobs,
)
from dataops.extraction.steps import (
    JobRef,
    fail_extraction,
    poll_jobs,
    prepare_extraction,
    record_extraction,
)

__all__ = [
    "ExtractionConfig",
    "JobRef",
    "PlannedJob",
    "Recording",
    "fail_extraction",
    "find_dbc_files",
    "find_recordings",
    "load_extraction_config",
    "plan_jobs",
    "poll_jobs",
    "prepare_extraction",
    "record_extraction",
]
