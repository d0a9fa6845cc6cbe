"""The Python worker's own indexing code finds our functions through main.py, as Azure does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: the worker imports the script module by file name, and an
# earlier import of function_app in this test process would hide import-order mistakes.
INDEX_SCRIPT = """
import json, os, sys
from azure_functions_runtime import loader
functions = loader.index_function_app(os.path.join(sys.argv[1], "main.py"))
print(json.dumps(sorted(f.get_function_name() for f in functions)))
"""

EXPECTED_FUNCTIONS = sorted(
    [
        "health",
        "on_landing_blob_created",
        "ingest",
        "ingest_check_upload",
        "ingest_hash_file",
        "ingest_register",
        "ingest_copy_file",
        "ingest_complete",
        "ingest_delete_landing",
        "ingest_fail",
    ]
)


def run_indexer(script_file_name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_SCRIPT_FILE_NAME": script_file_name, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT, str(ROOT)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_worker_indexes_exactly_our_functions_from_main_py() -> None:
    result = run_indexer("main.py")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == EXPECTED_FUNCTIONS


def test_worker_setting_and_sample_settings_agree() -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert (ROOT / values["PYTHON_SCRIPT_FILE_NAME"]).is_file()
