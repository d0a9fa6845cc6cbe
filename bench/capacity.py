"""Capacity model: what each stage costs per GB of drive data, and what that means at fleet scale.

``python -m bench.capacity measure --size small|large`` sends one sample drive through the whole
local stack (bench/fleet_stack.py: upload -> ingest -> extraction -> synchronize -> enrich ->
detect_scenes) and writes, per stage: CPU seconds per GB (thread CPU of the stage's activities
plus CPU of its batch task processes: independent of the machine's load), peak RSS, bytes sent
and received, storage requests (one request = one billable transaction) and store writes (the
SQLite store's change log sequence), to bench/results/capacity-<size>.json.

``python -m bench.capacity table --size small`` prints one drive's stages as Markdown;
``python -m bench.capacity model`` turns the measurements and bench/prices.json
(list prices with source and date, to be checked) into resources, monthly cost and the limit
that binds first at 10 TB, 100 TB and 1 PB per day, as Markdown (docs/capacity.md).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bench.fleet_stack import (
    RESULTS,
    Stack,
    merged_seconds,
    probes,
    services,
    stack,
    upload,
    wait_for_scenes,
)

PRICES = Path(__file__).resolve().parent / "prices.json"
STAGES = ("upload", "ingest", "extract", "synchronize", "enrich", "detect_scenes")
GB = 1e9


def stage_of(activity: str) -> str:
    """The pipeline stage an activity belongs to (by its name prefix)."""
    for stage in STAGES[1:]:
        if activity.startswith(f"{stage}_"):
            return stage
    return "other"


class Sampler:
    """Samples the host's resident memory and the store's change-log sequence every 0.2 s."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append((time.time(), _rss_mb(), self._sequence()))

    def _sequence(self) -> int:
        try:
            with sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=5) as conn:
                row = conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
                ).fetchone()
        except sqlite3.Error:
            return self.samples[-1][2] if self.samples else 0
        return int(row[0]) if row else 0

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Interval:
    stage: str
    start: float
    end: float


async def _one_drive(stack_: Stack, drive: Path, sampler: Sampler) -> dict[str, Any]:
    started = time.time()
    await asyncio.to_thread(upload, stack_, drive, "capacity/drive-1")
    uploaded = time.time()
    chain = await wait_for_scenes(stack_.host, "capacity/drive-1", timeout_s=3600)
    await asyncio.sleep(1.5)  # the sampler's last store-write samples
    return {"started": started, "uploaded": uploaded, **chain}


def measure(size: Literal["small", "large"], workdir: Path) -> dict[str, Any]:
    """Run one drive of ``size`` through the stack and aggregate per stage."""
    from avops.sample_drive import generate_drive

    drive = generate_drive(workdir / "drive", seed=1, size=size)
    with services(workdir / "stack") as (azurite, settings):

        async def run() -> tuple[dict[str, Any], Stack]:
            async with stack(workdir / "stack", azurite, settings) as stack_:
                with Sampler(settings.sqlite_path) as sampler:
                    chain = await _one_drive(stack_, drive.out_dir, sampler)
                return {"chain": chain, "samples": sampler.samples}, stack_

        result, stack_ = asyncio.run(run())
    return aggregate(result, stack_, drive.total_bytes, size)


def aggregate(result: dict[str, Any], stack_: Stack, drive_bytes: int, size: str) -> dict[str, Any]:
    """Per-stage numbers (see the module docstring) and the latency against the critical path."""
    chain = result["chain"]
    gb = drive_bytes / GB
    intervals = [Interval("upload", chain["started"], chain["uploaded"])]
    intervals += [Interval(stage_of(r.name), r.start, r.end) for r in stack_.runner.runs]
    tasks = probes(stack_.probe_dir)
    intervals += [Interval("extract", t["start"], t["end"]) for t in tasks]
    merged = {
        stage: _merge([(i.start, i.end) for i in intervals if i.stage == stage])
        for stage in (*STAGES, "other")
    }
    # Each request of this process goes to one stage: the first (in this order) that had an
    # activity running at that moment; the batch tasks count their own.
    order = ("upload", "ingest", "synchronize", "enrich", "detect_scenes", "extract", "other")
    per_stage: dict[str, list[tuple[float, str, int, int]]] = {stage: [] for stage in order}
    for call in stack_.requests.calls:
        for stage in order:
            if any(start <= call[0] <= end for start, end in merged[stage]):
                per_stage[stage].append(call)
                break
    stages: dict[str, dict[str, Any]] = {}
    for stage in (*STAGES, "other"):
        if not merged[stage]:
            continue
        runs = [r for r in stack_.runner.runs if stage_of(r.name) == stage]
        stage_tasks = tasks if stage == "extract" else []
        cpu = sum(r.cpu_s for r in runs) + sum(t["cpu_s"] for t in stage_tasks)
        calls = per_stage[stage]
        requests = {
            "requests": len(calls) + sum(int(t["requests"]) for t in stage_tasks),
            "read_requests": sum(1 for c in calls if c[1] in ("GET", "HEAD"))
            + sum(int(t["read_requests"]) for t in stage_tasks),
            "write_requests": sum(1 for c in calls if c[1] not in ("GET", "HEAD"))
            + sum(int(t["write_requests"]) for t in stage_tasks),
            "bytes_sent": sum(c[2] for c in calls) + sum(int(t["bytes_sent"]) for t in stage_tasks),
            "bytes_received": sum(c[3] for c in calls)
            + sum(int(t["bytes_received"]) for t in stage_tasks),
        }
        rss = [s[1] for s in result["samples"] if any(a <= s[0] <= b for a, b in merged[stage])]
        stages[stage] = {
            "activities": len(runs),
            "batch_tasks": len(stage_tasks),
            "busy_s": round(sum(b - a for a, b in merged[stage]), 2),
            "cpu_s": round(cpu, 2),
            "activity_cpu_s": round(sum(r.cpu_s for r in runs), 3),
            "cpu_s_per_gb": round(cpu / gb, 2),
            "host_peak_rss_mb": round(max(rss), 1) if rss else None,
            "task_peak_rss_mb": (
                round(max(t["peak_rss_mb"] for t in stage_tasks), 1) if stage_tasks else None
            ),
            **requests,
            "requests_per_gb": round(requests["requests"] / gb, 1),
            "store_writes": _store_writes(result["samples"], merged[stage]),
        }
    all_intervals = [(i.start, i.end) for i in intervals]
    critical = merged_seconds(all_intervals)
    latency = chain["scenes_at"] - chain["started"]
    unattributed = len(stack_.requests.calls) - sum(len(v) for v in per_stage.values())
    return {
        "size": size,
        "drive_bytes": drive_bytes,
        "latency_s": round(latency, 1),
        "critical_path_s": round(critical, 1),
        "latency_over_critical_path": round(latency / critical, 2),
        "target_s": round(1.3 * critical + 5, 1),
        "upload_to_extracted_s": round(chain["extracted_at"] - chain["started"], 1),
        "stages": stages,
        # Requests outside any stage: devhost's own (the Event Grid stand-in lists blobs).
        "unattributed_requests": unattributed,
        "store_writes_total": result["samples"][-1][2] if result["samples"] else 0,
        # File records are documents too (one Cosmos write each) but not in the change log.
        "file_records": _file_records(stack_.settings.sqlite_path),
    }


def _file_records(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])


def _store_writes(samples: list[tuple[float, float, int]], spans: list[tuple[float, float]]) -> int:
    """Change-log growth in the sampling periods that end inside (or just after) the spans."""
    writes = 0
    for before, after in itertools.pairwise(samples):
        if any(start <= after[0] <= end + 0.2 for start, end in spans):
            writes += after[2] - before[2]
    return writes


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# --- model ------------------------------------------------------------------------------------
SCALES_TB_PER_DAY = (10, 100, 1000)
SECONDS_PER_MONTH = 730 * 3600


def _price(prices: dict[str, Any], key: str) -> float:
    return float(prices["prices"][key]["value"])


def _drive_metrics(measured: dict[str, Any]) -> dict[str, float]:
    """What one measured drive cost, summed over its stages."""
    stages = measured["stages"]
    downstream = [v for k, v in stages.items() if k not in ("upload", "extract")]
    return {
        "gb": measured["drive_bytes"] / GB,
        # Batch: the task processes; Functions: every activity (extract_* ones too).
        "extract_cpu_s": stages["extract"]["cpu_s"] - stages["extract"].get("activity_cpu_s", 0.0),
        "function_cpu_s": sum(v["cpu_s"] for v in downstream)
        + stages["extract"].get("activity_cpu_s", 0.0),
        "write_requests": sum(v["write_requests"] for v in stages.values()),
        "read_requests": sum(v["read_requests"] for v in stages.values()),
        "store_writes": sum(v["store_writes"] for v in stages.values())
        + measured.get("file_records", 0),
        "executions": sum(v["activities"] for k, v in stages.items() if k != "upload"),
        "upload_writes": stages["upload"]["write_requests"],
        "output_bytes": stages["extract"]["bytes_sent"],
        "read_bytes": sum(v["bytes_received"] for v in stages.values()),
    }


def per_gb(measurements: list[dict[str, Any]], drive_gb: float) -> dict[str, float]:
    """Cost per GB for drives of ``drive_gb``: a straight line (fixed per drive + per GB)
    through the small and the large measurement, or the one measurement as it is."""
    points = sorted((_drive_metrics(m) for m in measurements), key=lambda p: p["gb"])
    if len(points) == 1:
        only = points[0]
        return {k: v / only["gb"] for k, v in only.items() if k != "gb"}
    low, high = points[0], points[-1]
    out: dict[str, float] = {}
    for key in low:
        if key == "gb":
            continue
        slope = max(0.0, (high[key] - low[key]) / (high["gb"] - low["gb"]))
        fixed = max(0.0, low[key] - slope * low["gb"])
        out[key] = slope + fixed / drive_gb
    return out


def model(measurements: list[dict[str, Any]], prices: dict[str, Any]) -> str:
    """Markdown tables: resources, monthly cost and the first binding limit per scale."""
    policy = prices["policy"]
    limits = prices["limits"]
    unit = per_gb(measurements, policy["drive_gb"])
    extract_cpu = unit["extract_cpu_s"]
    function_cpu = unit["function_cpu_s"]
    requests_per_gb = unit["write_requests"] + unit["read_requests"]
    writes_per_gb = unit["write_requests"]
    reads_per_gb = unit["read_requests"]
    store_writes_per_gb = unit["store_writes"]
    executions_per_gb = unit["executions"]
    output_ratio = unit["output_bytes"] / GB
    sku = prices["prices"]["batch_vm"]
    sizes = ", ".join(f"{m['size']} ({m['drive_bytes'] / GB:.2f} GB)" for m in measurements)
    lines = [
        f"Measured on the sample drives {sizes}; per GB for {policy['drive_gb']} GB drives: "
        f"extraction {extract_cpu:.1f} CPU-s/GB, Functions activities {function_cpu:.1f} CPU-s/GB, "
        f"{requests_per_gb:.0f} storage requests/GB, {unit['read_bytes'] / GB:.1f} GB read/GB, "
        f"{store_writes_per_gb:.1f} store writes/GB, "
        f"{executions_per_gb:.1f} activity executions/GB, extracted output "
        f"{output_ratio:.2f} x input.",
        "",
        "| | " + " | ".join(f"{s:,} TB/day" for s in SCALES_TB_PER_DAY) + " |",
        "|---|" + "---|" * len(SCALES_TB_PER_DAY),
    ]
    rows: dict[str, list[str]] = {}
    for tb in SCALES_TB_PER_DAY:
        gb_day = tb * 1000
        gb_s = gb_day / 86400
        cores = gb_s * extract_cpu / policy["batch_core_utilization"]
        vms = math.ceil(cores / sku["vcpus"])
        batch_cost = (
            vms
            * 730
            * (
                _price(prices, "batch_vm") * (1 - policy["spot_share"])
                + _price(prices, "batch_vm_spot") * policy["spot_share"]
            )
        )
        fn_gb_s = gb_day * 30 * function_cpu * policy["function_memory_gb"]
        executions = gb_day * 30 * executions_per_gb
        fn_cost = fn_gb_s * _price(prices, "functions_gb_s") + executions / 1e6 * _price(
            prices, "functions_million_executions"
        )
        stored = gb_day * (1 + output_ratio)
        hot_tb = stored * policy["hot_days"] / 1000
        cool_tb = stored * policy["cool_days"] / 1000
        archive_tb = gb_day * policy["archive_days"] / 1000  # raw only is archived
        storage_cost = 1000 * (
            hot_tb * _price(prices, "blob_hot_gb_month")
            + cool_tb * _price(prices, "blob_cool_gb_month")
            + archive_tb * _price(prices, "blob_archive_gb_month")
        )
        month_writes = gb_day * 30 * writes_per_gb
        month_reads = gb_day * 30 * reads_per_gb
        tx_cost = month_writes / 1e4 * _price(prices, "blob_hot_write_10k") + (
            month_reads / 1e4 * _price(prices, "blob_hot_read_10k")
        )
        store_ws = gb_s * store_writes_per_gb * policy["peak_factor"]
        ru_s = max(400, store_ws * policy["ru_per_write"])
        cosmos_cost = ru_s / 100 * 730 * _price(prices, "cosmos_autoscale_100ru_hour")
        events = gb_day * 30 * unit["upload_writes"]
        eg_cost = events / 1e6 * _price(prices, "eventgrid_million_operations")
        req_s = gb_s * requests_per_gb * policy["peak_factor"]
        ingress_gbps = gb_s * 8 * (1 + output_ratio) * policy["peak_factor"]
        egress_gbps = gb_s * 8 * unit["read_bytes"] / GB * policy["peak_factor"]
        accounts = max(
            math.ceil(req_s / limits["storage_requests_per_s"]),
            math.ceil(ingress_gbps / limits["storage_ingress_gbps"]),
            math.ceil(egress_gbps / limits["storage_egress_gbps"]),
        )
        binding = {
            "Batch cores": cores / limits["batch_dedicated_cores"],
            "storage requests/s per account": req_s / limits["storage_requests_per_s"],
            "storage ingress per account": ingress_gbps / limits["storage_ingress_gbps"],
            "storage egress per account": egress_gbps / limits["storage_egress_gbps"],
            "Cosmos RU/s per physical partition": ru_s / limits["cosmos_ru_per_partition"],
            "Event Grid events/s": events
            / SECONDS_PER_MONTH
            * policy["peak_factor"]
            / limits["eventgrid_events_per_s"],
        }
        first = max(binding, key=lambda k: binding[k])
        total = batch_cost + fn_cost + storage_cost + tx_cost + cosmos_cost + eg_cost
        for key, value in (
            ("Batch vCPUs (extraction)", f"{cores:,.0f} ({vms:,} x {sku['sku']})"),
            ("Batch VMs $/month", f"{batch_cost:,.0f}"),
            ("Functions GB-s/month", f"{fn_gb_s:,.0f}"),
            ("Functions executions/month", f"{executions:,.0f}"),
            ("Functions $/month", f"{fn_cost:,.0f}"),
            ("Blob hot / cool / archive TB", f"{hot_tb:,.0f} / {cool_tb:,.0f} / {archive_tb:,.0f}"),
            ("Blob capacity $/month", f"{storage_cost:,.0f}"),
            ("Storage requests/s (peak)", f"{req_s:,.0f}"),
            ("Storage in / out Gbps (peak)", f"{ingress_gbps:,.0f} / {egress_gbps:,.0f}"),
            ("Storage transactions $/month", f"{tx_cost:,.0f}"),
            ("Cosmos RU/s (peak)", f"{ru_s:,.0f}"),
            ("Cosmos $/month", f"{cosmos_cost:,.0f}"),
            ("Event Grid operations/month", f"{events:,.0f}"),
            ("Event Grid $/month", f"{eg_cost:,.0f}"),
            ("**Total $/month**", f"**{total:,.0f}**"),
            ("Storage accounts needed (requests, in, out)", f"{accounts}"),
            ("Binds first (load / limit)", f"{first} ({binding[first]:.2f})"),
        ):
            rows.setdefault(key, []).append(value)
    lines += [f"| {key} | " + " | ".join(values) + " |" for key, values in rows.items()]
    return "\n".join(lines)


def stage_table(measured: dict[str, Any]) -> str:
    """The per-stage measurement of one drive as a Markdown table."""
    gb = measured["drive_bytes"] / GB
    head = (
        f"{measured['size']} drive, {measured['drive_bytes'] / 1e6:,.1f} MB: upload -> SCENES "
        f"{measured['latency_s']} s, critical path {measured['critical_path_s']} s\n\n"
        "| stage | activities / tasks | CPU s | CPU s/GB | peak RSS host / task MB | "
        "requests (writes) | MB sent | MB received | store writes |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {name} | {st['activities']} / {st['batch_tasks']} | {st['cpu_s']} | "
        f"{st['cpu_s'] / gb:,.0f} | {st['host_peak_rss_mb']} / {st['task_peak_rss_mb'] or '-'} | "
        f"{st['requests']} ({st['write_requests']}) | {st['bytes_sent'] / 1e6:,.1f} | "
        f"{st['bytes_received'] / 1e6:,.1f} | {st['store_writes']} |"
        for name, st in measured["stages"].items()
    ]
    return "\n".join([head, *rows])


def main() -> None:
    """``measure`` or ``model`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bench.capacity")
    parser.add_argument("command", choices=["measure", "model", "table"])
    parser.add_argument("--size", choices=["small", "large"], default="small")
    parser.add_argument("--workdir", type=Path, default=Path(".avops/bench-capacity"))
    args = parser.parse_args()
    # The storage SDK logs every request at INFO; the measurement is what matters here.
    logging.getLogger("azure").setLevel(logging.WARNING)
    path = RESULTS / f"capacity-{args.size}.json"
    if args.command == "measure":
        size: Literal["small", "large"] = "large" if args.size == "large" else "small"
        measured = measure(size, args.workdir.resolve())
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(measured, indent=2) + "\n")
        print(json.dumps(measured, indent=2))
        return
    if args.command == "table":
        print(stage_table(json.loads(path.read_text())))
        return
    found = [RESULTS / f"capacity-{size}.json" for size in ("small", "large")]
    measurements = [json.loads(p.read_text()) for p in found if p.exists()]
    print(model(measurements, json.loads(PRICES.read_text())))


if __name__ == "__main__":
    main()
