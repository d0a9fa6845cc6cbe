"""Decoded CAN signals are synchronization sources: one sensor per decoded DBC message."""

from __future__ import annotations

from pathlib import Path

from dataops.models import FileRecord
from dataops.store.sqlite import SqliteStore
from dataops.synchronization.config import load_synchronization_config
from dataops.synchronization.steps import _find_sensors
from tests.contract.conftest import make_datastream, make_measurement


def test_decoded_can_messages_are_sensors_and_raw_frames_are_not(tmp_path: Path) -> None:
    """``<rec>/can/<stream>/decoded/<Message>.parquet`` is a sensor; frames.parquet is not."""
    store = SqliteStore(tmp_path / "meta.sqlite3")
    store.create_measurement(make_measurement("m-1"))
    extracted = store.create_datastream(make_datastream("ex-1", "m-1"))
    base = extracted.path
    paths = [
        f"{base}/vehicle.mf4/can/CAN/frames.parquet",
        f"{base}/vehicle.mf4/can/CAN/decoded/VehicleDynamics.parquet",
        f"{base}/vehicle.mf4/can/CAN/decoded/Brake.parquet",
        f"{base}/vehicle.mf4/structured/group0/data.parquet",
    ]
    store.attach_files(
        extracted.id, [FileRecord(path=path, format="parquet", size=1) for path in paths]
    )
    config = load_synchronization_config()
    sensors = {s.name: s for s in _find_sensors(store, extracted, config)}
    store.close()
    assert set(sensors) == {
        "vehicle.mf4/can/CAN/Brake",
        "vehicle.mf4/can/CAN/VehicleDynamics",
        "vehicle.mf4/structured/group0",
    }
    assert sensors["vehicle.mf4/can/CAN/VehicleDynamics"].files == [paths[1]]
    assert sensors["vehicle.mf4/can/CAN/VehicleDynamics"].kind == "can"
    # The shipped config offers the decoded speed as a source of speed_mps (after the
    # logger's own signal, so a drive with both keeps what it had).
    (speed,) = [signal for signal in config.signals if signal.name == "speed_mps"]
    assert [(s.sensor, s.column) for s in speed.sources][-1] == ("*/can/*", "VehicleSpeed")
