"""Per-topic downsampling by target rate or every N-th message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extract_worker.config import Downsampling

__all__ = ["Downsampler"]


class Downsampler:
    """Decides per message whether to keep it; ``describe()`` goes into output metadata."""

    def __init__(self, rule: Downsampling | None) -> None:
        self.rule = rule
        self._seen = 0
        self._next_ns: int | None = None
        self._period_ns = (
            round(1e9 / rule.rate_hz) if rule is not None and rule.rate_hz is not None else 0
        )
        self.kept = 0
        self.dropped = 0

    def keep(self, time_ns: int) -> bool:
        """True if the message at ``time_ns`` is kept."""
        keep = self._decide(time_ns)
        if keep:
            self.kept += 1
        else:
            self.dropped += 1
        return keep

    def _decide(self, time_ns: int) -> bool:
        rule = self.rule
        if rule is None:
            return True
        if rule.every_n is not None:
            self._seen += 1
            return (self._seen - 1) % rule.every_n == 0
        # Rate: keep the first message at or after each slot; slots follow the kept message,
        # so jitter in the source never yields two messages closer than the period.
        if self._next_ns is None or time_ns >= self._next_ns:
            self._next_ns = time_ns + self._period_ns
            return True
        return False

    def describe(self) -> dict[str, Any]:
        """The rule and its effect, for manifests and Parquet schema metadata."""
        if self.rule is None:
            return {"mode": "none", "kept": self.kept, "dropped": self.dropped}
        if self.rule.every_n is not None:
            return {
                "mode": "every_n",
                "every_n": self.rule.every_n,
                "kept": self.kept,
                "dropped": self.dropped,
            }
        return {
            "mode": "rate_hz",
            "rate_hz": self.rule.rate_hz,
            "kept": self.kept,
            "dropped": self.dropped,
        }
