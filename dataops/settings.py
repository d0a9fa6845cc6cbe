"""The one settings model. Every key is an environment variable (an app setting in Azure).

``local.settings.sample.json``, the settings table in docs/settings.md and the Bicep app settings
list exactly these keys (tests/unit/test_settings_parity.py and tests/infra check it).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["BatchBackend", "Settings", "StoreBackend", "UnlistedFilePolicy"]


class StoreBackend(StrEnum):
    SQLITE = "sqlite"
    COSMOS = "cosmos"


class BatchBackend(StrEnum):
    LOCAL = "local"
    AZURE = "azure"


class UnlistedFilePolicy(StrEnum):
    WARN = "warn"
    FAIL = "fail"


# An app setting is one string: a list setting reads a JSON list or a comma-separated list.
ListSetting = Annotated[list[str], NoDecode]


def _text(description: str, *, secret: bool = False) -> Any:
    """A text setting whose empty string means not set (app settings are always strings).

    ``secret``: kept out of repr, so a logged Settings object never shows it.
    """
    return Field(default="", repr=not secret, description=description)


def _list(description: str, *, secret: bool = False) -> Any:
    """A list setting, empty unless set (parsed by ``Settings._key_list``); ``secret`` as in
    :func:`_text`."""
    return Field(default_factory=list, repr=not secret, description=description)


class Settings(BaseSettings):
    """Runtime configuration of the app, the devhost and the CLI (env prefix ``AVOPS_``)."""

    model_config = SettingsConfigDict(env_prefix="AVOPS_", extra="ignore", frozen=True)

    store_backend: StoreBackend = Field(
        default=StoreBackend.SQLITE, description="Metadata store: sqlite (embedded) or cosmos."
    )
    sqlite_path: Path = Field(
        default=Path(".avops/metadata.sqlite3"), description="SQLite metadata database file."
    )
    cosmos_endpoint: str | None = Field(
        default=None,
        description="Cosmos DB account endpoint (https://<account>.documents.azure.com).",
    )
    cosmos_key: str | None = Field(
        default=None,
        description="Cosmos DB key; leave empty in Azure to use the managed identity.",
    )
    cosmos_database: str = Field(default="avops", description="Cosmos DB database name.")
    cosmos_verify_tls: bool = Field(
        default=True,
        description="Verify the Cosmos endpoint's TLS certificate (off for local emulators).",
    )
    storage_connection_string: str | None = Field(
        default=None,
        description="Blob connection string (Azurite locally); empty in Azure (managed identity).",
    )
    storage_account_urls: dict[str, str] = Field(
        default_factory=dict,
        description='JSON map zone -> account URL, e.g. {"raw": "https://stavopsraw.blob.core.windows.net"}.',
    )
    landing_storage_accounts: ListSetting = _list(
        "Storage account names whose blob events may start ingest (comma-separated "
        "or JSON list); empty: the landing account of storage_account_urls, else the "
        "connection string's account (devstoreaccount1 on Azurite).",
    )
    batch_backend: BatchBackend = Field(
        default=BatchBackend.LOCAL,
        description="Extraction jobs: local process pool or Azure Batch.",
    )
    batch_account_url: str | None = Field(default=None, description="Azure Batch account URL.")
    batch_pool_id: str = Field(default="extraction", description="Azure Batch pool for extraction.")
    # What the extraction tasks run in Azure Batch: infra/ sets all four from the resources it
    # deploys (registry, worker image, the pool's user-assigned identity).
    batch_worker_image: str = _text(
        "Full image reference the Batch tasks run "
        "(<registry>/avops-extract-worker:<tag>); required with the azure batch backend.",
    )
    batch_registry_server: str = _text(
        "Registry login server the pool pulls the worker image from "
        "(<name>.azurecr.io); empty: a public image.",
    )
    batch_identity_id: str = _text(
        "Resource id of the pool's user-assigned identity: pulls the image from the "
        "registry (AcrPull).",
    )
    batch_identity_client_id: str = _text(
        "Client id of the same identity: the worker's AZURE_CLIENT_ID for blob access.",
    )
    batch_notify_url: str = _text(
        "The app's API base URL (https://<app host>/api); set, every Azure Batch "
        "job gets a release task that POSTs to the app's job-done route with a token of that "
        "one job (docs/batch.md); empty: the orchestration only polls.",
    )
    batch_local_slots: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Task slots of the local batch pool (tasks at once); unset: the CPU count.",
    )
    manifest_max_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest manifest.json accepted, in bytes."
    )
    unlisted_files: UnlistedFilePolicy = Field(
        default=UnlistedFilePolicy.WARN,
        description="What to do with files under an upload prefix that the manifest does not list.",
    )
    late_file_deadline_minutes: int = Field(
        default=30, ge=0, description="How long ingest waits for files listed but not yet uploaded."
    )
    reconcile_after_minutes: int = Field(
        default=10,
        ge=0,
        description="Age after which a landing manifest with no ingest run is started by the "
        "reconciler (0: at once; only for tests, Event Grid is usually seconds behind).",
    )
    run_deadline_minutes: int = Field(
        default=120,
        ge=1,
        description="Ingest runs still running after this long are terminated and reported.",
    )
    extract_on_ingest: bool = Field(
        default=True, description="Start extraction when a RAW datastream is COMPLETED."
    )
    extract_deadline_minutes: int = Field(
        default=360,
        ge=1,
        description="An extraction still running after this long is canceled and FAILED.",
    )
    log_level: str = Field(default="INFO", description="Python log level.")
    # Secrets: kept out of repr so a logged Settings object never shows them.
    api_read_keys: ListSetting = _list(
        "Metadata API keys with the read role (comma-separated or JSON list).",
        secret=True,
    )
    api_write_keys: ListSetting = _list(
        "Metadata API keys with the write role (comma-separated or JSON list).",
        secret=True,
    )
    api_erase_keys: ListSetting = _list(
        "Metadata API keys with the erase role, and only it (never implied by write; "
        "comma-separated or JSON list).",
        secret=True,
    )
    erasure_salt: str = _text(
        "Secret key of the HMAC that names erased vehicles and measurements in "
        "erasure records and tombstones; erasure refuses to run while it is empty.",
        secret=True,
    )
    batch_notify_secret: str = _text(
        "Secret key (at least 32 bytes) of the HMAC tokens that let an Azure Batch "
        "job's release task signal that job's end; the job-done route refuses every token "
        "while it is empty.",
        secret=True,
    )
    api_trust_client_principal: bool = Field(
        default=False,
        description="Take roles from X-MS-CLIENT-PRINCIPAL (only behind App Service auth).",
    )
    api_sas_minutes: int = Field(
        default=15, ge=1, le=60, description="Lifetime of the read-only SAS the API hands out."
    )
    clip_margin_s: float = Field(
        default=2.0,
        ge=0.0,
        le=600.0,
        description="Seconds a clip adds before and after the scene or the requested window.",
    )
    clip_link_hours: int = Field(
        default=24,
        ge=1,
        le=168,
        description="Lifetime of a clip's read-only SAS link (and its Foxglove link).",
    )
    label_export_max_items: int = Field(
        default=5000,
        ge=1,
        le=100_000,
        description="Most items (frames x sensors) one labeling export may hold.",
    )
    label_export_expiry_hours: int = Field(
        default=168, ge=1, description="Default lifetime of a labeling export's partner SAS."
    )
    label_export_max_expiry_hours: int = Field(
        default=168,
        ge=1,
        le=168,
        description="Longest partner SAS lifetime a labeling export may ask for (Azure user "
        "delegation SAS live at most 7 days).",
    )
    label_import_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest label file (COCO or OpenLABEL JSON) an import parses, in bytes.",
    )

    enrichment_config: str = _text(
        "Enrichment providers and the optional ONNX detector (JSON file path); empty: "
        "config/enrichment.json of the app. Read on every enrich run.",
    )
    scenes_config: str = _text(
        "Scene detector thresholds (JSON file path); empty: config/scenes.json of "
        "the app. Read on every detect_scenes run, so a change applies to the next run.",
    )

    explorer_tile_url: str = _text(
        "Optional basemap tile URL template for the explorer's map "
        "(`https://host/{z}/{x}/{y}.png`); empty: the route and roads only, no tile server.",
    )
    explorer_monitor_url: str = _text(
        "Link template of a run's monitor page, with `{instance_id}`; devhost sets "
        "its dashboard's. Empty: the explorer shows run ids without links.",
    )

    @field_validator("batch_local_slots", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # App settings are strings: an empty one (as in local.settings.sample.json) means unset.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "api_read_keys",
        "api_write_keys",
        "api_erase_keys",
        "landing_storage_accounts",
        mode="before",
    )
    @classmethod
    def _key_list(cls, value: object) -> object:
        # An app setting is one string: accept a JSON list or a comma-separated list.
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]

    @classmethod
    def env_names(cls) -> set[str]:
        """The environment variable names of every field (what the parity tests compare)."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        return {f"{prefix}{name}".upper() for name in cls.model_fields}
