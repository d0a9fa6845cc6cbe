"""One MCAP metadata measurement in its own process (peak RSS belongs to it alone).

``python -m bench.mcap_metadata_probe MODE FILE.mcap OUT_DIR`` prints one JSON line: messages,
seconds and peak RSS. MODE ``ours`` runs the worker's ``metadata`` task (what
``python -m extract_worker run --task metadata`` does, without the interpreter's start);
``plain`` is the reference: the mcap library's ``make_reader(f).iter_messages()``, counting
messages and first/last log time per channel, the same facts ``metadata`` reports.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from mcap.reader import make_reader

from extract_worker.config import load_config
from extract_worker.limits import tune_malloc
from extract_worker.run import run_local_task


def peak_rss_mb() -> float:
    # VmHWM is this process's own high-water mark; ru_maxrss would carry the parent's over exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _plain(path: Path) -> int:
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    with path.open("rb") as handle:
        for _, channel, message in make_reader(handle).iter_messages():
            cid = channel.id
            counts[cid] = counts.get(cid, 0) + 1
            first.setdefault(cid, message.log_time)
            last[cid] = message.log_time
    return sum(counts.values())


def _ours(path: Path, out: Path) -> int:
    shutil.rmtree(out, ignore_errors=True)
    manifest = run_local_task(
        kind="metadata", input_path=path, output=out, config=load_config(None)
    )
    summary = manifest["metadata"]
    return int(summary["message_count"])


def report(mode: str, messages: int, started: float) -> None:
    """Print the measurement's JSON line: messages, seconds since ``started``, peak RSS."""
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"mode": mode, "messages": messages, "seconds": seconds, "peak_mb": peak_rss_mb()}
        )
    )


def main() -> None:
    mode, path, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    tune_malloc()  # both sides get what the worker's CLI applies at start
    started = time.perf_counter()
    messages = _ours(path, out) if mode == "ours" else _plain(path)
    report(mode, messages, started)


if __name__ == "__main__":
    main()
