"""Pure alignment of sensor timelines to a reference clock (numpy only, no I/O).

Every time is int64 nanoseconds. Sample timelines must be sorted ascending (the callers sort
once with a stable sort); duplicates are allowed. Everything is vectorised with
``numpy.searchsorted``: one pass over the reference, never a Python loop per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NO_MATCH", "Match", "interpolate", "nearest_match", "sort_timeline"]

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Index value of a reference frame that has no sample within the tolerance.
NO_MATCH = -1


@dataclass(frozen=True)
class Match:
    """Nearest sample per reference time: ``index`` (NO_MATCH if none within tolerance) and
    ``offset_ns`` = sample time - reference time (0 where there is no match)."""

    index: Int64Array
    offset_ns: Int64Array

    @property
    def matched(self) -> npt.NDArray[np.bool_]:
        """True where a sample was found."""
        found: npt.NDArray[np.bool_] = self.index != NO_MATCH
        return found

    @property
    def match_count(self) -> int:
        """How many reference times have a sample."""
        return int(np.count_nonzero(self.matched))

    def max_abs_offset_ns(self) -> int | None:
        """Largest |offset| over the matched frames; None when nothing matched."""
        if not self.match_count:
            return None
        return int(np.max(np.abs(self.offset_ns[self.matched])))


def _as_times(values: npt.ArrayLike, name: str) -> Int64Array:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer nanoseconds, not {array.dtype}")
    return array.astype(np.int64, copy=False)


def _check_sorted(times: Int64Array, name: str) -> None:
    if times.size > 1 and bool(np.any(times[1:] < times[:-1])):
        raise ValueError(f"{name} must be sorted ascending")


def sort_timeline(times: npt.ArrayLike) -> Int64Array:
    """Stable argsort of a timeline: keeps log order among equal timestamps."""
    return np.argsort(_as_times(times, "times"), kind="stable").astype(np.int64)


def nearest_match(
    reference_ns: npt.ArrayLike, sample_ns: npt.ArrayLike, tolerance_ns: int
) -> Match:
    """For each reference time, the nearest sample with |offset| <= ``tolerance_ns``.

    Ties go to the earlier sample, and among equal (duplicate) timestamps to the first one,
    so the result does not depend on how a sensor happened to log repeated stamps.
    """
    if tolerance_ns < 0:
        raise ValueError("tolerance_ns must not be negative")
    reference = _as_times(reference_ns, "reference_ns")
    samples = _as_times(sample_ns, "sample_ns")
    _check_sorted(samples, "sample_ns")
    count = reference.size
    if samples.size == 0:
        return Match(np.full(count, NO_MATCH, np.int64), np.zeros(count, np.int64))
    # right: first sample at or after the reference; left: the last one before it.
    right = np.searchsorted(samples, reference, side="left")
    left = right - 1
    has_right = right < samples.size
    has_left = left >= 0
    right_c = np.minimum(right, samples.size - 1)
    left_c = np.maximum(left, 0)
    # Distances as int64; a missing neighbour gets the largest distance so it never wins.
    far = np.iinfo(np.int64).max
    d_right = np.where(has_right, samples[right_c] - reference, far)
    d_left = np.where(has_left, reference - samples[left_c], far)
    chosen = np.where(d_left <= d_right, left_c, right_c)
    # Duplicates: the first sample with the chosen timestamp.
    chosen = np.searchsorted(samples, samples[chosen], side="left").astype(np.int64)
    offset = samples[chosen] - reference
    ok = np.abs(offset) <= tolerance_ns
    return Match(
        np.where(ok, chosen, NO_MATCH).astype(np.int64),
        np.where(ok, offset, 0).astype(np.int64),
    )


def interpolate(
    reference_ns: npt.ArrayLike,
    sample_ns: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    max_gap_ns: int | None = None,
) -> FloatArray:
    """Linear interpolation of a continuous signal at the reference times.

    NaN (never an extrapolated or zero value) where the reference lies outside the samples'
    range, where the two bracketing samples are more than ``max_gap_ns`` apart (a dropout),
    or where no valid sample exists. NaN samples are dropped first; of duplicate timestamps
    the first value counts. A single sample only answers a reference time equal to it.
    """
    reference = _as_times(reference_ns, "reference_ns")
    samples = _as_times(sample_ns, "sample_ns")
    data = np.asarray(values, dtype=np.float64)
    if data.shape != samples.shape:
        raise ValueError("values and sample_ns must have the same length")
    _check_sorted(samples, "sample_ns")
    out = np.full(reference.size, np.nan, dtype=np.float64)
    valid = ~np.isnan(data)
    samples, data = samples[valid], data[valid]
    if samples.size == 0 or reference.size == 0:
        return out
    samples, first = np.unique(samples, return_index=True)
    data = data[first]
    inside = (reference >= samples[0]) & (reference <= samples[-1])
    if samples.size == 1:
        out[inside] = data[0]
        return out
    # np.interp works on float64; subtract the first sample so ns timestamps (~1.8e18) keep
    # their precision as doubles (drives are far shorter than 2**53 ns = 104 days).
    origin = samples[0]
    x = (samples - origin).astype(np.float64)
    t = (reference - origin).astype(np.float64)
    result = np.interp(t, x, data)
    if max_gap_ns is not None:
        upper = np.clip(np.searchsorted(samples, reference, side="left"), 1, samples.size - 1)
        gap = samples[upper] - samples[upper - 1]
        exact = samples[np.clip(upper, 0, samples.size - 1)] == reference
        exact |= samples[upper - 1] == reference
        inside &= (gap <= max_gap_ns) | exact
    out[inside] = result[inside]
    return out
