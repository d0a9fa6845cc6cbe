"""Several task kinds in one run: the input staged once, ``validate`` first, each kind committed.

The extraction plan gives a small recording one task that runs all its kinds
(``--task validate --task camera ...``) instead of one process per kind, each of which would
start Python, import its stack and stage the whole recording again. The kinds run one after
another in this process and each commits its own ``<output>/<kind>/`` exactly as a task of
its own would, so:

* a kind committed by an earlier attempt is skipped: a retried task redoes only what is
  missing, and a task whose kinds are all committed stages nothing;
* ``validate`` runs first; when it fails, the task stops with its exit code (the other kinds
  depend on it, as their tasks do in a job of one task per kind);
* any other kind failing does not stop the rest: they are independent, as tasks of one job
  are;
* the task's exit code is the worst one: a retryable failure (3) wins over bad input (2),
  because a retry may cure the retryable kind and costs little (the committed kinds are
  skipped), while exit 2 would end the task with that kind never retried.

Every JSON log line names the kind it belongs to (``task``), so a failure's line says which
kind failed and with which code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from extract_worker.errors import EXIT_BAD_INPUT, EXIT_OK
from extract_worker.logs import log

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from extract_worker.config import ExtractConfig

__all__ = [
    "VALIDATE",
    "KindOptions",
    "KindRunner",
    "order_kinds",
    "run_kinds",
    "worst_exit_code",
]

VALIDATE = "validate"


@dataclass(frozen=True)
class KindOptions:
    """What each kind of a run is given besides the input and output: the same for all."""

    config: ExtractConfig
    topics: list[str]
    ids: dict[str, str]
    force: bool


class KindRunner(Protocol):
    """Where one run's kinds read their input and commit their outputs (local or blob)."""

    def committed(self, kind: str) -> bool:
        """True if ``kind`` was committed by an earlier run (never with ``--force``)."""
        ...

    def __enter__(self) -> KindRunner:
        """Stage the input (once for every kind of the run)."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Remove what staging left behind."""
        ...

    def run(self, kind: str) -> dict[str, Any]:
        """Run and commit ``kind`` on the staged input; its manifest."""
        ...


def order_kinds(kinds: list[str]) -> list[str]:
    """``validate`` first, the others in the order given; ValueError on a repeated kind."""
    repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
    if repeated:
        raise ValueError(f"--task repeats {', '.join(repeated)}")
    return [kind for kind in kinds if kind == VALIDATE] + [k for k in kinds if k != VALIDATE]


def worst_exit_code(codes: Iterable[int]) -> int:
    """0 if every kind succeeded; a retryable code if any kind has one; else bad input (2)."""
    failed = [code for code in codes if code != EXIT_OK]
    retryable = [code for code in failed if code != EXIT_BAD_INPUT]
    if retryable:
        return retryable[0]
    return EXIT_BAD_INPUT if failed else EXIT_OK


def run_kinds(
    kinds: list[str],
    runner: KindRunner,
    *,
    start_kind: Callable[[str], None],
    end_kind: Callable[[], None],
    report: Callable[[BaseException], int],
) -> int:
    """Run the kinds not committed yet; the task's exit code.

    ``start_kind`` is called before each kind (log context, time limit), ``end_kind`` after it
    whatever happened (free its memory, so peak RSS does not grow with the number of kinds),
    and ``report`` turns a failure into its logged exit code.
    """
    pending: list[str] = []
    try:
        for kind in kinds:
            if runner.committed(kind):
                log.info("already committed, nothing to do", extra={"task": kind})
            else:
                pending.append(kind)
        if not pending:
            return EXIT_OK
        codes: dict[str, int] = {}
        with runner:
            for kind in pending:
                start_kind(kind)
                codes[kind] = _run_one(kind, runner, report)
                end_kind()
                if kind == VALIDATE and codes[kind] != EXIT_OK:
                    # Every other kind depends on it: nothing else runs.
                    return codes[kind]
    except Exception as err:  # noqa: BLE001 - staging or a marker check failed: the task's code
        return report(err)
    return worst_exit_code(codes.values())


def _run_one(kind: str, runner: KindRunner, report: Callable[[BaseException], int]) -> int:
    try:
        manifest = runner.run(kind)
    except Exception as err:  # noqa: BLE001 - every failure leaves as a classified exit code
        return report(err)
    log.info(
        "done",
        extra={"files": manifest.get("file_count"), "errors": len(manifest.get("errors", []))},
    )
    return EXIT_OK
