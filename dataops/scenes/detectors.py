"""Rule-based scene detectors: pure functions over per-frame numpy arrays, no I/O.

Every detector takes the frame times (int64 ns, strictly increasing) and one or more signals
sampled at those times (float64, NaN where the signal is missing) and returns
:class:`Detection` spans: start and end are the times of the first and last frame inside.

The shared machinery:

* hysteresis: a span is a run of frames past the ``exit`` threshold that contains at least one
  frame past ``enter``; so noise around one threshold neither starts nor splits a span, and
  the span's edges reach back to where the signal actually left its resting range;
* merge gap: spans closer than ``merge_gap_s`` become one (a one-frame dropout is no new scene);
* minimum duration: shorter spans (last frame minus first) are dropped.

NaN compares false everywhere, so a missing signal ends a span and never starts one.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dataops.scenes.config import FlagRule, LaneChangeRule, ObjectRule, ThresholdRule, TurnRule

__all__ = [
    "BoolArray",
    "Detection",
    "FloatArray",
    "Int64Array",
    "detect_flag",
    "detect_hard_brake",
    "detect_high_speed",
    "detect_lane_change",
    "detect_stop",
    "detect_turn",
    "hysteresis",
    "rolling_median",
    "runs",
    "spans",
]

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_NS = 1_000_000_000


@dataclass(frozen=True)
class Detection:
    """One detected scene: first and last frame time (ns), attributes, confidence in [0, 1]."""

    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    confidence: float = 1.0


# ----------------------------------------------------------------------------- machinery


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """Index ranges ``(first, last)`` (inclusive) of the consecutive true runs of ``mask``."""
    if mask.size == 0:
        return []
    padded = np.concatenate(([False], mask.astype(bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def hysteresis(strong: BoolArray, weak: BoolArray) -> BoolArray:
    """True on every run of ``weak | strong`` that holds at least one ``strong`` frame."""
    out = np.zeros(strong.shape, dtype=bool)
    for first, last in runs(weak | strong):
        if strong[first : last + 1].any():
            out[first : last + 1] = True
    return out


def spans(
    times: Int64Array, mask: BoolArray, *, min_duration_s: float, merge_gap_s: float
) -> list[tuple[int, int]]:
    """Runs of ``mask``, merged across gaps up to ``merge_gap_s``, then at least as long as
    ``min_duration_s`` (last frame time minus first)."""
    merged: list[tuple[int, int]] = []
    for first, last in runs(mask):
        if merged and times[first] - times[merged[-1][1]] <= merge_gap_s * _NS:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return [(a, b) for a, b in merged if times[b] - times[a] >= min_duration_s * _NS - 1]


def rolling_median(times: Int64Array, values: FloatArray, window_s: float) -> FloatArray:
    """Centred rolling median over ``window_s`` (in frames at the median frame period),
    ignoring NaN; the ends use the frames they have. A slow baseline, robust to short events."""
    if values.size < 2 or window_s <= 0:
        return np.zeros_like(values)
    period = float(np.median(np.diff(times))) / _NS
    half = max(1, round(window_s / period / 2))
    padded = np.pad(values, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # All-NaN windows (a long dropout) give NaN, which the detectors treat as no signal.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmedian(windows, axis=1), dtype=np.float64)


def _integral(times: Int64Array, values: FloatArray, first: int, last: int) -> float:
    """Trapezoid integral over frames ``first..last`` in value-seconds; NaN counts as 0."""
    if last <= first:
        return 0.0
    seconds = (times[first : last + 1] - times[first]).astype(np.float64) / _NS
    segment = np.nan_to_num(values[first : last + 1])
    return float(np.sum((segment[1:] + segment[:-1]) / 2 * np.diff(seconds)))


def _at(values: FloatArray | None, index: int) -> float | None:
    if values is None or math.isnan(float(values[index])):
        return None
    return round(float(values[index]), 3)


def _threshold(
    times: Int64Array, values: FloatArray, rule: ThresholdRule, *, below: bool
) -> list[tuple[int, int]]:
    with np.errstate(invalid="ignore"):
        if below:
            strong, weak = values < rule.enter, values < rule.exit
        else:
            strong, weak = values > rule.enter, values > rule.exit
    return spans(
        times,
        hysteresis(strong, weak),
        min_duration_s=rule.min_duration_s,
        merge_gap_s=rule.merge_gap_s,
    )


def _share(mask: BoolArray, first: int, last: int) -> float:
    """Fraction of the span's frames where ``mask`` holds: how clear-cut the scene is."""
    return round(float(np.mean(mask[first : last + 1])), 3)


# ----------------------------------------------------------------------------- detectors


def detect_hard_brake(
    times: Int64Array, accel_long: FloatArray, speed: FloatArray | None, rule: ThresholdRule
) -> list[Detection]:
    """Longitudinal acceleration below ``enter`` (m/s², negative) for ``min_duration_s``."""
    found = []
    for first, last in _threshold(times, accel_long, rule, below=True):
        peak = float(np.nanmin(accel_long[first : last + 1]))
        # 0.5 right at the threshold, 1.0 at twice the threshold's deceleration.
        confidence = min(1.0, 0.5 + 0.5 * (rule.enter - peak) / abs(rule.enter or 1.0))
        found.append(
            Detection(
                int(times[first]),
                int(times[last]),
                {
                    "min_accel_mps2": round(peak, 3),
                    "speed_start_mps": _at(speed, first),
                    "speed_end_mps": _at(speed, last),
                },
                round(confidence, 3),
            )
        )
    return found


def detect_stop(times: Int64Array, speed: FloatArray, rule: ThresholdRule) -> list[Detection]:
    """Speed below ``enter`` (m/s) for at least ``min_duration_s``."""
    with np.errstate(invalid="ignore"):
        still = speed < rule.enter
    return [
        Detection(
            int(times[first]),
            int(times[last]),
            {"duration_s": round(float(times[last] - times[first]) / _NS, 3)},
            _share(still, first, last),
        )
        for first, last in _threshold(times, speed, rule, below=True)
    ]


def detect_high_speed(times: Int64Array, speed: FloatArray, rule: ThresholdRule) -> list[Detection]:
    """Speed above ``enter`` (m/s) for at least ``min_duration_s``."""
    with np.errstate(invalid="ignore"):
        fast = speed > rule.enter
    return [
        Detection(
            int(times[first]),
            int(times[last]),
            {"max_speed_mps": round(float(np.nanmax(speed[first : last + 1])), 3)},
            _share(fast, first, last),
        )
        for first, last in _threshold(times, speed, rule, below=False)
    ]


def _signed_spans(
    times: Int64Array, values: FloatArray, enter: float, leave: float, rule: FlagRule | None
) -> list[tuple[int, int, int]]:
    """Hysteresis spans of ``values > enter`` and ``values < -enter``: ``(first, last, sign)``."""
    found: list[tuple[int, int, int]] = []
    with np.errstate(invalid="ignore"):
        for sign in (1, -1):
            signed = values * sign
            mask = hysteresis(signed > enter, signed > leave)
            if rule is None:
                pairs = runs(mask)
            else:
                pairs = spans(
                    times, mask, min_duration_s=rule.min_duration_s, merge_gap_s=rule.merge_gap_s
                )
            found.extend((first, last, sign) for first, last in pairs)
    return sorted(found)


def detect_turn(times: Int64Array, yaw_rate_rps: FloatArray, rule: TurnRule) -> list[Detection]:
    """Yaw rate past ``enter_dps`` one way for ``min_duration_s``, turning the heading at
    least ``min_heading_change_deg``; direction ``left`` is counter-clockwise (positive)."""
    degrees = np.degrees(yaw_rate_rps)
    shape = FlagRule(min_duration_s=rule.min_duration_s, merge_gap_s=rule.merge_gap_s)
    found = []
    for first, last, sign in _signed_spans(times, degrees, rule.enter_dps, rule.exit_dps, shape):
        change = _integral(times, degrees, first, last)
        if abs(change) < rule.min_heading_change_deg:
            continue
        found.append(
            Detection(
                int(times[first]),
                int(times[last]),
                {
                    "direction": "left" if sign > 0 else "right",
                    "heading_change_deg": round(change, 2),
                    "peak_yaw_rate_dps": round(
                        float(np.nanmax(np.abs(degrees[first : last + 1]))), 2
                    ),
                },
                round(min(1.0, abs(change) / 90.0), 3),
            )
        )
    return found


def detect_lane_change(
    times: Int64Array, yaw_rate_rps: FloatArray, speed: FloatArray, rule: LaneChangeRule
) -> list[Detection]:
    """A lane change: steer out (one yaw-rate lobe), steer back (the opposite lobe).

    Each lobe lasts ``min_lobe_s..max_lobe_s`` and turns the heading by
    ``min_lobe_heading_deg..max_lobe_heading_deg``; the lobes are at most ``max_lobe_gap_s``
    apart and cancel: the net heading change is at most ``max_net_heading_ratio`` of the larger
    lobe. The yaw rate is taken relative to its rolling median over ``baseline_window_s``
    (the road's curvature, which a lane change is too short to move). A first lobe
    counter-clockwise is a change to the ``left``.
    """
    # Without the road's own curvature: a lane change in a bend is still two opposite lobes.
    degrees = np.degrees(yaw_rate_rps)
    degrees = degrees - rolling_median(times, degrees, rule.baseline_window_s)
    lobes = []
    for first, last, sign in _signed_spans(times, degrees, rule.enter_dps, rule.exit_dps, None):
        length = (times[last] - times[first]) / _NS
        heading = _integral(times, degrees, first, last)
        moving = float(np.nanmean(speed[first : last + 1])) >= rule.min_speed_mps
        if (
            moving
            and rule.min_lobe_s <= length <= rule.max_lobe_s
            and rule.min_lobe_heading_deg <= abs(heading) <= rule.max_lobe_heading_deg
        ):
            lobes.append((first, last, sign, heading))
    found = []
    index = 0
    while index + 1 < len(lobes):
        out, back = lobes[index], lobes[index + 1]
        gap = (times[back[0]] - times[out[1]]) / _NS
        net = abs(out[3] + back[3]) / max(abs(out[3]), abs(back[3]))
        if out[2] != back[2] and gap <= rule.max_lobe_gap_s and net <= rule.max_net_heading_ratio:
            first, last = out[0], back[1]
            found.append(
                Detection(
                    int(times[first]),
                    int(times[last]),
                    {
                        "direction": "left" if out[2] > 0 else "right",
                        "heading_out_deg": round(out[3], 2),
                        "heading_back_deg": round(back[3], 2),
                        "lateral_displacement_m": round(
                            _lateral(times, degrees, speed, first, last), 2
                        ),
                    },
                    round(1.0 - 0.5 * net, 3),
                )
            )
            index += 2
        else:
            index += 1
    return found


def _lateral(
    times: Int64Array, degrees: FloatArray, speed: FloatArray, first: int, last: int
) -> float:
    """Sideways distance over the span: speed times the sine of the heading since its start."""
    seconds = (times[first : last + 1] - times[first]).astype(np.float64) / _NS
    rates = np.nan_to_num(np.radians(degrees[first : last + 1]))
    heading = np.concatenate(([0.0], np.cumsum((rates[1:] + rates[:-1]) / 2 * np.diff(seconds))))
    sideways = np.nan_to_num(speed[first : last + 1]) * np.sin(heading)
    return float(np.sum((sideways[1:] + sideways[:-1]) / 2 * np.diff(seconds)))


def detect_flag(
    times: Int64Array, flags: BoolArray, rule: FlagRule | ObjectRule, **attributes: Any
) -> list[Detection]:
    """Spans where a per-frame flag holds (night, rain, an object class in view)."""
    return [
        Detection(
            int(times[first]),
            int(times[last]),
            {"frames": int(np.sum(flags[first : last + 1])), **attributes},
            _share(flags, first, last),
        )
        for first, last in spans(
            times, flags, min_duration_s=rule.min_duration_s, merge_gap_s=rule.merge_gap_s
        )
    ]
