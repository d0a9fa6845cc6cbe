"""Run ``@vercel/cosmosdb-server`` from node_modules as a child process on a free local port."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from dataops.lifecycle import RunningWhileEntered

__all__ = ["CosmosServer", "CosmosServerError"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
_PACKAGE = Path("node_modules") / "@vercel" / "cosmosdb-server"
# The package's own cli.js answers every request with "Connection: close", so each client call
# pays a new TLS handshake (~40 ms). Starting the server through its API with keepAlive on
# makes the contract suite several times faster; everything else is the package's default.
_LAUNCHER = """
const [entry, host, port] = process.argv.slice(1);
const { createHttpsServer } = require(entry);
const server = createHttpsServer({ keepAlive: true }).listen(Number(port), host, () => {
  console.log(`Ready to accept HTTPS connections at ${host}:${port}`);
});
// stdin is a pipe from the Python process that started us: when that process dies, even
// by SIGKILL, the pipe closes and the server goes with it instead of lingering.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
"""
# The server accepts any key; this is the well-known Cosmos emulator key, so clients that
# insist on a base64 key (azure-cosmos signs every request with it) are happy.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)


class CosmosServerError(RuntimeError):
    """The server could not be started or did not answer in time."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class CosmosServer(RunningWhileEntered):
    """``with CosmosServer() as server:`` gives ``server.endpoint`` and ``server.key``.

    The server serves HTTPS with a self-signed certificate: clients must turn TLS
    verification off (``Settings.cosmos_verify_tls=False``). Its data lives in memory only.
    """

    def __init__(
        self,
        *,
        root: Path = _REPO_ROOT,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port if port is not None else _free_port(host)
        self.key = EMULATOR_KEY
        self._entry = root / _PACKAGE / "lib" / "index.js"
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The ``https://127.0.0.1:<port>/`` URL clients connect to."""
        return f"https://{self.host}:{self.port}/"

    def settings_env(self, database: str = "avops") -> dict[str, str]:
        """``AVOPS_*`` environment variables that point the app's Settings at this server."""
        return {
            "AVOPS_STORE_BACKEND": "cosmos",
            "AVOPS_COSMOS_ENDPOINT": self.endpoint,
            "AVOPS_COSMOS_KEY": self.key,
            "AVOPS_COSMOS_DATABASE": database,
            # The server's certificate is self-signed; only ever for this local server.
            "AVOPS_COSMOS_VERIFY_TLS": "false",
        }

    def start(self) -> None:
        """Start the server and wait until it completes a TLS handshake and answers HTTP."""
        if self._process is not None:
            return
        if not self._entry.is_file():
            raise CosmosServerError(f"cosmosdb-server is not installed: {self._entry} is missing")
        # A file, not a pipe: a pipe nobody reads would block the server once it fills up.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # closed in stop()
        try:
            self._process = subprocess.Popen(
                ["node", "-e", _LAUNCHER, str(self._entry), self.host, str(self.port)],
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Own session: stop() signals the group it started and nothing else.
                start_new_session=True,
            )
        except OSError as err:
            self.stop()
            raise CosmosServerError(f"cannot run node to start cosmosdb-server: {err}") from err
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self._read_log()
                self.stop()
                raise CosmosServerError(f"cosmosdb-server exited at start: {output}")
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise CosmosServerError(f"cosmosdb-server did not answer on {self.endpoint} in time")

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace").strip()

    def _answers(self) -> bool:
        # The certificate is self-signed, so this probe skips verification; it only asks
        # "is the server up", and talks to 127.0.0.1 only.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection((self.host, self.port), timeout=1.0) as raw,
                context.wrap_socket(raw, server_hostname=self.host) as tls,
            ):
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return tls.recv(16).startswith(b"HTTP/")
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the process group this instance started (and only that) and reap it."""
        process, self._process = self._process, None
        log, self._log = self._log, None
        if log is not None:
            log.close()
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        # The group id is the pid of the session leader we started, so this reaches that
        # process and anything it spawned, never another process.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            process.wait(timeout=5)
