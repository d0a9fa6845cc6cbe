"""The embedded batch backend: a process pool that runs task command lines as subprocesses.

State lives in SQLite (:mod:`dataops.batch.local_pool_db`), so jobs survive a restart of the
host. Crash safety, in short (docs/batch.md has the long form):

- a task is claimed (PENDING -> RUNNING, owner = this scheduler) in one transaction before its
  process starts, and its pid and kernel start time are recorded right after;
- SUCCEEDED is written only after the process exited 0, and is never left again;
- a RUNNING task whose owner is gone (same host: the owner's pid and start time no longer
  match a live process; other hosts: no heartbeat for ``lease_s``) has its orphaned process
  group killed and goes back to PENDING, so it runs again: at least once, never lost. The
  worker's staging directory and ``_SUCCESS`` marker make the second run safe.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from dataops.batch.exit_codes import Outcome, classify, describe
from dataops.batch.local_pool_db import OwnerRow, PoolDb, TaskRow, dump_task
from dataops.batch.notify import JobDone, JobDoneHook
from dataops.batch.processes import alive, kill_group, process_start
from dataops.batch.spec import (
    JobSpec,
    JobStatus,
    TaskSpec,
    TaskState,
    TaskStatus,
    derive_job_state,
    resolve_zones,
)
from dataops.errors import ConflictError, NotFoundError, RetryableError

__all__ = ["LocalPool"]

log = logging.getLogger(__name__)

# SAS signatures must not end up in log files next to the task output.
_SAS_SIGNATURE = re.compile(r"(?i)(sig=)[^&\s]+")


@dataclass
class _Running:
    """A process this scheduler instance started and has not reaped yet."""

    job_id: str
    task_id: str
    attempt: int
    slots: int
    popen: subprocess.Popen[bytes]
    log_path: Path
    deadline: float | None
    stop_sent_at: float | None = None
    timed_out: bool = False


class LocalPool:
    """BatchBackend on local subprocesses (see the module docstring for crash safety).

    ``submit``, ``status`` and ``cancel`` may be called from any thread or process that opens
    the same database; ``step``/``run_forever`` drive the scheduler of this instance.
    """

    def __init__(
        self,
        db_path: Path | str,
        workdir: Path | str,
        *,
        max_parallel: int | None = None,
        zone_roots: Mapping[str, str] | None = None,
        retry_delay_s: float = 2.0,
        lease_s: float = 30.0,
        heartbeat_s: float = 1.0,
        kill_grace_s: float = 5.0,
        poll_interval_s: float = 0.2,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        on_job_done: JobDoneHook | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        # A command whose program is "python" runs with this interpreter: the same spec
        # says "python" for the worker image and for the host's virtual environment.
        self.python = python
        self.env = dict(env or {})
        self.max_parallel = max(1, max_parallel or os.cpu_count() or 1)
        self.zone_roots = dict(zone_roots or {})
        self.retry_delay_s = retry_delay_s
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s
        self.kill_grace_s = kill_grace_s
        self.poll_interval_s = poll_interval_s
        # Called (from the scheduler thread) when the last task of a job became final, so the
        # waiting orchestration hears of it at once instead of at its next poll.
        self.on_job_done = on_job_done
        self.owner_id = uuid.uuid4().hex
        self._host = socket.gethostname()
        self._db = PoolDb(db_path)
        self._running: dict[tuple[str, str], _Running] = {}
        # One scheduler at a time per instance: step() may run in a devhost thread while an
        # activity thread calls cancel() on the same object.
        self._lock = threading.RLock()
        self._registered = False
        self._last_heartbeat = 0.0
        self._next_recovery = 0.0

    # BatchBackend ---------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> str:
        """Store the job and its tasks (PENDING); same id and spec again: no-op."""
        resolved = [self._resolve(task) for task in spec.tasks]
        order = {task_id: seq for seq, task_id in enumerate(spec.topological_order())}
        spec_json = spec.model_dump_json()
        with self._db.write() as conn:
            row = conn.execute("SELECT spec FROM jobs WHERE job_id = ?", (spec.job_id,)).fetchone()
            if row is not None:
                if JobSpec.model_validate_json(row[0]) != spec:
                    raise ConflictError(f"job {spec.job_id!r} exists with a different spec")
                return spec.job_id
            conn.execute(
                "INSERT INTO jobs (job_id, spec, canceled, created_at) VALUES (?, ?, 0, ?)",
                (spec.job_id, spec_json, time.time()),
            )
            conn.executemany(
                "INSERT INTO tasks (job_id, task_id, seq, task, state, log_path) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        spec.job_id,
                        task.task_id,
                        order[task.task_id],
                        dump_task(task),
                        TaskState.PENDING.value,
                        str(self._log_path(spec.job_id, task.task_id)),
                    )
                    for task in resolved
                ],
            )
        log.info("job submitted", extra={"job_id": spec.job_id, "tasks": len(resolved)})
        return spec.job_id

    def status(self, job_id: str) -> JobStatus:
        """The job and its tasks; NotFoundError if unknown."""
        with self._db.read() as conn:
            row = conn.execute("SELECT canceled FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"batch job {job_id!r} not found")
            tasks = {task.task_id: _task_status(task) for task in self._db.tasks_of(conn, job_id)}
        return JobStatus(
            job_id=job_id, state=derive_job_state(tasks, canceled=bool(row[0])), tasks=tasks
        )

    def cancel(self, job_id: str) -> None:
        """Mark the job canceled, cancel its PENDING tasks, stop its running processes.

        Processes of this instance are signalled now; another scheduler on the same database
        stops its own on its next step. A job that already finished stays as it is.
        """
        now = time.time()
        with self._db.write() as conn:
            row = conn.execute("SELECT canceled FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"batch job {job_id!r} not found")
            tasks = self._db.tasks_of(conn, job_id)
            if all(task.state.final for task in tasks):
                return
            conn.execute("UPDATE jobs SET canceled = 1 WHERE job_id = ?", (job_id,))
            conn.execute(
                "UPDATE tasks SET state = ?, reason = 'job canceled', ended_at = ? "
                "WHERE job_id = ? AND state = ?",
                (TaskState.CANCELED.value, now, job_id, TaskState.PENDING.value),
            )
        with self._lock:
            self._stop_canceled({job_id})

    def close(self) -> None:
        """Stop this instance's processes, put their tasks back to PENDING, close the DB."""
        with self._lock:
            self._shutdown_running()
            if self._registered:
                with self._db.write() as conn:
                    conn.execute("DELETE FROM owners WHERE owner_id = ?", (self.owner_id,))
                self._registered = False
        self._db.close()

    # scheduler ------------------------------------------------------------------------------

    def step(self) -> bool:
        """One scheduling round: reap, enforce cancel and time limits, recover, launch.

        Returns True if anything changed (a caller may poll again at once).
        """
        with self._lock:
            self._register()
            self._heartbeat()
            changed = self._reap()
            self._stop_canceled(self._canceled_own_jobs())
            self._enforce_time_limits()
            if time.monotonic() >= self._next_recovery:
                changed = self.recover() > 0 or changed
                self._next_recovery = time.monotonic() + self.heartbeat_s
            return self._launch() or changed

    def run_forever(self, stop: threading.Event) -> None:
        """Schedule until ``stop`` is set; then stop own processes and requeue their tasks."""
        try:
            while not stop.is_set():
                try:
                    changed = self.step()
                except RetryableError:
                    log.warning("batch pool step failed, retrying", exc_info=True)
                    changed = False
                if not changed:
                    stop.wait(self.poll_interval_s)
        finally:
            with self._lock:
                self._shutdown_running()

    def run_until_done(self, job_id: str, timeout_s: float) -> JobStatus:
        """Drive the scheduler until the job is done and none of its processes runs."""
        deadline = time.monotonic() + timeout_s
        while True:
            changed = self.step()
            status = self.status(job_id)
            if status.done and not any(key[0] == job_id for key in self._running):
                return status
            if time.monotonic() > deadline:
                raise RetryableError(f"batch job {job_id!r} not done after {timeout_s} s")
            if not changed:
                time.sleep(self.poll_interval_s)

    def recover(self) -> int:
        """Requeue RUNNING tasks of schedulers that are gone; returns how many."""
        now = time.time()
        recovered: list[TaskRow] = []
        with self._db.write() as conn:
            owners = self._db.owners(conn)
            dead = {oid for oid, owner in owners.items() if not self._owner_alive(owner, now)}
            dead.discard(self.owner_id)
            canceled = self._db.canceled_jobs(conn)
            for task in self._db.tasks_in_state(conn, TaskState.RUNNING):
                if task.owner == self.owner_id or (task.owner in owners and task.owner not in dead):
                    continue
                # The orphan may still run (its group outlives a SIGKILLed pool): stop it
                # before the task runs again, so two attempts never write at once.
                if task.pid is not None and alive(task.pid, task.proc_start):
                    kill_group(task.pid, signal.SIGKILL)
                state = TaskState.CANCELED if task.job_id in canceled else TaskState.PENDING
                # The interrupted attempt did not fail: it does not use up a retry.
                conn.execute(
                    "UPDATE tasks SET state = ?, owner = NULL, pid = NULL, proc_start = NULL, "
                    "attempts = MAX(attempts - 1, 0), reason = ? "
                    "WHERE job_id = ? AND task_id = ? AND state = ?",
                    (
                        state.value,
                        "job canceled" if state is TaskState.CANCELED else None,
                        task.job_id,
                        task.task_id,
                        TaskState.RUNNING.value,
                    ),
                )
                recovered.append(task)
            conn.executemany(
                "DELETE FROM owners WHERE owner_id = ?", [(owner_id,) for owner_id in dead]
            )
        for task in recovered:
            _append_log(
                Path(task.log_path),
                f"=== attempt {task.attempts} interrupted: its scheduler is gone; requeued ===\n",
            )
            log.warning(
                "requeued task of a dead scheduler",
                extra={"job_id": task.job_id, "task_id": task.task_id, "owner": task.owner},
            )
        return len(recovered)

    # internals ------------------------------------------------------------------------------

    def _resolve(self, task: TaskSpec) -> TaskSpec:
        command = [resolve_zones(arg, self.zone_roots) for arg in task.command]
        if command[0] == "python":
            command[0] = self.python
        return task.model_copy(
            update={
                "command": command,
                "env": {k: resolve_zones(v, self.zone_roots) for k, v in task.env.items()},
            }
        )

    def _log_path(self, job_id: str, task_id: str) -> Path:
        # Ids are validated ([A-Za-z0-9_-]), so they are safe path segments.
        return self.workdir / "logs" / job_id / f"{task_id}.log"

    def _register(self) -> None:
        if self._registered:
            return
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO owners (owner_id, host, pid, proc_start, heartbeat) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.owner_id, self._host, os.getpid(), process_start(os.getpid()), time.time()),
            )
        self._registered = True
        self._last_heartbeat = time.monotonic()

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat < self.heartbeat_s:
            return
        with self._db.write() as conn:
            updated = conn.execute(
                "UPDATE owners SET heartbeat = ? WHERE owner_id = ?", (time.time(), self.owner_id)
            ).rowcount
        self._last_heartbeat = time.monotonic()
        if updated == 0:
            # Another scheduler took this one for dead and requeued its tasks: stop the
            # processes (their results would be ignored) and start over as a new owner.
            log.warning("batch pool lost its registration; stopping its processes")
            for run in self._running.values():
                kill_group(run.popen.pid, signal.SIGKILL)
                run.popen.wait()
            self._running.clear()
            self._registered = False
            self._register()

    def _owner_alive(self, owner: OwnerRow, now: float) -> bool:
        if owner.host == self._host and owner.proc_start is not None:
            return alive(owner.pid, owner.proc_start)
        return now - owner.heartbeat < self.lease_s

    def _canceled_own_jobs(self) -> set[str]:
        if not self._running:
            return set()
        with self._db.read() as conn:
            canceled = self._db.canceled_jobs(conn)
        return {run.job_id for run in self._running.values()} & canceled

    def _stop_canceled(self, job_ids: set[str]) -> None:
        now = time.monotonic()
        for run in self._running.values():
            if run.job_id not in job_ids:
                continue
            if run.stop_sent_at is None:
                kill_group(run.popen.pid, signal.SIGTERM)
                run.stop_sent_at = now
            elif now - run.stop_sent_at > self.kill_grace_s:
                kill_group(run.popen.pid, signal.SIGKILL)

    def _enforce_time_limits(self) -> None:
        now = time.monotonic()
        for run in self._running.values():
            if run.deadline is not None and now > run.deadline and not run.timed_out:
                run.timed_out = True
                kill_group(run.popen.pid, signal.SIGKILL)

    def _reap(self) -> bool:
        finished = [
            (key, run, code)
            for key, run in self._running.items()
            if (code := run.popen.poll()) is not None
        ]
        for key, run, code in finished:
            del self._running[key]
            self._finish(run, code)
        return bool(finished)

    def _launch(self) -> bool:
        launched = False
        while True:
            free = self.max_parallel - sum(run.slots for run in self._running.values())
            if free <= 0:
                return launched
            claimed = self._claim(free)
            if claimed is None:
                return launched
            self._start(*claimed)
            launched = True

    def _claim(self, free: int) -> tuple[TaskRow, int] | None:
        """Atomically move the first runnable PENDING task to RUNNING under this owner."""
        now = time.time()
        with self._db.write() as conn:
            canceled = self._db.canceled_jobs(conn)
            states: dict[str, dict[str, str]] = {}
            for task in self._db.tasks_in_state(conn, TaskState.PENDING):
                slots = min(task.task.resources.slots, self.max_parallel)
                if task.job_id in canceled or task.not_before > now or slots > free:
                    continue
                if task.job_id not in states:
                    states[task.job_id] = dict(
                        conn.execute(
                            "SELECT task_id, state FROM tasks WHERE job_id = ?", (task.job_id,)
                        ).fetchall()
                    )
                job_states = states[task.job_id]
                if any(job_states[dep] != TaskState.SUCCEEDED for dep in task.task.depends_on):
                    continue
                conn.execute(
                    "UPDATE tasks SET state = ?, owner = ?, attempts = attempts + 1, "
                    "started_at = ?, ended_at = NULL, pid = NULL, proc_start = NULL "
                    "WHERE job_id = ? AND task_id = ? AND state = ?",
                    (
                        TaskState.RUNNING.value,
                        self.owner_id,
                        now,
                        task.job_id,
                        task.task_id,
                        TaskState.PENDING.value,
                    ),
                )
                return task, slots
        return None

    def _start(self, task: TaskRow, slots: int) -> None:
        attempt = task.attempts + 1
        spec = task.task
        log_path = Path(task.log_path)
        task_dir = self.workdir / "tasks" / task.job_id / task.task_id
        env = {
            **os.environ,
            **self.env,
            **spec.env,
            # The names Azure Batch sets, so a command sees the same environment on both
            # backends (the worker takes its scratch directory from the last one).
            "AZ_BATCH_JOB_ID": task.job_id,
            "AZ_BATCH_TASK_ID": task.task_id,
            "AZ_BATCH_TASK_WORKING_DIR": str(task_dir),
        }
        command = _SAS_SIGNATURE.sub(r"\1REDACTED", shlex.join(spec.command))
        header = (
            f"=== job {task.job_id} task {task.task_id} attempt {attempt} "
            f"at {datetime.now(UTC).isoformat()} ===\n$ {command}\n"
        )
        # The task is claimed already: every failure from here on must end in a recorded
        # result, or it would stay RUNNING under a live owner for good.
        try:
            task_dir.mkdir(parents=True, exist_ok=True)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("ab") as log_file:
                log_file.write(header.encode())
                log_file.flush()
                popen = _spawn(spec.command, log_file, task_dir, env)
        except OSError as err:
            _append_log(log_path, f"=== could not start: {err} ===\n")
            self._finish_unstarted(task, attempt, err)
            return
        limit = spec.resources.max_wall_clock_s
        # Tracked before the pid is written: if that write fails, the process is still
        # reaped and its result recorded.
        self._running[(task.job_id, task.task_id)] = _Running(
            job_id=task.job_id,
            task_id=task.task_id,
            attempt=attempt,
            slots=slots,
            popen=popen,
            log_path=log_path,
            deadline=None if limit is None else time.monotonic() + limit,
        )
        started = process_start(popen.pid)
        with self._db.write() as conn:
            conn.execute(
                "UPDATE tasks SET pid = ?, proc_start = ? "
                "WHERE job_id = ? AND task_id = ? AND owner = ? AND attempts = ?",
                (popen.pid, started, task.job_id, task.task_id, self.owner_id, attempt),
            )

    def _finish_unstarted(self, task: TaskRow, attempt: int, err: OSError) -> None:
        # A missing or non-executable program fails the same way every time; other OSErrors
        # (EAGAIN, ENOMEM from fork) are a busy machine.
        terminal = isinstance(err, FileNotFoundError | PermissionError | NotADirectoryError)
        self._record(
            task.job_id,
            task.task_id,
            attempt,
            exit_code=None,
            outcome=Outcome.TERMINAL if terminal else Outcome.RETRYABLE,
            reason=f"could not start: {err}",
        )

    def _finish(self, run: _Running, code: int) -> None:
        reason: str | None
        if run.timed_out:
            outcome, reason = Outcome.RETRYABLE, "killed: ran longer than max_wall_clock_s"
        else:
            outcome = classify(code)
            reason = None if outcome is Outcome.SUCCEEDED else describe(code)
        footer = f"=== attempt {run.attempt} exit code {code}: {reason or 'ok'} ===\n"
        _append_log(run.log_path, footer)
        self._record(
            run.job_id, run.task_id, run.attempt, exit_code=code, outcome=outcome, reason=reason
        )

    def _record(
        self,
        job_id: str,
        task_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        outcome: Outcome,
        reason: str | None,
    ) -> None:
        """Write an attempt's result, retry or fail it, block dependents: one transaction."""
        now = time.time()
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT t.state, t.owner, t.attempts, t.task, j.canceled, j.spec "
                "FROM tasks AS t JOIN jobs AS j USING (job_id) "
                "WHERE t.job_id = ? AND t.task_id = ?",
                (job_id, task_id),
            ).fetchone()
            if row is None or (row[0], row[1], row[2]) != (
                TaskState.RUNNING.value,
                self.owner_id,
                attempt,
            ):
                # Another scheduler requeued this attempt (it thought us dead): its result
                # no longer decides anything.
                log.warning("ignoring result of a requeued attempt", extra={"task_id": task_id})
                return
            max_retries = TaskSpec.model_validate_json(row[3]).max_retries
            not_before = 0.0
            if row[4]:
                state, reason = TaskState.CANCELED, "job canceled"
            elif outcome is Outcome.SUCCEEDED:
                state = TaskState.SUCCEEDED
            elif outcome is Outcome.RETRYABLE and attempt <= max_retries:
                state, not_before = TaskState.PENDING, now + self.retry_delay_s
                reason = f"attempt {attempt}: {reason}; retrying"
            else:
                state = TaskState.FAILED
                if outcome is Outcome.RETRYABLE:
                    reason = f"{reason}; gave up after {attempt} attempts"
            conn.execute(
                "UPDATE tasks SET state = ?, exit_code = ?, reason = ?, owner = NULL, pid = NULL, "
                "proc_start = NULL, ended_at = ?, not_before = ? WHERE job_id = ? AND task_id = ?",
                (state.value, exit_code, reason, now, not_before, job_id, task_id),
            )
            if state is TaskState.FAILED:
                blocked = JobSpec.model_validate_json(row[5]).dependents(task_id)
                conn.executemany(
                    "UPDATE tasks SET state = ?, reason = ?, ended_at = ? "
                    "WHERE job_id = ? AND task_id = ? AND state = ?",
                    [
                        (
                            TaskState.BLOCKED.value,
                            f"dependency {task_id!r} failed",
                            now,
                            job_id,
                            dependent,
                            TaskState.PENDING.value,
                        )
                        for dependent in sorted(blocked)
                    ],
                )
            open_tasks = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state IN (?, ?)",
                (job_id, TaskState.PENDING.value, TaskState.RUNNING.value),
            ).fetchone()[0]
        log.info(
            "task attempt finished",
            extra={"job_id": job_id, "task_id": task_id, "state": state, "exit_code": exit_code},
        )
        if open_tasks == 0:
            self._job_done(job_id, JobSpec.model_validate_json(row[5]).labels.instance_id)

    def _job_done(self, job_id: str, instance_id: str | None) -> None:
        """Tell the hook a job ended; a hook that fails costs latency only (polling remains)."""
        if self.on_job_done is None or instance_id is None:
            return
        state = self.status(job_id).state
        try:
            self.on_job_done(JobDone(job_id=job_id, instance_id=instance_id, state=state.value))
        except Exception:
            log.warning(
                "could not signal the end of job %s to %s; it is found at the next poll",
                job_id,
                instance_id,
                exc_info=True,
            )

    def _shutdown_running(self) -> None:
        """Stop own processes (TERM, then KILL after the grace) and requeue their tasks."""
        if not self._running:
            return
        for run in self._running.values():
            kill_group(run.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace_s
        for run in self._running.values():
            try:
                run.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_group(run.popen.pid, signal.SIGKILL)
                run.popen.wait()
        with self._db.write() as conn:
            canceled = self._db.canceled_jobs(conn)
            for run in self._running.values():
                state = TaskState.CANCELED if run.job_id in canceled else TaskState.PENDING
                conn.execute(
                    "UPDATE tasks SET state = ?, owner = NULL, pid = NULL, proc_start = NULL, "
                    "attempts = MAX(attempts - 1, 0) "
                    "WHERE job_id = ? AND task_id = ? AND owner = ? AND state = ?",
                    (
                        state.value,
                        run.job_id,
                        run.task_id,
                        self.owner_id,
                        TaskState.RUNNING.value,
                    ),
                )
        for run in self._running.values():
            _append_log(run.log_path, f"=== attempt {run.attempt} stopped: pool shut down ===\n")
        self._running.clear()


def _spawn(
    argv: list[str], log_file: IO[bytes], cwd: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    # A new session makes the task the leader of its own process group: cancel and
    # recovery kill the whole group (a worker's children too), and a SIGINT to the host's
    # terminal does not reach the tasks.
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )


def _append_log(path: Path, text: str) -> None:
    """Add a pool note to a task log; a note that cannot be written must not stop the pool."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        log.warning("could not write to task log %s", path, exc_info=True)


def _task_status(task: TaskRow) -> TaskStatus:
    # attempts counts starts; a PENDING task with attempts > 0 waits for its next retry.
    retries = task.attempts if task.state is TaskState.PENDING else max(task.attempts - 1, 0)
    return TaskStatus(
        state=task.state,
        exit_code=task.exit_code,
        retries=retries,
        reason=task.reason,
        log_location=task.log_path,
        started_at=_utc(task.started_at),
        ended_at=_utc(task.ended_at),
    )


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)
