"""The local batch pool's traces of the target: job and task rows, task logs and work folders.

A job belongs to the target when its spec or one of its tasks names one of the target's ids
(extraction jobs carry the datastream ids and paths in their task command lines). Jobs in
Azure Batch are not covered here: docs/erasure.md says what remains there and for how long.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dataops.batch.local_pool_db import PoolDb
from dataops.settings import BatchBackend as BatchBackendKind
from dataops.settings import Settings

__all__ = ["erase_pool_jobs", "pool_jobs_of", "pool_dir"]


def pool_dir(settings: Settings) -> Path | None:
    """The local pool's folder (what ``open_batch_backend`` uses), None for Azure Batch."""
    if settings.batch_backend is BatchBackendKind.AZURE:
        return None
    return settings.sqlite_path.parent / "batch"


def _matching_jobs(db: PoolDb, tokens: list[str]) -> list[str]:
    with db.read() as conn:
        jobs = conn.execute("SELECT job_id, spec FROM jobs").fetchall()
        found: set[str] = set()
        for job_id, spec in jobs:
            texts = [job_id, spec] + [
                row[0] for row in conn.execute("SELECT task FROM tasks WHERE job_id = ?", (job_id,))
            ]
            if any(token in text for token in tokens for text in texts):
                found.add(str(job_id))
    return sorted(found)


def pool_jobs_of(settings: Settings, tokens: list[str]) -> list[str]:
    """Ids of the local pool's jobs that name the target (empty for Azure Batch)."""
    folder = pool_dir(settings)
    if folder is None or not (folder / "pool.sqlite3").exists():
        return []
    db = PoolDb(folder / "pool.sqlite3")
    try:
        return _matching_jobs(db, tokens)
    finally:
        db.close()


def erase_pool_jobs(settings: Settings, tokens: list[str]) -> int:
    """Delete the target's jobs, their tasks, logs and work folders; scrub the database."""
    folder = pool_dir(settings)
    if folder is None or not (folder / "pool.sqlite3").exists():
        return 0
    db = PoolDb(folder / "pool.sqlite3")
    try:
        jobs = _matching_jobs(db, tokens)
        with db.write() as conn:
            for job_id in jobs:
                conn.execute("DELETE FROM tasks WHERE job_id = ?", (job_id,))
                conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        for job_id in jobs:
            for sub in ("logs", "tasks"):
                shutil.rmtree(folder / sub / job_id, ignore_errors=True)
        db.scrub()
    finally:
        db.close()
    return len(jobs)
