"""Blob URLs for ``--input`` and ``--output``, streamed through a scratch directory.

Input: a blob URL is downloaded (streamed to disk, never held in memory); a URL that names
no blob is taken as a prefix, e.g. a ROS 2 bag directory, and every blob under it is
downloaded. Output: the task runs into a local scratch output, then its files go up to
``<prefix>/<kind>/...``, ``_manifest.json`` next, ``_SUCCESS`` last: the marker is the
commit, so a reader that sees it sees the whole output. Stale blobs of an earlier crashed
run are deleted before the marker is written.

Credentials: a SAS in the URL, else ``AZURE_STORAGE_CONNECTION_STRING`` (Azurite, tests),
else azure-identity's DefaultAzureCredential (the pool's managed identity).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContainerClient

from extract_worker.commit import MANIFEST_NAME, SUCCESS_NAME
from extract_worker.errors import BadInputError, RetryableExtractError
from extract_worker.logs import log
from extract_worker.run import run_local_task

if TYPE_CHECKING:
    from extract_worker.config import ExtractConfig

__all__ = ["BlobLocation", "classify_error", "download_blob", "parse_blob_url", "run_blob_task"]

# Downloads and uploads move 8 MiB blocks: bounded memory, few round trips.
_BLOCK = 8 << 20


class BlobLocation:
    """A container client plus a blob name or prefix inside it."""

    def __init__(self, container: ContainerClient, name: str, url: str) -> None:
        self.container = container
        self.name = name.strip("/")
        self.url = url.split("?", 1)[0]

    def child(self, relative: str) -> str:
        """Blob name of ``relative`` under this location."""
        return str(PurePosixPath(self.name) / relative) if self.name else relative


def parse_blob_url(url: str) -> BlobLocation:
    """Split ``https://host/[account/]container/path?sas`` into a container client and path."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    host = parts.hostname or ""
    # Azurite and other emulators put the account into the path ("IP style").
    ip_style = host in {"127.0.0.1", "localhost"} or host.replace(".", "").isdigit()
    if ip_style:
        segments = segments[1:]
    if not segments:
        raise BadInputError("blob URL names no container", path=url.split("?", 1)[0])
    container_name, name = segments[0], "/".join(segments[1:])
    account_path = f"/{parts.path.split('/')[1]}" if ip_style else ""
    container_url = f"{parts.scheme}://{parts.netloc}{account_path}/{container_name}"
    if parts.query:
        client = ContainerClient.from_container_url(f"{container_url}?{parts.query}")
    elif conn := os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
        client = ContainerClient.from_connection_string(conn, container_name)
    else:
        from azure.identity import DefaultAzureCredential

        client = ContainerClient.from_container_url(
            container_url, credential=DefaultAzureCredential()
        )
    return BlobLocation(client, name, url)


def classify_error(err: AzureError, url: str) -> Exception:
    """Not found is bad input (exit 2); everything else on the wire may pass (exit 3)."""
    if isinstance(err, ResourceNotFoundError):
        return BadInputError(f"blob not found: {err.reason or err}", path=url)
    if isinstance(err, ClientAuthenticationError):
        return RetryableExtractError(f"{url}: storage refused the credential: {err.reason}")
    if isinstance(err, HttpResponseError):
        return RetryableExtractError(f"{url}: storage answered {err.status_code}: {err.reason}")
    return RetryableExtractError(f"{url}: storage unreachable: {err}")


def download_input(location: BlobLocation, scratch: Path) -> Path:
    """Download the input blob (or every blob under the prefix) into ``scratch``."""
    target = scratch / "input"
    target.mkdir(parents=True, exist_ok=True)
    try:
        blob = location.container.get_blob_client(location.name)
        if location.name and blob.exists():
            path = target / PurePosixPath(location.name).name
            download_blob(blob, path)
            return path
        prefix = f"{location.name}/" if location.name else ""
        root = target / (PurePosixPath(location.name).name or "input")
        count = 0
        for item in location.container.list_blobs(name_starts_with=prefix):
            relative = PurePosixPath(item.name[len(prefix) :])
            if ".." in relative.parts or relative.is_absolute():
                raise BadInputError("unsafe blob name under the prefix", path=item.name)
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            download_blob(location.container.get_blob_client(item.name), path)
            count += 1
    except AzureError as err:
        raise classify_error(err, location.url) from err
    if count == 0:
        raise BadInputError("no blob and no blobs under this prefix", path=location.url)
    return root


def download_blob(blob: Any, path: Path) -> None:
    """Stream one blob into ``path`` (8 MiB ranges at a time)."""
    with path.open("wb") as f:
        blob.download_blob(max_concurrency=2).readinto(f)


def _committed_manifest(location: BlobLocation, kind: str) -> dict[str, Any] | None:
    marker = location.container.get_blob_client(location.child(f"{kind}/{SUCCESS_NAME}"))
    if not marker.exists():
        return None
    manifest = location.container.get_blob_client(location.child(f"{kind}/{MANIFEST_NAME}"))
    result: dict[str, Any] = json.loads(manifest.download_blob().readall())
    return result


def upload_output(local_kind_dir: Path, location: BlobLocation, kind: str) -> None:
    """Upload a committed local task directory; ``_SUCCESS`` goes last."""
    files = sorted(p for p in local_kind_dir.rglob("*") if p.is_file())
    last = [local_kind_dir / MANIFEST_NAME, local_kind_dir / SUCCESS_NAME]
    ordered = [p for p in files if p not in last] + last
    names = {location.child(f"{kind}/{p.relative_to(local_kind_dir).as_posix()}") for p in files}
    container = location.container
    for path in ordered[:-1]:
        name = location.child(f"{kind}/{path.relative_to(local_kind_dir).as_posix()}")
        with path.open("rb") as f:
            container.upload_blob(name, f, overwrite=True, max_concurrency=2)
    # Blobs of an earlier, uncommitted attempt that this run did not write.
    for item in container.list_blobs(name_starts_with=location.child(f"{kind}/")):
        if item.name not in names:
            container.delete_blob(item.name)
    with ordered[-1].open("rb") as f:
        container.upload_blob(location.child(f"{kind}/{SUCCESS_NAME}"), f, overwrite=True)


def run_blob_task(
    *,
    kind: str,
    input_ref: str,
    output_ref: str,
    config: ExtractConfig,
    topics: list[str],
    ids: dict[str, str],
    force: bool,
    scratch: Path | None,
) -> dict[str, Any]:
    """Run one task where input and/or output are blob URLs."""
    out_location = parse_blob_url(output_ref) if _is_url(output_ref) else None
    if out_location is not None and not force:
        try:
            existing = _committed_manifest(out_location, kind)
        except AzureError as err:
            raise classify_error(err, out_location.url) from err
        if existing is not None:
            log.info("already committed, nothing to do", extra={"output": out_location.url})
            return existing
    base = scratch or Path(os.environ.get("AZ_BATCH_TASK_WORKING_DIR", tempfile.gettempdir()))
    work = Path(tempfile.mkdtemp(prefix=f"extract-{kind}-", dir=base))
    try:
        if _is_url(input_ref):
            input_path = download_input(parse_blob_url(input_ref), work)
        else:
            input_path = Path(input_ref)
        local_out = work / "output" if out_location is not None else Path(output_ref)
        manifest = run_local_task(
            kind=kind,
            input_path=input_path,
            output=local_out,
            config=config,
            topics=topics,
            ids=ids,
            force=force,
            input_label=input_ref.split("?", 1)[0],
        )
        if out_location is not None:
            try:
                upload_output(local_out / kind, out_location, kind)
            except AzureError as err:
                raise classify_error(err, out_location.url) from err
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
