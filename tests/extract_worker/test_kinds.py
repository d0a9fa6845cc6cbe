"""Several kinds in one run (``--task A --task B``): one staging, validate first, each kind
committed on its own, committed kinds skipped, the worst exit code."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from azure.storage.blob import BlobServiceClient

from extract_worker import blob_io
from extract_worker.cli import main
from extract_worker.commit import MANIFEST_NAME, STAGING_DIR, SUCCESS_NAME
from extract_worker.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_RETRYABLE
from extract_worker.kinds import worst_exit_code
from tests.extract_worker.recordings import write_ros1, write_ros2
from tests.extract_worker.support import upload_to_raw

if TYPE_CHECKING:
    from pathlib import Path

    from devhost.services.azurite import AzuriteBlob

KINDS = ["validate", "metadata", "gps", "camera"]


def _run(src: str, out: str, kinds: list[str], *extra: str) -> int:
    tasks = [argument for kind in kinds for argument in ("--task", kind)]
    return main(["run", *tasks, "--input", src, "--output", out, "--no-limits", *extra])


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def _manifest(out: Path, kind: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((out / kind / MANIFEST_NAME).read_text())
    return manifest


def test_worst_exit_code_prefers_a_retryable_failure_over_bad_input() -> None:
    """A retry may cure the retryable kind and skips the committed ones; exit 2 would not retry."""
    assert worst_exit_code([]) == EXIT_OK
    assert worst_exit_code([EXIT_OK, EXIT_OK]) == EXIT_OK
    assert worst_exit_code([EXIT_OK, EXIT_BAD_INPUT]) == EXIT_BAD_INPUT
    assert worst_exit_code([EXIT_BAD_INPUT, EXIT_RETRYABLE, EXIT_OK]) == EXIT_RETRYABLE
    assert worst_exit_code([EXIT_RETRYABLE, EXIT_BAD_INPUT]) == EXIT_RETRYABLE


def test_each_kind_commits_the_same_folder_as_its_own_task_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run of several kinds writes what one run per kind writes, validate first."""
    src = write_ros1(tmp_path / "drive.bag")
    together, alone = tmp_path / "together", tmp_path / "alone"
    assert _run(str(src), str(together), ["camera", "validate", "metadata", "gps"]) == EXIT_OK
    committed = [
        line["task"] for line in _lines(capsys.readouterr().err) if line["message"] == "committed"
    ]
    assert committed == ["validate", "camera", "metadata", "gps"]
    for kind in KINDS:
        assert _run(str(src), str(alone), [kind]) == EXIT_OK
    for kind in KINDS:
        assert (together / kind / SUCCESS_NAME).is_file()
        mine, theirs = _manifest(together, kind), _manifest(alone, kind)
        assert mine["task"] == kind
        assert [(f["path"], f["rows"]) for f in mine["files"]] == [
            (f["path"], f["rows"]) for f in theirs["files"]
        ]
    assert sorted(p.name for p in together.iterdir()) == sorted(KINDS)


def test_a_repeated_kind_is_refused(tmp_path: Path) -> None:
    src = write_ros1(tmp_path / "drive.bag")
    with pytest.raises(SystemExit) as exited:
        _run(str(src), str(tmp_path / "out"), ["gps", "validate", "gps"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert not (tmp_path / "out").exists()


def test_a_failed_validate_stops_the_other_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other kinds depend on validate, as their tasks do: none runs, nothing is committed."""
    whole = write_ros1(tmp_path / "whole.bag").read_bytes()
    src = tmp_path / "drive.bag"
    src.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out"
    assert _run(str(src), str(out), KINDS) == EXIT_BAD_INPUT
    lines = _lines(capsys.readouterr().err)
    errors = [line for line in lines if line["level"] == "error"]
    assert [(e["task"], e["exit_code"]) for e in errors] == [("validate", EXIT_BAD_INPUT)]
    assert {line["task"] for line in lines} <= {"validate", ",".join(KINDS)}
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []


def test_a_kind_failing_on_bad_input_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """can fails (its DBC is missing); the kinds after it still commit; the task exits 2."""
    src = write_ros1(tmp_path / "drive.bag")
    out = tmp_path / "out"
    kinds = ["validate", "can", "metadata", "gps"]
    code = _run(str(src), str(out), kinds, "--dbc", str(tmp_path / "none.dbc"))
    assert code == EXIT_BAD_INPUT
    errors = [line for line in _lines(capsys.readouterr().err) if line["level"] == "error"]
    assert [(e["task"], e["exit_code"], e["error"]) for e in errors] == [
        ("can", EXIT_BAD_INPUT, "ConfigError")
    ]
    assert "none.dbc" in errors[0]["message"]
    assert sorted(p.name for p in out.iterdir()) == ["gps", "metadata", "validate"]
    assert not (out / STAGING_DIR).exists()


def test_a_retry_runs_only_the_kinds_not_committed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What an earlier attempt committed stays as it is (same run id); the rest is done now."""
    src = write_ros1(tmp_path / "drive.bag")
    out = tmp_path / "out"
    assert _run(str(src), str(out), ["validate", "metadata"]) == EXIT_OK
    before = {kind: _manifest(out, kind)["run_id"] for kind in ("validate", "metadata")}
    capsys.readouterr()
    assert _run(str(src), str(out), KINDS) == EXIT_OK
    lines = _lines(capsys.readouterr().err)
    skipped = [line["task"] for line in lines if line["message"].startswith("already committed")]
    committed = [line["task"] for line in lines if line["message"] == "committed"]
    assert skipped == ["validate", "metadata"]
    assert committed == ["gps", "camera"]
    assert {kind: _manifest(out, kind)["run_id"] for kind in before} == before
    # --force redoes every kind.
    assert _run(str(src), str(out), KINDS, "--force") == EXIT_OK
    assert all(_manifest(out, kind)["run_id"] != run_id for kind, run_id in before.items())


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the blobs the worker downloads, in order (the real download still runs)."""
    seen: list[str] = []
    real = blob_io.download_blob

    def counted(blob: Any, path: Path) -> None:
        seen.append(str(blob.blob_name))
        real(blob, path)

    monkeypatch.setattr(blob_io, "download_blob", counted)
    return seen


@pytest.mark.azurite
def test_a_blob_input_is_downloaded_once_for_every_kind(
    tmp_path: Path, azurite: AzuriteBlob, service: BlobServiceClient, downloads: list[str]
) -> None:
    """Four kinds, one download; each kind's blobs end with its marker; a rerun downloads
    nothing."""
    upload_to_raw(service, write_ros1(tmp_path / "drive.bag"), "k1/drive.bag")
    src = f"{azurite.blob_endpoint}/raw/k1/drive.bag"
    dst = f"{azurite.blob_endpoint}/extracted/k1/ds1"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert _run(src, dst, KINDS, "--scratch", str(scratch)) == EXIT_OK
    assert downloads == ["k1/drive.bag"]
    container = service.get_container_client("extracted")
    names = {b.name for b in container.list_blobs(name_starts_with="k1/ds1/")}
    for kind in KINDS:
        assert f"k1/ds1/{kind}/{SUCCESS_NAME}" in names, kind
        manifest = json.loads(container.download_blob(f"k1/ds1/{kind}/{MANIFEST_NAME}").readall())
        assert manifest["input"]["path"] == src
        assert {f"k1/ds1/{kind}/{f['path']}" for f in manifest["files"]} <= names
    assert list(scratch.iterdir()) == []
    downloads.clear()
    assert _run(src, dst, KINDS, "--scratch", str(scratch)) == EXIT_OK
    assert downloads == []


@pytest.mark.azurite
def test_a_bag_directory_prefix_is_downloaded_once_for_every_kind(
    tmp_path: Path, azurite: AzuriteBlob, service: BlobServiceClient, downloads: list[str]
) -> None:
    """A ROS 2 bag directory is several blobs: each is downloaded once, not once per kind."""
    bag = write_ros2(tmp_path / "bag", storage="mcap")
    upload_to_raw(service, bag, "k2/bag")
    files = sorted(f"k2/bag/{p.relative_to(bag).as_posix()}" for p in bag.rglob("*") if p.is_file())
    out = tmp_path / "out"
    src = f"{azurite.blob_endpoint}/raw/k2/bag"
    assert _run(src, str(out), KINDS, "--scratch", str(tmp_path)) == EXIT_OK
    assert sorted(downloads) == files
    assert sorted(p.name for p in out.iterdir()) == sorted(KINDS)
