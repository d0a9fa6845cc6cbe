"""How CLI commands find the local platform: options, then env, then .avops/connection.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from avops.connection import (
    CONNECTION_FILE,
    DEFAULT_API_URL,
    LocalConnection,
    find_connection,
    local_key,
    resolve_api,
    resolve_storage,
)

LOCAL = LocalConnection(
    api_url="http://127.0.0.1:40123",
    key="local-abc",
    storage_connection_string="UseThisAzurite",
    state_dir="/tmp/state",
    pid=1,
)


@pytest.fixture
def in_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    LOCAL.write(tmp_path / CONNECTION_FILE)
    below = tmp_path / "some" / "folder"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)
    return tmp_path


def test_a_command_below_the_checkout_finds_the_running_platform(in_checkout: Path) -> None:
    """The file is found from any folder below where `avops dev` runs."""
    assert find_connection() == LOCAL
    assert resolve_api(None, None) == (LOCAL.api_url, LOCAL.key)
    assert resolve_storage(None) == "UseThisAzurite"


def test_options_win_and_the_local_key_never_goes_elsewhere(in_checkout: Path) -> None:
    """An explicit URL of another app gets no key from the local file."""
    assert resolve_api("https://prod.example.net", None) == ("https://prod.example.net", None)
    assert resolve_api(LOCAL.api_url + "/", None) == (LOCAL.api_url + "/", LOCAL.key)
    assert resolve_api(None, "mine") == (LOCAL.api_url, "mine")
    assert resolve_storage("Explicit") == "Explicit"


def test_without_a_platform_the_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No connection file: the documented default URL and no key."""
    monkeypatch.chdir(tmp_path)
    assert find_connection() is None
    assert resolve_api(None, None) == (DEFAULT_API_URL, None)
    assert resolve_storage(None) is None


def test_a_damaged_connection_file_is_ignored(in_checkout: Path) -> None:
    """A half-written file is not trusted (commands fall back to options and defaults)."""
    (in_checkout / CONNECTION_FILE).write_text("{not json")
    assert find_connection() is None


def test_the_local_key_is_private_and_stable(tmp_path: Path) -> None:
    """One key per state directory, owner-only, the same after a restart."""
    first = local_key(tmp_path / "state")
    assert first.startswith("local-") and len(first) > 20
    assert local_key(tmp_path / "state") == first
    assert oct((tmp_path / "state" / "local-key").stat().st_mode & 0o777) == "0o600"
    assert local_key(tmp_path / "other") != first
