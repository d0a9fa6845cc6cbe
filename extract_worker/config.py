"""The extraction config: which topics go to which task kind, downsampling, image and CAN options.

A JSON or YAML file validated by pydantic; :data:`DEFAULT_CONFIG_PATH` is the checked-in default
that the orchestrator passes; a config file replaces the default's top-level keys it names
and keeps the rest. Patterns are ``fnmatch`` globs on topic names and message types.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from extract_worker.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "MESSAGE_KINDS",
    "Downsampling",
    "ExtractConfig",
    "Limits",
    "Selection",
    "load_config",
]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.json")

# Kinds that select message topics, in matching order (radar before lidar: both take
# PointCloud2, radar by topic name); `structured` takes every topic none of them claims.
MESSAGE_KINDS = ("camera", "radar", "lidar", "gps", "imu", "can")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selection(_Model):
    """Topics a task kind takes: message type globs, optional topic globs and exclusions."""

    msgtypes: list[str] = Field(default_factory=lambda: ["*"])
    topics: list[str] = Field(default_factory=list)
    exclude_topics: list[str] = Field(default_factory=list)

    def matches(self, topic: str, msgtype: str) -> bool:
        """True if this selection takes ``topic`` of type ``msgtype``."""
        if not any(fnmatchcase(msgtype, pattern) for pattern in self.msgtypes):
            return False
        if self.topics and not any(fnmatchcase(topic, pattern) for pattern in self.topics):
            return False
        return not any(fnmatchcase(topic, pattern) for pattern in self.exclude_topics)


class Downsampling(_Model):
    """Keep messages at most at ``rate_hz``, or every ``every_n``-th message (not both)."""

    rate_hz: float | None = Field(default=None, gt=0)
    every_n: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_rule(self) -> Downsampling:
        if (self.rate_hz is None) == (self.every_n is None):
            msg = "give exactly one of rate_hz and every_n"
            raise ValueError(msg)
        return self


class Limits(_Model):
    """Resource limits the CLI enforces on the parsing process."""

    memory_mb: int = Field(default=6144, ge=256)
    time_s: int = Field(default=3600, ge=1)


class ExtractConfig(_Model):
    """The whole extraction config."""

    selections: dict[str, Selection] = Field(default_factory=dict)
    downsampling: dict[str, Downsampling] = Field(default_factory=dict)
    image_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = Field(default=90, ge=1, le=100)
    frame_store: Literal["files", "parquet"] = "files"
    pcd_per_frame: bool = False
    dbc_files: list[Path] = Field(default_factory=list)
    msg_folder: Path | None = None
    ros_distro: str = "ros2_humble"
    parquet_compression: Literal["none", "snappy", "lz4", "zstd"] = "zstd"
    bulk_compression: Literal["none", "snappy", "lz4", "zstd"] = "lz4"
    row_group_rows: int = Field(default=65536, ge=1)
    mdf_fragment_mb: int = Field(default=16, ge=1)
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="after")
    def _known_kinds(self) -> ExtractConfig:
        unknown = set(self.selections) - set(MESSAGE_KINDS)
        if unknown:
            msg = f"selections for unknown task kinds: {sorted(unknown)}"
            raise ValueError(msg)
        return self

    def kind_of(self, topic: str, msgtype: str) -> str:
        """The task kind that takes ``topic``: the first matching selection, else structured."""
        for kind in MESSAGE_KINDS:
            selection = self.selections.get(kind)
            if selection is not None and selection.matches(topic, msgtype):
                return kind
        return "structured"

    def downsampling_for(self, topic: str) -> Downsampling | None:
        """The downsampling rule of the first pattern matching ``topic``, if any."""
        for pattern, rule in self.downsampling.items():
            if fnmatchcase(topic, pattern):
                return rule
        return None


def _read_raw(source: Path) -> dict[str, Any]:
    """The top-level mapping of a JSON or YAML config file."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config: {err.strerror}", path=str(source)) from err
    try:
        if source.suffix in {".yaml", ".yml"}:
            from ruamel.yaml import YAML

            raw = YAML(typ="safe").load(text)
        else:
            raw = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"config does not parse: {err}", path=str(source)) from err
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping", path=str(source))
    return raw


def load_config(path: Path | None) -> ExtractConfig:
    """Load the checked-in default, with the top-level keys of ``path`` (JSON/YAML) over it."""
    raw = _read_raw(DEFAULT_CONFIG_PATH)
    source = path or DEFAULT_CONFIG_PATH
    if path is not None:
        raw.update(_read_raw(path))
    try:
        config = ExtractConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"invalid config: {err}", path=str(source)) from err
    base = source.parent
    # Relative DBC and msg paths are relative to the config file, not to the working directory.
    return config.model_copy(
        update={
            "dbc_files": [p if p.is_absolute() else base / p for p in config.dbc_files],
            "msg_folder": (
                config.msg_folder
                if config.msg_folder is None or config.msg_folder.is_absolute()
                else base / config.msg_folder
            ),
        }
    )
