"""Activity contracts: one definition per activity, used on both sides of the Durable boundary."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dataops.activity_contracts import ALL_CONTRACTS, ActivityContract
from dataops.activity_contracts import extraction as extraction_contracts
from dataops.activity_contracts import ingest as ingest_contracts
from dataops.activity_contracts import labeling as labeling_contracts
from dataops.activity_contracts import steps as step_contracts

ROOT = Path(__file__).resolve().parents[2]
NAMES = {contract.name for contract in ALL_CONTRACTS}
EXPORT_ID = "0123456789abcdef0123456789abcdef"
FILE = {"path": "drive.bag", "size": 12, "sha256": "ab" * 32, "etag": '"0x1"'}
# The labeled blob an import reads (the run and its failure path take the same fields).
LABEL_IMPORT = {
    "export_id": EXPORT_ID,
    "container": "labeled",
    "name": f"{EXPORT_ID}/labels.json",
    "etag": '"0x3"',
    "max_bytes": 1024,
    "instance_id": "i",
}

# The inputs exactly as the orchestrators built them as plain dicts before the contracts
# existed: histories in flight carry these, so each must validate and serialize back unchanged.
RECORDED_INPUTS: dict[str, dict[str, Any]] = {
    "ingest_check_upload": {"upload_prefix": "u/1"},
    "ingest_hash_file": {"upload_prefix": "u/1", **FILE},
    "ingest_register": {
        "upload_prefix": "u/1",
        "manifest_etag": '"0x2"',
        "instance_id": "i",
        "datastream_id": "d",
        "sources": [],
    },
    "ingest_copy_file": {"upload_prefix": "u/1", **FILE, "raw_prefix": "m/raw"},
    "ingest_complete": {"datastream_id": "d", "measurement_id": "m"},
    "ingest_delete_landing": {"upload_prefix": "u/1", "files": [FILE], "manifest_etag": '"0x2"'},
    "ingest_fail": {
        "upload_prefix": "u/1",
        "step": "checksum",
        "reason": "NotFoundError: gone",
        "details": "NotFoundError: gone",
        "instance_id": "i",
        "datastream_id": None,
    },
    "extract_prepare": {
        "measurement_id": "m",
        "raw_datastream_id": "r",
        "datastream_id": "d",
        "instance_id": "i",
    },
    "extract_poll": {"job_ids": ["j1", "j2"]},
    "extract_record": {"datastream_id": "d", "jobs": [{"job_id": "j1", "recording": "a.bag"}]},
    "extract_fail": {"datastream_id": "d", "jobs": [], "reason": None},
    "label_export_plan": {"export_id": EXPORT_ID, "instance_id": "i"},
    "label_export_copy": {"export_id": EXPORT_ID, "first": 0, "last": 50},
    "label_export_finish": {"export_id": EXPORT_ID},
    "label_export_fail": {"export_id": EXPORT_ID, "reason": "boom"},
    "label_import_run": LABEL_IMPORT,
    "clip_write": {"datastream_id": "d"},
    "clip_fail": {"datastream_id": "d", "reason": "boom"},
    # The erasure's activities take the erasure id alone (their histories name nobody).
    "erase_blobs": {"erasure_id": "0123456789abcdef0123456789abcdef"},
    "erase_pool_jobs": {"erasure_id": "0123456789abcdef0123456789abcdef"},
    "erase_store": {"erasure_id": "0123456789abcdef0123456789abcdef"},
    "erase_finish": {"erasure_id": "0123456789abcdef0123456789abcdef"},
    "erase_fail": {"erasure_id": "0123456789abcdef0123456789abcdef", "reason": "boom"},
    "label_import_fail": {**LABEL_IMPORT, "reason": "boom"},
}
for _step in step_contracts.STEPS:
    RECORDED_INPUTS[_step.prepare.name] = {
        "source_datastream_id": "s",
        "datastream_id": "d",
        "instance_id": "i",
    }
    RECORDED_INPUTS[_step.run.name] = {"datastream_id": "d"}
    RECORDED_INPUTS[_step.fail.name] = {"datastream_id": "d", "reason": "boom"}


def _registered_activities() -> set[str]:
    from devhost.loader import indexed_functions
    from function_app import app

    # Through the shared index: a second get_functions() on the app raises duplicate names,
    # which broke every later test in the process that indexed it too.
    return {
        function.get_function_name()
        for function in indexed_functions(app)
        if function.get_trigger().get_binding_name() == "activityTrigger"
    }


def test_every_activity_name_is_defined_once() -> None:
    """Two contracts with one name would let one side call the other's activity."""
    assert len(NAMES) == len(ALL_CONTRACTS)


def test_every_registered_activity_has_a_contract_and_every_contract_is_served() -> None:
    """The function app serves exactly the contracts' activities, under their names."""
    assert _registered_activities() == NAMES


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=lambda c: c.name)
def test_recorded_inputs_still_validate_and_serialize_unchanged(
    contract: ActivityContract[Any, Any],
) -> None:
    """Replay safety: the JSON of an input in flight round-trips through its model as is."""
    recorded = RECORDED_INPUTS[contract.name]
    assert contract.payload(contract.parse_input(recorded)) == recorded


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=lambda c: c.name)
def test_an_unknown_input_field_is_refused(contract: ActivityContract[Any, Any]) -> None:
    """A typo in a field name fails the call instead of being dropped silently."""
    with pytest.raises(ValidationError, match="datastrem_id"):
        contract.parse_input({**RECORDED_INPUTS[contract.name], "datastrem_id": "x"})


def test_outputs_keep_fields_the_contract_does_not_name() -> None:
    """Outputs declare what callers read; everything else the step returns passes through."""
    raw = {"measurement_id": "m", "datastream_id": "d", "raw_prefix": "p", "created": True}
    parsed = ingest_contracts.REGISTER.parse_output(raw)
    assert parsed.raw_prefix == "p"
    assert parsed.model_dump(exclude_unset=True) == raw


def test_an_output_missing_a_field_the_caller_reads_is_refused() -> None:
    with pytest.raises(ValidationError, match="settled"):
        extraction_contracts.POLL.parse_output({"tasks_done": 0, "tasks_total": 1, "failed": []})


def test_export_ids_are_checked_by_the_contract() -> None:
    with pytest.raises(ValidationError, match="export_id"):
        labeling_contracts.EXPORT_FINISH.parse_input({"export_id": "../etc"})


def _string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


@pytest.mark.parametrize("package", ["orchestrators", "activities", "function_app"])
def test_no_activity_name_is_written_outside_its_contract(package: str) -> None:
    """Callers and servers name an activity only through its contract object."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, value in _string_literals(path)
        if value in NAMES
    ]
    assert found == []


def test_orchestrators_never_schedule_activities_directly() -> None:
    """Only orchestrators/calls.py calls the SDK's activity scheduling, so every call is
    typed and retried by error class (``call_activity_with_retry`` retries terminal errors)."""
    direct = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "orchestrators").rglob("*.py"))
        if path.name != "calls.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in ("call_activity", "call_activity_with_retry")
    ]
    assert direct == []
