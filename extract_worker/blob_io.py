"""Blob URLs for ``--input`` and ``--output``, streamed through a scratch directory.

Input: a blob URL is downloaded once per run, however many kinds the run has (streamed to
disk, never held in memory); a URL that names no blob is taken as a prefix, e.g. a ROS 2 bag
directory, and every blob under it is downloaded. Output: each kind runs into a local scratch
output, then its files go up to ``<prefix>/<kind>/...``, ``_manifest.json`` next, ``_SUCCESS``
last: the marker is the commit, so a reader that sees it sees the whole output. Stale blobs
of an earlier crashed run are deleted before the marker is written.

Credentials: a SAS in the URL, else ``AZURE_STORAGE_CONNECTION_STRING`` (Azurite, tests),
else azure-identity's DefaultAzureCredential (the pool's managed identity).
"""

from __future__ import annotations

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

from extract_worker.commit import MANIFEST_NAME, SUCCESS_NAME, is_committed
from extract_worker.errors import BadInputError, RetryableExtractError
from extract_worker.run import run_local_task

if TYPE_CHECKING:
    from extract_worker.kinds import KindOptions

__all__ = ["BlobLocation", "BlobRun", "classify_error", "download_blob", "parse_blob_url"]

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


class BlobRun:
    """Kinds where input and/or output are blob URLs: the input is downloaded once.

    ``with`` makes the scratch directory and downloads a blob input into it (the one download
    of the run); each kind then runs into ``<scratch>/output/<kind>``, is uploaded (marker
    last) and its local copy removed before the next kind starts, so scratch holds the input
    and one kind's output at most. Leaving the ``with`` removes the scratch directory.
    """

    def __init__(
        self, *, input_ref: str, output_ref: str, options: KindOptions, scratch: Path | None
    ) -> None:
        self.input_ref = input_ref
        self.output_ref = output_ref
        self.options = options
        self.scratch = scratch
        self.out_location = parse_blob_url(output_ref) if _is_url(output_ref) else None
        self.work: Path | None = None
        self.input_path = Path(input_ref)

    def committed(self, kind: str) -> bool:
        """True if ``<output>/<kind>/_SUCCESS`` exists and ``--force`` was not given."""
        if self.options.force:
            return False
        if self.out_location is None:
            return is_committed(Path(self.output_ref), kind)
        marker = self.out_location.child(f"{kind}/{SUCCESS_NAME}")
        try:
            return bool(self.out_location.container.get_blob_client(marker).exists())
        except AzureError as err:
            raise classify_error(err, self.out_location.url) from err

    def __enter__(self) -> BlobRun:
        """Make the scratch directory and download a blob input into it."""
        base = self.scratch or Path(
            os.environ.get("AZ_BATCH_TASK_WORKING_DIR", tempfile.gettempdir())
        )
        self.work = Path(tempfile.mkdtemp(prefix="extract-", dir=base))
        try:
            if _is_url(self.input_ref):
                self.input_path = download_input(parse_blob_url(self.input_ref), self.work)
        except BaseException:
            self._remove_scratch()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Remove the scratch directory (the input copy and any output left)."""
        self._remove_scratch()

    def run(self, kind: str) -> dict[str, Any]:
        """Run ``kind`` on the staged input and commit it (upload, marker last)."""
        if self.work is None:
            raise RuntimeError("BlobRun.run outside its with block")
        local_out = self.work / "output" if self.out_location is not None else None
        manifest = run_local_task(
            kind=kind,
            input_path=self.input_path,
            output=local_out or Path(self.output_ref),
            config=self.options.config,
            topics=self.options.topics,
            ids=self.options.ids,
            force=self.options.force,
            input_label=self.input_ref.split("?", 1)[0],
        )
        if local_out is not None and self.out_location is not None:
            try:
                upload_output(local_out / kind, self.out_location, kind)
            except AzureError as err:
                raise classify_error(err, self.out_location.url) from err
            finally:
                shutil.rmtree(local_out / kind, ignore_errors=True)
        return manifest

    def _remove_scratch(self) -> None:
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))
