"""local.settings.sample.json and the table in docs/settings.md list exactly the model's keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dataops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Keys that belong to the Functions host, not to our settings model.
HOST_KEYS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "PYTHON_SCRIPT_FILE_NAME",
    "AzureWebJobsStorage",
    "AzureWebJobsFeatureFlags",
}


def test_sample_settings_list_exactly_the_model_keys() -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert set(values) - HOST_KEYS == Settings.env_names()
    assert values["PYTHON_SCRIPT_FILE_NAME"] == "main.py"


def test_sample_settings_values_load_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    for key, value in values.items():
        if key.startswith("AVOPS_") and value != "":
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.store_backend == "sqlite"
    assert settings.manifest_max_bytes == 1024 * 1024
    assert settings.storage_account_urls == {}


def test_settings_doc_table_lists_exactly_the_model_keys() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    section = doc.split("\n## Keys\n", 1)[1].split("\n## ", 1)[0]
    keys = set(re.findall(r"^\| `(AVOPS_[A-Z0-9_]+)` \|", section, flags=re.MULTILINE))
    model = Settings.env_names()
    assert keys == model, (
        f"docs/settings.md lacks {sorted(model - keys)}, documents unknown {sorted(keys - model)}"
    )


def test_the_sample_settings_load_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copying local.settings.sample.json to local.settings.json gives settings the app accepts.

    App settings are strings, and the sample leaves optional ones empty: an empty string must
    read as unset, never fail the app's start.
    """
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    for name, value in values.items():
        if name.startswith("AVOPS_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.batch_local_slots is None
