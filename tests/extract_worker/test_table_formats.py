"""MDF 4 / MDF 3 channel groups, TDMS groups and CAN frames (MDF bus logging and ROS)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extract_worker.cli import main
from extract_worker.config import Downsampling
from extract_worker.errors import EXIT_BAD_INPUT
from extract_worker.run import run_local_task
from tests.extract_worker.recordings import FRAMES, write_ros1
from tests.extract_worker.tables import (
    CAN_FRAMES,
    MDF_SAMPLES,
    START_NS,
    TDMS_PER_SEGMENT,
    TDMS_SEGMENTS,
    can_payload,
    write_dbc,
    write_mdf,
    write_tdms,
)

if TYPE_CHECKING:
    from pathlib import Path

    from extract_worker.config import ExtractConfig


def test_mdf4_groups_to_parquet_with_units(tmp_path: Path, config: ExtractConfig) -> None:
    src = write_mdf(tmp_path / "drive.mf4")
    out = tmp_path / "out"
    manifest = run_local_task(kind="structured", input_path=src, output=out, config=config)
    # The CAN bus logging group belongs to the can task, not to structured.
    assert [f["stream"] for f in manifest["files"]] == ["000_Vehicle", "001_Climate"]
    assert [f["path"] for f in manifest["files"]] == [
        "000_Vehicle/data/part-00000.parquet",
        "001_Climate/data/part-00000.parquet",
    ]
    table = pq.read_table(out / "structured" / "000_Vehicle" / "data")
    assert table.num_rows == MDF_SAMPLES
    assert table.column("time_ns")[1].as_py() == START_NS + 10_000_000
    assert table.schema.field("speed").metadata == {b"unit": b"km/h", b"comment": b"vehicle speed"}
    meta = table.schema.metadata
    assert meta[b"acq_name"] == b"Vehicle"
    assert json.loads(meta[b"units"])["counter"] == "-"


def test_mdf_fragments_keep_every_row(tmp_path: Path, config: ExtractConfig) -> None:
    """Tiny fragments force many batches; the rows must come out complete and in order."""
    src = write_mdf(tmp_path / "drive.mf4", samples=20_000)
    config = config.model_copy(update={"mdf_fragment_mb": 1})
    out = tmp_path / "out"
    run_local_task(kind="structured", input_path=src, output=out, config=config)
    counter = pq.read_table(out / "structured" / "000_Vehicle" / "data").column("counter")
    assert counter.to_pylist() == [(i + 2**15) % 2**16 - 2**15 for i in range(20_000)]


def test_mdf3(tmp_path: Path, config: ExtractConfig) -> None:
    src = write_mdf(tmp_path / "drive.mdf", version="3.30")
    out = tmp_path / "out"
    run_local_task(kind="validate", input_path=src, output=out, config=config)
    meta = run_local_task(kind="metadata", input_path=src, output=out, config=config)["metadata"]
    assert meta["format"] == "mdf"
    # MDF 3 groups carry no acquisition name: they are named by index.
    assert sorted(meta["streams"]) == ["000_group", "001_group"]
    assert meta["streams"]["000_group"]["count"] == MDF_SAMPLES
    assert meta["streams"]["000_group"]["frequency_hz"] == pytest.approx(100.0)


def test_mdf_can_raw_and_decoded(tmp_path: Path, config: ExtractConfig) -> None:
    src = write_mdf(tmp_path / "drive.mf4")
    config = config.model_copy(update={"dbc_files": [write_dbc(tmp_path / "vehicle.dbc")]})
    out = tmp_path / "out"
    manifest = run_local_task(kind="can", input_path=src, output=out, config=config)
    paths = sorted(f["path"] for f in manifest["files"])
    assert paths == [
        "002_CAN1/decoded/Brake.parquet",
        "002_CAN1/decoded/Engine.parquet",
        "002_CAN1/frames.parquet",
    ]
    frames = pq.read_table(out / "can" / "002_CAN1" / "frames.parquet").to_pylist()
    assert len(frames) == CAN_FRAMES
    assert frames[3]["arbitration_id"] == 0x200
    assert frames[3]["data"] == can_payload(3, 0x200)
    assert frames[3]["bus"] == 1
    engine = pq.read_table(out / "can" / "002_CAN1" / "decoded" / "Engine.parquet")
    assert engine.column("EngineSpeed").to_pylist()[:3] == [0.0, 20.0, 40.0]
    brake = pq.read_table(out / "can" / "002_CAN1" / "decoded" / "Brake.parquet")
    assert brake.column("BrakePressure").to_pylist()[:2] == [0.5, 1.5]
    assert json.loads(brake.schema.metadata[b"units"]) == {"BrakePressure": "bar"}
    assert manifest["can_decoding"]["002_CAN1"] == {
        "unknown_ids": [],
        "unknown_frames": 0,
        "decoded_frames": 200,
        "decode_errors": 0,
    }


def test_ros_can_frames_with_dbc(tmp_path: Path, config: ExtractConfig) -> None:
    src = write_ros1(tmp_path / "drive.bag")
    config = config.model_copy(update={"dbc_files": [write_dbc(tmp_path / "vehicle.dbc")]})
    out = tmp_path / "out"
    manifest = run_local_task(kind="can", input_path=src, output=out, config=config)
    frames = pq.read_table(out / "can" / "can_raw" / "frames.parquet").to_pylist()
    assert len(frames) == FRAMES
    assert frames[1]["arbitration_id"] == 0x101
    assert frames[0]["data"] == bytes([0, 1, 2, 3, 4, 5, 6, 7])
    # 0x100 is in the DBC, 0x101 is not: decoded where possible, the rest counted.
    assert manifest["can_decoding"]["/can/raw"]["unknown_ids"] == [0x101]
    engine = pq.read_table(out / "can" / "can_raw" / "decoded" / "Engine.parquet")
    assert engine.num_rows == FRAMES // 2


def test_tdms_groups(tmp_path: Path, config: ExtractConfig) -> None:
    src = write_tdms(tmp_path / "rig.tdms")
    out = tmp_path / "out"
    config = config.model_copy(update={"downsampling": {"Strain": Downsampling(every_n=10)}})
    manifest = run_local_task(kind="structured", input_path=src, output=out, config=config)
    assert [f["stream"] for f in manifest["files"]] == ["Accel", "Strain"]
    accel = pq.read_table(out / "structured" / "Accel" / "data")
    total = TDMS_SEGMENTS * TDMS_PER_SEGMENT
    assert accel.num_rows == total
    assert accel.column("x").to_pylist() == [float(i) for i in range(total)]
    assert accel.column("time_ns")[5].as_py() == START_NS + 5_000_000
    assert accel.schema.field("y").metadata == {b"unit": b"m/s^2"}
    assert json.loads(accel.schema.metadata[b"file_properties"]) == {"vehicle": "TEST-VIN"}
    strain = pq.read_table(out / "structured" / "Strain" / "data")
    assert strain.column("gauge1").to_pylist() == list(range(0, total, 10))

    meta = run_local_task(kind="metadata", input_path=src, output=out, config=config)["metadata"]
    assert meta["streams"]["Accel"]["frequency_hz"] == pytest.approx(1000.0)
    assert meta["streams"]["Accel"]["count"] == total


def _cli(
    src: Path, out: Path, capsys: pytest.CaptureFixture[str], kind: str = "validate"
) -> tuple[int, str]:
    code = main(["run", "--task", kind, "--input", str(src), "--output", str(out), "--no-limits"])
    errors = [json.loads(x) for x in capsys.readouterr().err.splitlines() if '"error"' in x]
    return code, errors[0]["message"] if errors else ""


def test_tdms_incomplete_final_segment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_tdms(tmp_path / "rig.tdms")
    data = src.read_bytes()
    src.write_bytes(data[:-1000])
    for kind in ("validate", "structured"):
        code, message = _cli(src, tmp_path / "out", capsys, kind)
        assert code == EXIT_BAD_INPUT
        assert message.startswith(f"{src}: offset ")
        assert "incomplete final segment" in message
        assert not (tmp_path / "out" / kind).exists()


# asammdf's __del__ on the half-built object it abandons complains; the error itself is ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_mdf_with_corrupt_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_mdf(tmp_path / "drive.mf4")
    data = bytearray(src.read_bytes())
    pos = data.index(b"##CG")
    data[pos : pos + 4] = b"##XX"
    src.write_bytes(bytes(data))
    code, message = _cli(src, tmp_path / "out", capsys)
    assert code == EXIT_BAD_INPUT
    assert message.startswith(str(src))
    assert "MDF block structure unreadable" in message
    assert not (tmp_path / "out" / "validate").exists()


def test_mdf_direct_channel_reads_match_asammdf(tmp_path: Path, config: ExtractConfig) -> None:
    """The numpy fast path must give what asammdf gives, and leave conversions to asammdf."""
    import numpy as np
    from asammdf import MDF, Signal

    from extract_worker.readers.mdf import MdfReader

    n = 5000
    t = np.arange(n) * 0.001
    mdf = MDF(version="4.10")
    mdf.append(
        [
            Signal(np.arange(n, dtype=np.uint8), t, name="u8"),
            Signal(np.arange(n, dtype=">i2") - 100, t, name="i16_motorola"),
            Signal(np.linspace(0, 1, n, dtype=np.float32), t, name="f32"),
            Signal(np.arange(n, dtype=np.uint32), t, name="u32"),
            Signal(
                np.arange(n, dtype=np.uint16),
                t,
                name="scaled",
                conversion={"a": 0.5, "b": 10.0},
            ),
        ],
        acq_name="Mixed",
    )
    src = tmp_path / "mixed.mf4"
    mdf.save(src, overwrite=True)
    mdf.close()
    with MdfReader(src, config) as reader:
        table = pa.Table.from_batches(list(reader.batches("000_Mixed")))
        assert reader._plain_layout(0, 5) is None  # the converted channel goes through asammdf
    with MDF(src) as reference:
        for name in ("u8", "i16_motorola", "f32", "u32", "scaled"):
            expected = reference.get(name).samples
            assert np.array_equal(table.column(name).to_numpy(), expected), name
        assert np.allclose(table.column("time_s").to_numpy(), reference.get("u8").timestamps)
