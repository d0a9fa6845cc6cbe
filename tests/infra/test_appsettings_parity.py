"""The Function App's app settings in Bicep, local.settings.sample.json and the settings model
list the same keys; host keys are known by name, and none of them carries a secret.

Keys are added to the settings model over time: each failure says which key is missing where.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dataops.batch.factory import azure_task_settings
from dataops.errors import TerminalError
from dataops.settings import Settings
from tests.infra.bicep_source import BicepFile, Expr

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_APP = ROOT / "infra" / "modules" / "functionapp.bicep"
KEY_VAULT = ROOT / "infra" / "modules" / "keyvault.bicep"
MAIN = ROOT / "infra" / "main.bicep"
NOTIFY_SECRET_NAME = "avops-batch-notify-secret"
# What the Key Vault reference resolves to once deployed (keyvault.bicep's 64 hex characters).
RESOLVED_SECRET = "0123456789abcdef" * 4
DEPLOYED_HOST = "func-abc.azurewebsites.net"
SAMPLE = ROOT / "local.settings.sample.json"
WHERE_BICEP = "infra/modules/functionapp.bicep (var appSettings)"
WHERE_SAMPLE = "local.settings.sample.json (Values)"
WHERE_MODEL = "dataops/settings.py (Settings)"

# Keys of the Functions host and the platform in Azure, not of our settings model. Identity-based
# AzureWebJobsStorage (no connection string); Flex Consumption takes the worker runtime from
# functionAppConfig and refuses FUNCTIONS_WORKER_RUNTIME as an app setting.
BICEP_HOST_KEYS = {
    "PYTHON_SCRIPT_FILE_NAME",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
}
# The Cosmos DB trigger's identity-based connection (connection "AVOPS_COSMOS"): read by the
# Functions host's Cosmos extension, not by the settings model, and absent locally, where devhost
# feeds the trigger from the store's change log. test_cosmos_trigger.py checks they are exactly
# what the app's trigger needs.
BICEP_CONNECTION_KEYS = {
    "AVOPS_COSMOS__accountEndpoint",
    "AVOPS_COSMOS__credential",
    "AVOPS_COSMOS__clientId",
}
# Keys of the local host (devhost, Azurite): a development storage connection string is fine there.
SAMPLE_HOST_KEYS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "PYTHON_SCRIPT_FILE_NAME",
    "AzureWebJobsStorage",
    "AzureWebJobsFeatureFlags",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
}
FLEX_REFUSED = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
}


def _bicep_settings() -> dict[str, object]:
    settings = BicepFile.read(FUNCTION_APP).var("appSettings")
    assert isinstance(settings, dict), "var appSettings must be an object literal"
    return settings


def _sample_settings() -> dict[str, str]:
    values = json.loads(SAMPLE.read_text())["Values"]
    assert isinstance(values, dict)
    return values


def _drift(expected: set[str], actual: set[str], expected_from: str, actual_in: str) -> list[str]:
    problems = [
        f"{key}: in {expected_from}, missing in {actual_in}" for key in sorted(expected - actual)
    ]
    problems += [
        f"{key}: in {actual_in}, not in {expected_from}" for key in sorted(actual - expected)
    ]
    return problems


def test_bicep_app_settings_are_the_model_keys() -> None:
    bicep = set(_bicep_settings()) - BICEP_CONNECTION_KEYS
    model = Settings.env_names()
    problems = _drift(model, {k for k in bicep if k.startswith("AVOPS_")}, WHERE_MODEL, WHERE_BICEP)
    unknown = bicep - BICEP_HOST_KEYS - {k for k in bicep if k.startswith("AVOPS_")}
    problems += [
        f"{key}: in {WHERE_BICEP}, neither a settings model key nor a known host key "
        "(add it to BICEP_HOST_KEYS in this test if the host needs it)"
        for key in sorted(unknown)
    ]
    assert not problems, "app settings drift:\n" + "\n".join(problems)


def test_sample_settings_are_the_model_keys() -> None:
    sample = set(_sample_settings()) - SAMPLE_HOST_KEYS
    problems = _drift(Settings.env_names(), sample, WHERE_MODEL, WHERE_SAMPLE)
    assert not problems, "local settings drift:\n" + "\n".join(problems)


def test_bicep_and_sample_agree_beyond_host_keys() -> None:
    bicep = set(_bicep_settings()) - BICEP_HOST_KEYS - BICEP_CONNECTION_KEYS
    sample = set(_sample_settings()) - SAMPLE_HOST_KEYS
    problems = _drift(sample, bicep, WHERE_SAMPLE, WHERE_BICEP)
    assert not problems, "Bicep vs sample drift:\n" + "\n".join(problems)


def test_host_keys_fit_flex_consumption() -> None:
    settings = _bicep_settings()
    assert settings["PYTHON_SCRIPT_FILE_NAME"] == "main.py"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert not FLEX_REFUSED & set(settings), "Flex Consumption refuses these app settings"
    assert "AzureWebJobsStorage" not in settings, "use identity-based AzureWebJobsStorage__*"
    code = BicepFile.read(FUNCTION_APP).code
    assert "name: 'python'" in code
    assert "version: '3.11'" in code
    assert "tier: 'FlexConsumption'" in code


def test_no_secret_reaches_an_app_setting() -> None:
    settings = _bicep_settings()
    # Both are empty in Azure: the store and the zones authenticate with the managed identity.
    assert settings["AVOPS_COSMOS_KEY"] == ""
    assert settings["AVOPS_STORAGE_CONNECTION_STRING"] == ""
    for key, value in settings.items():
        text = value.text if isinstance(value, Expr) else str(value)
        assert "listKeys" not in text and "AccountKey" not in text, f"{key} carries a key"
        if "CONNECTION_STRING" in key.upper() and key != "AVOPS_STORAGE_CONNECTION_STRING":
            # Only the Application Insights ingestion address, harmless with local auth off.
            assert key == "APPLICATIONINSIGHTS_CONNECTION_STRING", f"{key}: connection string"
    # API keys are secrets: empty or a Key Vault reference, never an inline value.
    code = BicepFile.read(FUNCTION_APP).code
    for name in ("avops-api-read-keys", "avops-api-write-keys"):
        assert f"@Microsoft.KeyVault(VaultName=${{apiKeysVaultName}};SecretName={name})" in code


def test_settings_values_in_bicep_are_valid_for_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The values Bicep sets load through the settings model from the environment, as in Azure."""
    settings = _bicep_settings()
    for key in Settings.env_names():
        monkeypatch.delenv(key, raising=False)
    for key, value in settings.items():
        if key.startswith("AVOPS_") and isinstance(value, str):
            monkeypatch.setenv(key, value)
    # The values Bicep computes, as they look once deployed.
    monkeypatch.setenv(
        "AVOPS_STORAGE_ACCOUNT_URLS", '{"landing": "https://stlandingabc.blob.core.windows.net"}'
    )
    monkeypatch.setenv("AVOPS_COSMOS_ENDPOINT", "https://cosmos-abc.documents.azure.com:443/")
    monkeypatch.setenv("AVOPS_BATCH_ACCOUNT_URL", "https://baabc.westeurope.batch.azure.com")
    monkeypatch.setenv("AVOPS_BATCH_WORKER_IMAGE", "crabc.azurecr.io/avops-extract-worker:latest")
    monkeypatch.setenv("AVOPS_BATCH_NOTIFY_URL", _deployed_notify_url(settings))
    monkeypatch.setenv("AVOPS_BATCH_NOTIFY_SECRET", RESOLVED_SECRET)
    loaded = Settings()
    assert loaded.store_backend == "cosmos"
    assert loaded.batch_backend == "azure"
    assert not loaded.cosmos_key
    assert not loaded.storage_connection_string
    assert loaded.storage_account_urls == {"landing": "https://stlandingabc.blob.core.windows.net"}
    # The job-done signal is on, with the app's own route and a usable key.
    tasks = azure_task_settings(loaded)
    assert tasks.notify_api_base_url == f"https://{DEPLOYED_HOST}/api"
    assert tasks.notify_signer is not None


def _deployed_notify_url(settings: dict[str, object]) -> str:
    """AVOPS_BATCH_NOTIFY_URL as it reads once the app's host name is filled in."""
    value = settings["AVOPS_BATCH_NOTIFY_URL"]
    assert isinstance(value, str)
    return value.replace("${app.properties.defaultHostName}", DEPLOYED_HOST)


def test_the_batch_job_done_signal_is_on_and_points_at_the_app_s_own_route() -> None:
    """Azure jobs signal their end to the app's job-done route: the URL is the app's own API
    base (never empty, never the durable extension's system-keyed webhook)."""
    url = _bicep_settings()["AVOPS_BATCH_NOTIFY_URL"]
    assert url == "https://${app.properties.defaultHostName}/api", (
        f"{WHERE_BICEP}: AVOPS_BATCH_NOTIFY_URL must be the app's API base, got {url!r}"
    )
    assert "durabletask" not in str(url) and "code=" not in str(url)


def test_the_job_token_key_comes_from_key_vault_and_is_made_by_the_deployment() -> None:
    """AVOPS_BATCH_NOTIFY_SECRET is a Key Vault reference to the secret keyvault.bicep writes,
    in the vault main.bicep hands to the app (so the app's settings follow the secret)."""
    settings = _bicep_settings()
    assert settings["AVOPS_BATCH_NOTIFY_SECRET"] == Expr("batchNotifySecret")
    app = BicepFile.read(FUNCTION_APP)
    reference = app.var("batchNotifySecret")
    assert reference == (
        f"@Microsoft.KeyVault(VaultName=${{keyVaultName}};SecretName={NOTIFY_SECRET_NAME})"
    )
    vault = BicepFile.read(KEY_VAULT)
    secret = vault.named("resource")["batchNotifySecretValue"]
    assert "'Microsoft.KeyVault/vaults/secrets@" in secret.header
    assert vault.block_property(secret, "name") == NOTIFY_SECRET_NAME
    assert vault.block_property(secret, "properties")["value"] == Expr("batchNotifySecret")
    generated = vault.named("param")["batchNotifySecret"]
    assert "@secure()" in generated.decorators
    assert "newGuid()" in vault.body(generated)
    main = BicepFile.read(MAIN)
    passed = main.block_property(main.named("module")["functionApp"], "params")
    assert passed["keyVaultName"] == Expr("keyVault.outputs.vaultName")


@pytest.mark.parametrize(
    ("url", "secret", "wrong"),
    [
        ("https://func-abc.azurewebsites.net/api", "", "AVOPS_BATCH_NOTIFY_SECRET is not set"),
        (
            "https://func-abc.azurewebsites.net/api",
            f"@Microsoft.KeyVault(VaultName=kv-abc;SecretName={NOTIFY_SECRET_NAME})",
            "AVOPS_BATCH_NOTIFY_SECRET is an unresolved Key Vault reference",
        ),
        ("https://func-abc.azurewebsites.net/api", "short", "at least 32 bytes (it has 5)"),
        ("func-abc.azurewebsites.net/api", RESOLVED_SECRET, "AVOPS_BATCH_NOTIFY_URL must be"),
    ],
    ids=["no-secret", "unresolved-reference", "short-secret", "relative-url"],
)
def test_a_signal_that_cannot_be_trusted_stops_job_submission(
    monkeypatch: pytest.MonkeyPatch, url: str, secret: str, wrong: str
) -> None:
    """A URL without a usable key (missing, short, or the literal reference App Service keeps
    when it cannot resolve it, which anyone can read in infra/) is a clear error naming the
    setting, never a job signed with a public key."""
    monkeypatch.setenv("AVOPS_BATCH_WORKER_IMAGE", "crabc.azurecr.io/avops-extract-worker:latest")
    monkeypatch.setenv("AVOPS_BATCH_NOTIFY_URL", url)
    monkeypatch.setenv("AVOPS_BATCH_NOTIFY_SECRET", secret)
    with pytest.raises(TerminalError, match=re.escape(wrong)):
        azure_task_settings(Settings())
