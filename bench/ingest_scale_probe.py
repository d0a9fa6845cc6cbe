"""Where does an orchestrated ingest spend its CPU, per file? A measuring driver, not a test.

Uploads ``--files`` files to Azurite, runs the ``ingest`` orchestration under devhost (thread
activities, as ``bench_ingest_waves.py`` does) and prints per-file counts that must stay flat
when the upload grows: host and Azurite CPU seconds, replay passes and events replayed, SQL
statements (by statement text) and the time spent in them, bytes of orchestration inputs,
outputs and engine state in the durable store. With ``--profile PATH`` every thread of the host
runs under cProfile (thread CPU time) and the merged statistics are written to PATH.

    .venv/bin/python -m bench.ingest_scale_probe --files 1000 --profile ingest-1000.prof

CPU seconds and counts are what to compare between sizes on a shared machine; wall time is not.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from activities import runtime
from bench.bench_ingest_waves import host_options, ingest_runs, start_ingest, upload_files
from dataops.ids import instance_id_for
from dataops.settings import Settings
from dataops.storage import BlobZones
from devhost.durable import engine as engine_module
from devhost.durable.store import TERMINAL, RuntimeStatus
from devhost.host import DevHost, HostOptions
from devhost.services.azurite import AzuriteBlob

PREFIX = "probe/waves"
INSTANCE_ID = instance_id_for("ingest", PREFIX)


class ThreadProfiles:
    """cProfile in every thread started while installed; merged into one pstats file."""

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._original_run = threading.Thread.run

    def install(self) -> None:
        profiles, lock, original = self._profiles, self._lock, self._original_run

        def run(thread: threading.Thread) -> None:
            # Thread CPU time, not wall time: waits on sockets and locks are not cost here.
            profile = cProfile.Profile(time.thread_time)
            with lock:
                profiles.append(profile)
            profile.enable()
            try:
                original(thread)
            finally:
                profile.disable()

        threading.Thread.run = run  # type: ignore[method-assign, assignment]

    def write(self, path: Path, main: cProfile.Profile) -> None:
        threading.Thread.run = self._original_run  # type: ignore[method-assign]
        stats = pstats.Stats(main)
        for profile in self._profiles:
            profile.disable()  # threads still alive (the loop's executor) stop counting here
            stats.add(profile)
        stats.dump_stats(str(path))


class SqlCounter:
    """Statements the durable store runs, by text, with the time of the whole transaction."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()

    def __call__(self, statement: str) -> None:
        self.statements[" ".join(statement.split())[:90]] += 1


def _cpu_of(pid: int | None) -> float:
    if pid is None:
        return 0.0
    proc = psutil.Process(pid)
    total = 0.0
    for one in [proc, *proc.children(recursive=True)]:
        times = one.cpu_times()
        total += times.user + times.system
    return total


async def _ingest(options: HostOptions, prefix: str, sql: SqlCounter) -> dict[str, Any]:
    host = DevHost(options)
    await host.start()
    passes = Counter[str]()
    replayed = Counter[str]()
    # The engine calls replay through its module's namespace: counted by swapping it there.
    names = vars(engine_module)
    original_replay = names["replay"]

    def counting_replay(*args: Any, **kwargs: Any) -> Any:
        instance_id = kwargs["instance_id"]
        kind = "parent" if instance_id == INSTANCE_ID else "wave" if ":" in instance_id else "other"
        passes[kind] += 1
        replayed[kind] += len(kwargs["history"])
        return original_replay(*args, **kwargs)

    names["replay"] = counting_replay
    host.db._conn.set_trace_callback(sql)  # measuring only
    try:
        start_ingest(host.engine, prefix)
        while True:
            found = host.engine.get_instance(INSTANCE_ID)
            if found is not None and found.status in TERMINAL:
                break
            await asyncio.sleep(0.2)
        assert found.status is RuntimeStatus.COMPLETED, found.error
        with host.db.read() as conn:
            row = conn.execute(
                "SELECT SUM(LENGTH(input)), SUM(LENGTH(output)), SUM(LENGTH(state)), COUNT(*) "
                "FROM instances"
            ).fetchone()
            history = conn.execute("SELECT COUNT(*), SUM(LENGTH(event)) FROM history").fetchone()
        return {
            "ingest_runs": ingest_runs(host.engine),
            "passes": dict(passes),
            "events_replayed": dict(replayed),
            "instances": row[3],
            "input_bytes": row[0],
            "output_bytes": row[1],
            "state_bytes": row[2],
            "history_events": history[0],
            "history_bytes": history[1],
        }
    finally:
        host.db._conn.set_trace_callback(None)
        names["replay"] = original_replay
        await host.stop()


def probe(files: int, profile_path: Path | None, work: Path) -> dict[str, Any]:
    """Upload ``files`` files, ingest them under devhost, return the measurements."""
    with AzuriteBlob(work / "azurite") as azurite:
        os.environ["AVOPS_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        os.environ["AVOPS_SQLITE_PATH"] = str(work / "metadata.sqlite3")
        os.environ["AVOPS_EXTRACT_ON_INGEST"] = "false"
        runtime.reset()
        zones = BlobZones.from_settings(Settings())
        zones.ensure_containers()
        upload_files(zones, PREFIX, "WVW-PROBE-001", files)
        options = host_options(work / "devhost", azurite.connection_string)
        sql = SqlCounter()
        profiles = ThreadProfiles()
        main = cProfile.Profile(time.thread_time)
        if profile_path is not None:
            profiles.install()
            main.enable()
        azurite_cpu = _cpu_of(azurite.pid)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter()
        counts = asyncio.run(_ingest(options, PREFIX, sql))
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_SELF)
        azurite_cpu = _cpu_of(azurite.pid) - azurite_cpu
        if profile_path is not None:
            main.disable()
            profiles.write(profile_path, main)
        zones.close()
        runtime.reset()
    host_cpu = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return {
        "files": files,
        "wall_s": round(wall, 1),
        "host_cpu_s": round(host_cpu, 1),
        "host_cpu_ms_per_file": round(host_cpu / files * 1000, 2),
        "azurite_cpu_ms_per_file": round(azurite_cpu / files * 1000, 2),
        **counts,
        "sql_statements": sum(sql.statements.values()),
        "sql_per_file": round(sum(sql.statements.values()) / files, 1),
        "top_sql": sql.statements.most_common(12),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avops-ingest-probe-") as work:
        result = probe(args.files, args.profile, Path(work))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
