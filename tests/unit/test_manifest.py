"""Manifest rules: size cap before parsing, JSON and schema errors by field path, derived ids."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dataops.errors import InvalidInputError
from dataops.ids import derive_measurement_id, instance_id_for
from dataops.manifest import (
    MAX_DEPTH,
    MAX_KEYS,
    MAX_KEYS_PER_OBJECT,
    field_path,
    measurement_id_of,
    parse_manifest,
)
from dataops.models import FileFormat, Measurement, manifest_file_records

SHA_A = "a" * 64
SHA_B = "b" * 64


def manifest_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": "1.0",
        "vehicle_id": "WVW-TEST-001",
        "recording_start": "2026-05-04T10:00:00Z",
        "recording_end": "2026-05-04T10:05:00+00:00",
        "files": [
            {"path": "ros2/metadata.yaml", "format": "rosbag2", "size": 10, "sha256": SHA_A},
            {"path": "ros2/ros2_0.mcap", "format": "rosbag2", "size": 20, "sha256": SHA_B},
            {"path": "drive.bag", "format": "rosbag1", "size": 30, "sha256": SHA_A},
        ],
    }
    doc.update(overrides)
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_valid_manifest_parses_and_groups_ros2_directory_as_one_recording() -> None:
    manifest = parse_manifest(encode(manifest_doc()))
    assert manifest.recording_start == datetime(2026, 5, 4, 10, tzinfo=UTC)
    groups = manifest.recordings()
    assert set(groups) == {"ros2", "drive.bag"}
    assert [f.path for f in groups["ros2"]] == ["ros2/metadata.yaml", "ros2/ros2_0.mcap"]


def test_oversized_manifest_is_refused_before_parsing() -> None:
    # Not even valid JSON: the size check must come first.
    with pytest.raises(InvalidInputError, match="more than the limit of 1024"):
        parse_manifest(b"{" * 2000, source="up/manifest.json", max_bytes=1024)


def test_broken_json_names_the_file() -> None:
    with pytest.raises(InvalidInputError, match=r"^up/manifest.json: not valid JSON"):
        parse_manifest(b'{"schema_version": ', source="up/manifest.json")


def test_non_object_top_level_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="JSON object"):
        parse_manifest(b"[1, 2]")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(vehicle_id="lower-case"), "vehicle_id"),
        (lambda d: d.update(vehicle_id="X" * 33), "vehicle_id"),
        (lambda d: d.update(schema_version="2.0"), "schema_version"),
        (lambda d: d.update(recording_start="2026-05-04T10:00:00"), "recording_start"),
        (lambda d: d["files"][1].update(sha256="XYZ"), "files[1].sha256"),
        (lambda d: d["files"][2].update(size=-1), "files[2].size"),
        (lambda d: d["files"][0].update(format="zip"), "files[0].format"),
        (lambda d: d["files"][0].update(path="../escape.bag"), "files[0].path"),
        (lambda d: d["files"][0].update(path="/abs.bag"), "files[0].path"),
        (lambda d: d["files"][0].update(path="a\\b.bag"), "files[0].path"),
        (lambda d: d["files"][0].update(path="%2e%2e/x.bag"), "files[0].path"),
        (lambda d: d["files"][0].update(path="nul\x00.bag"), "files[0].path"),
        (lambda d: d["files"][0].update(extra="x"), "files[0].extra"),
        (lambda d: d.update(unexpected=True), "unexpected"),
        (lambda d: d.update(files=[]), "files"),
        (lambda d: d.update(measurement_id="../m"), "measurement_id"),
    ],
)
def test_schema_errors_name_the_field_path(mutate: Any, field: str) -> None:
    doc = copy.deepcopy(manifest_doc())
    mutate(doc)
    with pytest.raises(InvalidInputError) as err:
        parse_manifest(encode(doc), source="up/manifest.json")
    assert err.value.field == field
    assert str(err.value).startswith(f"up/manifest.json: {field}: ")


def test_end_before_start_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="recording_end is before recording_start"):
        parse_manifest(encode(manifest_doc(recording_end="2026-05-04T09:00:00Z")))


def test_a_file_listed_twice_is_rejected() -> None:
    doc = manifest_doc()
    doc["files"].append(dict(doc["files"][2]))
    with pytest.raises(InvalidInputError, match="listed twice"):
        parse_manifest(encode(doc))


def test_measurement_id_is_derived_from_content_and_stable_under_file_order() -> None:
    first = parse_manifest(encode(manifest_doc()))
    doc = manifest_doc()
    doc["files"].reverse()
    second = parse_manifest(encode(doc))
    assert measurement_id_of(first) == measurement_id_of(second)
    changed = manifest_doc()
    changed["files"][1]["sha256"] = "c" * 64
    assert measurement_id_of(parse_manifest(encode(changed))) != measurement_id_of(first)


def test_measurement_id_from_manifest_wins() -> None:
    manifest = parse_manifest(encode(manifest_doc(measurement_id="drive-2026-05-04")))
    assert measurement_id_of(manifest) == "drive-2026-05-04"


def test_derived_id_is_a_uuid5_of_vehicle_start_and_sorted_hashes() -> None:
    start = datetime(2026, 5, 4, 10, tzinfo=UTC)
    assert derive_measurement_id("V", start, [SHA_B, SHA_A]) == derive_measurement_id(
        "V", start, [SHA_A, SHA_B]
    )
    assert derive_measurement_id("V", start, [SHA_A]) != derive_measurement_id("W", start, [SHA_A])


def test_instance_ids_are_short_safe_and_distinct_per_kind() -> None:
    prefix = "uploads/ÄÖ weird \x7f/" + "x" * 900
    ingest = instance_id_for("ingest", prefix)
    assert len(ingest) <= 100
    assert ingest.replace("-", "").isalnum()
    assert ingest == instance_id_for("ingest", prefix)
    assert ingest != instance_id_for("extract", prefix)


def test_measurement_from_manifest_carries_content_hash_for_idempotency() -> None:
    manifest = parse_manifest(encode(manifest_doc()))
    first = Measurement.from_manifest(manifest, "m1", "up/1")
    again = Measurement.from_manifest(manifest, "m1", "up/2")
    assert first.same_content(again)
    other_doc = manifest_doc()
    other_doc["files"][0]["size"] = 11
    other = Measurement.from_manifest(parse_manifest(encode(other_doc)), "m1", "up/1")
    assert not first.same_content(other)
    records = manifest_file_records(manifest)
    assert records[0].format is FileFormat.ROSBAG2
    assert (first.file_count, first.total_bytes) == (len(records), sum(r.size for r in records))


def test_zero_byte_recording_is_rejected_but_an_empty_sidecar_is_fine() -> None:
    empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    doc = manifest_doc()
    doc["files"][2].update(size=0, sha256=empty_sha)
    with pytest.raises(InvalidInputError, match="recording of 0 bytes") as err:
        parse_manifest(encode(doc))
    assert err.value.field == "files[2]"
    doc["files"][2].update(format="other")
    assert parse_manifest(encode(doc)).files[2].size == 0


def test_deeply_nested_manifest_is_refused_without_recursion_error() -> None:
    """A 12 KB document nested 6,000 deep is refused by the depth limit, not RecursionError."""
    data = b'{"schema_version": "1.0", "x": ' + b"[" * 6000 + b"]" * 6000 + b"}"
    assert len(data) < 13_000
    with pytest.raises(InvalidInputError, match=f"nested deeper than {MAX_DEPTH} levels") as err:
        parse_manifest(data, source="up/manifest.json")
    assert str(err.value).startswith("up/manifest.json: ")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """The depth check skips strings: a tag full of brackets is just text."""
    doc = manifest_doc(project="[" * 40 + '\\"{' * 10)
    assert parse_manifest(encode(doc)).project == "[" * 40 + '\\"{' * 10


def test_an_object_with_too_many_keys_is_refused() -> None:
    """One object with more keys than MAX_KEYS_PER_OBJECT is refused while decoding."""
    doc = manifest_doc(project={f"k{i}": i for i in range(MAX_KEYS_PER_OBJECT + 1)})
    with pytest.raises(InvalidInputError, match=f"limit {MAX_KEYS_PER_OBJECT}"):
        parse_manifest(encode(doc))


def test_too_many_keys_in_the_document_are_refused() -> None:
    """Many small objects add up: the document-wide key count is capped too."""
    many = [{"a": 1, "b": 2, "c": 3, "d": 4}] * (MAX_KEYS // 4 + 1)
    data = encode(manifest_doc(tags=many))
    with pytest.raises(InvalidInputError, match=f"more than {MAX_KEYS} keys"):
        parse_manifest(data, max_bytes=len(data))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"schema_version": "1.0", "schema_version": "1.0"}', "schema_version"),
        (
            json.dumps(manifest_doc())[:-1].replace(
                '"path": "drive.bag"', '"path": "drive.bag", "path": "other.bag"'
            )
            + "}",
            "files[2].path",
        ),
    ],
)
def test_duplicate_keys_are_refused_with_their_field_path(text: str, field: str) -> None:
    """A repeated key is an error naming where it repeats, never last-one-wins."""
    with pytest.raises(InvalidInputError, match="appears more than once") as err:
        parse_manifest(text.encode(), source="up/manifest.json")
    assert err.value.field == field


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1"])
def test_only_utf8_manifests_are_accepted(encoding: str) -> None:
    """UTF-16/32 (which json.loads would guess) and Latin-1 are refused as not UTF-8."""
    doc = manifest_doc(driver="Jürgen Müller")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        parse_manifest(json.dumps(doc, ensure_ascii=False).encode(encoding))
    assert parse_manifest(json.dumps(doc, ensure_ascii=False).encode()).driver == "Jürgen Müller"


def test_utf8_byte_order_mark_is_refused() -> None:
    """A BOM is refused by name, so the writer knows what to change."""
    with pytest.raises(InvalidInputError, match="byte order mark"):
        parse_manifest(b"\xef\xbb\xbf" + encode(manifest_doc()))


def test_nan_is_not_a_json_number() -> None:
    """NaN and Infinity are Python extensions to JSON: refused."""
    text = json.dumps(manifest_doc())[:-1] + ', "project": NaN}'
    with pytest.raises(InvalidInputError, match="NaN is not a JSON number"):
        parse_manifest(text.encode())


@pytest.mark.parametrize(
    "path",
    [
        "a\u2044b.bag",  # FRACTION SLASH
        "a\u2215..\u2215b.bag",  # DIVISION SLASH
        "a\uff0fb.bag",  # FULLWIDTH SOLIDUS
        "a\uff3cb.bag",  # FULLWIDTH REVERSE SOLIDUS
        "\u2024\u2024/x.bag",  # ONE DOT LEADER
        "\uff0e\uff0e/x.bag",  # FULLWIDTH FULL STOP
        "drive\ufb01le.bag",  # LATIN SMALL LIGATURE FI: NFKC changes it
        "cafe\u0301.bag",  # decomposed accent: NFKC composes it
    ],
)
def test_lookalike_and_nfkc_changing_paths_are_refused_by_field(path: str) -> None:
    """Unicode look-alikes of / \\ . and names NFKC would change are refused at files[i].path."""
    doc = manifest_doc()
    doc["files"][1]["path"] = path
    with pytest.raises(InvalidInputError) as err:
        parse_manifest(encode(doc), source="up/manifest.json")
    assert err.value.field == "files[1].path"
    assert "NFKC" in str(err.value) or "looks like a path separator or dot" in str(err.value)


def test_a_file_listed_twice_names_both_positions() -> None:
    """Case-folded duplicates name the repeating index and the first one."""
    doc = manifest_doc()
    doc["files"].append(dict(doc["files"][2], path="DRIVE.bag"))
    with pytest.raises(InvalidInputError, match=r"files\[3\].path 'DRIVE.bag' repeats files\[2\]"):
        parse_manifest(encode(doc))


def test_field_path_renders_indexes_in_brackets() -> None:
    """pydantic locations become files[3].path; the empty location is the root."""
    assert field_path(("files", 3, "path")) == "files[3].path"
    assert field_path(()) == "(root)"
