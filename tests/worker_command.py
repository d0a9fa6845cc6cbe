"""The extract worker's ``run`` command line, as tests and benchmarks start it."""

from __future__ import annotations

import sys


def worker_run(
    task: str, input_path: str, output_path: str, *extra: str, python: str = sys.executable
) -> list[str]:
    """``python -m extract_worker run --task ... --input ... --output ...`` plus ``extra``.

    ``python`` defaults to this interpreter (a local run); a Batch task spec names ``"python"``,
    the interpreter on the node's image, as the extraction plan does.
    """
    return [
        python,
        "-m",
        "extract_worker",
        "run",
        "--task",
        task,
        "--input",
        input_path,
        "--output",
        output_path,
        *extra,
    ]
