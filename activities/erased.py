"""The tombstone check of the activities that start work for a measurement (ingest, steps).

A run that starts during or after an erasure of its vehicle or measurement stops at its first
activity with ``ErasedError`` (terminal: no retry), before it writes anything.
"""

from __future__ import annotations

from activities.runtime import blob_zones, metadata_store, settings
from dataops.erasure.records import check_not_erased

__all__ = ["refuse_erased", "refuse_erased_measurement", "refuse_erased_source"]


def refuse_erased(vehicle_id: str | None, measurement_id: str | None) -> None:
    """ErasedError when the vehicle or the measurement is tombstoned."""
    check_not_erased(
        blob_zones(),
        settings().erasure_salt,
        vehicle_id=vehicle_id,
        measurement_id=measurement_id,
    )


def refuse_erased_measurement(measurement_id: str) -> None:
    """As :func:`refuse_erased`, for a measurement in the store (NotFoundError once erased)."""
    measurement = metadata_store().get_measurement(measurement_id)
    refuse_erased(measurement.vehicle_id, measurement.id)


def refuse_erased_source(source_datastream_id: str) -> None:
    """As :func:`refuse_erased`, for the measurement of a step's source datastream."""
    source = metadata_store().get_datastream(source_datastream_id)
    refuse_erased_measurement(source.measurement_id)
