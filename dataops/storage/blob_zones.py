"""BlobZones: every blob operation the pipeline needs, on paths checked before any request."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobProperties, ContentSettings

from dataops.errors import InvalidInputError
from dataops.lifecycle import ClosedOnExit
from dataops.paths import Zone, check_relative_path, join_path
from dataops.storage.copy import copy_blob_streamed, copy_blob_verified
from dataops.storage.error_zone import move_prefix_to_error
from dataops.storage.errors import BlobTooLargeError, translate_azure_errors
from dataops.storage.hashing import sha256_of_blob
from dataops.storage.models import (
    BlobDigest,
    BlobInfo,
    CopyResult,
    ProgressCallback,
    SmallBlob,
    UploadResult,
)
from dataops.storage.upload import upload_file_streamed
from dataops.storage.zones import DEFAULT_CHUNK_SIZE, ZoneClients, zone_clients_from_settings

if TYPE_CHECKING:
    from pathlib import Path

    from azure.storage.blob import BlobClient, ContainerClient

    from dataops.settings import Settings

__all__ = ["BlobZones"]

_RANGE_NOT_SATISFIABLE = 416


def _info(props: BlobProperties) -> BlobInfo:
    md5 = props.content_settings.content_md5
    return BlobInfo(
        path=str(props.name),
        size=int(props.size),
        etag=str(props.etag),
        last_modified=props.last_modified,
        content_md5=bytes(md5) if md5 else None,
        content_type=props.content_settings.content_type,
        metadata=dict(props.metadata or {}),
    )


class BlobZones(ClosedOnExit):
    """The storage zones of one deployment (Azurite or Azure), behind one small API.

    Every path argument is a path inside the zone; it passes ``check_relative_path`` before
    any request is made. Azure errors come out as ``dataops.errors`` (see storage/errors.py).
    """

    def __init__(self, clients: ZoneClients) -> None:
        self._clients = clients

    @classmethod
    def from_settings(
        cls, settings: Settings, *, container_prefix: str = "", chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> BlobZones:
        """Build from settings: account URLs per zone (Azure) or the connection string (Azurite)."""
        return cls(
            zone_clients_from_settings(
                settings, container_prefix=container_prefix, chunk_size=chunk_size
            )
        )

    @property
    def chunk_size(self) -> int:
        """Bytes per upload block (download ranges: at most ``MAX_DOWNLOAD_RANGE``)."""
        return self._clients.chunk_size

    def close(self) -> None:
        """Close the HTTP sessions."""
        self._clients.close()

    def container_name(self, zone: Zone) -> str:
        """Name of the container that holds ``zone``."""
        return str(self._clients.container(zone).container_name)

    def container_url(self, zone: Zone) -> str:
        """URL of the zone's container (what batch tasks are given as the zone's root)."""
        return str(self._clients.container(zone).url)

    def container_client(self, zone: Zone) -> ContainerClient:
        """The zone's container client (erasure lists and deletes with it directly)."""
        return self._clients.container(zone)

    def _blob(self, zone: Zone, path: str, *, field: str = "path") -> BlobClient:
        checked = check_relative_path(path, field=field, source=zone.value)
        return self._clients.container(zone).get_blob_client(checked)

    def ensure_containers(self, zones: Iterable[Zone] = tuple(Zone)) -> None:
        """Create the containers of ``zones`` that do not exist yet (devhost and tests)."""
        for zone in zones:
            container = self._clients.container(zone)
            with translate_azure_errors(f"{zone.value}: create container"):
                try:
                    container.create_container()
                except ResourceExistsError:
                    continue  # already there is exactly what we want

    def list_blobs(
        self, zone: Zone, prefix: str | None = None, *, page_size: int = 5000
    ) -> Iterator[BlobInfo]:
        """Yield every blob under ``prefix`` (a folder; None for the whole zone), page by page.

        The prefix is checked when this is called, not at the first ``next()``.
        """
        starts_with = None
        if prefix is not None:
            starts_with = check_relative_path(prefix, field="prefix", source=zone.value) + "/"
        return self._iter_blobs(zone, starts_with, page_size)

    def _iter_blobs(
        self, zone: Zone, starts_with: str | None, page_size: int
    ) -> Iterator[BlobInfo]:
        container = self._clients.container(zone)
        where = f"{zone.value}/{starts_with or ''}"
        with translate_azure_errors(where):
            pages = container.list_blobs(
                name_starts_with=starts_with, include=["metadata"], results_per_page=page_size
            )
            for props in pages:
                yield _info(props)

    def get_info(self, zone: Zone, path: str) -> BlobInfo:
        """Properties of one blob (size, etag, MD5, metadata); NotFoundError if it is missing."""
        blob = self._blob(zone, path)
        with translate_azure_errors(f"{zone.value}/{path}"):
            return _info(blob.get_blob_properties())

    def sha256(self, zone: Zone, path: str, *, etag: str | None = None) -> BlobDigest:
        """Streamed SHA-256 and size of one blob version; EtagMismatchError if it changes."""
        blob = self._blob(zone, path)
        with translate_azure_errors(f"{zone.value}/{path}"):
            return sha256_of_blob(blob, etag=etag)

    def copy(
        self,
        source_zone: Zone,
        source_path: str,
        destination_zone: Zone,
        destination_path: str | None = None,
        *,
        source_etag: str,
        expected_sha256: str | None = None,
        rehash: bool = False,
        timeout_s: float = 3600.0,
    ) -> CopyResult:
        """Copy guarded by ``source_etag``, waited for and verified.

        Server-side when the destination's service can read the source, else streamed through
        this process in bounded memory (see :mod:`dataops.storage.copy`). EtagMismatchError if
        the source changed; CopyVerificationError (copy deleted) if the copy differs in size,
        Content-MD5, sha256 metadata or, with ``rehash``, its SHA-256.
        """
        destination_path = source_path if destination_path is None else destination_path
        source = self._blob(source_zone, source_path, field="source_path")
        destination = self._blob(destination_zone, destination_path, field="destination_path")
        where = f"{source_zone.value}/{source_path} -> {destination_zone.value}/{destination_path}"
        if not self._clients.server_side_copy(source_zone, destination_zone):
            with translate_azure_errors(where):
                return copy_blob_streamed(
                    source,
                    destination,
                    source_etag=source_etag,
                    expected_sha256=expected_sha256,
                    rehash=rehash,
                )
        source_url = self._clients.copy_source_url(source_zone, source_path, destination_zone)
        with translate_azure_errors(where):
            return copy_blob_verified(
                source,
                source_url,
                destination,
                source_etag=source_etag,
                expected_sha256=expected_sha256,
                rehash=rehash,
                timeout_s=timeout_s,
            )

    def delete(self, zone: Zone, path: str, *, etag: str) -> None:
        """Delete the blob only if it still has ``etag`` (else EtagMismatchError)."""
        blob = self._blob(zone, path)
        with translate_azure_errors(f"{zone.value}/{path}"):
            blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)

    def read_bytes(self, zone: Zone, path: str, *, max_bytes: int) -> SmallBlob:
        """Read a small blob whole; BlobTooLargeError before downloading if above ``max_bytes``."""
        blob = self._blob(zone, path)
        where = f"{zone.value}/{path}"
        with translate_azure_errors(where):
            props = blob.get_blob_properties()
            if props.size > max_bytes:
                raise BlobTooLargeError(
                    f"{props.size} bytes, more than the {max_bytes} allowed", source=where
                )
            # Pinned to the etag just checked, so a bigger version cannot slip in between.
            downloader = blob.download_blob(
                etag=str(props.etag),
                match_condition=MatchConditions.IfNotModified,
                decompress=False,
            )
            return SmallBlob(data=downloader.readall(), etag=str(props.etag))

    def read_capped(self, zone: Zone, path: str, *, max_bytes: int) -> SmallBlob:
        """Read a small blob whole in one request: a ranged GET of at most ``max_bytes + 1``.

        Half the round trips of :meth:`read_bytes` (no properties request first), for reads on
        a request's path (a drive view's frame); a blob above ``max_bytes`` is
        BlobTooLargeError after at most ``max_bytes + 1`` bytes were fetched and dropped, so
        use it with caps of a few MB, and :meth:`read_bytes` where nothing of an oversized
        blob may be fetched.
        """
        blob = self._blob(zone, path)
        where = f"{zone.value}/{path}"
        with translate_azure_errors(where):
            try:
                downloader = blob.download_blob(offset=0, length=max_bytes + 1, decompress=False)
            except HttpResponseError as err:
                if err.status_code != _RANGE_NOT_SATISFIABLE:
                    raise
                # An empty blob has no byte 0 to start a range at: read it plainly.
                downloader = blob.download_blob(decompress=False)
            if downloader.size > max_bytes:
                total = str(downloader.properties.content_range).rsplit("/", 1)[-1]
                raise BlobTooLargeError(
                    f"{total} bytes, more than the {max_bytes} allowed", source=where
                )
            # Later chunks of a multi-request download are pinned to the first one's etag.
            return SmallBlob(data=downloader.readall(), etag=str(downloader.properties.etag))

    def read_json(self, zone: Zone, path: str, *, max_bytes: int) -> tuple[Any, str]:
        """Parse a small JSON blob; return ``(value, etag)``. Bad JSON is InvalidInputError."""
        blob = self.read_bytes(zone, path, max_bytes=max_bytes)
        try:
            return json.loads(blob.data), blob.etag
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InvalidInputError(
                f"not valid JSON: {err}", source=f"{zone.value}/{path}"
            ) from err

    def write_bytes(
        self,
        zone: Zone,
        path: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        overwrite: bool = True,
        etag: str | None = None,
    ) -> str:
        """Write a small blob; return its new etag.

        ``etag``: replace only that version (EtagMismatchError otherwise). ``overwrite=False``:
        create only (ConflictError if it exists).
        """
        blob = self._blob(zone, path)
        with translate_azure_errors(f"{zone.value}/{path}"):
            # The SDK forwards an explicit etag=None to the HTTP layer, so only pass it when set.
            conditions: dict[str, Any] = {}
            if etag is not None:
                conditions = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            response = blob.upload_blob(
                data,
                length=len(data),
                overwrite=overwrite,
                content_settings=ContentSettings(content_type=content_type),
                **conditions,
            )
        return str(response["etag"])

    def write_json(
        self,
        zone: Zone,
        path: str,
        value: Mapping[str, Any] | list[Any],
        *,
        overwrite: bool = True,
        etag: str | None = None,
    ) -> str:
        """Write a small JSON document (UTF-8, sorted keys); return its etag."""
        data = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode()
        return self.write_bytes(
            zone, path, data, content_type="application/json", overwrite=overwrite, etag=etag
        )

    def download_file(self, zone: Zone, path: str, local_path: Path) -> int:
        """Stream ``zone/path`` into ``local_path`` range by range (memory: one range)."""
        blob = self._blob(zone, path)
        with translate_azure_errors(f"{zone.value}/{path}"), local_path.open("wb") as sink:
            downloader = blob.download_blob(max_concurrency=1)
            written = 0
            for chunk in downloader.chunks():
                sink.write(chunk)
                written += len(chunk)
        return written

    def upload_file(
        self,
        zone: Zone,
        path: str,
        local_path: Path,
        *,
        content_type: str | None = None,
        write_sha256: bool = True,
        overwrite: bool = True,
        progress: ProgressCallback | None = None,
        done_before: int = 0,
    ) -> UploadResult:
        """Stream one local file to ``zone/path`` (Content-MD5 and sha256 metadata set).

        ``progress`` gets ``done_before`` (what a directory upload sent before) plus the bytes
        of this file sent so far.
        """
        blob = self._blob(zone, path)
        with translate_azure_errors(f"{zone.value}/{path}"):
            return upload_file_streamed(
                blob,
                local_path,
                chunk_size=self.chunk_size,
                content_type=content_type,
                write_sha256=write_sha256,
                overwrite=overwrite,
                progress=progress,
                done_before=done_before,
            )

    def upload_directory(
        self,
        zone: Zone,
        prefix: str,
        local_dir: Path,
        *,
        write_sha256: bool = True,
        overwrite: bool = True,
        progress: ProgressCallback | None = None,
    ) -> list[UploadResult]:
        """Upload every file under ``local_dir`` (e.g. a ROS 2 bag) to ``prefix/<relative path>``.

        All blob paths are checked, and symlinks refused, before the first byte is sent.
        ``progress`` gets the bytes done over the whole directory.
        """
        check_relative_path(prefix, field="prefix", source=zone.value)
        if not local_dir.is_dir():
            raise InvalidInputError("not a directory", source=str(local_dir))
        plan: list[tuple[Path, str]] = []
        for local in sorted(local_dir.rglob("*")):
            if local.is_symlink():
                # A link could point outside the bag and upload files nobody meant to share.
                raise InvalidInputError("symlinks are not uploaded", source=str(local))
            if local.is_file():
                relative = local.relative_to(local_dir).as_posix()
                blob_path = join_path(prefix, relative)
                plan.append((local, check_relative_path(blob_path, source=str(local))))
        results: list[UploadResult] = []
        done = 0
        for local, blob_path in plan:
            result = self.upload_file(
                zone,
                blob_path,
                local,
                write_sha256=write_sha256,
                overwrite=overwrite,
                progress=progress,
                done_before=done,
            )
            done += result.size
            results.append(result)
        return results

    # Every blob under ``zone/prefix`` to the error zone with ``_error.json``: the function is
    # the method (``self`` is its ``zones``), so the signature is written once.
    move_to_error = move_prefix_to_error
