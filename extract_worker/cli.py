"""``python -m extract_worker run --task KIND [--task KIND ...] --input PATH_OR_URL --output ...``.

Exit codes: 0 ok (or already committed), 2 bad input (do not retry), 3 retryable
(environment, or a failure not proven to be the input's; see :mod:`extract_worker.classify`).
Several kinds in one run: the worst of their codes (:mod:`extract_worker.kinds`).
stderr carries JSON lines only, with the ids given on the command line and the kind.
"""

from __future__ import annotations

import argparse
import gc
import logging
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from extract_worker.classify import classify_failure
from extract_worker.config import load_config
from extract_worker.errors import EXIT_BAD_INPUT
from extract_worker.extractors import TASK_KINDS
from extract_worker.kinds import KindOptions, KindRunner, order_kinds, run_kinds
from extract_worker.limits import (
    apply_limits,
    arm_time_limit,
    release_free_memory,
    tune_malloc,
)
from extract_worker.logs import configure_logging, log

if TYPE_CHECKING:
    from extract_worker.config import ExtractConfig

__all__ = ["build_parser", "main"]

_ID_OPTIONS = ("measurement_id", "datastream_id", "job_id", "task_id", "instance_id")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m extract_worker")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one extraction task (one or several kinds)")
    run.add_argument(
        "--task",
        required=True,
        action="append",
        choices=TASK_KINDS,
        help="task kind; repeatable: the kinds run in order, validate first, input staged once",
    )
    run.add_argument("--input", required=True, help="local/NFS path or blob URL (with SAS)")
    run.add_argument("--output", required=True, help="local/NFS path or blob URL (with SAS)")
    run.add_argument("--topics", nargs="*", default=[], help="topic or channel group globs")
    run.add_argument("--config", type=Path, default=None, help="JSON or YAML extraction config")
    run.add_argument(
        "--dbc",
        action="append",
        default=[],
        help="DBC file (path or blob URL) decoding CAN frames; repeatable, adds to the config",
    )
    run.add_argument("--force", action="store_true", help="redo a task that is committed")
    run.add_argument("--memory-mb", type=int, default=None, help="override limits.memory_mb")
    run.add_argument("--time-s", type=int, default=None, help="override limits.time_s")
    run.add_argument("--scratch", type=Path, default=None, help="scratch dir for blob staging")
    run.add_argument("--no-limits", action="store_true", help="skip rlimit and alarm (tests)")
    for name in _ID_OPTIONS:
        run.add_argument(f"--{name.replace('_', '-')}", dest=name, default="")
    return parser


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _report_failure(err: BaseException, input_label: str) -> int:
    """Log ``err`` as one JSON error line naming the input; return its exit code."""
    failure = classify_failure(err, path=input_label)
    extra = {
        "error": type(failure).__name__,
        "exit_code": failure.exit_code,
        "input": input_label,
    }
    cause = err if err is not failure else failure.__cause__
    if cause is not None:
        extra["cause"] = f"{type(cause).__module__}.{type(cause).__name__}"
    if failure.exit_code == EXIT_BAD_INPUT:
        log.error(str(failure), extra=extra)
        log.debug("traceback", exc_info=err)
    else:
        # Not proven to be the input's: the traceback is what someone needs to fix it.
        log.error(str(failure), extra=extra, exc_info=err)
    return failure.exit_code


def _fetch_dbc(refs: list[str], scratch: Path) -> list[Path]:
    """Local paths of the DBC files: blob URLs are downloaded into ``scratch`` first."""
    paths: list[Path] = []
    for index, ref in enumerate(refs):
        if not _is_url(ref):
            paths.append(Path(ref))
            continue
        from azure.core.exceptions import AzureError

        from extract_worker.blob_io import classify_error, download_blob, parse_blob_url

        location = parse_blob_url(ref)
        # The index keeps two buses' DBCs of the same file name apart.
        target = scratch / f"{index}-{PurePosixPath(location.name).name}"
        try:
            download_blob(location.container.get_blob_client(location.name), target)
        except AzureError as err:
            raise classify_error(err, location.url) from err
        paths.append(target)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        kinds = order_kinds(list(args.task))
    except ValueError as err:
        parser.error(str(err))
    context = {name: getattr(args, name) for name in _ID_OPTIONS}
    context["task"] = ",".join(kinds)
    configure_logging(context)
    tune_malloc()
    input_label = args.input.split("?", 1)[0]  # never log a SAS token
    dbc_dir = Path(tempfile.mkdtemp(prefix="extract-dbc-")) if args.dbc else None
    try:
        config = load_config(args.config)
        if dbc_dir is not None:
            fetched = _fetch_dbc(args.dbc, dbc_dir)
            config = config.model_copy(update={"dbc_files": [*config.dbc_files, *fetched]})
        time_s = args.time_s or config.limits.time_s
        if not args.no_limits:
            apply_limits(memory_mb=args.memory_mb or config.limits.memory_mb, time_s=time_s)
        runner = _runner(args, config, {k: v for k, v in context.items() if v and k != "task"})

        def start_kind(kind: str) -> None:
            configure_logging({**context, "task": kind})
            if not args.no_limits:
                arm_time_limit(time_s)

        return run_kinds(
            kinds,
            runner,
            start_kind=start_kind,
            end_kind=release_free_memory,
            report=lambda err: _report_failure(err, input_label),
        )
    except Exception as err:  # noqa: BLE001 - every failure leaves as a classified exit code
        return _report_failure(err, input_label)
    finally:
        # Run finalizers (asammdf's MDF4.__del__ on a half-opened file) now, while logging
        # is configured, instead of at interpreter shutdown.
        gc.collect()
        if dbc_dir is not None:
            shutil.rmtree(dbc_dir, ignore_errors=True)


def _runner(args: argparse.Namespace, config: ExtractConfig, ids: dict[str, str]) -> KindRunner:
    """Where the kinds read and write: blob URLs (staged through scratch) or paths."""
    options = KindOptions(config=config, topics=args.topics, ids=ids, force=args.force)
    if _is_url(args.input) or _is_url(args.output):
        from extract_worker.blob_io import BlobRun

        return BlobRun(
            input_ref=args.input, output_ref=args.output, options=options, scratch=args.scratch
        )
    from extract_worker.run import LocalRun

    return LocalRun(input_path=Path(args.input), output=Path(args.output), options=options)


if __name__ == "__main__":
    logging.raiseExceptions = False
    sys.exit(main())
