"""The Python worker's own indexing code finds our functions through main.py, as Azure does."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.python_run import run_python

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: the worker imports the script module by file name, and an
# earlier import of function_app in this test process would hide import-order mistakes.
INDEX_SCRIPT = """
import json, os, sys, types
from azure_functions_runtime import functions as worker_functions, loader
from azure_functions_runtime.bindings import meta

# What the worker does on FunctionsMetadataRequest: index the script, then load each function
# into its registry, which checks every parameter against its binding and type annotation.
meta.load_binding_registry()
indexed = loader.index_function_app(os.path.join(sys.argv[1], "main.py"))
# The worker passes its generated gRPC protos; only BindingInfo's direction constants are read.
protos = types.SimpleNamespace(
    BindingInfo=types.SimpleNamespace(in_=0, out=1, inout=2, undefined=None)
)
registry = worker_functions.Registry()
errors = []
for function in indexed:
    try:
        registry.add_indexed_function(function, protos)
    except Exception as err:
        errors.append(f"{function.get_function_name()}: {err}")
print(json.dumps({"functions": sorted(f.get_function_name() for f in indexed), "errors": errors}))
"""

# One HTTP trigger per route template of the route table (dataops/api/routes.py).
HTTP_FUNCTIONS = [
    "http_health",
    "http_measurements",
    "http_measurements_id",
    "http_measurements_id_datastreams",
    "http_measurements_id_files",
    "http_measurements_id_rerun",
    "http_measurements_id_extract",
    "http_measurements_id_erase",
    "http_vehicles_vehicle_id_erase",
    "http_datastreams_id",
    "http_datastreams_id_files",
    "http_datastreams_id_lineage",
    "http_datastreams_id_rerun",
    "http_uploads_path",
    "http_locations",
    "http_scenes",
    "http_scenes_id_clip",
    "http_measurements_id_clip",
    "http_frames",
    "http_runs_id",
    # Azure Batch release tasks signal a job's end here, with the job's token (docs/batch.md).
    "http_runs_id_batch_jobs_job_id_done",
    "http_landing_stranded",
    "http_deadletters",
    "http_deadletters_id_redrive",
    "http_label_exports",
    "http_label_exports_id",
    "http_label_exports_id_imports",
    "http_label_exports_id_revoke",
    "http_openapi_json",
    "http_docs",
    # The Data Explorer's pages, assets and drive data (docs/explorer.md).
    "http_explorer",
    "http_explorer_measurements_id",
    "http_explorer_drives_id",
    "http_explorer_search",
    "http_explorer_labeling",
    "http_explorer_scenes_id_clip",
    "http_explorer_clips_id",
    "http_explorer_assets_path",
    "http_drives_id_track",
    "http_drives_id_signals",
    "http_drives_id_scenes",
    "http_drives_id_frames",
    "http_drives_id_frames_frame_image",
]

EXPECTED_FUNCTIONS = sorted(
    [
        *HTTP_FUNCTIONS,
        "on_landing_blob_created",
        "ingest",
        "ingest_files",
        "ingest_check_upload",
        "ingest_hash_file",
        "ingest_register",
        "ingest_copy_file",
        "ingest_complete",
        "ingest_delete_landing",
        "ingest_fail",
        "extract",
        "extract_prepare",
        "extract_poll",
        "extract_record",
        "extract_fail",
        "on_datastream_changed",
        "synchronize",
        "synchronize_prepare",
        "synchronize_run",
        "synchronize_fail",
        "enrich",
        "enrich_prepare",
        "enrich_run",
        "enrich_fail",
        "detect_scenes",
        "detect_scenes_prepare",
        "detect_scenes_run",
        "detect_scenes_fail",
        "reconcile_ingest",
        "on_labeled_blob_created",
        "label_import",
        "label_import_run",
        "label_import_fail",
        "label_export",
        "label_export_plan",
        "label_export_copy",
        "label_export_finish",
        "label_export_fail",
        "clip",
        "clip_write",
        "clip_fail",
        "erase",
        "erase_blobs",
        "erase_pool_jobs",
        "erase_store",
        "erase_finish",
        "erase_fail",
    ]
)


def run_indexer(script_file_name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_SCRIPT_FILE_NAME": script_file_name, "PYTHONPATH": str(ROOT)}
    return run_python("-c", INDEX_SCRIPT, str(ROOT), env=env, cwd=ROOT, timeout=120)


def test_worker_indexes_and_loads_exactly_our_functions_from_main_py() -> None:
    result = run_indexer("main.py")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["functions"] == EXPECTED_FUNCTIONS


def test_worker_setting_and_sample_settings_agree() -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert (ROOT / values["PYTHON_SCRIPT_FILE_NAME"]).is_file()
