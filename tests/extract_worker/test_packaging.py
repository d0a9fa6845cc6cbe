"""The worker image: pins agree with constraints, the image copies every dataops module used."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_worker_pins_match_constraints() -> None:
    worker = _pins(ROOT / "extract_worker" / "requirements.txt")
    constraints = _pins(ROOT / "constraints.txt")
    assert worker
    assert {name: constraints.get(name) for name in worker} == worker


def modules_loaded_by(*modules: str) -> set[str]:
    """Every module a fresh interpreter has loaded after importing ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(done.stdout))


def test_dockerfile_copies_every_dataops_module_the_worker_imports() -> None:
    loaded = modules_loaded_by(
        "extract_worker.cli",
        "extract_worker.run",
        "extract_worker.blob_io",
        "extract_worker.readers.ros",
        "extract_worker.readers.mdf",
        "extract_worker.readers.tdms",
        "extract_worker.extractors.camera",
        "extract_worker.extractors.can",
        "extract_worker.extractors.pointcloud",
        "extract_worker.extractors.groups",
        # The Batch job release task runs it in the same image.
        "extract_worker.notify",
    )
    used = {m for m in loaded if m.startswith("dataops")}
    dockerfile = (ROOT / "extract_worker" / "Dockerfile").read_text()
    (copy_line,) = [line for line in dockerfile.splitlines() if line.startswith("COPY dataops/")]
    copied = {
        "dataops" if p == "dataops/__init__.py" else p.removesuffix(".py").replace("/", ".")
        for p in copy_line.split()[1:-1]
    }
    assert used
    assert used <= copied
    assert "USER worker" in dockerfile


def test_worker_never_imports_the_functions_host() -> None:
    loaded = modules_loaded_by(
        "extract_worker.cli",
        "extract_worker.run",
        "extract_worker.blob_io",
        "extract_worker.notify",
    )
    host = {"azure_functions", "function_app", "devhost", "orchestrators", "activities"}
    bad = [
        m
        for m in loaded
        if m.split(".")[0] in host or m.startswith(("azure.functions", "azure.durable_functions"))
    ]
    assert bad == []
