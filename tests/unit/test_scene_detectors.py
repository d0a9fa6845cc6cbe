"""The scene detectors on synthetic per-frame arrays: exact spans, hysteresis, duration, merge."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dataops.scenes import detectors as d
from dataops.scenes.config import load_scene_config
from dataops.scenes.steps import frame_object_classes, scene_id

CONFIG = load_scene_config()
NS = 1_000_000_000
RATE_HZ = 10


def frames(seconds: float) -> d.Int64Array:
    """Frame times at 10 Hz from t=100 s, in ns."""
    count = round(seconds * RATE_HZ)
    return np.asarray(100 * NS + np.arange(count) * (NS // RATE_HZ), dtype=np.int64)


def at(times: d.Int64Array, index: int) -> int:
    return int(times[index])


def test_runs_and_hysteresis() -> None:
    mask = np.array([0, 1, 1, 0, 1, 0, 0, 1], dtype=bool)
    assert d.runs(mask) == [(1, 2), (4, 4), (7, 7)]
    assert d.runs(np.zeros(0, dtype=bool)) == []
    strong = np.array([0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    weak = np.array([0, 1, 1, 1, 0, 1, 1, 0], dtype=bool)
    # Only the weak run that holds a strong frame survives, from its first to its last frame.
    assert d.hysteresis(strong, weak).tolist() == [0, 1, 1, 1, 0, 0, 0, 0]


def test_spans_merge_gaps_then_drop_short_ones() -> None:
    times = frames(2)
    mask = np.zeros(times.size, dtype=bool)
    mask[2:5] = True  # 0.2 s long
    mask[7:9] = True  # 0.3 s gap to the first (frame 4 -> 7)
    mask[15] = True  # alone
    assert d.spans(times, mask, min_duration_s=0.0, merge_gap_s=0.3) == [(2, 8), (15, 15)]
    assert d.spans(times, mask, min_duration_s=0.0, merge_gap_s=0.2) == [(2, 4), (7, 8), (15, 15)]
    assert d.spans(times, mask, min_duration_s=0.5, merge_gap_s=0.3) == [(2, 8)]


def test_hard_brake_exact_span_and_minimum_duration() -> None:
    times = frames(10)
    accel = np.zeros(times.size)
    accel[30:32] = -2.5  # ramping in: past exit (-2), not yet enter (-4)
    accel[32:48] = -7.5
    accel[48] = -3.0
    speed = np.full(times.size, 13.9)
    (brake,) = d.detect_hard_brake(times, accel, speed, CONFIG.hard_brake)
    # Hysteresis reaches back to the ramp and forward to the last frame below exit.
    assert (brake.start_ns, brake.end_ns) == (at(times, 30), at(times, 48))
    assert brake.attributes["min_accel_mps2"] == -7.5
    assert brake.confidence == pytest.approx(0.938, abs=1e-3)
    # 0.2 s below -4 m/s^2 is shorter than the 0.3 s minimum: nothing.
    short = np.zeros(times.size)
    short[10:13] = -5.0
    assert d.detect_hard_brake(times, short, None, CONFIG.hard_brake) == []


def test_stop_noise_around_the_threshold_does_not_split_it() -> None:
    times = frames(10)
    speed = np.full(times.size, 10.0)
    speed[20:60] = 0.0
    speed[40] = 0.4  # above enter (0.3), below exit (0.5): still the same stop
    speed[70:75] = 0.0  # 0.4 s: too short
    (stop,) = d.detect_stop(times, speed, CONFIG.stop)
    assert (stop.start_ns, stop.end_ns) == (at(times, 20), at(times, 59))
    assert stop.attributes["duration_s"] == pytest.approx(3.9)
    assert stop.confidence == pytest.approx(39 / 40)


def test_high_speed_and_missing_signal() -> None:
    times = frames(5)
    speed = np.full(times.size, 20.0)
    speed[10:30] = 30.0
    speed[20] = np.nan  # a dropout ends the span: NaN is never past a threshold
    found = d.detect_high_speed(times, speed, CONFIG.high_speed)
    assert [(s.start_ns, s.end_ns) for s in found] == [(at(times, 10), at(times, 29))]
    assert found[0].attributes["max_speed_mps"] == 30.0
    assert d.detect_high_speed(times, np.full(times.size, np.nan), CONFIG.high_speed) == []


def test_turn_needs_sustained_yaw_and_heading_change() -> None:
    times = frames(12)
    yaw = np.zeros(times.size)
    yaw[10:60] = np.radians(-20.0)  # 4.9 s at 20 deg/s to the right: ~98 deg
    yaw[80:110] = np.radians(12.0)  # 2.9 s at 12 deg/s: 34.8 deg, under 45
    (turn,) = d.detect_turn(times, yaw, CONFIG.turn)
    assert (turn.start_ns, turn.end_ns) == (at(times, 10), at(times, 59))
    assert turn.attributes["direction"] == "right"
    assert turn.attributes["heading_change_deg"] == pytest.approx(-98.0)
    assert turn.confidence == 1.0


def lane_change_yaw(
    times: d.Int64Array, start: int, length_s: float, peak_dps: float
) -> d.FloatArray:
    """Yaw rate of a lane change: one full sine period (out, then back)."""
    seconds = (times - times[start]) / NS
    inside = (seconds >= 0) & (seconds <= length_s)
    return np.where(inside, np.radians(peak_dps) * np.sin(2 * np.pi * seconds / length_s), 0.0)


def test_lane_change_two_opposite_lobes_even_in_a_bend() -> None:
    times = frames(30)
    speed = np.full(times.size, 13.9)
    yaw = lane_change_yaw(times, 100, 3.5, 8.0)
    # A road bend from 10 s on adds a steady 2 deg/s: the rolling median takes it out.
    yaw[110:] += np.radians(2.0)
    (change,) = d.detect_lane_change(times, yaw, speed, CONFIG.lane_change)
    assert change.attributes["direction"] == "left"
    assert abs(change.start_ns - at(times, 100)) <= 0.2 * NS
    assert abs(change.end_ns - at(times, 135)) <= 0.2 * NS
    assert change.attributes["heading_out_deg"] > 0 > change.attributes["heading_back_deg"]


def test_lane_change_refuses_a_single_lobe_and_a_standstill() -> None:
    times = frames(20)
    speed = np.full(times.size, 13.9)
    one_way = np.where((times >= times[50]) & (times < times[70]), np.radians(6.0), 0.0)
    assert d.detect_lane_change(times, one_way, speed, CONFIG.lane_change) == []
    wiggle = lane_change_yaw(times, 50, 3.0, 8.0)
    assert d.detect_lane_change(times, wiggle, np.zeros(times.size), CONFIG.lane_change) == []
    (right,) = d.detect_lane_change(times, -wiggle, speed, CONFIG.lane_change)
    assert right.attributes["direction"] == "right"


def test_flags_and_object_classes() -> None:
    times = frames(3)
    flags = np.zeros(times.size, dtype=bool)
    flags[5:10] = True
    flags[11:13] = True  # 0.2 s gap: merged (merge_gap_s 0.3)
    flags[25] = True
    found = d.detect_flag(times, flags, CONFIG.pedestrian_in_view, object_class="pedestrian")
    assert [(f.start_ns, f.end_ns) for f in found] == [
        (at(times, 5), at(times, 12)),
        (at(times, 25), at(times, 25)),
    ]
    assert found[0].attributes == {"frames": 7, "object_class": "pedestrian"}
    assert found[0].confidence == pytest.approx(7 / 8)


def test_frame_object_classes_from_vision_msgs_layout() -> None:
    hypothesis = {"hypothesis": {"class_id": "pedestrian", "score": 0.9}}
    table = pa.table(
        {
            "detections": [
                [],
                [{"results": [hypothesis]}, {"results": [{"hypothesis": {"class_id": "car"}}]}],
                None,
            ]
        }
    )
    assert frame_object_classes(table) == [[], ["car", "pedestrian"], []]
    assert frame_object_classes(pa.table({"label": ["bus", None]})) == [["bus"], []]


def test_scene_ids_are_deterministic() -> None:
    assert scene_id("ds", "stop", 5) == scene_id("ds", "stop", 5)
    assert scene_id("ds", "stop", 5) != scene_id("ds", "stop", 6)
    assert scene_id("ds", "stop", 5) != scene_id("ds", "hard_brake", 5)
