"""Azurite's blob service as a child process: free port, own data directory, clean stop.

Used by ``avops dev`` and by the integration tests. Only the process group it started is
ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

from dataops.lifecycle import RunningWhileEntered
from dataops.paths import Zone
from dataops.storage import BlobZones, ConnectionStringZones
from devhost.errors import DevhostError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["ACCOUNT_KEY", "ACCOUNT_NAME", "AzuriteBlob", "AzuriteError"]

# The emulator's documented, public development account; not a secret.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_REPO_ROOT = Path(__file__).resolve().parents[2]
_PORT_ATTEMPTS = 3


class AzuriteError(DevhostError):
    """Azurite could not be found, did not start or did not answer in time."""


def _free_port(host: str) -> int:
    # The port is free now; another process may take it before Azurite binds, hence retries.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class AzuriteBlob(RunningWhileEntered):
    """Start, wait for and stop ``azurite-blob`` from the project's node_modules.

    ``data_dir`` None means a temporary directory, removed again on :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        node_modules: Path | None = None,
        log_file: Path | None = None,
        access_log: bool = False,
        loose: bool = False,
        startup_timeout_s: float = 30.0,
        accounts: Iterable[str] = (),
    ) -> None:
        self._data_dir = data_dir
        self._owns_data_dir = False
        self._host = host
        self._requested_port = port
        self._node_modules = node_modules or _REPO_ROOT / "node_modules"
        self._log_file = log_file
        self._access_log = access_log
        self._loose = loose
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port: int | None = None
        # Storage accounts besides the development one, each isolated from the others (the
        # tests give every app under test its own): all share the development account's key.
        self._accounts = tuple(accounts)

    @property
    def port(self) -> int:
        """The port Azurite listens on (after :meth:`start`)."""
        if self._port is None:
            raise AzuriteError("Azurite is not running")
        return self._port

    @property
    def pid(self) -> int | None:
        """Process id of the Azurite process (also its process group id), if running."""
        return None if self._process is None else self._process.pid

    @property
    def data_dir(self) -> Path:
        """Where Azurite keeps its blobs and metadata."""
        if self._data_dir is None:
            raise AzuriteError("Azurite is not running")
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """Azurite's stdout and stderr (and access log when enabled)."""
        return self._log_file or self.data_dir / "azurite.log"

    @property
    def blob_endpoint(self) -> str:
        """``http://127.0.0.1:<port>/devstoreaccount1``."""
        return f"http://{self._host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """Connection string for the well-known development account on this instance."""
        return self.connection_string_for(ACCOUNT_NAME)

    def connection_string_for(self, account: str) -> str:
        """Connection string for ``account``: the development one or one of ``accounts``."""
        if account != ACCOUNT_NAME and account not in self._accounts:
            raise AzuriteError(f"account {account!r} is not served by this Azurite")
        endpoint = f"http://{self._host}:{self.port}/{account}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={account};"
            f"AccountKey={ACCOUNT_KEY};BlobEndpoint={endpoint};"
        )

    def _environment(self) -> dict[str, str] | None:
        if not self._accounts:
            return None  # Azurite's default: the development account only
        served = (ACCOUNT_NAME, *self._accounts)
        return {**os.environ, "AZURITE_ACCOUNTS": ";".join(f"{a}:{ACCOUNT_KEY}" for a in served)}

    def _command(self, port: int) -> list[str]:
        script = self._node_modules / "azurite" / "dist" / "src" / "blob" / "main.js"
        node = shutil.which("node")
        if node is None or not script.is_file():
            raise AzuriteError(f"need node on PATH and {script} (run npm install)")
        command = [
            node,
            str(script),
            "--blobHost",
            self._host,
            "--blobPort",
            str(port),
            "--location",
            str(self.data_dir),
            # azure-storage-blob 12.31 sends an API version newer than Azurite 3.37 knows.
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ]
        if not self._access_log:
            command.append("--silent")
        if self._loose:
            command.append("--loose")
        return command

    def start(self) -> Self:
        """Start Azurite and return once it answers HTTP; AzuriteError if it cannot."""
        if self._process is not None:
            return self
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="avops-azurite-"))
            self._owns_data_dir = True
        self._data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        failure = "not started"
        for _ in range(attempts):
            port = self._requested_port or _free_port(self._host)
            failure = self._try_start(port)
            if not failure:
                return self
        self.stop()
        raise AzuriteError(f"Azurite did not start: {failure}")

    def _try_start(self, port: int) -> str:
        """Launch on ``port``; return "" when it answers, else why it failed (process reaped)."""
        self._log = self.log_path.open("ab")
        # A new session makes Azurite the leader of its own process group, so stop() can
        # signal exactly it and its children and nothing of ours.
        self._process = subprocess.Popen(
            self._command(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self._environment(),
        )
        self._port = port
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                reason = f"exited with {self._process.returncode}: {self._log_tail()}"
                self._reap()
                return reason
            if self._answers():
                return ""
            time.sleep(0.1)
        self._reap()
        return f"no answer on port {port} within {self._startup_timeout_s:.0f}s"

    def _answers(self) -> bool:
        url = f"{self.blob_endpoint}?comp=list"
        try:
            with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 (fixed http URL)
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP status (403 without a signature) means it is serving
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:].strip()
        except OSError as err:
            return f"(log unreadable: {err})"

    def _reap(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        self._port = None
        if process is not None:
            if process.poll() is None:
                self._signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self._signal_group(process.pid, signal.SIGKILL)
                    process.wait(timeout=timeout_s)
            else:
                # The leader is gone; children it left in its group must go too.
                self._signal_group(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone is what we want
            os.killpg(pgid, sig)

    def stop(self) -> None:
        """Stop the process group this instance started; remove a temporary data directory."""
        self._reap()
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
            self._owns_data_dir = False

    def create_zone_containers(
        self, *, container_prefix: str = "", zones: Iterable[Zone] = tuple(Zone)
    ) -> None:
        """Create one container per zone (named after it, optionally prefixed)."""
        clients = ConnectionStringZones(self.connection_string, container_prefix=container_prefix)
        with BlobZones(clients) as blob_zones:
            blob_zones.ensure_containers(zones)
