"""Erasure deletes the target's jobs in Azure Batch, and only those.

An extraction job's task command lines name the RAW and EXTRACTED paths (vehicle, measurement
and datastream ids), and the service keeps a completed job until it is deleted. The jobs here
are submitted by the extraction's own ``prepare_extraction`` through ``AzureBatchBackend`` on
the recording Batch fake (the service cannot run here); the erasure's pool step must send a
delete for exactly the erased vehicle's jobs, and its dry run must list exactly those.
"""

from __future__ import annotations

from pathlib import Path

from dataops.batch.azure_batch import AzureBatchBackend
from dataops.batch.azure_batch_models import AzureTaskSettings
from dataops.batch.spec import derive_job_id
from dataops.erasure.identity import ErasureTarget, TargetKind
from dataops.erasure.records import read_record
from dataops.erasure.steps import begin, erase_pool_step, preview
from dataops.extraction import prepare_extraction
from dataops.settings import Settings
from dataops.storage import BlobZones
from dataops.store.sqlite import SqliteStore
from tests.batch.fake_batch_client import FakeBatchClient
from tests.e2e.erasure_support import SALT
from tests.erasure_seed import SeededVehicle, seed_two_vehicles

TASKS = AzureTaskSettings(image="cravops.azurecr.io/avops-extract-worker:1", identity_client_id="c")


def _extract(store: SqliteStore, backend: AzureBatchBackend, seeded: SeededVehicle) -> set[str]:
    """A rerun of the vehicle's extraction as the ``extract`` activity submits it."""
    prepared = prepare_extraction(
        store,
        backend,
        measurement_id=seeded.measurement_id,
        raw_datastream_id=seeded.datastream_ids[0],
        datastream_id=f"{seeded.measurement_id}-rerun",
        instance_id=f"extract-{seeded.measurement_id}",
    )
    return {job["job_id"] for job in prepared["jobs"]}


def test_erasure_deletes_the_targets_batch_jobs_and_lists_them_in_the_dry_run(
    blob_zones: BlobZones, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "db" / "metadata.sqlite3")
    try:
        erased, kept = seed_two_vehicles(store, None)
        client = FakeBatchClient()
        backend = AzureBatchBackend(client, pool_id="extraction", task_settings=TASKS)
        erased_jobs, kept_jobs = _extract(store, backend, erased), _extract(store, backend, kept)
        assert erased_jobs and kept_jobs and not erased_jobs & kept_jobs
        # The jobs do name the vehicle: that is why they must go.
        assert any(
            erased.vehicle_id in task.command_line
            for call in client.calls
            if call[0] == "create_task_collection" and call[1] in erased_jobs
            for task in call[2].task_values
        )
        settings = Settings(erasure_salt=SALT, sqlite_path=tmp_path / "db" / "metadata.sqlite3")
        target = ErasureTarget(TargetKind.VEHICLE, erased.vehicle_id)

        client.calls.clear()
        listed = preview(blob_zones, store, settings, target, backend)["batch_jobs"]
        assert set(listed) == erased_jobs  # type: ignore[arg-type]
        assert {call[0] for call in client.calls} == {"get_job"}  # the dry run deletes nothing

        record, _ = begin(blob_zones, store, settings, target, requested_by="test")
        client.calls.clear()
        counts = erase_pool_step(blob_zones, store, settings, record.erasure_id, backend)
        deleted = [call[1] for call in client.calls if call[0] == "begin_delete_job"]
        # One delete per job the target's EXTRACTED datastreams can have had: the rerun's,
        # and the seeded extraction's, which never reached this service (a 404, not counted).
        seeded_job = derive_job_id("extract", erased.datastream_ids[1], "drive.mcap")
        assert sorted(deleted) == sorted(erased_jobs | {seeded_job})
        assert counts == {"batch_jobs": len(erased_jobs)}
        assert set(client.jobs) == kept_jobs
        stored = read_record(blob_zones, record.erasure_id)
        assert stored is not None and stored.counts["batch_jobs"] == len(erased_jobs)

        # A resumed erasure runs the step again: nothing left to delete, nothing counted twice.
        again = erase_pool_step(blob_zones, store, settings, record.erasure_id, backend)
        assert again == {"batch_jobs": 0}
        assert set(client.jobs) == kept_jobs
    finally:
        store.close()
