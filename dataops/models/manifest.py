"""The upload manifest: what a vehicle logger or the CLI writes next to its files."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dataops.errors import InvalidPathError
from dataops.models.common import Identifier, Sha256, Tag, UtcDatetime, VehicleId
from dataops.paths import check_relative_path

__all__ = ["MANIFEST_NAME", "SCHEMA_VERSION", "FileFormat", "Manifest", "ManifestFile"]

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = "1.0"
MAX_FILES = 10_000


class FileFormat(StrEnum):
    """Formats a manifest may list. ``dbc`` and ``other`` are sidecars: copied, not extracted."""

    ROSBAG1 = "rosbag1"
    ROSBAG2 = "rosbag2"
    MCAP = "mcap"
    MDF4 = "mdf4"
    TDMS = "tdms"
    DBC = "dbc"
    OTHER = "other"


RECORDING_FORMATS = frozenset(
    {FileFormat.ROSBAG1, FileFormat.ROSBAG2, FileFormat.MCAP, FileFormat.MDF4, FileFormat.TDMS}
)


class ManifestFile(BaseModel):
    """One uploaded file. A ROS 2 bag lists each file of its directory with format ``rosbag2``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Annotated[
        str, Field(max_length=1024, description="Relative POSIX path below the upload prefix.")
    ]
    format: FileFormat
    size: Annotated[int, Field(ge=0, le=2**50, description="Size in bytes.")]
    sha256: Sha256

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        try:
            return check_relative_path(value, field="path")
        except InvalidPathError as err:
            # Re-raise as ValueError so pydantic reports it with the field location (files.3.path).
            raise ValueError(str(err)) from err

    @model_validator(mode="after")
    def _not_empty_recording(self) -> Self:
        # An empty recording cannot be extracted; catching it here keeps it out of raw.
        if self.size == 0 and self.format in RECORDING_FORMATS:
            raise ValueError(f"{self.path} is a {self.format} recording of 0 bytes")
        return self

    @property
    def recording(self) -> str:
        """The recording this file belongs to: a ROS 2 bag's directory, else the file itself."""
        if self.format is FileFormat.ROSBAG2 and "/" in self.path:
            return self.path.rsplit("/", 1)[0]
        return self.path


class Manifest(BaseModel):
    """``manifest.json``: written last, after every file it lists."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": "https://avops-dataops.dev/schemas/manifest-1.0.json"},
    )

    schema_version: Literal["1.0"] = Field(description="Manifest format version.")
    vehicle_id: VehicleId
    recording_start: UtcDatetime = Field(description="Start of the recording (UTC, ISO 8601).")
    recording_end: UtcDatetime = Field(description="End of the recording (UTC, ISO 8601).")
    files: Annotated[list[ManifestFile], Field(min_length=1, max_length=MAX_FILES)]
    measurement_id: Identifier | None = Field(
        default=None, description="Optional; derived from the content when absent."
    )
    tags: Annotated[list[Tag], Field(max_length=64)] = Field(default_factory=list)
    project: Annotated[str, Field(max_length=128)] | None = None
    driver: Annotated[str, Field(max_length=128)] | None = None
    logger_synchronized: bool = Field(
        default=False, description="The logger already time-synchronized every sensor."
    )

    @field_validator("files")
    @classmethod
    def _each_file_once(cls, files: list[ManifestFile]) -> list[ManifestFile]:
        # Case-folded: on a case-insensitive file system two spellings are one file.
        seen: dict[str, int] = {}
        for index, item in enumerate(files):
            key = item.path.casefold()
            if key in seen:
                raise ValueError(
                    f"file listed twice: files[{index}].path {item.path!r} repeats "
                    f"files[{seen[key]}].path"
                )
            seen[key] = index
        return files

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.recording_end < self.recording_start:
            raise ValueError("recording_end is before recording_start")
        return self

    def recordings(self) -> dict[str, list[ManifestFile]]:
        """Files grouped by recording (one entry per ROS 2 bag directory or single file)."""
        groups: dict[str, list[ManifestFile]] = {}
        for item in self.files:
            if item.format in RECORDING_FORMATS:
                groups.setdefault(item.recording, []).append(item)
        return groups
