"""The local pool runs real subprocesses: order, parallelism, retries, failures, cancel, logs."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from dataops.batch.local_pool import LocalPool
from dataops.batch.processes import process_start
from dataops.batch.spec import JobSpec, JobState, JobStatus, TaskSpec, TaskState
from dataops.errors import ConflictError, InvalidInputError, NotFoundError
from tests.batch.conftest import Tasks, job, make_pool


def test_dependencies_run_in_order_and_the_job_completes(pool: LocalPool, tasks: Tasks) -> None:
    spec = job(
        "order",
        tasks.spec("a", sleep=0.1),
        tasks.spec("b", depends_on=("a",)),
        tasks.spec("c", depends_on=("a",)),
        tasks.spec("d", depends_on=("b", "c")),
    )
    pool.submit(spec)

    status = pool.run_until_done("order", timeout_s=20)

    assert status.state is JobState.COMPLETED and status.done and not status.failed
    assert {tid: s.state for tid, s in status.tasks.items()} == dict.fromkeys(
        "abcd", TaskState.SUCCEEDED
    )
    spans = {name: runs[0] for name, runs in tasks.intervals().items()}
    assert spans["b"][0] >= spans["a"][1] and spans["c"][0] >= spans["a"][1]
    assert spans["d"][0] >= max(spans["b"][1], spans["c"][1])
    assert all(status.tasks[t].exit_code == 0 and status.tasks[t].retries == 0 for t in "abcd")


def test_no_more_tasks_run_at_once_than_max_parallel(tmp_path: Path, tasks: Tasks) -> None:
    pool = make_pool(tmp_path, max_parallel=2)
    try:
        pool.submit(job("wide", *(tasks.spec(f"t{i}", sleep=0.3) for i in range(6))))
        pool.run_until_done("wide", timeout_s=20)
    finally:
        pool.close()

    spans = [span for runs in tasks.intervals().values() for span in runs]
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    assert peak == 2


def test_slots_count_against_max_parallel(tmp_path: Path, tasks: Tasks) -> None:
    pool = make_pool(tmp_path, max_parallel=2)
    try:
        heavy = tasks.spec("heavy", sleep=0.3, resources={"slots": 2})
        pool.submit(job("slots", heavy, tasks.spec("light1", sleep=0.3)))
        pool.run_until_done("slots", timeout_s=20)
    finally:
        pool.close()
    spans = tasks.intervals()
    heavy_span, light_span = spans["heavy"][0], spans["light1"][0]
    assert heavy_span[1] <= light_span[0] or light_span[1] <= heavy_span[0]


def test_bad_input_fails_without_retry_and_blocks_dependents(pool: LocalPool, tasks: Tasks) -> None:
    spec = job(
        "bad",
        tasks.spec("validate", codes="2", max_retries=3),
        tasks.spec("camera", depends_on=("validate",)),
        tasks.spec("index", depends_on=("camera",)),
        tasks.spec("other"),
    )
    pool.submit(spec)

    status = pool.run_until_done("bad", timeout_s=20)

    assert status.state is JobState.FAILED and status.failed
    validate = status.tasks["validate"]
    assert validate.state is TaskState.FAILED
    assert validate.exit_code == 2 and validate.retries == 0
    assert validate.reason is not None and "bad input" in validate.reason
    assert tasks.runs("validate") == 1
    for dependent in ("camera", "index"):
        assert status.tasks[dependent].state is TaskState.BLOCKED
        assert status.tasks[dependent].reason is not None
        assert tasks.runs(dependent) == 0
    assert status.tasks["index"].reason == "dependency 'validate' failed"
    assert status.tasks["other"].state is TaskState.SUCCEEDED
    assert set(status.failed_tasks()) == {"validate"}


def _fetch_then_after(pool: LocalPool, tasks: Tasks, job_id: str, codes: str) -> JobStatus:
    """Run job ``job_id`` to its end: ``fetch`` (exiting with ``codes`` in turn, at most two
    retries), then ``after``, which depends on it."""
    pool.submit(
        job(
            job_id,
            tasks.spec("fetch", codes=codes, max_retries=2),
            tasks.spec("after", depends_on=("fetch",)),
        )
    )
    return pool.run_until_done(job_id, timeout_s=20)


def test_retryable_exit_is_retried_then_succeeds(pool: LocalPool, tasks: Tasks) -> None:
    status = _fetch_then_after(pool, tasks, "flaky", "3,0")

    assert status.state is JobState.COMPLETED
    fetch = status.tasks["fetch"]
    assert (fetch.state, fetch.exit_code, fetch.retries) == (TaskState.SUCCEEDED, 0, 1)
    assert tasks.runs("fetch") == 2 and tasks.runs("after") == 1
    assert tasks.commits() == ["fetch", "after"]


def test_retries_exhausted_fail_the_task(pool: LocalPool, tasks: Tasks) -> None:
    status = _fetch_then_after(pool, tasks, "hopeless", "3")

    fetch = status.tasks["fetch"]
    assert (fetch.state, fetch.exit_code, fetch.retries) == (TaskState.FAILED, 3, 2)
    assert fetch.reason is not None and "gave up after 3 attempts" in fetch.reason
    assert tasks.runs("fetch") == 3 and tasks.runs("after") == 0
    assert status.tasks["after"].state is TaskState.BLOCKED


def test_an_unexpected_exit_code_is_retried_like_a_retryable_one(
    pool: LocalPool, tasks: Tasks
) -> None:
    pool.submit(job("crashy", tasks.spec("t", codes="1,0", max_retries=1)))
    status = pool.run_until_done("crashy", timeout_s=20)
    assert status.tasks["t"].state is TaskState.SUCCEEDED and tasks.runs("t") == 2


def test_a_task_over_its_wall_clock_limit_is_killed(pool: LocalPool, tasks: Tasks) -> None:
    slow = tasks.spec("slow", sleep=30, max_retries=0, resources={"max_wall_clock_s": 1})
    pool.submit(job("slow", slow))

    started = time.monotonic()
    status = pool.run_until_done("slow", timeout_s=20)

    assert time.monotonic() - started < 10
    assert status.tasks["slow"].state is TaskState.FAILED
    assert status.tasks["slow"].reason is not None
    assert "max_wall_clock_s" in status.tasks["slow"].reason


def test_cancel_kills_a_running_task_and_cancels_the_rest(pool: LocalPool, tasks: Tasks) -> None:
    pool.submit(
        job("stop", tasks.spec("sleeper", sleep=60), tasks.spec("next", depends_on=("sleeper",)))
    )
    deadline = time.monotonic() + 10
    while not tasks.pids("sleeper"):
        assert time.monotonic() < deadline, "the task never started"
        pool.step()
        time.sleep(0.02)
    (pid,) = tasks.pids("sleeper")

    started = time.monotonic()
    pool.cancel("stop")
    status = pool.run_until_done("stop", timeout_s=10)

    assert time.monotonic() - started < 5
    assert status.state is JobState.CANCELED and status.failed
    assert status.tasks["sleeper"].state is TaskState.CANCELED
    assert status.tasks["next"].state is TaskState.CANCELED
    assert process_start(pid) is None
    assert tasks.runs("next") == 0 and tasks.commits() == []
    pool.cancel("stop")  # idempotent
    assert pool.status("stop").state is JobState.CANCELED


def test_cancel_of_a_finished_job_changes_nothing(pool: LocalPool, tasks: Tasks) -> None:
    pool.submit(job("finished", tasks.spec("a")))
    pool.run_until_done("finished", timeout_s=20)
    pool.cancel("finished")
    assert pool.status("finished").state is JobState.COMPLETED


def test_submit_is_idempotent(pool: LocalPool, tasks: Tasks) -> None:
    spec = job("twice", tasks.spec("a"), tasks.spec("b", depends_on=("a",)))

    assert pool.submit(spec) == "twice"
    assert pool.submit(JobSpec.from_dict(spec.to_dict())) == "twice"
    status = pool.run_until_done("twice", timeout_s=20)
    assert pool.submit(spec) == "twice"
    pool.run_until_done("twice", timeout_s=20)

    assert status.state is JobState.COMPLETED
    assert (tasks.runs("a"), tasks.runs("b")) == (1, 1)
    other = job("twice", tasks.spec("a", codes="3"))
    with pytest.raises(ConflictError):
        pool.submit(other)


def test_unknown_job_is_not_found(pool: LocalPool) -> None:
    with pytest.raises(NotFoundError):
        pool.status("nope")
    with pytest.raises(NotFoundError):
        pool.cancel("nope")


def test_logs_are_kept_per_task_and_attempt(pool: LocalPool, tasks: Tasks) -> None:
    pool.submit(
        job(
            "logs",
            tasks.spec("talk", codes="3,0", say="hello from talk"),
            tasks.spec("quiet", say="hello from quiet"),
        )
    )
    status = pool.run_until_done("logs", timeout_s=20)

    talk = status.tasks["talk"].log_location
    quiet = status.tasks["quiet"].log_location
    assert talk is not None and quiet is not None and talk != quiet
    text = Path(talk).read_text()
    assert text.count("hello from talk\n") == 2 and "hello from talk on stderr" in text
    assert "attempt 1 " in text and "attempt 2 " in text and "exit code 3" in text
    assert "hello from quiet" in Path(quiet).read_text()
    assert "hello from talk" not in Path(quiet).read_text()


def test_zone_placeholders_resolve_and_unknown_zones_are_refused(
    tmp_path: Path, tasks: Tasks
) -> None:
    raw = tmp_path / "zones" / "raw"
    raw.mkdir(parents=True)
    pool = make_pool(tmp_path, zone_roots={"raw": str(raw)})
    try:
        touch = TaskSpec(
            task_id="touch",
            command=[
                sys.executable,
                "-c",
                "import sys, pathlib; pathlib.Path(sys.argv[1]).touch()",
                "{zone:raw}/2026/out.txt",
            ],
        )
        (raw / "2026").mkdir()
        pool.submit(job("zones", touch))
        assert pool.run_until_done("zones", timeout_s=20).state is JobState.COMPLETED
        assert (raw / "2026" / "out.txt").exists()

        elsewhere = TaskSpec(task_id="x", command=["true", "{zone:share}/x"])
        with pytest.raises(InvalidInputError, match="share"):
            pool.submit(job("nozone", elsewhere))
    finally:
        pool.close()


def test_a_program_that_cannot_start_fails_for_good(pool: LocalPool) -> None:
    missing = TaskSpec(task_id="ghost", command=["/nonexistent/avops-program"], max_retries=3)
    pool.submit(job("ghost", missing))
    status = pool.run_until_done("ghost", timeout_s=20)
    ghost = status.tasks["ghost"]
    assert ghost.state is TaskState.FAILED and ghost.retries == 0
    assert ghost.reason is not None and "could not start" in ghost.reason


def test_environment_is_merged_and_the_batch_names_are_set(pool: LocalPool, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    script = (
        "import os, pathlib, sys; pathlib.Path(sys.argv[1]).write_text("
        "'|'.join([os.environ['AVOPS_DEMO'], os.environ['AZ_BATCH_JOB_ID'], "
        "os.environ['AZ_BATCH_TASK_ID'], os.getcwd(), str(os.environ['PATH'] != '')]))"
    )
    task = TaskSpec(
        task_id="env", command=[sys.executable, "-c", script, str(out)], env={"AVOPS_DEMO": "on"}
    )
    pool.submit(job("envjob", task))
    assert pool.run_until_done("envjob", timeout_s=20).state is JobState.COMPLETED
    demo, job_id, task_id, cwd, has_path = out.read_text().split("|")
    assert (demo, job_id, task_id, has_path) == ("on", "envjob", "env", "True")
    assert Path(cwd) == pool.workdir / "tasks" / "envjob" / "env"


def test_graceful_close_requeues_running_tasks_for_the_next_pool(
    tmp_path: Path, tasks: Tasks
) -> None:
    first = make_pool(tmp_path, kill_grace_s=0.5)
    first.submit(
        job("handover", tasks.spec("long", sleep=60), tasks.spec("b", depends_on=("long",)))
    )
    deadline = time.monotonic() + 10
    while not tasks.pids("long"):
        assert time.monotonic() < deadline
        first.step()
        time.sleep(0.02)
    first.close()
    (old_pid,) = tasks.pids("long")
    assert process_start(old_pid) is None

    second = make_pool(tmp_path)
    try:
        running = second.status("handover").tasks["long"]
        assert running.state is TaskState.PENDING and running.retries == 0
    finally:
        second.close()


def test_two_schedulers_on_one_database_never_run_a_task_twice(
    tmp_path: Path, tasks: Tasks
) -> None:
    pools = [make_pool(tmp_path, max_parallel=3) for _ in range(2)]
    spec = job(
        "shared",
        *(tasks.spec(f"t{i}", sleep=0.05) for i in range(12)),
        tasks.spec("last", depends_on=tuple(f"t{i}" for i in range(12))),
    )
    pools[0].submit(spec)
    stop = threading.Event()
    threads = [threading.Thread(target=p.run_forever, args=(stop,)) for p in pools]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while not pools[0].status("shared").done:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for p in pools:
            p.close()

    runs = {f"t{i}": tasks.runs(f"t{i}") for i in range(12)}
    assert runs == dict.fromkeys(runs, 1) and tasks.runs("last") == 1
