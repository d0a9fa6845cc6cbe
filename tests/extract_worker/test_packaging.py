"""The worker image: pins agree with constraints, the image copies every dataops module used."""

from __future__ import annotations

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


def test_dockerfile_copies_every_dataops_module_the_worker_imports() -> None:
    code = (
        "import sys\n"
        "import extract_worker.cli, extract_worker.run, extract_worker.blob_io\n"
        "import extract_worker.readers.ros, extract_worker.readers.mdf\n"
        "import extract_worker.readers.tdms\n"
        "import extract_worker.extractors.camera, extract_worker.extractors.can\n"
        "import extract_worker.extractors.pointcloud, extract_worker.extractors.groups\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('dataops'))))\n"
    )
    used = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    dockerfile = (ROOT / "extract_worker" / "Dockerfile").read_text()
    (copy_line,) = [line for line in dockerfile.splitlines() if line.startswith("COPY dataops/")]
    copied = {
        "dataops" if p == "dataops/__init__.py" else p.removesuffix(".py").replace("/", ".")
        for p in copy_line.split()[1:-1]
    }
    assert set(used) <= copied
    assert "USER worker" in dockerfile


def test_worker_never_imports_the_functions_host() -> None:
    code = (
        "import sys\n"
        "from extract_worker.cli import main\n"
        "import extract_worker.run, extract_worker.blob_io\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'azure_functions', 'function_app', 'devhost', 'orchestrators', 'activities'}"
        " or m.startswith('azure.functions') or m.startswith('azure.durable_functions')]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert out == "[]"
