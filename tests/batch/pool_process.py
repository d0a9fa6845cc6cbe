"""Run a LocalPool scheduler until killed (the crash test SIGKILLs this process).

python -m tests.batch.pool_process DB WORKDIR MAX_PARALLEL
"""

from __future__ import annotations

import sys
import threading

from dataops.batch.local_pool import LocalPool


def main() -> None:
    db, workdir, max_parallel = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pool = LocalPool(db, workdir, max_parallel=max_parallel, retry_delay_s=0, poll_interval_s=0.02)
    pool.run_forever(threading.Event())


if __name__ == "__main__":
    main()
