"""Extraction task shapes on the small sample drive: a task per kind against a task per recording.

The plan's own command lines (``plan_jobs``) for the sample drive (seed 3), run one after
another from this process against Azurite, as the local pool runs them: the reference is a
task per (recording, kind), the shape before ``combine_kinds_max_mb`` (the setting at 0); the
new shape is the default, one task per recording running all its kinds. Reported per shape:
task processes, CPU seconds of the task processes (``getrusage(RUSAGE_CHILDREN)`` of this
process around them: CPU time, valid on a loaded machine), MB downloaded and storage requests
(``bench.task_probe`` in every task), and the largest peak RSS of one task. Both shapes must
commit the same files.

Run with ``pytest bench/bench_extract_kinds.py -m bench -s``; results go to
bench/results/extract_kinds.json.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bench._common import ROOT, write_results
from bench.task_probe import probe_site
from dataops.extraction import (
    find_dbc_files,
    find_recordings,
    load_extraction_config,
    plan_jobs,
)
from dataops.manifest import parse_manifest
from dataops.models import FileRecord
from dataops.paths import Zone, join_path
from dataops.storage import BlobZones, ConnectionStringZones
from devhost.services.azurite import AzuriteBlob

RAW_PREFIX = "2026/01/02/VIN/m1/raw1"
SHAPES = {"a task per kind (reference)": 0, "a task per recording": 512}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_shape(
    name: str,
    limit_mb: int,
    *,
    files: list[FileRecord],
    zones: BlobZones,
    env: dict[str, str],
    work: Path,
) -> dict[str, Any]:
    """Run every task of the plan for ``limit_mb``; what they cost and what they committed."""
    slug = "per-recording" if limit_mb else "per-kind"
    config = load_extraction_config().model_copy(update={"combine_kinds_max_mb": limit_mb})
    extracted_prefix = f"bench/{slug}"
    jobs = plan_jobs(
        find_recordings(files),
        config,
        raw_prefix=RAW_PREFIX,
        extracted_prefix=extracted_prefix,
        measurement_id="m1",
        datastream_id=slug,
        instance_id="bench",
        dbc_files=find_dbc_files(files),
    )
    roots = {
        "{zone:raw}": zones.container_url(Zone.RAW),
        "{zone:extracted}": zones.container_url(Zone.EXTRACTED),
    }
    probes = work / f"probes-{slug}"
    probes.mkdir()
    scratch = work / f"scratch-{slug}"
    scratch.mkdir()
    tasks = 0
    before = _children_cpu_s()
    for job in jobs:
        for task_id in job.spec.topological_order():
            command = job.spec.task(task_id).command
            argv = [sys.executable if arg == "python" else arg for arg in command]
            for placeholder, root in roots.items():
                argv = [arg.replace(placeholder, root) for arg in argv]
            task_env = {
                **env,
                "AVOPS_PROBE_DIR": str(probes),
                "AZ_BATCH_JOB_ID": job.spec.job_id,
                "AZ_BATCH_TASK_ID": task_id,
                "AZ_BATCH_TASK_WORKING_DIR": str(scratch),
            }
            done = subprocess.run(argv, env=task_env, capture_output=True, text=True, check=False)
            assert done.returncode == 0, f"{name} {task_id}: {done.stderr[-3000:]}"
            tasks += 1
    cpu_s = _children_cpu_s() - before
    records = [json.loads(path.read_text()) for path in sorted(probes.glob("*.json"))]
    assert len(records) == tasks, (len(records), tasks)
    committed = sorted(
        blob.path[len(extracted_prefix) + 1 :]
        for blob in zones.list_blobs(Zone.EXTRACTED, extracted_prefix)
    )
    return {
        "shape": name,
        "combine_kinds_max_mb": limit_mb,
        "tasks": tasks,
        "cpu_s": round(cpu_s, 2),
        "mb_received": round(sum(r["bytes_received"] for r in records) / 1e6, 1),
        "mb_sent": round(sum(r["bytes_sent"] for r in records) / 1e6, 1),
        "requests": sum(r["requests"] for r in records),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in records), 1),
        "committed": committed,
    }


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_one_task_per_recording_against_one_task_per_kind(tmp_path: Path) -> None:
    from avops.sample_drive import generate_drive

    drive = tmp_path / "drive"
    generate_drive(drive, seed=3, size="small")
    manifest = parse_manifest((drive / "manifest.json").read_bytes())
    files = [FileRecord(path=f.path, format=f.format, size=f.size) for f in manifest.files]
    site = probe_site(tmp_path)
    rows = []
    with AzuriteBlob(tmp_path / "azurite", loose=True) as azurite:
        prefix = f"k{uuid.uuid4().hex[:8]}-"
        zones = BlobZones(ConnectionStringZones(azurite.connection_string, container_prefix=prefix))
        zones.ensure_containers([Zone.RAW, Zone.EXTRACTED])
        for item in files:
            zones.upload_file(Zone.RAW, join_path(RAW_PREFIX, item.path), drive / item.path)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        }
        for name, limit_mb in SHAPES.items():
            row = _run_shape(name, limit_mb, files=files, zones=zones, env=env, work=tmp_path)
            rows.append(row)
    input_mb = sum(item.size for item in files) / 1e6
    reference, combined = rows
    # The same files, whatever the shape.
    assert combined["committed"] == reference["committed"]
    print(f"\nsample drive (seed 3): {input_mb:.1f} MB, {len(files)} files")
    print("| shape | tasks | CPU s | MB received | MB sent | requests | max peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['shape']} | {row['tasks']} | {row['cpu_s']} | {row['mb_received']} | "
            f"{row['mb_sent']} | {row['requests']} | {row['peak_rss_mb']} |"
        )
    cpu = combined["cpu_s"] / reference["cpu_s"]
    received = combined["mb_received"] / reference["mb_received"]
    print(f"per recording / per kind: CPU {cpu:.2f}x, MB received {received:.2f}x")
    write_results(
        "extract_kinds",
        {
            "input_mb": round(input_mb, 1),
            "rows": [{k: v for k, v in row.items() if k != "committed"} for row in rows],
            "committed_files": len(reference["committed"]),
        },
    )
