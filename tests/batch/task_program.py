"""A stand-in task for the local pool tests: counts its runs, sleeps, exits as scripted.

    python task_program.py --name NAME --dir DIR [--codes 3,0] [--sleep 30,0] [--say TEXT]

Appends ``start``/``end`` events (with times) to DIR/events, its run number to DIR/NAME.runs
and, after a successful run, ``NAME`` to DIR/commits (what a committed output would be: a
run killed before its end never commits). The n-th run sleeps the n-th value of --sleep and exits
with the n-th code of --codes (the last value repeats).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _append(path: Path, line: str) -> None:
    # O_APPEND writes of one short line are atomic, so concurrent runs never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--codes", default="0")
    parser.add_argument("--sleep", default="0")
    parser.add_argument("--say", default="")
    args = parser.parse_args()
    runs = args.dir / f"{args.name}.runs"
    _append(runs, f"{os.getpid()}\n")
    run = len(runs.read_text().splitlines())
    codes = [int(code) for code in args.codes.split(",")]
    code = codes[min(run, len(codes)) - 1]
    sleeps = [float(value) for value in args.sleep.split(",")]
    sleep = sleeps[min(run, len(sleeps)) - 1]
    _append(args.dir / "events", f"start {args.name} {time.time()}\n")
    if args.say:
        print(args.say, flush=True)
        print(f"{args.say} on stderr", file=sys.stderr, flush=True)
    time.sleep(sleep)
    _append(args.dir / "events", f"end {args.name} {time.time()}\n")
    if code == 0:
        _append(args.dir / "commits", f"{args.name}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
