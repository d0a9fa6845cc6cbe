"""A recording stand-in for the Azure Batch service *on the wire*: HTTPS, the REST routes the
app uses, and an App Service managed-identity token endpoint.

The app under test is configured only through settings: AVOPS_BATCH_ACCOUNT_URL points here,
IDENTITY_ENDPOINT/IDENTITY_HEADER (what App Service and Functions set for managed identities)
make DefaultAzureCredential ask this server for its token, and REQUESTS_CA_BUNDLE trusts the
server's self-signed certificate (the SDK refuses bearer tokens over plain HTTP). So the real
``azure.batch.BatchClient``, its serializer and its credential run unchanged; only the service
cannot run here. Every request is recorded with its JSON body, as the service received it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN = "fake-batch-access-token"
IDENTITY_HEADER = "fake-identity-header"
TOKEN_PATH = "/msi/token"

# What a task does once added: the fields of its wire JSON to set (state, executionInfo ...).
TaskScript = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class Recorded:
    """One request as the service saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class BatchServiceState:
    """Jobs and tasks in wire form, plus every request received."""

    script: TaskScript
    base_url: str = ""
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str, suffix: str = "") -> list[Recorded]:
        """Recorded Batch requests with this method whose path ends with ``suffix``."""
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake batch service")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "batch-cert.pem", directory / "batch-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _handler(state: BatchServiceState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the recorded requests are what tests read."""

        def _send(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json;odata=minimalmetadata")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", "fake")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"code": code, "message": {"lang": "en-US", "value": message}})

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            if parts.path == TOKEN_PATH:
                self._token(parse_qs(parts.query))
                return
            record = Recorded(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            with state.lock:
                state.requests.append(record)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._error(401, "AuthenticationFailed", "no or wrong bearer token")
                    return
                self._route(self.command, parts.path.strip("/").split("/"), body)

        def _token(self, query: dict[str, list[str]]) -> None:
            with state.lock:
                state.token_requests.append(query)
            if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                self._send(401, {"error": "bad identity header"})
                return
            expires = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
            self._send(
                200,
                {
                    "access_token": TOKEN,
                    "expires_on": str(expires),
                    "resource": query.get("resource", [""])[0],
                    "token_type": "Bearer",
                },
            )

        def _route(self, method: str, path: list[str], body: Any) -> None:
            match method, path:
                case "POST", ["jobs"]:
                    if body["id"] in state.jobs:
                        self._error(409, "JobExists", "The specified job already exists.")
                        return
                    state.jobs[body["id"]] = {**body, "state": "active"}
                    state.tasks[body["id"]] = {}
                    self._send(201)
                case "GET", ["jobs", job_id]:
                    if job_id not in state.jobs:
                        self._error(404, "JobNotFound", "The specified job does not exist.")
                        return
                    self._send(200, state.jobs[job_id])
                case "PATCH", ["jobs", job_id]:
                    state.jobs[job_id].update(body)
                    self._send(200)
                case "POST", ["jobs", job_id, "addtaskcollection"]:
                    results = []
                    for task in body["value"]:
                        url = f"{state.base_url}/jobs/{job_id}/tasks/{task['id']}"
                        wire = {**task, "state": "active", "url": url}
                        wire.update(state.script(job_id, task))
                        state.tasks[job_id][task["id"]] = wire
                        results.append({"status": "success", "taskId": task["id"]})
                    self._send(200, {"value": results})
                case "GET", ["jobs", job_id, "tasks"]:
                    self._send(200, {"value": list(state.tasks.get(job_id, {}).values())})
                case "POST", ["jobs", job_id, "terminate"]:
                    reason = (body or {}).get("terminateReason")
                    state.jobs[job_id]["state"] = "completed"
                    state.jobs[job_id]["executionInfo"] = {
                        "startTime": "2026-01-01T00:00:00Z",
                        "poolId": state.jobs[job_id]["poolInfo"]["poolId"],
                        "terminateReason": reason,
                    }
                    self._send(202)
                case _:
                    self._error(400, "UnsupportedRoute", f"{method} /{'/'.join(path)}")

        # BaseHTTPRequestHandler dispatches on these names.
        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815

    return Handler


@contextmanager
def fake_batch_service(
    directory: Path, script: TaskScript
) -> Iterator[tuple[str, Path, BatchServiceState]]:
    """Run the service on a free port; yield (base URL, CA certificate, state)."""
    cert, key = _self_signed(directory)
    state = BatchServiceState(script=script)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state.base_url, cert, state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
