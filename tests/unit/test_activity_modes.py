"""``avops dev --activities``: where devhost runs the project's activities.

``auto`` (the default) puts the activities that wait on storage, the store or the batch service
in threads and the CPU-bound ones in processes; a process per hashing activity cost the large
drive about 8 s of app imports before its first extraction job.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from avops.cli import _register_commands, app
from avops.cli.activity_modes import activity_placement
from dataops.activity_contracts import ALL_CONTRACTS, io_bound_activities

CPU_BOUND = {"synchronize_run", "enrich_run", "detect_scenes_run", "clip_write", "label_import_run"}
# The critical path of an upload until its first extraction job.
INGEST_TO_FIRST_JOB = {
    "ingest_check_upload",
    "ingest_hash_file",
    "ingest_register",
    "ingest_copy_file",
    "ingest_complete",
    "ingest_delete_landing",
    "extract_prepare",
    "extract_poll",
}


def test_auto_runs_io_bound_activities_in_threads_and_cpu_bound_ones_in_processes() -> None:
    mode, threads = activity_placement("auto")
    assert mode == "process"
    assert threads >= INGEST_TO_FIRST_JOB
    assert not CPU_BOUND & threads
    # Every other contract is placed by its flag: nothing is in threads that is not I/O-bound.
    assert threads == {c.name for c in ALL_CONTRACTS if not c.cpu_bound}


def test_the_cpu_bound_flags_are_exactly_the_computing_activities() -> None:
    assert {c.name for c in ALL_CONTRACTS if c.cpu_bound} == CPU_BOUND
    assert io_bound_activities().isdisjoint(CPU_BOUND)


def test_process_and_thread_keep_their_meaning_and_extra_names_are_added() -> None:
    assert activity_placement("process") == ("process", set())
    assert activity_placement("thread") == ("thread", set())
    assert activity_placement("process", ["clip_write"]) == ("process", {"clip_write"})
    mode, threads = activity_placement("auto", ["synchronize_run"])
    assert mode == "process" and "synchronize_run" in threads


def test_an_unknown_mode_is_refused_naming_the_option() -> None:
    with pytest.raises(typer.BadParameter, match="auto, process, thread"):
        activity_placement("processes")


def test_avops_dev_refuses_an_unknown_mode_before_starting_anything(tmp_path: Path) -> None:
    _register_commands()
    result = CliRunner().invoke(
        app,
        ["dev", "--activities", "fast", "--state-dir", str(tmp_path / "state"), "--no-azurite"],
    )
    assert result.exit_code == 2, result.output
    assert "--activities" in result.output and "'fast'" in result.output
    assert not (tmp_path / "state" / "devhost.sqlite3").exists()
